"""The primary key of a row read from the database. SQLModel types `id` as optional because a
row has none before it is inserted; a row that came from a query always has one."""

from __future__ import annotations

from typing import Protocol


class _Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


def key(row: _Keyed) -> int:
    """`row.id` of a stored row, typed as the integer it is."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id: it was never stored")
    return row.id
