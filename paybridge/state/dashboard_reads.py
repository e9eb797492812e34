"""Reading the dashboard: one snapshot of selector results per merchant and filters, formatted
once (views/dashboard.py) and shared by every tab of the worker that asks at about the same
moment."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from datetime import date
from typing import Any, NamedTuple

from paybridge.db import read_session
from paybridge.events.outbox import event_message
from paybridge.selectors.activity import recent_events, recent_transactions
from paybridge.selectors.analytics import dashboard_numbers, providers_by_id
from paybridge.selectors.deliveries import delivery_rate_bp
from paybridge.selectors.health import api_stats
from paybridge.selectors.periods import PRESET_DAYS, Period, period_for_days, period_last_days
from paybridge.selectors.settlements import user_payout_settings
from paybridge.selectors.users import user_summary
from paybridge.views.dashboard import (
    FEED_HIDDEN,
    FEED_ITEMS,
    RECENT_ROWS,
    Panels,
    Snapshot,
    dashboard_view,
)

log = logging.getLogger("paybridge.state.dashboard")

PROVIDER_NAMES_TTL = 60.0  # seconds
REFRESH_INTERVAL = 0.25  # seconds between reads of a stream's numbers while events arrive
READ_SHARE = 0.5  # of a core, what the worker's dashboard reads may take before their pace slows
SLOWEST_REFRESH = 10.0  # seconds: the numbers' pace under the heaviest load
PACE_WINDOW = 1.0  # seconds of reads the pace is judged on


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


class ReadPace:
    """How often a live dashboard reads its numbers, for every stream of the worker alike.

    A read costs ~5 ms of CPU whatever the tabs, so a worker with a thousand merchants' dashboards
    open, each taking a payment a second, would spend five cores reading and fall behind on
    everything. Beyond READ_SHARE of a core the interval grows in proportion (a busy stream reads
    once an interval), up to SLOWEST_REFRESH, and shrinks back as the load goes. Every payment
    still reaches the table and the feed at once (they come from the events); only the numbers
    lag. Judged on the reads' own CPU time over PACE_WINDOW."""

    def __init__(self, now: float | None = None) -> None:
        self.refresh = self._told = REFRESH_INTERVAL  # _told: the pace last logged
        self._lock = threading.Lock()
        self._since = time.monotonic() if now is None else now
        self._spent = 0.0

    def spent(self, cpu_seconds: float, now: float | None = None) -> None:
        with self._lock:
            self._spent += cpu_seconds
            now = time.monotonic() if now is None else now
            if now - self._since >= PACE_WINDOW:
                self._judge(self._spent / (now - self._since))
                self._since, self._spent = now, 0.0

    def _judge(self, share: float) -> None:
        wanted = self.refresh * share / READ_SHARE
        self.refresh = min(SLOWEST_REFRESH, max(REFRESH_INTERVAL, wanted))
        if (
            self.refresh == REFRESH_INTERVAL != self._told
            or not 0.5 < self.refresh / self._told < 2
        ):
            self._told = self.refresh
            log.info("dashboard reads took %.0f%% of a core: numbers every %.2f s",
                     share * 100, self.refresh)  # fmt: skip

    def slowed(self) -> float:
        """How many times slower than REFRESH_INTERVAL the numbers go now (1 when not loaded)."""
        return self.refresh / REFRESH_INTERVAL


PACE = ReadPace()

Key = tuple[int, Filters, bool]  # merchant id, filters, whole
_views: dict[Key, tuple[float, dict[str, Any]]] = {}  # key -> (read started, view)
_reading: dict[Key, tuple[float, Future]] = {}  # key -> (read started, its result)
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


def read_snapshot(merchant_id: int, filters: Filters, *, whole: bool = True) -> Snapshot | None:
    with read_session() as session:
        payout = user_payout_settings(session=session, merchant_id=merchant_id)
        if payout is None:
            return None
        period = period_for(filters, payout.timezone)
        numbers = dashboard_numbers(
            session=session,
            merchant_id=merchant_id,
            period=period,
            currency=filters.currency or None,
            any_currency=False,
        )
        return Snapshot(
            tz=payout.timezone,
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
            provider_names=provider_names(session),
        )
