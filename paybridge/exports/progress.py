"""How far an export has got, under the export id the page chose: in process, or in Redis
when REDIS_URL is set so that any worker can answer the page's poll."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from paybridge.exports.transactions import transactions_csv
from paybridge.selectors.transactions import TransactionFilters
from paybridge.settings import get_settings

PROGRESS_TTL = 3600  # seconds a finished or abandoned export's progress is kept
EXPORT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class Progress:
    rows: int
    finished: bool
    cancelled: bool = False


class ExportProgress:
    """Rows produced so far per (merchant, export id); Redis when configured, else memory."""

    _lock = threading.Lock()
    _memory: dict[str, tuple[float, Progress]] = {}

    @staticmethod
    def _key(merchant_id: int, export_id: str) -> str:
        return f"paybridge:export:{merchant_id}:{export_id}"

    @classmethod
    def set(cls, merchant_id: int, export_id: str, progress: Progress) -> None:
        key = cls._key(merchant_id, export_id)
        url = get_settings().redis_url
        if url:
            from paybridge.redis_client import redis_for

            redis_for(url).setex(key, PROGRESS_TTL, json.dumps(progress.__dict__))
            return
        now = time.monotonic()
        with cls._lock:
            for stale in [k for k, (t, _) in cls._memory.items() if now - t > PROGRESS_TTL]:
                del cls._memory[stale]
            cls._memory[key] = (now, progress)

    @classmethod
    def get(cls, merchant_id: int, export_id: str) -> Progress | None:
        key = cls._key(merchant_id, export_id)
        url = get_settings().redis_url
        if url:
            from paybridge.redis_client import redis_for

            # redis-py types a synchronous client's `get` as possibly awaitable.
            raw = cast("bytes | None", redis_for(url).get(key))
            return None if raw is None else Progress(**json.loads(raw))
        with cls._lock:
            found = cls._memory.get(key)
        return None if found is None else found[1]


def export_stream(
    *, merchant_id: int, filters: TransactionFilters, sort: str, tz: str, export_id: str | None
) -> Iterator[bytes]:
    """`transactions_csv` reporting its progress under `export_id` (when given); an export
    whose client went away before the end is marked cancelled."""
    if export_id is None:
        yield from transactions_csv(merchant_id=merchant_id, filters=filters, sort=sort, tz=tz)
        return
    rows_done = 0

    def report(rows: int, finished: bool) -> None:
        nonlocal rows_done
        rows_done = rows
        ExportProgress.set(merchant_id, export_id, Progress(rows=rows, finished=finished))

    report(0, False)
    finished = False
    try:
        yield from transactions_csv(
            merchant_id=merchant_id, filters=filters, sort=sort, tz=tz, on_progress=report
        )
        finished = True
    finally:
        if not finished:
            ExportProgress.set(
                merchant_id, export_id, Progress(rows=rows_done, finished=True, cancelled=True)
            )
