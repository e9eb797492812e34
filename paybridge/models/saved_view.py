from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime, utcnow


class SavedView(SQLModel, table=True):
    """A named set of transactions filters of one merchant: the query string of the
    `/transactions` URL, normalised by `paybridge.transaction_query` before it is stored."""

    __tablename__ = "saved_views"

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="users.id", nullable=False)
    name: str = Field(max_length=60)
    query: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (sa.UniqueConstraint("merchant_id", "name"),)
