"""One error shape for the whole API: `{"error": {"code", "message", "param"}}`.

Status codes:
- 400: the request itself is wrong — malformed JSON, a wrong type, a missing or unknown field,
  an `invalid_*` value, a bad cursor, both cursors at once;
- 401: no, a bad, an expired or a revoked credential (`WWW-Authenticate: Bearer`);
- 403: a credential that may not do this: `permission_denied` when the member's role (or an
  API key) does not allow it (`paybridge/permissions.py`), `forbidden` for API keys managing
  API keys, `invalid_password` when the password confirming an owner's change is wrong,
  `account_closed` for a sign-in to a closed account;
- 404: no such object — including any object of another merchant;
- 409: a conflict with earlier requests (`idempotency_key_reused`,
  `idempotency_key_in_use`, `duplicate_reference`), and a GraphQL subscription that
  fell more than 10,000 events behind (`subscriber_behind`);
- 413: a body over 1 MB;
- 422: a well-formed request the current state refuses (`insufficient_funds`,
  `no_bank_account`, `invalid_status_transition`, `not_refundable`,
  `refund_exceeds_remaining`, limits on webhooks and keys, `balance_not_zero` and
  `payouts_pending` when closing an account with money in it);
- 429: too many requests (`rate_limited`), failed logins (`too_many_attempts`), or too many
  of one merchant's withdrawals and refunds waiting at once (`too_many_concurrent_writes`,
  `paybridge/money_gate.py`), all with `Retry-After` (seconds until the next attempt is allowed);
- 503: the database or Redis cannot be reached (`service_unavailable`, with `Retry-After`);
  nothing was written: every service call is one transaction, rolled back when it fails.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from paybridge.errors import DomainError

log = logging.getLogger(__name__)

STATUS_FOR_CODE: dict[str, int] = {
    "authentication_required": 401,
    "invalid_token": 401,
    "token_expired": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "permission_denied": 403,
    "invalid_password": 403,
    "account_closed": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "idempotency_key_reused": 409,
    "idempotency_key_in_use": 409,
    "duplicate_reference": 409,
    "email_taken": 409,
    "invitation_accepted": 409,
    "subscriber_behind": 409,
    "request_too_large": 413,
    "insufficient_funds": 422,
    "no_bank_account": 422,
    "invalid_status_transition": 422,
    "not_refundable": 422,
    "refund_exceeds_remaining": 422,
    "too_many_webhooks": 422,
    "too_many_api_keys": 422,
    "too_many_invitations": 422,
    "cannot_change_yourself": 422,
    "account_holder": 422,
    "already_owner": 422,
    "balance_not_zero": 422,
    "payouts_pending": 422,
    "too_many_attempts": 429,
    "rate_limited": 429,
    "too_many_concurrent_writes": 429,
    "service_unavailable": 503,
}


class ApiError(DomainError):
    """A DomainError raised by the API layer itself, optionally with headers."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, param=param)
        self.status = status
        self.headers = headers or {}


def status_for(error: DomainError) -> int:
    explicit = getattr(error, "status", None)
    return explicit or STATUS_FOR_CODE.get(error.code, 400)


def error_body(code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "param": param}}


def retry_after(error: DomainError) -> int | None:
    """Seconds the caller must wait before trying again, when the refusal says so (login
    throttling, rate limits, a dependency being down)."""
    value = getattr(error, "retry_after", None)
    if value is None:
        value = (getattr(error, "headers", None) or {}).get("Retry-After")
    return int(value) if value is not None else None


def error_response(error: DomainError) -> JSONResponse:
    status = status_for(error)
    headers = dict(getattr(error, "headers", {}) or {})
    wait = retry_after(error)
    if wait is not None:
        headers.setdefault("Retry-After", str(wait))
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="paybridge"')
    return JSONResponse(
        error_body(error.code, error.message, error.param), status_code=status, headers=headers
    )


def validation_error(exc: RequestValidationError) -> DomainError:
    """The first problem pydantic found, named by the offending parameter."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    kind = first.get("type", "")
    param = ".".join(loc) or None
    if kind == "json_invalid":
        return DomainError("invalid_json", "The request body is not valid JSON.")
    if kind == "missing":
        return DomainError(
            "parameter_missing", f"{param or 'A parameter'} is required.", param=param
        )
    if kind == "extra_forbidden":
        return DomainError("parameter_unknown", f"Unknown parameter: {param}.", param=param)
    message = str(first.get("msg", "Invalid request."))
    return DomainError("invalid_request", f"{param}: {message}" if param else message, param=param)


async def domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_error(exc))


async def http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
        exc.status_code, "invalid_request" if exc.status_code < 500 else "internal_error"
    )
    message = exc.detail if isinstance(exc.detail, str) else "Request refused."
    if exc.status_code == 404:
        message = "No such endpoint."
    return JSONResponse(
        error_body(code, message), status_code=exc.status_code, headers=exc.headers or None
    )


RETRY_AFTER_UNAVAILABLE = "5"


def unavailable_errors() -> tuple[type[Exception], ...]:
    """Exceptions meaning a dependency is down (not a bug): answered with 503."""
    import redis
    import sqlalchemy as sa

    return (
        sa.exc.OperationalError,  # cannot connect, connection lost, server shutting down
        sa.exc.InterfaceError,  # the driver's connection is closed
        sa.exc.TimeoutError,  # no pooled connection became free in time
        redis.ConnectionError,
        redis.TimeoutError,
    )


UNAVAILABLE_MESSAGE = (
    "A service PayBridge depends on is unavailable; nothing was changed. Retry in a few seconds."
)


def unavailable_error() -> ApiError:
    """The refusal for a dependency that is down, for callers that answer in their own shape
    (GraphQL puts it in `errors[]`)."""
    return ApiError(
        "service_unavailable",
        UNAVAILABLE_MESSAGE,
        status=503,
        headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
    )


def unavailable_response() -> JSONResponse:
    return error_response(unavailable_error())


async def unavailable_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "dependency unavailable during %s %s: %s: %s",
        request.method,
        request.url.path,
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
    )
    return unavailable_response()


async def unexpected_error_handler(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected API error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "Something went wrong on our side."), status_code=500
    )
