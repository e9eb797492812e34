"""Cursor (keyset) pages, newest first — the one way every list of the API and the dashboard is
paged. A cursor is the id of an object the client already has: `starting_after` gives the
objects after it in list order (older), `ending_before` the ones before it (newer). Keyset
conditions keep pages stable while new rows arrive, unlike offsets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from paybridge.errors import DomainError
from paybridge.validation import clean_reference

T = TypeVar("T")
MAX_LIMIT = 100
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class PageRequest:
    """How much to read and from where (at most one of the two cursors)."""

    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise DomainError("invalid_request", "limit must be an integer.", param="limit")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise DomainError(
                "invalid_request", f"limit must be between 1 and {MAX_LIMIT}.", param="limit"
            )
        if self.starting_after is not None and self.ending_before is not None:
            raise DomainError(
                "invalid_request",
                "Use starting_after or ending_before, not both.",
                param="ending_before",
            )
        # Every cursor is an id or a reference: anything else names nothing (and a NUL byte in
        # it would make PostgreSQL refuse the lookup instead).
        if self.cursor is not None:
            try:
                clean_reference(self.cursor, param=self.cursor_param)
            except DomainError:
                raise invalid_cursor(self) from None

    @property
    def cursor(self) -> str | None:
        return self.starting_after if self.starting_after is not None else self.ending_before

    @property
    def cursor_param(self) -> str:
        return "starting_after" if self.starting_after is not None else "ending_before"


@dataclass(frozen=True)
class Page(Generic[T]):
    """`has_more`: more objects exist beyond this page in the direction being paged."""

    data: list[T]
    has_more: bool


def invalid_cursor(page: PageRequest) -> DomainError:
    return DomainError(
        "invalid_cursor",
        f"{page.cursor_param} does not name one of your objects.",
        param=page.cursor_param,
    )


def keyset_page(
    session: Session,
    query: Any,
    *,
    order: Sequence[Any],
    cursor_values: Sequence[Any] | None,
    page: PageRequest,
    descending: bool = True,
) -> tuple[list[Any], bool]:
    """Run `query` (already filtered and scoped) for one page, newest first (or in ascending
    `order` when not `descending`).

    `order` are the columns that order the list uniquely, most significant first (for
    example created_at, id); `cursor_values` are their values for the cursor object.
    """
    backwards = page.ending_before is not None
    if cursor_values is not None:
        query = query.where(beyond(order, cursor_values, greater=backwards == descending))
    ascending = backwards == descending
    direction = (lambda c: c.asc()) if ascending else (lambda c: c.desc())
    rows = list(session.exec(query.order_by(*(direction(c) for c in order)).limit(page.limit + 1)))
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    if backwards:
        rows.reverse()
    return rows, has_more


def beyond(order: Sequence[Any], values: Sequence[Any], *, greater: bool) -> Any:
    """(c1, c2, ...) > values when `greater`, else < values — spelled out so that every backend
    uses the index and typed binds (SQLite stores aware datetimes as text). The redundant
    `c1 >= v1` (or `<=`) in front bounds the index range: without it PostgreSQL scans the
    index from its start to the cursor on every page."""
    terms = []
    for i, column in enumerate(order):
        compare = column > values[i] if greater else column < values[i]
        terms.append(sa.and_(*(order[j] == values[j] for j in range(i)), compare))
    bound = order[0] >= values[0] if greater else order[0] <= values[0]
    return sa.and_(bound, sa.or_(*terms))
