"""Query parameters shared by every list endpoint."""

from __future__ import annotations

from fastapi import Query, Request

from paybridge.selectors.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from paybridge.validation import refuse_control_characters


async def plain_query_parameters(request: Request) -> None:
    """Every REST route: a query parameter holding a control character is refused before the
    route reads it (filters went to PostgreSQL as they came, and a NUL byte answered 500).
    GraphQL is left out: a query sent by GET has newlines. (Dependencies that do no I/O are
    `async`: FastAPI runs them on the event loop instead of a thread each.)"""
    for name, value in request.query_params.multi_items():
        refuse_control_characters(value, param=name)


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
