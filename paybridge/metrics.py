"""Process-wide event counters (this worker since it started), shown by `GET /api/v1/health`.

They count what an operator should notice without reading logs: units of work whose client
went away before the answer, units rerun after a deadlock or serialization failure, and how
many payment requests group commit wrote a batch (`ingest_batched_requests / ingest_batches`).
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def increment(name: str, by: int = 1) -> None:
    with _lock:
        _counts[name] += by


def snapshot() -> dict[str, int]:
    with _lock:
        return dict(_counts)
