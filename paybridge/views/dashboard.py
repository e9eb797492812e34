"""The dashboard's display values, built from a snapshot of selector results: typed cards,
rows, feed lines and panels of strings (each field names the selector attribute it shows), and
the figures. Pure functions without Reflex: every tab of a merchant shares one view, and live
events are laid over it here too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from paybridge.display import format_bp, format_change, format_count, format_duration
from paybridge.models.transaction import TransactionRecord
from paybridge.money import format_money
from paybridge.selectors.analytics import DashboardMetrics, DashboardNumbers
from paybridge.selectors.health import ApiStats, uptime_seconds
from paybridge.selectors.periods import Period
from paybridge.selectors.users import UserSummary
from paybridge.views.activity import FeedLine, RecentRow, feed_item, record_row, transaction_row
from paybridge.views.charts import Charts
from paybridge.views.labels import STATUS_COLORS

log = logging.getLogger("paybridge.state.dashboard")  # the name its warnings always had

RECENT_ROWS = 10
FEED_ITEMS = 25
# A delivered webhook is routine (two per payment with an endpoint for every event): the feed
# keeps payments, payouts and webhook failures; every delivery is on /webhooks.
FEED_HIDDEN = frozenset({"webhook.delivered"})
# Events that change only the numbers, balances, rows and feed: a live read after them leaves the
# panels out. A webhook event changes the delivery rate the health panel shows.
NUMBERS_EVENTS = frozenset(
    {"transaction.created", "transaction.updated", "settlement.created", "settlement.updated"}
)


@dataclass(frozen=True)
class MetricCard:
    """A headline card: one number of `DashboardMetrics.current` (a `Headline` field) and its
    change against `DashboardMetrics.previous` (the matching `HeadlineChange` field)."""

    label: str  # "Total volume"
    value: str  # the Headline field, e.g. Headline.total_volume in DashboardMetrics.currency
    change: str  # the HeadlineChange field, e.g. total_volume_bp: "+12.50%" ("+0.50 pts" for
    # success_rate_points_bp), "no earlier data" when it is None
    versus: str  # "vs previous 7 days": the length of the period, Period.days()
    trend: str  # up | down | flat | none: the sign of that HeadlineChange field
    id: str  # the heading's element id, named after the Headline field ("total-volume")


@dataclass(frozen=True)
class StatusCard:
    """One payment status's card (`DashboardMetrics.statuses`)."""

    status: str  # StatusShare.status
    count: str  # StatusShare.count
    share: str  # StatusShare.share_bp
    color: str  # the status's badge colour (views/labels.STATUS_COLORS)


@dataclass(frozen=True)
class HealthPanel:
    """The "System health" panel; empty until the first load."""

    delivery_rate: str = ""  # delivery_rate_bp (selectors/deliveries.py), last 24 h
    uptime: str = ""  # uptime_seconds() (selectors/health.py) of this worker
    p50: str = ""  # ApiStats.p50_ms
    p95: str = ""  # ApiStats.p95_ms
    requests: str = ""  # ApiStats.requests
    error_share: str = ""  # ApiStats.error_share_bp


@dataclass(frozen=True)
class ProfileCard:
    """The user summary card (`selectors.users.user_summary`); empty until the first load."""

    initials: str = ""  # UserSummary.initials
    name: str = ""  # UserSummary.full_name
    company: str = ""  # UserSummary.company_name
    email: str = ""  # UserSummary.email
    kyc: str = ""  # UserSummary.kyc_status
    account_type: str = ""  # UserSummary.account_type


@dataclass(frozen=True)
class Panels:
    """What the system health panel and the profile card show. No payment changes them, so a
    live dashboard's read after payments leaves them out (`NUMBERS_EVENTS`)."""

    stats: ApiStats
    delivery: int | None
    summary: UserSummary | None


@dataclass(frozen=True)
class Snapshot:
    """Everything one dashboard shows, read in one session (`panels` None: all but the panels)."""

    tz: str
    period: Period
    numbers: DashboardNumbers  # read with `counting`: payments heard later can be added
    rows: list[TransactionRecord]
    events: list[dict[str, Any]]
    panels: Panels | None
    next_date: date | None
    providers: dict[str, tuple[int, str]]  # code -> (id, display name), for live payments


def dashboard_view(snap: Snapshot) -> dict[str, Any]:
    """Format a snapshot into the dashboard's display vars (pure: shared by every tab). The
    view keeps its numbers and the providers (`_numbers`, `_providers`, never sent) for the
    payments heard after it."""
    tz, period = snap.tz, snap.period
    if period.first_day == period.last_day:
        period_label = f"{period.first_day:%b %d, %Y}"
    else:
        period_label = f"{period.first_day:%b %d} to {period.last_day:%b %d, %Y}"
    view: dict[str, Any] = {
        "timezone": tz,
        "period_label": period_label,
        **numbers_view(snap.numbers, period),
        "next_settlement": (
            f"{snap.next_date:%a, %b %d}"
            if snap.next_date
            else "Manual payouts — withdraw any time"
        ),
        "recent": [record_row(r, tz) for r in snap.rows],
        "feed": [feed_item(m, tz) for m in snap.events],
        "_feed_ids": [m["id"] for m in snap.events],
        "_numbers": snap.numbers,
        "_providers": snap.providers,
    }
    if snap.panels is not None:
        view |= panel_views(snap.panels)
    return view


