"""Backend routes that own the session cookie. Reflex states never see the token: they read the
HttpOnly cookie from the websocket handshake headers."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from paybridge.db import utcnow
from paybridge.services.auth import web_session_redeem

SESSION_COOKIE = "pb_session"
router = APIRouter(include_in_schema=False)


def allowed_origins() -> list[str]:
    import reflex as rx

    return [o.rstrip("/") for o in rx.config.get_config().cors_allowed_origins if o != "*"]


def safe_next(target: object) -> str:
    """Only same-site targets: a path ('/x?y'), or a URL on one of the app's own origins (the
    frontend port in development). '//evil', 'https://evil', '/\\evil' become '/'."""
    if isinstance(target, str) and target.startswith(("http://", "https://")):
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        origin = f"{parts.scheme}://{parts.netloc}"
        path = target[len(origin) :] or "/"
        return origin + safe_next(path) if origin in allowed_origins() else "/"
    if (
        not isinstance(target, str)
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or len(target) > 512
        or any(ord(ch) < 32 for ch in target)
    ):
        return "/"
    return target


def _set_cookie(
    response: RedirectResponse, request: Request, token: str, expires: datetime
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int((expires - utcnow()).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
        path="/",
    )


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def frontend_base(request: Request) -> str:
    """The UI's origin when it differs from the backend's (development ports), else ''."""
    from urllib.parse import urlsplit

    parts = urlsplit(request.headers.get("referer", ""))
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if parts.netloc and origin in allowed_origins() else ""


@router.get("/auth/complete")
def complete_login(request: Request, ticket: str = "", next: str = "/") -> RedirectResponse:
    """Swap the one-time ticket from the login form for the session cookie."""
    redeemed = web_session_redeem(ticket=ticket)
    if redeemed is None:
        return RedirectResponse(frontend_base(request) + "/login?error=expired", status_code=303)
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_cookie(response, request, *redeemed)
    return response


@router.get("/auth/logout")
def clear_cookie(request: Request) -> RedirectResponse:
    """Drop the cookie (the session itself is revoked by the /logout page's event)."""
    response = RedirectResponse(frontend_base(request) + "/login?logged_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
