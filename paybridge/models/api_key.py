from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from paybridge.db import UTCDateTime, utcnow


class ApiKey(SQLModel, table=True):
    """A secret API key (`sk_live_...`) for server-to-server calls. Only the SHA-256 of the
    secret is stored; the secret itself is shown once, when the key is created."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    merchant_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    name: str = Field(default="", max_length=80)
    key_hash: str = Field(max_length=64, unique=True)
    last4: str = Field(max_length=4)  # shown as "sk_live_…wxyz" so a merchant can tell keys apart
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
