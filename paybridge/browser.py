"""What the browser and the server agree on, shared by the cookie routes (api/web_auth.py) and
the Reflex states: the cookie names, reading one cookie from a header, the app's own origins,
and which redirect targets are safe. Nothing here touches the database.

- `pb_session`: the session token, set by `/auth/complete`;
- `pb_login_nonce` (path /auth): the browser's login nonce, set by `POST /auth/nonce` before
  a login; the login's one-time ticket is redeemable only with it, so a ticket obtained by
  someone else cannot sign this browser into their account (login CSRF);
- `pb_device`: device tokens of the accounts that signed in from this browser (OWASP device
  cookies, paybridge/services/auth.py), which keep the owner's own login allowance.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "pb_session"
NONCE_COOKIE = "pb_login_nonce"
DEVICE_COOKIE = "pb_device"


def cookie_value(header: str, name: str) -> str | None:
    """One cookie from a Cookie header; None when it is absent or the header is malformed."""
    jar = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


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
