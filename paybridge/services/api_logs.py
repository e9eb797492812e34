"""The request log's writes: rows buffered by the API (`api/request_log.py`) land here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paybridge.db import write_session
from paybridge.models import ApiLog
from paybridge.models.tables import ArrayInsert, table_of


def api_logs_record(*, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a batch of `ApiLog` rows (column -> value) in one statement."""
    with write_session() as session:
        _ARRAY_INSERT.insert(session, rows)
        session.commit()


_ARRAY_INSERT = ArrayInsert(
    table_of(ApiLog),
    ["merchant_id", "endpoint", "method", "status_code", "response_time_ms", "request_id",
     "created_at"],
)  # fmt: skip
