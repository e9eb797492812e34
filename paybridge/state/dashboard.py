"""`/`: the live dashboard. Every number comes from the selectors; this state only validates
input, picks the period and currency, and turns results into display strings and figures.

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
import json
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import reflex as rx
from reflex.event import EventSpec

from paybridge.api.web_auth import SESSION_COOKIE
from paybridge.components.cards import STATUS_COLORS
from paybridge.components.charts import daily_volume_figure, provider_figure
from paybridge.db import read_session
from paybridge.display import format_bp, format_change, format_count, format_duration, format_local
from paybridge.errors import DomainError
from paybridge.events import get_bus
from paybridge.events.outbox import event_message
from paybridge.models import User
from paybridge.money import format_money, normalize_currency
from paybridge.selectors.activity import recent_events, recent_transactions
from paybridge.selectors.analytics import (
    DashboardMetrics,
    change_bp,
    dashboard_numbers,
    providers_by_id,
)
from paybridge.selectors.deliveries import delivery_rate_bp
from paybridge.selectors.health import api_stats, uptime_seconds
from paybridge.selectors.periods import PRESET_DAYS, Period, period_for_days, period_last_days
from paybridge.selectors.settlements import next_payout_date
from paybridge.selectors.users import user_summary
from paybridge.state.auth import form_text
from paybridge.state.live import (
    BATCH_LIMIT,
    next_batch,
    on_page,
    still_signed_in,
    tab_connected,
    watching_session,
)
from paybridge.state.session import SessionState, cookie_value

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
RECENT_ROWS = 10
PROVIDER_NAMES_TTL = 60.0  # seconds
FEED_ITEMS = 25
MAX_CUSTOM_DAYS = 366
# A delivered webhook is routine (two per payment with an endpoint for every event): the feed
# keeps payments, payouts and webhook failures; every delivery is on /webhooks.
FEED_HIDDEN = frozenset({"webhook.delivered"})
RANGE_LABELS = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days"}


def transaction_row(
    data: dict[str, Any], tz: str, provider_names: dict[str, str] | None = None
) -> dict[str, str]:
    """A recent-table row from a payment: a record's fields or an event's payload, which names
    the provider by code ("mobile_money"), shown by its display name ("Mobile Money")."""
    code = data.get("provider", "")
    return {
        "reference": data["reference"],
        "customer": data["customer_email"],
        "amount": format_money(data["amount"], data["currency"]),
        "provider": data.get("provider_name") or (provider_names or {}).get(code, code),
        "status": data["status"],
        "time": format_local(datetime.fromisoformat(data["created_at"]), tz),
    }


def feed_item(message: dict[str, Any], tz: str) -> dict[str, str]:
    """One line of the activity feed for an outbox event."""
    kind, data = message["type"], message["payload"]
    amount = (
        format_money(data["amount"], data["currency"])
        if "amount" in data and "currency" in data
        else ""
    )
    if kind == "transaction.created":
        text, icon, color = (
            f"New {data['status']} payment {amount} from {data['customer_email']}",
            "credit-card",
            "blue",
        )
    elif kind == "transaction.updated" and isinstance(data.get("refund"), dict):
        refunded = format_money(int(data["refund"].get("amount", 0)), data["currency"])
        whole = "in full" if data["status"] == "refunded" else "in part"
        text, icon, color = f"Refunded {refunded} of payment {amount} ({whole})", "undo-2", "gray"
    elif kind == "transaction.updated":
        verb = {"success": "succeeded", "failed": "failed", "refunded": "was refunded"}.get(
            data["status"], data["status"]
        )
        color = STATUS_COLORS.get(data["status"], "gray")
        text, icon = f"Payment {amount} {verb}", "refresh-cw"
    elif kind.startswith("settlement."):
        text, icon, color = f"Payout {amount} {data.get('status', '')}", "landmark", "violet"
        if data.get("status") == "failed":
            color = "red"
    elif kind == "webhook.delivered":
        text, icon, color = (
            f"Webhook delivered to {data.get('url', 'endpoint')}",
            "webhook",
            "green",
        )
    elif kind.startswith("webhook."):
        text, icon, color = (
            f"Webhook {kind.split('.', 1)[1]}: {data.get('url', 'endpoint')}",
            "webhook",
            "red",
        )
    else:
        text, icon, color = kind, "activity", "gray"
    return {
        "id": str(message["id"]),
        "text": text,
        "icon": icon,
        "color": color,
        "reference": str(data.get("reference", "")),
        "time": format_local(datetime.fromisoformat(message["created_at"]), tz, seconds=True),
    }


class Filters(NamedTuple):
    range_key: str
    custom_from: str
    custom_to: str
    currency: str


@dataclass(frozen=True)
class Snapshot:
    """Everything one dashboard shows, read in one session."""

    tz: str
    currencies: list[str]
    currency: str
    period: Period
    metrics: DashboardMetrics
    balances: dict[str, Any]
    rows: list[Any]
    events: list[dict[str, Any]]
    stats: Any
    delivery: int | None
    summary: Any
    next_date: date | None
    provider_names: dict[str, str]  # code -> display name, for payments that arrive live


def period_for(filters: Filters, tz: str) -> Period:
    if filters.range_key == "custom" and filters.custom_from and filters.custom_to:
        return period_for_days(
            date.fromisoformat(filters.custom_from), date.fromisoformat(filters.custom_to), tz
        )
    return period_last_days(PRESET_DAYS.get(filters.range_key, 30), tz)


Key = tuple[int, Filters]
_views: dict[Key, tuple[float, dict[str, Any]]] = {}  # key -> (read started, view)
_reading: dict[Key, tuple[float, Future]] = {}  # key -> (read started, its result)
_views_lock = threading.Lock()
FORGET_SECONDS = 30.0  # views older than this are dropped from memory


def read_dashboard(merchant_id: int, filters: Filters, fresh_since: float) -> dict[str, Any] | None:
    """The dashboard's display values (state var name -> value) from the selectors.

    Every tab of a merchant hears the same event and reloads at about the same moment, so a
    worker reads and formats once for all of them: a caller gets a read that started at or
    after `fresh_since` (time.monotonic() when it heard its latest event, so the read sees that
    event's commit), joining one in flight if there is one. Nothing older is ever reused."""
    key = (merchant_id, filters)
    with _views_lock:
        done = _views.get(key)
        if done is not None and done[0] >= fresh_since:
            return done[1]
        flight = _reading.get(key)
        owner = flight is None or flight[0] < fresh_since
        if owner:
            flight = _reading[key] = (time.monotonic(), Future())
    assert flight is not None
    started, result = flight
    if not owner:
        return result.result()
    try:
        snapshot = read_snapshot(merchant_id, filters)
        view = dashboard_view(snapshot) if snapshot is not None else None
    except BaseException as error:
        result.set_exception(error)
        raise
    finally:
        with _views_lock:
            if _reading.get(key) is flight:
                del _reading[key]
    result.set_result(view)
    with _views_lock:
        for old in [k for k, (at, _) in _views.items() if started - at > FORGET_SECONDS]:
            del _views[old]
        if view is not None and (key not in _views or _views[key][0] < started):
            _views[key] = (started, view)
    return view


_names: tuple[float, dict[str, str]] = (-PROVIDER_NAMES_TTL, {})


def provider_names(session: Any) -> dict[str, str]:
    """Every provider's display name by code, read at most once a PROVIDER_NAMES_TTL: they
    change with a deploy, not with traffic, and the dashboard's numbers stay one read."""
    global _names
    read_at, names = _names
    if time.monotonic() - read_at > PROVIDER_NAMES_TTL:
        names = {p.code: p.display_name for p in providers_by_id(session).values()}
        _names = (time.monotonic(), names)
    return names


def read_snapshot(merchant_id: int, filters: Filters) -> Snapshot | None:
    with read_session() as session:
        user = session.get(User, merchant_id)
        if user is None:
            return None
        period = period_for(filters, user.timezone)
        numbers = dashboard_numbers(
            session=session,
            merchant_id=merchant_id,
            period=period,
            currency=filters.currency or None,
            any_currency=False,
        )
        return Snapshot(
            tz=user.timezone,
            currencies=numbers.currencies,
            currency=numbers.currency,
            period=period,
            metrics=numbers.metrics,
            balances={b.currency: b for b in numbers.balances or []},
            rows=recent_transactions(session=session, merchant_id=merchant_id, limit=RECENT_ROWS),
            events=[
                event_message(e)
                for e in recent_events(
                    session=session, merchant_id=merchant_id, limit=FEED_ITEMS, exclude=FEED_HIDDEN
                )
            ],
            stats=api_stats(session=session, merchant_id=merchant_id),
            delivery=delivery_rate_bp(session=session, merchant_id=merchant_id),
            summary=user_summary(session=session, merchant_id=merchant_id),
            next_date=next_payout_date(user),
            provider_names=provider_names(session),
        )


def dashboard_view(snap: Snapshot) -> dict[str, Any]:
    """Format a snapshot into the dashboard's display vars (pure: shared by every tab)."""
    tz, currency, period = snap.tz, snap.currency, snap.period
    if period.first_day == period.last_day:
        period_label = f"{period.first_day:%b %d, %Y}"
    else:
        period_label = f"{period.first_day:%b %d} to {period.last_day:%b %d, %Y}"
    balance = snap.balances.get(currency)
    available = balance.available if balance else 0
    stats, delivery, summary = snap.stats, snap.delivery, snap.summary
    metrics = snap.metrics
    view: dict[str, Any] = {
        "timezone": tz,
        "currency": currency,
        "currencies": snap.currencies or [currency],
        "has_data": bool(snap.currencies),
        "period_label": period_label,
        **metric_views(metrics, period),
        "available": format_money(available, currency),
        "pending": format_money(balance.pending if balance else 0, currency),
        "can_withdraw": available > 0,
        "next_settlement": (
            f"{snap.next_date:%a, %b %d}"
            if snap.next_date
            else "Manual payouts — withdraw any time"
        ),
        "recent": [
            transaction_row(
                {
                    "reference": r.reference,
                    "customer_email": r.customer_email,
                    "amount": r.amount,
                    "currency": r.currency,
                    "provider_name": r.provider_name,
                    "status": r.status,
                    "created_at": r.created_at.isoformat(),
                },
                tz,
            )
            for r in snap.rows
        ],
        "feed": [feed_item(m, tz) for m in snap.events],
        "_feed_ids": [m["id"] for m in snap.events],
        "_provider_names": snap.provider_names,
        "health": {
            "delivery_rate": format_bp(delivery) if delivery is not None else "No deliveries yet",
            "uptime": format_duration(uptime_seconds()),
            "p50": f"{stats.p50_ms} ms" if stats.p50_ms is not None else "No API calls yet",
            "p95": f"{stats.p95_ms} ms" if stats.p95_ms is not None else "—",
            "requests": format_count(stats.requests),
            "error_share": format_bp(_share(stats.errors, stats.requests))
            if stats.requests
            else "—",
        },
    }
    charts = {
        "daily": daily_volume_figure(metrics.daily, metrics.currency),
        "providers": provider_figure(metrics.providers, metrics.currency),
    }
    view["_charts"] = charts
    view["_charts_key"] = hash(json.dumps(charts, sort_keys=True))
    if summary is not None:
        view["profile"] = {
            "initials": summary.initials,
            "name": summary.full_name,
            "company": summary.company_name,
            "email": summary.email,
            "kyc": summary.kyc_status,
            "account_type": summary.account_type,
        }
    return view


def metric_views(metrics: DashboardMetrics, period: Period) -> dict[str, Any]:
    now, before, c = metrics.current, metrics.previous, metrics.currency
    days = len(period.days())
    versus = f"vs previous {days} day{'s' if days > 1 else ''}"
    rate_change = (
        None
        if now.success_rate_bp is None or before.success_rate_bp is None
        else now.success_rate_bp - before.success_rate_bp
    )
    return {
        "cards": [
            _card(
                "Total transactions",
                format_count(now.total_transactions),
                change_bp(now.total_transactions, before.total_transactions),
                versus,
                "total-transactions",
            ),
            _card(
                "Total volume",
                format_money(now.total_volume, c),
                change_bp(now.total_volume, before.total_volume),
                versus,
                "total-volume",
            ),
            _card(
                "Success rate",
                format_bp(now.success_rate_bp),
                rate_change,
                versus,
                "success-rate",
                points=True,
            ),
            _card(
                "Average transaction",
                format_money(now.average_transaction, c),
                change_bp(now.average_transaction, before.average_transaction),
                versus,
                "average-transaction",
            ),
        ],
        "providers": [
            {
                "name": p.name,
                "volume": format_money(p.volume, c),
                "count": format_count(p.count),
                "rate": format_bp(p.success_rate_bp),
                "health": p.health,
            }
            for p in metrics.providers
        ],
        "statuses": [
            {
                "status": s.status,
                "count": format_count(s.count),
                "share": format_bp(s.share_bp),
                "color": STATUS_COLORS[s.status],
            }
            for s in metrics.statuses
        ],
    }


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
        await self._reload(found.user_id)
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
        await self._reload(found.user_id)
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
        await self._reload(found.user_id)
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
            await self._reload(found.user_id)
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
            merchant_id = found.user_id
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


def apply_events(shown: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The feed and recent table (`shown`: their values and the timezone) with the events not
    yet in them on top: the changed values, or nothing. Only what can still be seen is
    formatted (the newest FEED_ITEMS lines and RECENT_ROWS payments), so a tab that heard a few
    hundred events since its last update does not format them all. A message this code cannot
    read is skipped (the next reload shows what the database holds)."""
    tz, shown_ids = shown["timezone"], set(shown["_feed_ids"])
    names = shown.get("_provider_names", {})
    fresh: dict[int, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, dict) and type(message.get("id")) is int:
            if message["id"] not in shown_ids:
                fresh[message["id"]] = message
        else:
            log.warning("dashboard skipped an unreadable event: %.200r", message)
    newest = [fresh[event_id] for event_id in sorted(fresh, reverse=True)]
    lines: list[tuple[int, dict[str, str]]] = []
    added: list[dict[str, str]] = []
    references = {row["reference"] for row in shown["recent"]}
    for message in newest:
        with _skip_unreadable(message):  # the whole event, or none of it
            shown_in_feed = len(lines) < FEED_ITEMS and message["type"] not in FEED_HIDDEN
            line = feed_item(message, tz) if shown_in_feed else None
            new = message["type"] == "transaction.created" and len(added) < RECENT_ROWS
            row = transaction_row(message["payload"], tz, names) if new else None
            if line is not None:
                lines.append((message["id"], line))
            if row is not None and row["reference"] not in references:
                added.append(row)
                references.add(row["reference"])
    rows = (added + list(shown["recent"]))[:RECENT_ROWS]
    where = {row["reference"]: i for i, row in enumerate(rows)}
    settled: set[str] = set()
    for message in newest:  # a visible payment takes the status of its newest event
        data = message.get("payload")
        if not isinstance(data, dict):
            continue
        reference = data.get("reference")
        if (
            str(message.get("type")).startswith("transaction.")
            and isinstance(reference, str)
            and reference in where
            and reference not in settled
            and isinstance(data.get("status"), str)
        ):
            settled.add(reference)
            if rows[where[reference]]["status"] != data["status"]:
                rows[where[reference]] = {**rows[where[reference]], "status": data["status"]}
    if not lines and rows == shown["recent"]:
        return {}
    return {
        "feed": ([line for _, line in lines] + shown["feed"])[:FEED_ITEMS],
        "_feed_ids": ([event_id for event_id, _ in lines] + shown["_feed_ids"])[:FEED_ITEMS],
        "recent": rows,
    }


@contextmanager
def _skip_unreadable(message: dict[str, Any]) -> Iterator[None]:
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("dashboard skipped an unreadable event: %.200r", message)


def _card(
    label: str, value: str, change: int | None, versus: str, test_id: str, points: bool = False
) -> dict[str, str]:
    if points and change is not None:
        text = ("+" if change >= 0 else "") + format_bp(change).replace("%", " pts")
    else:
        text = format_change(change)
    trend = "none" if change is None else ("up" if change > 0 else "down" if change < 0 else "flat")
    return {
        "label": label,
        "value": value,
        "change": text,
        "versus": versus,
        "trend": trend,
        "id": test_id,
    }


def _share(part: int, whole: int) -> int:
    return (part * 20000 + whole) // (2 * whole)
