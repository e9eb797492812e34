"""The garbage collector's thresholds for a serving worker.

A worker with many open dashboards holds hundreds of thousands of long-lived objects (each tab's
Reflex state, its socket, its stream membership: ~700 tracked objects a tab). With CPython's
default thresholds (700, 10, 10) every payment's short-lived-but-not-instant objects (frames,
views, the numbers a stream keeps until the next payment) were promoted into the oldest
generation, and a full collection of ~500,000-700,000 objects ran every few seconds, each
stopping the worker for 0.4-1.0 s (bench/HISTORY.md, "Collector pauses"): one app core with
1,000 merchants' tabs failed a 250 ms p95 at 90-120 payments/s with its CPU at 40-60 %.
Collecting the young generations less often lets those objects die young instead, by reference
counting, before a collection can promote them: the same bench then held 480 payments/s at p95
38 ms, with no full collection in the run. Garbage in reference cycles still goes, at the same
rule (a full collection once the objects promoted since the last one reach a quarter of the old
generation), counted in larger steps.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 20, 10)  # allocations less deallocations before a young collection; young
# collections before a middle one; middle before a full one (CPython's default: 700, 10, 10)


def tune_collector() -> None:
    """Set this process's collector thresholds (a lifespan task: once per worker)."""
    gc.set_threshold(*THRESHOLDS)
