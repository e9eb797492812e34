"""The request log's writes: rows buffered by the API (`api/request_log.py`) land here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from paybridge.db import write_session
from paybridge.models import ApiLog
from paybridge.models.tables import table_of


def api_logs_record(*, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a batch of `ApiLog` rows (column -> value) in one statement: a Core insert, since
    the ORM would build an object per row for nothing."""
    with write_session() as session:
        session.connection().execute(sa.insert(table_of(ApiLog)), list(rows))
        session.commit()
