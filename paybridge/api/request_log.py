"""Buffered `ApiLog` writes: a request only appends to an in-memory buffer; a daemon thread
writes the buffer in batches every second (one INSERT per batch). Losing the last second of
logs in a crash is accepted; slowing every request down with a write is not.

The same thread deletes expired idempotency keys every few minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import datetime
from typing import Any

from paybridge.db import utcnow
from paybridge.services.api_logs import api_logs_record

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0
MAX_BUFFER = 50_000  # beyond this the oldest entries are dropped (the database is not keeping up)
PURGE_INTERVAL = 600.0


class ApiLogBuffer:
    def __init__(self) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=MAX_BUFFER)
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_purge = time.monotonic()

    def add(
        self,
        *,
        merchant_id: int | None,
        endpoint: str,
        method: str,
        status_code: int,
        response_time_ms: int,
        created_at: datetime | None = None,
        request_id: str | None = None,
    ) -> None:
        self._entries.append(
            {
                "merchant_id": merchant_id,
                "endpoint": endpoint[:255],
                "method": method[:8],
                "status_code": status_code,
                "response_time_ms": response_time_ms,
                "request_id": request_id,
                "created_at": created_at or utcnow(),
            }
        )
        self._ensure_thread()

    def flush(self) -> int:
        """Write everything buffered so far; returns how many rows were written."""
        with self._write_lock:
            batch = []
            while self._entries:
                batch.append(self._entries.popleft())
            if not batch:
                return 0
            try:
                api_logs_record(rows=batch)
            except Exception:
                log.warning("dropping %d unwritable API log rows", len(batch), exc_info=True)
                return 0
            return len(batch)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="paybridge-api-log", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL)
            try:
                if self.flush():  # only a process that serves the API does its housekeeping
                    self._maybe_purge()
            except Exception:  # keep the writer alive whatever happens
                log.warning("API log writer iteration failed", exc_info=True)

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_INTERVAL:
            return
        self._last_purge = time.monotonic()
        from paybridge.services.idempotency import idempotency_purge_expired

        idempotency_purge_expired()


api_logs = ApiLogBuffer()
