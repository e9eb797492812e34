"""The dashboard's display values, built from a snapshot of selector results: the cards,
tables, feed and health panel as strings, and the figures. Pure functions without Reflex: every
tab of a merchant shares one view, and live events are laid over it here too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from paybridge.display import format_bp, format_change, format_count, format_duration, format_local
from paybridge.models.transaction import TransactionRecord
from paybridge.money import format_money
from paybridge.selectors.analytics import DashboardMetrics
from paybridge.selectors.health import uptime_seconds
from paybridge.selectors.periods import Period
from paybridge.views.charts import daily_volume_figure, provider_figure
from paybridge.views.labels import STATUS_COLORS

log = logging.getLogger("paybridge.state.dashboard")  # the name its warnings always had

RECENT_ROWS = 10
FEED_ITEMS = 25
# A delivered webhook is routine (two per payment with an endpoint for every event): the feed
# keeps payments, payouts and webhook failures; every delivery is on /webhooks.
FEED_HIDDEN = frozenset({"webhook.delivered"})


def record_row(record: TransactionRecord, tz: str) -> dict[str, str]:
    """A recent-table row from a payment read from the database."""
    return _row(
        record.reference,
        record.customer_email,
        record.amount,
        record.currency,
        record.provider_name,
        record.status,
        record.created_at,
        tz,
    )


def transaction_row(
    data: dict[str, Any], tz: str, provider_names: dict[str, str] | None = None
) -> dict[str, str]:
    """A recent-table row from an event's payload, which names the provider by code
    ("mobile_money"), shown by its display name ("Mobile Money")."""
    code = data.get("provider", "")
    return _row(
        data["reference"],
        data["customer_email"],
        data["amount"],
        data["currency"],
        (provider_names or {}).get(code, code),
        data["status"],
        datetime.fromisoformat(data["created_at"]),
        tz,
    )


def _row(
    reference: str,
    customer: str,
    amount: int,
    currency: str,
    provider: str,
    status: str,
    created_at: datetime,
    tz: str,
) -> dict[str, str]:
    return {
        "reference": reference,
        "customer": customer,
        "amount": format_money(amount, currency),
        "provider": provider,
        "status": status,
        "time": format_local(created_at, tz),
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


@dataclass(frozen=True)
class Snapshot:
    """Everything one dashboard shows, read in one session."""

    tz: str
    currencies: list[str]
    currency: str
    period: Period
    metrics: DashboardMetrics
    balances: dict[str, Any]
    rows: list[TransactionRecord]
    events: list[dict[str, Any]]
    stats: Any
    delivery: int | None
    summary: Any
    next_date: date | None
    provider_names: dict[str, str]  # code -> display name, for payments that arrive live


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
        "recent": [record_row(r, tz) for r in snap.rows],
        "feed": [feed_item(m, tz) for m in snap.events],
        "_feed_ids": [m["id"] for m in snap.events],
        "_provider_names": snap.provider_names,
        "health": {
            "delivery_rate": format_bp(delivery) if delivery is not None else "No deliveries yet",
            "uptime": format_duration(uptime_seconds()),
            "p50": f"{stats.p50_ms} ms" if stats.p50_ms is not None else "No API calls yet",
            "p95": f"{stats.p95_ms} ms" if stats.p95_ms is not None else "—",
            "requests": format_count(stats.requests),
            "error_share": format_bp(stats.error_share_bp),
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
