"""`LiveTab`: the background `listen` task of a page whose live rows are the tab's own (its
filters, its page of rows: /transactions), written into the tab's state. A page's `load` returns
`listen`; what the tab shows and when is the page's `Pace`. (The dashboard shows every tab of a
merchant the same page and sends it from one stream per worker instead: state/dashboard_live.py.)

The listener subscribes to the merchant's events on the bus first and only then reads, so
nothing committed in between is missed (a pace's first push is due at once: its catch-up). It
takes the events in batches (`next_batch`: a burst of payments is one state update, not one per
payment), pushes nothing unless the tab's session was confirmed within AUTH_RECHECK
(state/live.py), and ends when the tab's socket leaves this worker, the tab leaves the page or a
newer listener (the page loaded again, a reconnect) takes the tab over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar, Generic, TypeVar

import reflex as rx

from paybridge.browser import SESSION_COOKIE, cookie_value
from paybridge.events import get_bus
from paybridge.state.live import (
    next_batch,
    on_page,
    still_signed_in,
    tab_connected,
    watching_session,
)
from paybridge.state.session import SessionState

log = logging.getLogger(__name__)

S = TypeVar("S", bound="LiveTab")


class Pace(Generic[S]):
    """One listener's clock for one page, and what it holds between batches: plain attributes,
    not state vars, since they are this listener's alone and a background task writes state only
    under its lock. After each batch the listener asks `due`; when something is, it `read`s off
    the lock (the database, in a thread), then `push`es under it."""

    retry: ClassVar[float | None] = None  # seconds before trying again after a failed push
    # (PostgreSQL or Redis down); None: the failure ends the listener

    def subscribed(self, now: float) -> None:
        """The listener hears the merchant's events from `now` on: a catch-up read starts later."""

    def wait(self, now: float) -> float:
        """Seconds the listener may wait for the next event before asking `due` again."""
        raise NotImplementedError

    def hear(self, batch: list[dict[str, Any]]) -> None:
        """Take in what arrived (nothing, when the wait ran out)."""
        raise NotImplementedError

    def due(self, now: float) -> bool:
        """Something is to be pushed to the tab now."""
        raise NotImplementedError

    async def read(self, now: float) -> None:
        """What the push needs from the database, read before the state's lock is taken."""

    async def push(self, state: S, now: float) -> None:
        """Show it, under the state's lock, as the tab's newest listener on the page."""
        raise NotImplementedError

    def pushed(self, at: float) -> None:
        """The push's lock was released (its delta sent) at `at`."""


class LiveTab(SessionState, mixin=True):
    """Mixed into a page state (`class S(LiveTab, SessionState)`) whose `load` returns `listen`.
    The state names its `_route` and makes each new listener's `Pace` in `_pace`."""

    live: bool = False  # a listener follows the merchant's events for the tab

    _route: ClassVar[str]
    _listener: int = 0  # the newest listener's generation: an older one stops

    def _pace(self, merchant_id: int) -> Pace[Any]:
        """A new listener's pace (called under the state's lock)."""
        raise NotImplementedError

    @rx.event(background=True)
    async def listen(self) -> None:
        async with self:
            found = await asyncio.to_thread(self._identity)
            if found is None:
                return
            merchant_id = found.merchant_id
            self._listener += 1
            generation = self._listener
            tab = self.router.session
            session_token = cookie_value(self.router.headers.cookie, SESSION_COOKIE) or ""
            pace, route = self._pace(merchant_id), self._route
        async with watching_session(session_token), get_bus().listen(merchant_id) as queue:
            pace.subscribed(time.monotonic())
            while tab_connected(tab):
                pace.hear(await next_batch(queue, max(0.0, pace.wait(time.monotonic()))))
                try:
                    now = time.monotonic()
                    if not pace.due(now):
                        continue
                    if not await still_signed_in(session_token):
                        async with self:
                            self.live = False
                        return
                    await pace.read(now)
                    async with self:
                        if not self._still_mine(generation):
                            return
                        await pace.push(self, now)
                    pace.pushed(time.monotonic())
                except Exception:  # database or Redis unreachable: keep the tab, try again
                    if pace.retry is None:
                        raise
                    log.warning("listener of %s: push failed; retrying", route, exc_info=True)
                    await asyncio.sleep(pace.retry)

    def _still_mine(self, generation: int) -> bool:
        """This listener is the tab's newest and the tab still shows the page."""
        if self._listener != generation:
            return False  # a newer listener owns the tab (and its `live` flag)
        if not on_page(self.router.url.path, self._route):
            self.live = False
            return False
        return True
