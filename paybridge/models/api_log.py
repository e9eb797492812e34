from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import BigId, UTCDateTime, utcnow


class ApiLog(SQLModel, table=True):
    __tablename__ = "api_logs"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    merchant_id: int | None = Field(default=None, foreign_key="users.id")
    endpoint: str = Field(max_length=255)
    method: str = Field(max_length=8)
    status_code: int
    response_time_ms: int
    # The request's X-Request-Id; the outbox events it wrote carry the same id.
    request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.Index("ix_api_logs_merchant_created", "merchant_id", "created_at"),)
