"""The live dashboard's pace: how often a stream sends rows, reads its numbers, redraws charts
and reconciles, and how the worker slows its reads when they take more than their share of a
core. The constants and the small judgements on them; `dashboard_live` runs the streams."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime
from typing import Any

from paybridge.views.dashboard import NUMBERS_EVENTS

log = logging.getLogger("paybridge.state.dashboard")

REFRESH_INTERVAL = 0.25  # seconds between reads of a stream's numbers while events arrive
READ_SHARE = 0.5  # of a core, what the worker's dashboard reads may take before their pace slows
SLOWEST_REFRESH = 10.0  # seconds: the numbers' pace under the heaviest load
PACE_WINDOW = 1.0  # seconds of reads the pace is judged on

CHART_INTERVAL = 8.0  # at most this many seconds between chart redraws while events arrive, and at
# least half of it: a plotly redraw costs a tab several times what the rest of an update costs
# (bench/HISTORY.md, "Row first, numbers after")
CHART_SPREAD = 1.0  # seconds over which a stream's tabs redraw new charts, each at random
FAST_GAP = 0.05  # at most one fast-path frame this often: a stream of payments is batched. 0.1 s
# made an event wait 50 ms on average for its slot (bench/HISTORY.md, "Fast-path gap")
RECONCILE_INTERVAL = 15.0  # look whether the merchant's newest event moved, in case a bus message
# was lost, and read the page again if it did
FULL_RECONCILE = 60.0  # read the page again anyway: what time alone changes (funds past their
# hold, the period's days, the uptime shown, API calls that are not payments)
RECONCILE_SPREAD = (0.8, 1.2)  # each stream's own multiple of the two intervals: streams begun
# together (a worker's tabs reconnecting after a restart) drift apart instead of reading together
# every minute for ever


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


def created(message: Any) -> float | None:
    """An event message's creation time (POSIX seconds), or None if it has none."""
    try:
        return datetime.fromisoformat(message["created_at"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


def after_quiet(batch: list[Any], last_event: float | None) -> bool:
    """The batch's first event was created more than REFRESH_INTERVAL after the one before: a
    payment after a quiet spell, whose row goes out before the numbers. Judged by the events'
    own times, not by when the stream got to them: a busy worker is not a quiet merchant."""
    first = created(batch[0])
    return first is not None and (last_event is None or first - last_event > REFRESH_INTERVAL)


def changes_panels(batch: list[dict[str, Any]]) -> bool:
    """An event of the batch may change the health panel or the profile card (a webhook's
    changes the delivery rate): the next read is a whole one."""
    return any(message["type"] not in NUMBERS_EVENTS for message in batch)


def reconcile_interval() -> float:
    """RECONCILE_INTERVAL, slowed as the numbers are when the worker's reads are loaded."""
    return RECONCILE_INTERVAL * PACE.slowed()


def next_chart_time(drawn: float) -> float:
    """When the stream may send new charts next, at random between half of CHART_INTERVAL and
    all of it after the last: streams of many merchants do not all redraw at the same moment."""
    return drawn + random.uniform(CHART_INTERVAL / 2, CHART_INTERVAL)
