"""The dashboard's live updates: one stream per merchant and filters in a worker, however many
of its tabs are open.

A stream subscribes to the merchant's events once, keeps what its tabs show (the last view read,
with the events heard since laid over it) and sends every update to all of them as one frame,
encoded once: a tab's share of a payment is a socket write. The tabs' Reflex states are not
written per update — a state update per tab cost ~1.3 ms of CPU where a bare socket.io push costs
~0.1 ms (bench/HISTORY.md, "Live dashboards per core") — so a tab's state holds the page as its
`load` or its last filter change drew it, and those assign every value again.

The pace: an event reaches the feed and the table at once (under a stream of payments at most every
FAST_GAP, batched). A new payment's event also carries what it adds to the numbers, and the stream
adds it to the last read's (`selectors.live_numbers`), in the same frame as the row: a quiet
merchant's payment costs a frame, not a read. After any other event the numbers are read again, at
most every REFRESH_INTERVAL while events arrive, and after a quiet spell REFRESH_INTERVAL after the
row, so the row never waits for their reads; the
charts at most every CHART_INTERVAL, each tab at its own moment within CHART_SPREAD (a plotly redraw
is the costliest thing a tab does); every RECONCILE_INTERVAL one indexed probe of the merchant's
newest event id, and the whole page again if it moved past the newest the tabs show (a bus message
may have been lost; one older than a payment added since waits for the next) or FULL_RECONCILE has
passed. A read after payments leaves out the health panel and the profile card
(no payment changes them): they are read with the whole page when a tab joins, after any other kind
of event and at a reconcile. The numbers and the reconcile slow down while the worker's reads
take more than their share of a core (`dashboard_pace.ReadPace`). A tab that joins gets the whole
page from a read begun after it joined, so nothing committed between its `load` and its joining is
missed. Before a frame goes out, tabs whose socket left the worker or whose session ended (checked
at most AUTH_RECHECK ago) are dropped; a tab that moves to another page leaves (`tab_left`, from the
shell's load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from reflex.istate.data import SessionData

from paybridge.events import get_bus
from paybridge.selectors.analytics import DashboardNumbers
from paybridge.selectors.live_numbers import numbers_with_payments
from paybridge.state.dashboard_pace import (
    CHART_SPREAD,
    FAST_GAP,
    FULL_RECONCILE,
    PACE,
    RECONCILE_INTERVAL,
    RECONCILE_SPREAD,
    after_quiet,
    changes_panels,
    created,
    next_chart_time,
    reconcile_interval,
)
from paybridge.state.dashboard_reads import Filters, newest_event, read_dashboard
from paybridge.state.live import (
    BATCH_LIMIT,
    encode_update,
    next_batch,
    send_update,
    still_signed_in,
    tab_connected,
)
from paybridge.views.charts import Charts
from paybridge.views.dashboard import apply_events, numbers_view

log = logging.getLogger("paybridge.state.dashboard")

OUTAGE_RETRY = 1.0  # seconds between attempts while PostgreSQL or Redis is down
PRUNE_GAP = 0.25  # seconds between checks of the tabs' sockets and sessions
ROUTE = "/"

Key = tuple[int, Filters]  # merchant id, the filters the tabs show
_WAKE: dict[str, Any] = {}  # put on a stream's queue to wake it (a tab joined)


@dataclass(eq=False)
class Member:
    """One open dashboard tab in a stream."""

    tab: SessionData
    session_token: str
    ended: asyncio.Future[str]  # why the tab left the stream: "replaced", "left", "signed_out",
    # "disconnected", "stopped"
    joined: bool = False  # it has had the whole page from the stream
    chart_due: float | None = None  # when it redraws the stream's newest charts


@dataclass(frozen=True)
class StateNames:
    """The full names of the Reflex states the frames write: the page's and the charts'."""

    page: str
    charts: str


class DashboardStream:
    """One merchant's live dashboard in this worker, for tabs showing the same filters."""

    def __init__(self, key: Key, names: StateNames) -> None:
        self.key, self.names = key, names
        self.members: dict[str, Member] = {}  # socket id -> member
        self.closing = False
        self.shown: dict[str, Any] | None = None  # the view the joined tabs show
        self.charts: Charts | None = None  # what the joined tabs show (or will, when due)
        self.charts_frame: Any = None
        self.queue: asyncio.Queue | None = None
        self.heard = 0.0  # when the last event was heard or a tab joined (a read starts after)
        self.last_reload, self.numbers_at = -RECONCILE_INTERVAL, 0.0  # due now: the first read
        self.last_write, self.pruned_at = -FAST_GAP, -PRUNE_GAP
        self.pending: list[dict[str, Any]] = []  # events heard, not yet in a frame
        self.last_event: float | None = None  # when the newest event heard was created
        self.charts_at, self.charts_behind = 0.0, False
        self.last_whole = -RECONCILE_INTERVAL  # when the last read with the panels began
        self.panels_due = True  # an event heard since then may have changed them
        self.newest_seen: int | None = -1  # the merchant's newest event id when the last whole
        # read began, or of a payment added since (-1: none yet; None: no events)
        self.spread = random.uniform(*RECONCILE_SPREAD)
        self.numbers: DashboardNumbers | None = None  # the last read's, with payments added since
        self.providers: dict[str, tuple[int, str]] = {}  # the last read's: code -> (id, name)
        self.counted = False  # payments were added to it that no frame has shown yet
        self.task = asyncio.create_task(self._run())

    # ----- tabs ---------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        self.members[member.tab.session_id] = member
        self.heard = time.monotonic()  # its first frame comes from a read begun after this
        self.numbers_at = min(self.numbers_at, self.heard)
        if self.queue is not None and self.queue.empty():
            self.queue.put_nowait(_WAKE)

    def drop(self, member: Member, why: str) -> None:
        if self.members.get(member.tab.session_id) is member:
            del self.members[member.tab.session_id]
            if _member_of.get(member.tab.session_id) is self:
                del _member_of[member.tab.session_id]
        if not member.ended.done():
            member.ended.set_result(why)

    async def _prune(self, now: float) -> None:
        if now - self.pruned_at < PRUNE_GAP:
            return
        self.pruned_at = now
        for member in list(self.members.values()):
            if not tab_connected(member.tab):
                self.drop(member, "disconnected")
            elif not await still_signed_in(member.session_token):
                self.drop(member, "signed_out")

    # ----- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            async with get_bus().listen(self.key[0]) as queue:
                self.queue = queue
                self.heard = time.monotonic()
                while True:
                    if not self.members:
                        self.closing = True  # no `await` since the check: no tab joins in between
                        break
                    batch = await next_batch(queue, max(0.0, self._wait(time.monotonic())))
                    self._hear([message for message in batch if message is not _WAKE])
                    try:
                        await self._step(time.monotonic())
                    except Exception:  # PostgreSQL or Redis unreachable: keep the tabs, retry
                        log.warning("dashboard stream: update failed; retrying", exc_info=True)
                        await asyncio.sleep(OUTAGE_RETRY)
        except Exception:
            log.exception("dashboard stream of merchant %s stopped", self.key[0])
        finally:
            self.closing = True
            if _streams.get(self.key) is self:
                del _streams[self.key]
            for member in list(self.members.values()):
                self.drop(member, "stopped")

    def _reconcile_every(self) -> float:
        return reconcile_interval() * self.spread

    def _reconcile_due(self, now: float) -> bool:
        return now - self.last_reload >= self._reconcile_every()

    def _charts_due(self) -> float:
        """A held-back chart redraw keeps the reads' pace."""
        return max(self.charts_at, self.last_reload + PACE.refresh)

    def _wait(self, now: float) -> float:
        due_at = min(self.numbers_at, self.last_reload + self._reconcile_every())
        if self.charts_behind:
            due_at = min(due_at, self._charts_due())
        if self.pending:
            due_at = min(due_at, self.last_write + FAST_GAP)
        for member in self.members.values():
            if member.chart_due is not None:
                due_at = min(due_at, member.chart_due)
        return due_at - now

    def _hear(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        self.pending = (self.pending + batch)[-BATCH_LIMIT:]
        self.panels_due = self.panels_due or changes_panels(batch)
        quiet = after_quiet(batch, self.last_event)
        self.last_event = created(batch[-1]) or self.last_event
        self.heard = time.monotonic()
        if self.numbers_at == math.inf and not self._count(batch):
            # the first event the numbers do not hold: after a quiet spell the row goes out
            # first and the numbers follow; in a stream they keep their pace (a read also
            # shows the rows)
            self.numbers_at = (self.heard if quiet else self.last_reload) + PACE.refresh

    def _count(self, batch: list[dict[str, Any]]) -> bool:
        """Add the batch's payments to the numbers shown, if it holds nothing else."""
        if self.numbers is None:
            return False
        numbers = numbers_with_payments(self.numbers, batch, self.providers)
        if numbers is None:
            return False
        if numbers is not self.numbers:
            self.numbers, self.counted = numbers, True
            newest = max(message["id"] for message in batch)
            if self.newest_seen != -1:
                self.newest_seen = max(self.newest_seen or 0, newest)
        return True

    def _numbers_view(self) -> dict[str, Any]:
        """The view's values the numbers held now make (after `_count`)."""
        assert self.numbers is not None and self.numbers.basis is not None
        return numbers_view(self.numbers, self.numbers.basis.period)

    async def _step(self, now: float) -> None:
        charts_due = self.charts_behind and now >= self._charts_due()
        if charts_due and self.numbers_at == math.inf and self.numbers is not None:
            # the held-back charts of the numbers the stream holds: no read needed
            self._new_charts(self._numbers_view(), now)
            charts_due = False
        reload = (
            now >= self.numbers_at or charts_due or self._reconcile_due(now)
        )  # a read shows the pending events too: one frame, not two
        fast = bool(self.pending) and self.shown is not None and now - self.last_write >= FAST_GAP
        if reload or fast:
            await self._prune(now)
            if reload:
                await self._reload(now)
            else:
                await self._fast()
        await self._send_charts(time.monotonic())

    async def _fast(self) -> None:
        assert self.shown is not None
        changes = apply_events(self.shown, self.pending)
        self.pending = []
        if self.counted:  # the numbers go in the row's frame
            self.counted = False
            numbers = self._numbers_view()
            changes |= {
                name: value
                for name, value in numbers.items()
                if name[0] == "_" or self.shown.get(name) != value
            }
            self._new_charts(numbers, time.monotonic())
        if changes:
            self.shown = {**self.shown, **changes}
            await self._send(self._joined(), {self.names.page: _frontend(changes)})

    async def _reload(self, now: float) -> None:
        reconcile = self.numbers_at == math.inf and self._reconcile_due(now)
        # the panels only when something may have changed them, and at a reconcile
        whole = (
            reconcile
            or self.panels_due
            or self.shown is None
            or any(not m.joined for m in self.members.values())
            or now - self.last_whole >= self._reconcile_every()
        )
        heard, newest = self.heard, self.newest_seen
        if whole:  # probe first, so the next reconcile knows the newest event this read shows
            probed = time.monotonic()
            newest = await asyncio.to_thread(newest_event, self.key[0])
            if (
                reconcile
                and newest == self.newest_seen
                and now - self.last_whole < FULL_RECONCILE * self.spread
            ):
                self.last_reload = now  # nothing happened that the tabs missed
                return
            heard = max(self.heard, probed)
        newcomers = [m for m in self.members.values() if not m.joined]
        view = await asyncio.to_thread(read_dashboard, self.key[0], self.key[1], heard, whole=whole)
        if view is None:  # the merchant is gone
            for member in list(self.members.values()):
                self.drop(member, "stopped")
            return
        if whole:  # only once the read has succeeded: after a failed one the probe stands
            self.newest_seen, self.last_whole, self.panels_due = newest, now, False
        now = time.monotonic()
        before = self.shown
        self.shown = view if whole or before is None else {**before, **view}
        self.last_reload, self.pending = now, []
        self.numbers, self.providers, self.counted = view["_numbers"], view["_providers"], False
        # a tab that joined during the read needs one begun after it joined
        late = any(not m.joined and m not in newcomers for m in self.members.values())
        self.numbers_at = now if late else math.inf
        changed = {
            name: value
            for name, value in view.items()
            if name[0] != "_" and (before is None or before.get(name) != value)
        }
        if changed:
            await self._send(self._joined(), {self.names.page: _frontend(changed)})
        self._new_charts(view, now)
        if newcomers:  # the whole page, charts included, and the live mark
            await self._send(
                [m for m in newcomers if m.tab.session_id in self.members],
                {
                    self.names.page: {**_frontend(self.shown), "live_rx_state_": True},
                    self.names.charts: _frontend(view["_charts"].figures),
                },
            )
            for member in newcomers:
                member.joined = True

    def _new_charts(self, view: dict[str, Any], now: float) -> None:
        """New charts go to the joined tabs each at its own moment within CHART_SPREAD, at most
        every CHART_INTERVAL while they keep changing (held back meanwhile: `charts_behind`)."""
        charts: Charts = view["_charts"]
        if charts == self.charts:
            self.charts_behind = False
            return
        if self.charts is not None and now < self.charts_at:
            self.charts_behind = True
            return
        self.charts, self.charts_behind = charts, False
        self.charts_frame = encode_update({self.names.charts: _frontend(charts.figures)})
        self.charts_at = next_chart_time(now)
        for member in self.members.values():
            if member.joined:
                member.chart_due = now + random.uniform(0, CHART_SPREAD)

    async def _send_charts(self, now: float) -> None:
        due = [m for m in self.members.values() if m.chart_due is not None and m.chart_due <= now]
        for member in due:
            member.chart_due = None
        if due:
            await self._prune(now)  # no merchant data to a tab signed out since the last frame
            sids = [m.tab.session_id for m in due if self.members.get(m.tab.session_id) is m]
            await send_update(sids, self.charts_frame)

    def _joined(self) -> list[Member]:
        return [m for m in self.members.values() if m.joined]

    async def _send(self, members: list[Member], delta: dict[str, dict[str, Any]]) -> None:
        if members:
            await send_update([m.tab.session_id for m in members], encode_update(delta))
        self.last_write = time.monotonic()


def _frontend(values: dict[str, Any]) -> dict[str, Any]:
    """A view's state vars as a Reflex delta names them (backend-only ones start with _)."""
    return {f"{name}_rx_state_": value for name, value in values.items() if name[0] != "_"}


# ----- the worker's streams ---------------------------------------------------------------

_streams: dict[Key, DashboardStream] = {}
_member_of: dict[str, DashboardStream] = {}  # socket id -> the stream it is in
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


async def follow(key: Key, tab: SessionData, session_token: str, names: StateNames) -> str:
    """Join the stream of `key` (a newer page of the same tab replaces this one) until the tab
    leaves it; why it left."""
    global _loop
    with _loop_lock:
        _loop = asyncio.get_running_loop()
    _leave(tab.session_id, "replaced")
    stream = _streams.get(key)
    if stream is None or stream.closing:
        stream = _streams[key] = DashboardStream(key, names)
    member = Member(tab, session_token, asyncio.get_running_loop().create_future())
    stream.add(member)
    _member_of[tab.session_id] = stream
    try:
        return await asyncio.shield(member.ended)
    finally:
        stream.drop(member, "stopped")


def tab_left(socket_id: str, path: str) -> None:
    """From any thread: the tab now shows `path`; off the dashboard it leaves its stream. (Reflex
    cancels an unfinished page-load chain on navigation, but not a listener that a filter
    change started: its socket stays open across client-side navigation.)"""
    if (path.rstrip("/") or "/") == ROUTE:
        return
    with _loop_lock:
        loop = _loop
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(_leave, socket_id, "left")


def leave_stream(socket_id: str) -> None:
    """On the event loop: the tab leaves its stream now (its filters are changing)."""
    _leave(socket_id, "replaced")


def _leave(socket_id: str, why: str) -> None:
    stream = _member_of.get(socket_id)
    member = stream.members.get(socket_id) if stream is not None else None
    if stream is not None and member is not None:
        stream.drop(member, why)
