"""`/`: the live dashboard. Every number comes from the selectors and every display string and
figure from views/dashboard.py, read once per worker for all tabs (state/dashboard_reads.py);
this state validates input, picks the period and currency, and assigns the page.

Live updates come from the worker's stream of the merchant and filters (`listen`,
state/dashboard_live.py), which sends every open tab the same frame without writing its state:
so `load` and a filter change assign every value again rather than only what differs from the
state's copy, which the frames have left behind.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from paybridge.browser import SESSION_COOKIE, cookie_value
from paybridge.errors import DomainError
from paybridge.money import normalize_currency
from paybridge.selectors.periods import PRESET_DAYS
from paybridge.state.auth import form_text
from paybridge.state.dashboard_live import StateNames, follow, leave_stream
from paybridge.state.dashboard_reads import Filters, read_dashboard
from paybridge.state.live import watching_session
from paybridge.state.session import SessionState
from paybridge.views.activity import FeedLine, RecentRow
from paybridge.views.dashboard import (
    HealthPanel,
    MetricCard,
    ProfileCard,
    StatusCard,
)

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
    # Panels (display-ready, views/dashboard.py: each field names the selector value it shows)
    cards: list[MetricCard] = []
    statuses: list[StatusCard] = []
    recent: list[RecentRow] = []
    feed: list[FeedLine] = []
    available: str = "—"
    pending: str = "—"
    next_settlement: str = "—"
    can_withdraw: bool = False
    health: HealthPanel = HealthPanel()
    profile: ProfileCard = ProfileCard()
    has_data: bool = False
    filter_error: str = ""
    live: bool = False  # the tab follows the merchant's events (its stream's frames set it)

    # ----- loading -------------------------------------------------------------------------

    def _filters(self) -> Filters:
        return Filters(self.range_key, self.custom_from, self.custom_to, self.currency)

    async def _reload(self, merchant_id: int) -> None:
        view = await asyncio.to_thread(
            read_dashboard, merchant_id, self._filters(), time.monotonic()
        )
        if view is not None:
            await self._show(view)

    async def _show(self, view: dict[str, Any]) -> None:
        """Assign every value (the tab may show newer ones than this state's copy: the live
        stream writes the page, not the state), charts included."""
        for name, value in view.items():
            if name[0] != "_":
                setattr(self, name, value)
        figures = await self.get_state(DashboardChartsState)
        figures.daily = view["_charts"].figures["daily"]
        figures.providers = view["_charts"].figures["providers"]

    async def _refilter(self, merchant_id: int) -> EventSpec:
        """Show new filters: the tab leaves its stream (whose frames show the old ones), reads,
        then follows the new filters' stream."""
        leave_stream(self.router.session.session_id)
        await self._reload(merchant_id)
        return DashboardState.listen

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
        return await self._refilter(found.merchant_id)

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
        return await self._refilter(found.merchant_id)

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
            return await self._refilter(found.merchant_id)
        return None

    # ----- live updates (state/dashboard_live.py) -----------------------------------------

    @rx.event(background=True)
    async def listen(self) -> None:
        """Follow the merchant's events in the worker's stream for these filters until the tab
        leaves the page, changes filters (a new listener) or its session ends."""
        async with self:
            found = await asyncio.to_thread(self._identity)
            if found is None:
                return
            key = (found.merchant_id, self._filters())
            tab = self.router.session
            session_token = cookie_value(self.router.headers.cookie, SESSION_COOKIE) or ""
        async with watching_session(session_token):
            why = await follow(key, tab, session_token, _NAMES)
        if why in ("signed_out", "stopped"):
            async with self:
                self.live = False


_NAMES = StateNames(DashboardState.get_full_name(), DashboardChartsState.get_full_name())
