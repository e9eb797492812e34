"""A live dashboard's numbers with the payments it heard added, without reading them again.

A read keeps its `NumbersBasis` (the period's cells, the daily series, the currencies' counts,
the balances, the payment events its statement saw). A `transaction.created` event carries all
that a new payment adds — amount, fee, net, status, provider, currency, time — so adding it by
the rules the rollups follow (`services/rollups.py`) gives what a read would show; a test holds
the two equal. Anything these rules do not cover answers None and the dashboard reads instead:
another kind of event, a payment outside the period, one the read may or may not have counted
(older than the newest events the read saw, or than the last COUNTED_KEEP added), a provider not
known, a payment that changes which currency is shown. What time alone changes (funds leaving the
hold, a new day) waits for the next read, as between reads before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from paybridge.db import utcnow
from paybridge.models.event import EventType
from paybridge.models.transaction import CREATABLE_STATUSES, TransactionStatus
from paybridge.selectors.analytics import (
    DashboardNumbers,
    NumbersBasis,
    ProviderName,
    StatusTotals,
    build_metrics,
    daily_points,
)
from paybridge.selectors.balances import CurrencyBalance

COUNTED_KEEP = 1_000  # payment events a stream remembers adding (between reads a busy merchant's
# grew by its payment rate, and were copied with every batch); an older one makes it read


def numbers_with_payments(
    numbers: DashboardNumbers,
    messages: Iterable[dict[str, Any]],
    providers: Mapping[str, tuple[int, str]],
    *,
    now: datetime | None = None,
) -> DashboardNumbers | None:
    """`numbers` (read with `counting`) with the payments of `messages` (bus events heard after
    the read) added, or None when that would not be exactly what a read shows (see the module
    docstring). `providers`: every provider's (id, display name) by code. Events the numbers hold
    already are skipped, so hearing one twice changes nothing."""
    basis = numbers.basis
    if basis is None:
        return None
    counted, floor = set(basis.counted), basis.floor
    cells = {(c.provider_id, c.status): c for c in basis.cells}
    names = dict(basis.providers)
    daily = dict(basis.daily)
    used = dict(basis.used)
    balances = {b.currency: b for b in numbers.balances or []}
    zone, period = ZoneInfo(basis.period.tz), basis.period
    cutoff = (now or utcnow()) - basis.hold if basis.hold is not None else None
    changed = False
    days_changed: set[date] = set()
    for message in messages:
        payment = _payment(message, providers)
        if payment is None:
            return None
        event_id, currency, status, provider, amount, fee, net, created_at = payment
        if event_id in counted:
            continue
        if floor is not None and event_id < floor:
            return None  # below the window: it may be in the numbers or not
        if not period.start <= created_at < period.end:
            return None
        counted.add(event_id)
        changed = True
        used[currency] = used.get(currency, 0) + 1
        if currency == numbers.currency:
            provider_id, name = providers[provider]
            names.setdefault(provider_id, ProviderName(provider, name))
            old = cells.get((provider_id, status))
            cells[(provider_id, status)] = StatusTotals(
                provider_id,
                status,
                (old.count if old else 0) + 1,
                (old.gross if old else 0) + amount,
                (old.fees if old else 0) + fee,
                (old.net if old else 0) + net,
                old.refunded if old else 0,
                old.refunded_net if old else 0,
            )
            if status == TransactionStatus.SUCCESS:
                day = created_at.astimezone(zone).date()
                volume, count = daily.get(day, (0, 0))
                daily[day] = (volume + amount, count + 1)
                days_changed.add(day)
        if status == TransactionStatus.SUCCESS and cutoff is not None:
            balance = balances.get(currency, CurrencyBalance(currency, 0, 0))
            if created_at >= cutoff:
                balances[currency] = replace(balance, pending=balance.pending + net)
            else:
                balances[currency] = replace(balance, available=balance.available + net)
    if not changed:
        return numbers
    if len(counted) > 2 * COUNTED_KEEP:  # keep the newest: older ids now read instead
        counted = set(sorted(counted)[-COUNTED_KEEP:])
        floor = min(counted)
    currencies = [c for _, c in sorted((-count, c) for c, count in used.items() if count > 0)]
    if _chosen(basis, currencies) != numbers.currency:
        return None  # the dashboard would show another currency now: a read draws it
    metrics = build_metrics(
        currency=numbers.currency,
        period=period,
        cells=list(cells.values()),
        previous_cells=list(basis.previous),
        daily=daily_points(period, daily, earlier=numbers.metrics.daily, changed=days_changed),
        providers=names,
    )
    return DashboardNumbers(
        currencies=currencies,
        currency=numbers.currency,
        metrics=metrics,
        balances=[balances[c] for c in sorted(balances)] if numbers.balances is not None else None,
        basis=replace(
            basis,
            cells=tuple(cells.values()),
            daily=daily,
            used=used,
            providers=names,
            counted=frozenset(counted),
            floor=floor,
        ),
    )


Payment = tuple[int, str, str, str, int, int, int, datetime]


def _payment(message: dict[str, Any], providers: Mapping[str, tuple[int, str]]) -> Payment | None:
    """(event id, currency, status, provider, amount, fee, net, created at) of a new payment's
    event, or None for any other event or one this code cannot read."""
    if not isinstance(message, dict) or message.get("type") != EventType.TRANSACTION_CREATED:
        return None
    event_id, data = message.get("id"), message.get("payload")
    if type(event_id) is not int or not isinstance(data, dict):
        return None
    amount, fee, net = (_minor_units(data.get(k)) for k in ("amount", "fee", "net_amount"))
    currency, status, provider = data.get("currency"), data.get("status"), data.get("provider")
    if amount is None or fee is None or net is None or data.get("refunded_amount") != 0:
        return None
    if not isinstance(currency, str) or not isinstance(provider, str) or provider not in providers:
        return None
    if status not in CREATABLE_STATUSES:
        return None
    try:
        created_at = datetime.fromisoformat(data["created_at"])
    except (KeyError, TypeError, ValueError):
        return None
    if created_at.tzinfo is None:
        return None
    return (event_id, currency, str(status), provider, amount, fee, net, created_at.astimezone(UTC))


def _minor_units(value: object) -> int | None:
    """An amount as the event carries it: an int (never a bool, a float or a string)."""
    return value if type(value) is int else None


def _chosen(basis: NumbersBasis, currencies: list[str]) -> str:
    """The currency a read would show (`dashboard_numbers`' rule)."""
    if basis.asked is not None and (basis.any_currency or basis.asked in currencies):
        return basis.asked
    return currencies[0] if currencies else "USD"
