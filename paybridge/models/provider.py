from __future__ import annotations

from sqlmodel import Field, SQLModel


class Provider(SQLModel, table=True):
    """A payment route. Fee = fee_bps/10000 of the amount (half up) + fee_fixed minor units of
    the payment's currency, never more than the amount itself."""

    __tablename__ = "providers"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    display_name: str = Field(max_length=80)
    fee_bps: int = Field(default=0, ge=0, le=10_000)
    fee_fixed: int = Field(default=0, ge=0)
    is_active: bool = Field(default=True)
