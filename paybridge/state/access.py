"""Open tabs follow their person's access. A role change, a removal, a logout or a password
change is announced as a revocation (`paybridge.events.revocations`: over Redis to every worker
and instance, or within the process), the same notice that drops the API's cached credentials.
Each open tab registers here (`following`, one follower per socket: a page of the tab that
starts another replaces the last) and is woken by a notice naming its person or its session, so
it reads its identity again at once (`ShellState.follow_access`): controls the new role lacks
disappear, ones it gains appear, and a tab whose session ended goes to the login page.

When notices may have been missed (Redis reconnected or is down) every tab reads again too, but
at most every MISSED_RECHECK seconds and spread over MISSED_SPREAD, so an outage costs a trickle
of queries rather than one per tab per second.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from paybridge.events import revocations

MISSED_RECHECK = 10.0  # seconds between reads of one tab while notices may be missed
MISSED_SPREAD = 3.0  # seconds over which the tabs of a process spread such reads

_lock = threading.Lock()
_tabs: dict[str, Follower] = {}  # socket id -> its follower


class Follower:
    """One open tab's wake-up: `next_change` returns True when the tab should read its identity
    again. Its flags are only touched on the tab's event loop."""

    def __init__(self, user_id: int, session_id: int, *, stale: bool) -> None:
        self.user_id, self.session_id = user_id, session_id
        self.stopped = False  # replaced by a newer follower of the same socket
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._named = stale  # a notice came between the page's read and registering
        self._missed_due: float | None = None
        self._read_at = time.monotonic()

    def notify(self, named: bool) -> None:
        """From any thread: a notice named this tab (`named`) or notices may have been missed."""
        with suppress(RuntimeError):  # the tab's loop has closed: nothing left to wake
            self._loop.call_soon_threadsafe(self._mark, named)

    def stop(self) -> None:
        """From any thread: end this follower (`next_change` answers False from now on)."""
        with suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stop)

    def read_again(self) -> None:
        """On the tab's loop: the last read failed; the next `next_change` answers True."""
        self._named = True

    def _stop(self) -> None:
        self.stopped = True
        self._event.set()

    def _mark(self, named: bool) -> None:
        if named:
            self._named = True
        elif self._missed_due is None:
            spread = random.uniform(0, MISSED_SPREAD)
            self._missed_due = max(self._read_at + MISSED_RECHECK, time.monotonic() + spread)
        self._event.set()

    async def next_change(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a reason to read the identity again."""
        deadline = time.monotonic() + timeout
        while not self.stopped:
            now = time.monotonic()
            if self._named or (self._missed_due is not None and now >= self._missed_due):
                self._named, self._missed_due, self._read_at = False, None, now
                return True
            wake = min(deadline, self._missed_due or deadline)
            if now >= deadline:
                return False
            self._event.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), wake - now)
        return False


@asynccontextmanager
async def following(
    tab: str, user_id: int, session_id: int, *, heard: int
) -> AsyncIterator[Follower]:
    """While entered, notices naming this person or session wake the follower of socket `tab`.
    `heard` is `revocations.epoch()` from before the page read the identity: if a notice came
    since, the follower's first answer is to read it again."""
    revocations.watch_revocations(_on_revoked)  # once; (re)starts the process's listener
    follower = Follower(user_id, session_id, stale=revocations.epoch() != heard)
    with _lock:
        replaced, _tabs[tab] = _tabs.get(tab), follower
    if replaced is not None:
        replaced.stop()
    try:
        yield follower
    finally:
        with _lock:
            if _tabs.get(tab) is follower:
                del _tabs[tab]


def _on_revoked(revocation: revocations.Revocation | None) -> None:
    with _lock:
        tabs = list(_tabs.values())
    for tab in tabs:
        if revocation is None:
            tab.notify(named=False)
        elif tab.user_id in revocation.user_ids or tab.session_id in revocation.session_ids:
            tab.notify(named=True)
