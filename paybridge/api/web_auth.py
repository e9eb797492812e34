"""Backend routes that own the browser's cookies (their names and meaning:
paybridge/browser.py). Reflex states never see the session token: they read the HttpOnly
cookie from the websocket handshake headers."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TypeGuard

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.requests import HTTPConnection

from paybridge.browser import (
    DEVICE_COOKIE,
    NONCE_COOKIE,
    SESSION_COOKIE,
    allowed_origins,
    safe_next,
)
from paybridge.db import utcnow
from paybridge.services.auth import web_session_redeem
from paybridge.services.devices import DEVICE_LIFETIME, device_cookie_after_login

NONCE_LIFETIME = timedelta(hours=1)
router = APIRouter(include_in_schema=False)


def client_address(connection: HTTPConnection) -> str:
    """The caller's address: the peer's, or behind `REFLEX_TRUSTED_PROXY_HOPS` reverse proxies
    the entry of X-Forwarded-For that the outermost trusted proxy wrote (the same rule as the
    Reflex websocket's `client_ip`, so the API and the UI throttle the same address)."""
    import reflex as rx

    peer = connection.client.host if connection.client else "unknown"
    hops = rx.config.get_config().trusted_proxy_hops
    if hops:
        forwarded = [ip.strip() for ip in connection.headers.get("x-forwarded-for", "").split(",")]
        forwarded = [ip for ip in forwarded if ip]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return peer


def is_cross_site(connection: HTTPConnection) -> bool:
    """The browser says another site started this request (Fetch Metadata)."""
    return connection.headers.get("sec-fetch-site", "").lower() == "cross-site"


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_device_cookie(response: Response, request: Request, email: str) -> None:
    """After a successful login: remember this browser (or API client) for `email`."""
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie_after_login(request.cookies.get(DEVICE_COOKIE), email),
        max_age=int(DEVICE_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
        path="/",
    )


def _set_session_cookie(
    response: Response, request: Request, token: str, expires: datetime
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


def frontend_base(request: Request) -> str:
    """The UI's origin when it differs from the backend's (development ports), else ''."""
    from urllib.parse import urlsplit

    parts = urlsplit(request.headers.get("referer", ""))
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if parts.netloc and origin in allowed_origins() else ""


def _nonce_shaped(value: object) -> TypeGuard[str]:
    return (
        isinstance(value, str)
        and len(value) == 43
        and value.replace("-", "").replace("_", "").isalnum()
    )


@router.post("/auth/nonce")
def login_nonce(request: Request) -> Response:
    """The login pages call this before a login: the browser keeps the nonce as an HttpOnly
    cookie and the page hands it to the login, which binds the ticket to it. Another site
    can make a browser call this, but cannot read the answer."""
    if is_cross_site(request):
        return JSONResponse({"error": "cross-site"}, status_code=403)
    nonce = request.cookies.get(NONCE_COOKIE)
    if not _nonce_shaped(nonce):  # several tabs of one browser share one nonce
        nonce = secrets.token_urlsafe(32)
    response = JSONResponse({"nonce": nonce}, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        NONCE_COOKIE,
        nonce,
        max_age=int(NONCE_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
        path="/auth",
    )
    return response


@router.get("/auth/complete")
def complete_login(request: Request, ticket: str = "", next: str = "/") -> RedirectResponse:
    """Swap the one-time ticket from the login form for the session cookie: only in the
    browser that logged in (its nonce cookie), and never for a request another site started."""
    redeemed = None
    if not is_cross_site(request):
        redeemed = web_session_redeem(
            ticket=ticket, browser_nonce=request.cookies.get(NONCE_COOKIE)
        )
    if redeemed is None:
        return RedirectResponse(frontend_base(request) + "/login?error=expired", status_code=303)
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_session_cookie(response, request, redeemed.token, redeemed.expires_at)
    set_device_cookie(response, request, redeemed.email)
    return response


@router.get("/auth/logout")
def clear_cookie(request: Request) -> RedirectResponse:
    """Drop the cookie (the session itself is revoked by the /logout page's event). The
    device cookie stays: it only ever helps this browser's own logins."""
    response = RedirectResponse(frontend_base(request) + "/login?logged_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
