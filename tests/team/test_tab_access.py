"""How an open tab learns that its person's access changed (paybridge/state/access.py): a
revocation notice naming the person or the session wakes that tab at once and no other, a
tab's next page replaces its follower, and while notices may be missed every tab reads again,
but no more often than MISSED_RECHECK."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from paybridge.events import revocations
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.settings import get_settings
from paybridge.state import access
from tests.ops.proxy import closed_port


def test_a_notice_wakes_the_tabs_it_names_and_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()

    async def tabs() -> None:
        heard = revocations.epoch()  # as a page's load reads the identity
        async with (
            access.following("tab-a", 1, 10, heard=heard) as mine,
            access.following("tab-b", 2, 20, heard=heard) as other,
        ):
            assert not await mine.next_change(0.1)  # nothing happened since the page's read
            mine.read_again()  # as after a failed read
            assert await mine.next_change(0.1) and not await mine.next_change(0.1)

            started = time.monotonic()  # announced from another thread, as Redis' reader does
            await asyncio.to_thread(announce_revocation, Revocation(user_ids=(1,)))
            assert await mine.next_change(10)
            assert time.monotonic() - started < 5  # woken by the notice, not the timeout
            assert not await other.next_change(0.2)

            await asyncio.to_thread(announce_revocation, Revocation(session_ids=(20,)))
            assert await other.next_change(2)
            assert not await mine.next_change(0.2)

            await asyncio.to_thread(announce_revocation, Revocation(api_key_ids=(1, 2)))
            assert not await mine.next_change(0.2) and not await other.next_change(0.01)

            # The tab's next page follows in its place; a notice since the page's read counts.
            async with access.following("tab-a", 1, 10, heard=heard) as next_page:
                started = time.monotonic()
                assert not await mine.next_change(10) and mine.stopped
                assert time.monotonic() - started < 5  # woken by the follower's stop
                assert await next_page.next_change(0.1)  # notices came after `heard`
                assert access._tabs["tab-a"] is next_page
        assert not set(access._tabs) & {"tab-a", "tab-b"}  # unregistered on leaving

    asyncio.run(tabs())


def test_while_notices_may_be_missed_a_tab_reads_again_but_not_every_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis unreachable: the watcher says `None` (forget everything) about once a second."""
    monkeypatch.setattr(access, "MISSED_RECHECK", 2.0)
    monkeypatch.setattr(access, "MISSED_SPREAD", 0.3)
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()

    async def tab() -> list[float]:
        woken: list[float] = []
        async with access.following("tab-c", 3, 30, heard=revocations.epoch()) as follower:
            started = time.monotonic()
            while time.monotonic() - started < 5.5:
                if await follower.next_change(0.5):
                    woken.append(time.monotonic() - started)
        return woken

    try:
        woken = asyncio.run(tab())
    finally:
        monkeypatch.delenv("REDIS_URL")
        get_settings.cache_clear()
    assert 1 <= len(woken) <= 3, woken  # about 5 notices heard; at most one read per 2 s
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(woken)), woken