def numbers_view(numbers: DashboardNumbers, period: Period) -> dict[str, Any]:
    """The view's values that payments change: the cards, the balances and the charts."""
    currency, metrics = numbers.currency, numbers.metrics
    balance = next((b for b in numbers.balances or [] if b.currency == currency), None)
    available = balance.available if balance else 0
    return {
        "currency": currency,
        "currencies": numbers.currencies or [currency],
        "has_data": bool(numbers.currencies),
        **metric_views(metrics, period),
        "available": format_money(available, currency),
        "pending": format_money(balance.pending if balance else 0, currency),
        "can_withdraw": available > 0,
        "_charts": Charts(metrics.currency, tuple(metrics.daily), tuple(metrics.providers)),
    }


def panel_views(panels: Panels) -> dict[str, Any]:
    """The view's "health" and (for a merchant that still exists) "profile"."""
    stats, delivery, summary = panels.stats, panels.delivery, panels.summary
    view: dict[str, Any] = {
        "health": HealthPanel(
            delivery_rate=format_bp(delivery) if delivery is not None else "No deliveries yet",
            uptime=format_duration(uptime_seconds()),
            p50=f"{stats.p50_ms} ms" if stats.p50_ms is not None else "No API calls yet",
            p95=f"{stats.p95_ms} ms" if stats.p95_ms is not None else "—",
            requests=format_count(stats.requests),
            error_share=format_bp(stats.error_share_bp),
        )
    }
    if summary is not None:
        view["profile"] = ProfileCard(
            initials=summary.initials,
            name=summary.full_name,
            company=summary.company_name,
            email=summary.email,
            kyc=summary.kyc_status,
            account_type=summary.account_type,
        )
    return view


def metric_views(metrics: DashboardMetrics, period: Period) -> dict[str, Any]:
    """The headline cards and status cards of `metrics` (the view's "cards" and "statuses"; the
    providers are the chart's, views/charts.py)."""
    now, c = metrics.current, metrics.currency
    days = len(period.days())
    versus = f"vs previous {days} day{'s' if days > 1 else ''}"
    change = metrics.change
    return {
        "cards": [
            _card(
                "Total transactions",
                format_count(now.total_transactions),
                change.total_transactions_bp,
                versus,
                "total-transactions",
            ),
            _card(
                "Total volume",
                format_money(now.total_volume, c),
                change.total_volume_bp,
                versus,
                "total-volume",
            ),
            _card(
                "Success rate",
                format_bp(now.success_rate_bp),
                change.success_rate_points_bp,
                versus,
                "success-rate",
                points=True,
            ),
            _card(
                "Average transaction",
                format_money(now.average_transaction, c),
                change.average_transaction_bp,
                versus,
                "average-transaction",
            ),
        ],
        "statuses": [
            StatusCard(
                status=s.status,
                count=format_count(s.count),
                share=format_bp(s.share_bp),
                color=STATUS_COLORS[s.status],
            )
            for s in metrics.statuses
        ],
    }


def apply_events(shown: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The feed and recent table (`shown`: their `FeedLine`s and `RecentRow`s, the feed's
    event ids and the timezone) with the events not yet in them on top: the changed values, or
    nothing; a row whose payment changed status is replaced by a copy with the new status. Only
    what can still be seen is formatted (the newest FEED_ITEMS lines and RECENT_ROWS payments),
    so a tab that heard a few hundred events since its last update does not format them all. A
    message this code cannot read is skipped (the next reload shows what the database holds)."""
    tz, shown_ids = shown["timezone"], set(shown["_feed_ids"])
    names = {code: name for code, (_, name) in shown.get("_providers", {}).items()}
    fresh: dict[int, dict[str, Any]] = {}
    for message in messages:
        if isinstance(message, dict) and type(message.get("id")) is int:
            if message["id"] not in shown_ids:
                fresh[message["id"]] = message
        else:
            log.warning("dashboard skipped an unreadable event: %.200r", message)
    newest = [fresh[event_id] for event_id in sorted(fresh, reverse=True)]
    lines: list[tuple[int, FeedLine]] = []
    added: list[RecentRow] = []
    references = {row.reference for row in shown["recent"]}
    for message in newest:
        with _skip_unreadable(message):  # the whole event, or none of it
            shown_in_feed = len(lines) < FEED_ITEMS and message["type"] not in FEED_HIDDEN
            line = feed_item(message, tz) if shown_in_feed else None
            new = message["type"] == "transaction.created" and len(added) < RECENT_ROWS
            row = transaction_row(message["payload"], tz, names) if new else None
            if line is not None:
                lines.append((message["id"], line))
            if row is not None and row.reference not in references:
                added.append(row)
                references.add(row.reference)
    rows: list[RecentRow] = (added + list(shown["recent"]))[:RECENT_ROWS]
    where = {row.reference: i for i, row in enumerate(rows)}
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
            if rows[where[reference]].status != data["status"]:
                rows[where[reference]] = replace(rows[where[reference]], status=data["status"])
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
) -> MetricCard:
    if points and change is not None:
        text = ("+" if change >= 0 else "") + format_bp(change).replace("%", " pts")
    else:
        text = format_change(change)
    trend = "none" if change is None else ("up" if change > 0 else "down" if change < 0 else "flat")
    return MetricCard(label=label, value=value, change=text, versus=versus, trend=trend, id=test_id)
