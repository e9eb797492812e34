"""Reading the dashboard: one snapshot of selector results per merchant and filters, formatted
once (views/dashboard.py) and shared by every tab of the worker that asks at about the same
moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from datetime import date
from typing import Any, NamedTuple

from paybridge.db import read_connection, read_session
from paybridge.events.outbox import event_message
from paybridge.selectors.activity import newest_event_id, recent_events, recent_transactions
from paybridge.selectors.analytics import dashboard_numbers, providers_by_id
from paybridge.selectors.balances import account_terms
from paybridge.selectors.deliveries import delivery_rate_bp
from paybridge.selectors.health import api_stats
from paybridge.selectors.periods import PRESET_DAYS, Period, period_for_days, period_last_days
from paybridge.selectors.settlements import payout_settings
from paybridge.selectors.users import user_summary
from paybridge.state.dashboard_pace import PACE
from paybridge.views.dashboard import (
    FEED_HIDDEN,
    FEED_ITEMS,
    RECENT_ROWS,
    Panels,
    Snapshot,
    dashboard_view,
)

PROVIDER_NAMES_TTL = 60.0  # seconds


class Filters(NamedTuple):
    range_key: str
    custom_from: str
    custom_to: str
    currency: str


def period_for(filters: Filters, tz: str) -> Period:
    if filters.range_key == "custom" and filters.custom_from and filters.custom_to:
        return period_for_days(
            date.fromisoformat(filters.custom_from), date.fromisoformat(filters.custom_to), tz
        )
    return period_last_days(PRESET_DAYS.get(filters.range_key, 30), tz)


ReadKey = tuple[int, Filters, bool]  # merchant id, filters, whole
_views: dict[ReadKey, tuple[float, dict[str, Any]]] = {}  # key -> (read started, view)
_reading: dict[ReadKey, tuple[float, Future]] = {}  # key -> (read started, its result)
_views_lock = threading.Lock()
FORGET_SECONDS = 30.0  # views older than this are dropped from memory
SWEEP_GAP = 1.0  # seconds between looks for them


def read_dashboard(
    merchant_id: int, filters: Filters, fresh_since: float, *, whole: bool = True
) -> dict[str, Any] | None:
    """The dashboard's display values (state var name -> value) from the selectors.

    Every tab of a merchant hears the same event and reloads at about the same moment, so a
    worker reads and formats once for all of them: a caller gets a read that started at or
    after `fresh_since` (time.monotonic() when it heard its latest event, so the read sees that
    event's commit), joining one in flight if there is one. Nothing older is ever reused.

    `whole=False`: the view without the panels ("health", "profile"), for a live dashboard's
    read after payments (views.dashboard.NUMBERS_EVENTS); a whole read will do for it too."""
    key = (merchant_id, filters, whole)
    with _views_lock:
        for enough in {key, (merchant_id, filters, True)}:
            done = _views.get(enough)
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
    cpu = time.thread_time()
    try:
        snapshot = read_snapshot(merchant_id, filters, whole=whole)
        view = dashboard_view(snapshot) if snapshot is not None else None
    except BaseException as error:
        result.set_exception(error)
        raise
    finally:
        PACE.spent(time.thread_time() - cpu)
        with _views_lock:
            if _reading.get(key) is flight:
                del _reading[key]
    result.set_result(view)
    with _views_lock:
        _forget_old(started)
        if view is not None and (key not in _views or _views[key][0] < started):
            _views[key] = (started, view)
    return view


_swept_at = 0.0


def _forget_old(now: float) -> None:
    """Drop views older than FORGET_SECONDS, looking at most once a SWEEP_GAP (a worker with a
    thousand merchants' dashboards spent a tenth of its reads' time scanning them every read).
    Called under _views_lock."""
    global _swept_at
    if now - _swept_at < SWEEP_GAP:
        return
    _swept_at = now
    for old in [k for k, (at, _) in _views.items() if now - at > FORGET_SECONDS]:
        del _views[old]


def newest_event(merchant_id: int) -> int | None:
    """The merchant's newest event id, for a live dashboard's reconcile."""
    with read_connection() as connection:
        return newest_event_id(connection, merchant_id=merchant_id)


_providers: tuple[float, dict[str, tuple[int, str]]] = (-PROVIDER_NAMES_TTL, {})


def providers_by_code(session: Any) -> dict[str, tuple[int, str]]:
    """Every provider's (id, display name) by code, read at most once a PROVIDER_NAMES_TTL: they
    change with a deploy, not with traffic, and the dashboard's numbers stay one read."""
    global _providers
    read_at, providers = _providers
    if time.monotonic() - read_at > PROVIDER_NAMES_TTL:
        providers = {p.code: (id_, p.display_name) for id_, p in providers_by_id(session).items()}
        _providers = (time.monotonic(), providers)
    return providers


def read_snapshot(merchant_id: int, filters: Filters, *, whole: bool = True) -> Snapshot | None:
    with read_session() as session:
        terms = account_terms(session=session, merchant_id=merchant_id)
        if terms is None:
            return None
        payout = payout_settings(terms)
        period = period_for(filters, payout.timezone)
        numbers = dashboard_numbers(
            session=session,
            merchant_id=merchant_id,
            period=period,
            currency=filters.currency or None,
            any_currency=False,
            terms=terms,
            counting=True,
        )
        return Snapshot(
            tz=payout.timezone,
            period=period,
            numbers=numbers,
            rows=recent_transactions(session=session, merchant_id=merchant_id, limit=RECENT_ROWS),
            events=[
                event_message(e)
                for e in recent_events(
                    session=session, merchant_id=merchant_id, limit=FEED_ITEMS, exclude=FEED_HIDDEN
                )
            ],
            panels=(
                Panels(
                    stats=api_stats(session=session, merchant_id=merchant_id),
                    delivery=delivery_rate_bp(session=session, merchant_id=merchant_id),
                    summary=user_summary(session=session, merchant_id=merchant_id),
                )
                if whole
                else None
            ),
            next_date=payout.next_payout,
            providers=providers_by_code(session),
        )
