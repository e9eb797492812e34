"""`GET /exports/transactions.csv?<the /transactions query>`: the whole filtered result as CSV,
streamed. Authenticated by the same HttpOnly session cookie as the pages (not an API key): it
is the dashboard's download link. Extra parameters: `upto` (the newest payment id to include,
so the file holds exactly the rows the page counted) and `export` (an id under which the page
can watch the progress)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from paybridge.api.errors import error_body
from paybridge.browser import SESSION_COOKIE
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.exports import EXPORT_ID, export_stream
from paybridge.models import User
from paybridge.selectors.transactions import latest_transaction_id
from paybridge.services.auth import session_identity
from paybridge.transaction_query import parse_query

router = APIRouter(include_in_schema=False)


def _error(status: int, code: str, message: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, param), status_code=status)


@router.get("/exports/transactions.csv")
def export_transactions(request: Request) -> Response:
    found = session_identity(token=request.cookies.get(SESSION_COOKIE))
    if found is None:
        return _error(401, "authentication_required", "Log in to export payments.")
    params = dict(request.query_params)
    export_id = params.pop("export", None)
    upto = params.pop("upto", None)
    if export_id is not None and not EXPORT_ID.match(export_id):
        return _error(400, "invalid_request", "Malformed export id.", "export")
    if upto is not None and not (upto.isascii() and upto.isdigit() and 0 < int(upto) < 2**63):
        return _error(400, "invalid_request", "upto must be a payment id.", "upto")
    try:
        query = parse_query(params)
        with read_session() as session:
            user = session.get(User, found.merchant_id)
            tz = user.timezone if user else "UTC"
            snapshot = int(upto) if upto else latest_transaction_id(session=session)
        filters = query.to_filters(tz)
    except DomainError as error:
        return _error(400, error.code, error.message, error.param)
    filters = replace(filters, snapshot_id=snapshot)
    stamp = datetime.now(UTC).astimezone(ZoneInfo(tz)).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        export_stream(
            merchant_id=found.merchant_id,
            filters=filters,
            sort=query.sort,
            tz=tz,
            export_id=export_id,
        ),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="transactions-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
