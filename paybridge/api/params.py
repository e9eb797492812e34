"""Query parameters shared by every list endpoint (a control character in any query parameter
is refused before: `paybridge.api.middleware.query_refusal`)."""

from __future__ import annotations

from fastapi import Query

from paybridge.selectors.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size, 1-100."),
    starting_after: str | None = Query(
        None,
        max_length=64,
        description="Cursor: the id of the last object of the previous page; returns older ones.",
    ),
    ending_before: str | None = Query(
        None,
        max_length=64,
        description="Cursor: the id of the first object of the previous page; returns newer "
        "ones. Not together with starting_after.",
    ),
) -> PageRequest:
    return PageRequest(limit=limit, starting_after=starting_after, ending_before=ending_before)
