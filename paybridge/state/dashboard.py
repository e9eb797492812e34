"""`/`: the live dashboard. Every number comes from the selectors and every display string and
figure from views/dashboard.py, read once per worker for all tabs (state/dashboard_reads.py);
this state validates input, picks the period and currency, and assigns what changed.

Live updates: `listen` subscribes to the merchant's events first, then reloads, so nothing
committed in between is missed. An event is applied at once to the feed and the recent table
(deduplicated by event id; under a stream of payments at most every FAST_GAP, batched); the numbers
are reloaded from the database at most every REFRESH_INTERVAL, so a burst of payments costs each
tab a few state writes a second, not one per payment; a payment after a quiet spell sends its row
first and the numbers REFRESH_INTERVAL later, so the row never waits for their reads. While
events stream in, the charts are redrawn at most every CHART_INTERVAL, at a different moment in
each tab (their redraw is the costliest thing a tab does).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from datetime import date, datetime, timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from paybridge.browser import SESSION_COOKIE, cookie_value
from paybridge.errors import DomainError
from paybridge.events import get_bus
from paybridge.money import normalize_currency
from paybridge.selectors.periods import PRESET_DAYS
from paybridge.state.auth import form_text
from paybridge.state.dashboard_reads import Filters, read_dashboard
from paybridge.state.live import (
    BATCH_LIMIT,
    next_batch,
    on_page,
    still_signed_in,
    tab_connected,
    watching_session,
)
from paybridge.state.session import SessionState
from paybridge.views.dashboard import apply_events

log = logging.getLogger(__name__)

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


class DashboardState(SessionState):
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
    live: bool = False

    _listener: int = 0
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

    # ----- live updates --------------------------------------------------------------------

    @rx.event(background=True)
    async def listen(self) -> None:
        """Events reach the table and feed at once; the numbers follow, reloaded off the event loop
        at most every REFRESH_INTERVAL (and every RECONCILE_INTERVAL regardless). Nothing is
        pushed unless the tab's session was confirmed within AUTH_RECHECK."""
        async with self:
            found = await asyncio.to_thread(self._identity)
            if found is None:
                return
            merchant_id = found.merchant_id
            self._listener += 1
            generation = self._listener
            tab = self.router.session
            session_token = cookie_value(self.router.headers.cookie, SESSION_COOKIE) or ""
            filters = self._filters()
        async with watching_session(session_token), get_bus().listen(merchant_id) as queue:
            heard = time.monotonic()  # subscribed: the catch-up read must start after this
            last_reload, numbers_at = -RECONCILE_INTERVAL, 0.0  # numbers due now: catch up
            last_write = -FAST_GAP
            pending: list[dict[str, Any]] = []  # events heard but not yet in the tab
            last_event: float | None = None  # when the newest event heard was created
            charts_at, charts_behind = _next_chart_time(time.monotonic()), False  # `load` drew
            while tab_connected(tab):
                now = time.monotonic()
                # a held-back chart redraw keeps the reloads' pace
                charts_due = max(charts_at, last_reload + REFRESH_INTERVAL)
                due_at = min(numbers_at, last_reload + RECONCILE_INTERVAL)
                if charts_behind:
                    due_at = min(due_at, charts_due)
                if pending:
                    due_at = min(due_at, last_write + FAST_GAP)
                batch = await next_batch(queue, max(0.0, due_at - now))
                if batch:
                    pending = (pending + batch)[-BATCH_LIMIT:]
                    quiet = _after_quiet(batch, last_event)
                    last_event = _created(batch[-1]) or last_event
                    heard = time.monotonic()
                    if numbers_at == math.inf:  # the first event the numbers do not hold
                        # after a quiet spell the row goes out first and the numbers follow;
                        # in a stream they keep their pace (a reload also shows the rows)
                        numbers_at = (heard if quiet else last_reload) + REFRESH_INTERVAL
                try:
                    now = time.monotonic()
                    reload = (
                        now >= numbers_at
                        or (charts_behind and now >= charts_due)
                        or now - last_reload >= RECONCILE_INTERVAL
                    )  # a reload shows the pending events too: one write, not two
                    fast = pending and not reload and now - last_write >= FAST_GAP
                    if (fast or reload) and not await still_signed_in(session_token):
                        async with self:
                            self.live = False
                        return
                    if fast:
                        async with self:
                            if not self._still_mine(generation):
                                return
                            self._apply(pending)
                            filters = self._filters()
                        pending, last_write = [], time.monotonic()
                        continue
                    if not reload:
                        continue
                    if numbers_at == math.inf and now - last_reload >= RECONCILE_INTERVAL:
                        heard = reconcile_since(heard, now)  # a held-back chart redraw needs
                        # only a read after the last event (another tab's will do)
                    view = await asyncio.to_thread(read_dashboard, merchant_id, filters, heard)
                    async with self:  # filters changed during the read? read again
                        if not self._still_mine(generation):
                            return
                        if view is not None and self._filters() == filters:
                            # holds every pending event: read after them
                            if not charts_behind and view["_charts_key"] != self._charts_key:
                                charts_at = max(charts_at, now + random.uniform(0, CHART_SPREAD))
                            if await self._show(view, charts=now >= charts_at):
                                charts_at = _next_chart_time(now)
                            charts_behind = view["_charts_key"] != self._charts_key
                            last_reload, numbers_at, pending = now, math.inf, []
                        filters = self._filters()
                        if not self.live:
                            self.live = True
                    last_write = time.monotonic()
                except Exception:  # database or Redis unreachable: keep the tab, try again
                    log.warning("dashboard listener: refresh failed; retrying", exc_info=True)
                    await asyncio.sleep(OUTAGE_RETRY)

    def _still_mine(self, generation: int) -> bool:
        """This listener is the tab's newest and the tab still shows the dashboard."""
        if self._listener != generation:
            return False  # a newer listener owns the tab (and its `live` flag)
        if not on_page(self.router.url.path, ROUTE):
            self.live = False
            return False
        return True

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
