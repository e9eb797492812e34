"""`/`: the live dashboard. Every number comes from the selectors and every display string and
figure from views/dashboard.py, read once per worker for all tabs (state/dashboard_reads.py);
this state validates input, picks the period and currency, and assigns what changed.

Live updates (`listen`, state/live_tab.py, paced by `DashboardPace`): the listener subscribes to
the merchant's events first, then reloads, so nothing committed in between is missed. An event
is applied at once to the feed and the recent table (deduplicated by event id; under a stream of
payments at most every FAST_GAP, batched); the numbers are reloaded from the database at most
every REFRESH_INTERVAL, so a burst of payments costs each tab a few state writes a second, not
one per payment; a payment after a quiet spell sends its row first and the numbers
REFRESH_INTERVAL later, so the row never waits for their reads. While events stream in, the
charts are redrawn at most every CHART_INTERVAL, at a different moment in each tab (their redraw
is the costliest thing a tab does).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.errors import DomainError
from paybridge.money import normalize_currency
from paybridge.selectors.periods import PRESET_DAYS
from paybridge.state.auth import form_text
from paybridge.state.dashboard_reads import Filters, read_dashboard
from paybridge.state.live import BATCH_LIMIT
from paybridge.state.live_tab import LiveTab, Pace
from paybridge.state.session import SessionState
from paybridge.views.dashboard import apply_events

REFRESH_INTERVAL = 0.25  # seconds between reloads of the numbers while events arrive
CHART_INTERVAL = 8.0  # at most this many seconds between chart redraws while events arrive, and at
# least half of it: a plotly redraw costs a tab several times what the rest of an update costs, and
# a random wait in between keeps a merchant's tabs from all redrawing at the same moment
# (bench/README.md, "Row first, numbers after")
CHART_SPREAD = 1.0  # seconds within which a tab redraws charts that have just changed after a
# quiet spell, at random: the tabs of a merchant do not all redraw at the same moment
FAST_GAP = 0.05  # at most one fast-path update per tab this often: a stream of payments is
# batched. 0.1 s made an event wait 50 ms on average for its slot; 0.05 measured ~10 % lower median
# and ~20 % lower p95 with 200 dashboards (bench/README.md, "Fast-path gap")
RECONCILE_INTERVAL = 15.0  # reload anyway, in case a bus message was lost
RECONCILE_SHARE = 5.0  # a reconcile takes a read started this recently, another tab's too
OUTAGE_RETRY = 1.0  # seconds between refresh attempts while PostgreSQL or Redis is down
ROUTE = "/"
MAX_CUSTOM_DAYS = 366
RANGE_LABELS = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days"}


class DashboardChartsState(rx.State):
    """The two plotly figures, apart from DashboardState: the browser re-renders a chart
    whenever its state changes, so a feed line or a ticking uptime must not redraw them. Only
    the server writes here (no event handlers)."""

    daily: dict[str, Any] = {}
    providers: dict[str, Any] = {}


class DashboardState(LiveTab, SessionState):
    # Filters
    range_key: str = "30d"
    custom_from: str = ""
    custom_to: str = ""
    currency: str = ""
    currencies: list[str] = []
    timezone: str = "UTC"
    period_label: str = ""
    # Panels (display-ready)
    cards: list[dict[str, str]] = []
    providers: list[dict[str, str]] = []
    statuses: list[dict[str, str]] = []
    recent: list[dict[str, str]] = []
    feed: list[dict[str, str]] = []
    available: str = "—"
    pending: str = "—"
    next_settlement: str = "—"
    can_withdraw: bool = False
    health: dict[str, str] = {}
    profile: dict[str, str] = {}
    has_data: bool = False
    filter_error: str = ""

    _route: ClassVar[str] = ROUTE
    _feed_ids: list[int] = []
    _provider_names: dict[str, str] = {}
    _charts_key: int = 0

    # ----- loading -------------------------------------------------------------------------

    def _filters(self) -> Filters:
        return Filters(self.range_key, self.custom_from, self.custom_to, self.currency)

    async def _reload(self, merchant_id: int) -> None:
        view = await asyncio.to_thread(
            read_dashboard, merchant_id, self._filters(), time.monotonic()
        )
        if view is not None:
            await self._show(view)

    async def _show(self, view: dict[str, Any], *, charts: bool = True) -> bool:
        """Assign only what changed, so a live refresh sends the tab a delta of a few values.
        The charts live in their own state, written only when they changed and `charts` allows
        (True when they were written)."""
        for name, value in view.items():
            if name not in ("_charts", "_charts_key") and getattr(self, name) != value:
                setattr(self, name, value)
        if not charts or view["_charts_key"] == self._charts_key:
            return False
        figures = await self.get_state(DashboardChartsState)
        figures.daily = view["_charts"]["daily"]
        figures.providers = view["_charts"]["providers"]
        self._charts_key = view["_charts_key"]
        return True

    # ----- events from the page ------------------------------------------------------------

    @rx.event
    async def load(self) -> EventSpec | None:
        found = await asyncio.to_thread(self._identity)
        if found is None:
            return None
        await self._reload(found.merchant_id)
        return DashboardState.listen

    @rx.event
    async def set_range(self, key: str | list[str]) -> EventSpec | None:
        found = await asyncio.to_thread(self._identity)
        if found is None:
            return self._login_redirect()
        if not isinstance(key, str) or key not in (*PRESET_DAYS, "custom"):
            self.filter_error = "Unknown date range."
            return None
        self.filter_error = ""
        self.range_key = key
        if key == "custom" and not (self.custom_from and self.custom_to):
            today = date.today()
            self.custom_from, self.custom_to = (
                (today - timedelta(days=13)).isoformat(),
                today.isoformat(),
            )
        await self._reload(found.merchant_id)
        return None

    @rx.event
    async def set_custom_range(self, form: dict) -> EventSpec | None:
        found = await asyncio.to_thread(self._identity)
        if found is None:
            return self._login_redirect()
        try:
            start = date.fromisoformat(form_text(form, "from", max_length=10))
            end = date.fromisoformat(form_text(form, "to", max_length=10))
        except (DomainError, ValueError):
            self.filter_error = "Pick a start and an end date."
            return None
        if end < start or (end - start).days >= MAX_CUSTOM_DAYS:
            self.filter_error = (
                f"The end must follow the start, at most {MAX_CUSTOM_DAYS} days apart."
            )
            return None
        self.filter_error = ""
        self.range_key, self.custom_from, self.custom_to = (
            "custom",
            start.isoformat(),
            end.isoformat(),
        )
        await self._reload(found.merchant_id)
        return None

    @rx.event
    async def set_currency(self, code: str) -> EventSpec | None:
        found = await asyncio.to_thread(self._identity)
        if found is None:
            return self._login_redirect()
        try:
            code = normalize_currency(code)
        except DomainError:
            return None
        if code in self.currencies:
            self.currency = code
            await self._reload(found.merchant_id)
        return None

    # ----- live updates (state/live_tab.py) ------------------------------------------------

    def _pace(self, merchant_id: int) -> DashboardPace:
        return DashboardPace(merchant_id, self._filters())

    def _apply(self, messages: list[dict[str, Any]]) -> None:
        """Fast path: new feed lines and table rows before the next full reload."""
        shown = {
            "timezone": self.timezone,
            "feed": self.feed,
            "_feed_ids": self._feed_ids,
            "_provider_names": self._provider_names,
            "recent": self.recent,
        }
        for name, value in apply_events(shown, messages).items():
            setattr(self, name, value)


class DashboardPace(Pace[DashboardState]):
    """Events reach the table and feed at once; the numbers follow, reloaded off the event loop
    at most every REFRESH_INTERVAL (and every RECONCILE_INTERVAL regardless), the charts with
    them at most every CHART_INTERVAL."""

    retry = OUTAGE_RETRY

    def __init__(self, merchant_id: int, filters: Filters) -> None:
        self.merchant_id, self.filters = merchant_id, filters  # the filters the tab shows
        self.heard = 0.0  # when the last event was heard (a read must start after it)
        self.last_reload, self.numbers_at = -RECONCILE_INTERVAL, 0.0  # numbers due now: catch up
        self.last_write = -FAST_GAP
        self.pending: list[dict[str, Any]] = []  # events heard but not yet in the tab
        self.last_event: float | None = None  # when the newest event heard was created
        self.charts_at, self.charts_behind = 0.0, False
        self.reload = False  # what `due` found: a reload (else the fast path)
        self.view: dict[str, Any] | None = None  # what `read` read for it

    def subscribed(self, now: float) -> None:
        self.heard = now  # the catch-up read must start after this
        self.charts_at = _next_chart_time(now)  # `load` drew the charts

    def _charts_due(self) -> float:
        """A held-back chart redraw keeps the reloads' pace."""
        return max(self.charts_at, self.last_reload + REFRESH_INTERVAL)

    def wait(self, now: float) -> float:
        due_at = min(self.numbers_at, self.last_reload + RECONCILE_INTERVAL)
        if self.charts_behind:
            due_at = min(due_at, self._charts_due())
        if self.pending:
            due_at = min(due_at, self.last_write + FAST_GAP)
        return due_at - now

    def hear(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        self.pending = (self.pending + batch)[-BATCH_LIMIT:]
        quiet = _after_quiet(batch, self.last_event)
        self.last_event = _created(batch[-1]) or self.last_event
        self.heard = time.monotonic()
        if self.numbers_at == math.inf:  # the first event the numbers do not hold
            # after a quiet spell the row goes out first and the numbers follow;
            # in a stream they keep their pace (a reload also shows the rows)
            self.numbers_at = (self.heard if quiet else self.last_reload) + REFRESH_INTERVAL

    def due(self, now: float) -> bool:
        self.reload = (
            now >= self.numbers_at
            or (self.charts_behind and now >= self._charts_due())
            or now - self.last_reload >= RECONCILE_INTERVAL
        )  # a reload shows the pending events too: one write, not two
        fast = bool(self.pending) and now - self.last_write >= FAST_GAP
        return self.reload or fast

    async def read(self, now: float) -> None:
        if not self.reload:
            return
        if self.numbers_at == math.inf and now - self.last_reload >= RECONCILE_INTERVAL:
            self.heard = reconcile_since(self.heard, now)  # a held-back chart redraw needs
            # only a read after the last event (another tab's will do)
        self.view = await asyncio.to_thread(
            read_dashboard, self.merchant_id, self.filters, self.heard
        )

    async def push(self, state: DashboardState, now: float) -> None:
        if not self.reload:  # fast path
            state._apply(self.pending)
            self.filters = state._filters()
            return
        view, self.view = self.view, None
        if view is not None and state._filters() == self.filters:  # else changed during the read
            # holds every pending event: read after them
            if not self.charts_behind and view["_charts_key"] != state._charts_key:
                self.charts_at = max(self.charts_at, now + random.uniform(0, CHART_SPREAD))
            if await state._show(view, charts=now >= self.charts_at):
                self.charts_at = _next_chart_time(now)
            self.charts_behind = view["_charts_key"] != state._charts_key
            self.last_reload, self.numbers_at, self.pending = now, math.inf, []
        self.filters = state._filters()  # (changed: read again)
        if not state.live:
            state.live = True

    def pushed(self, at: float) -> None:
        if not self.reload:
            self.pending = []
        self.last_write = at


def _created(message: Any) -> float | None:
    """An event message's creation time (POSIX seconds), or None if it has none."""
    try:
        return datetime.fromisoformat(message["created_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def _after_quiet(batch: list[Any], last_event: float | None) -> bool:
    """The batch's first event was created more than REFRESH_INTERVAL after the one before: a
    payment after a quiet spell, whose row goes out before the numbers. Judged by the events'
    own times, not by when this listener got to them: a busy worker is not a quiet merchant."""
    first = _created(batch[0])
    return first is not None and (last_event is None or first - last_event > REFRESH_INTERVAL)


def reconcile_since(heard: float, now: float) -> float:
    """The oldest read the periodic reconcile accepts: one that started after the last event
    heard and at most RECONCILE_SHARE ago. A merchant's tabs reconcile at different moments, so
    reading afresh each time made 200 idle dashboards ~13 reads a second; sharing them took the
    app from 38-49 % of a core to 11-12 % with two workers (bench/README.md, "Idle dashboards").
    A lost bus message still shows within RECONCILE_INTERVAL + RECONCILE_SHARE."""
    return max(heard, now - RECONCILE_SHARE)


def _next_chart_time(drawn: float) -> float:
    """When a tab may redraw its charts next, at random between half of CHART_INTERVAL and all of
    it after the last redraw: each tab of a merchant hears the same events, and without the
    spread all of them would redraw in the same instant on a machine that shows several."""
    return drawn + random.uniform(CHART_INTERVAL / 2, CHART_INTERVAL)
