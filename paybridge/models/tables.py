"""The `sa.Table` behind a model, for Core statements (multi-row inserts, upserts)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> sa.Table:
    """`model.__table__`, typed. SQLModel sets it on every `table=True` class but does not
    declare it, so the attribute itself does not type-check."""
    return model.__table__  # type: ignore[attr-defined]
