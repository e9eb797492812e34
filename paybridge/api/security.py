"""The outermost ASGI layer of the backend (pages, API, websockets): security headers on every
HTTP response, and the Reflex event websocket only for pages of the app's own origins.

Headers: no site may frame a page (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), no
response is sniffed into another type, no URL leaves the site in a Referer, and pages run under
a Content-Security-Policy. Reflex's compiled frontend needs inline scripts (theme, hydration
data) and `eval` (its `call_script` events), so the policy cannot stop injected script; what it
does stop is framing, plugins, a foreign `<base>`, forms posting elsewhere, and loading or
sending anything to another origin. deploy/nginx.conf sends the same headers with the static
files it serves (tests/ops checks they agree), plus HSTS.

The websocket: browsers always send `Origin` on a websocket handshake, and Reflex refuses
foreign ones; a handshake without it (a script, not a browser, holding a stolen cookie) is
refused here too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "worker-src 'self' blob:; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
# The interactive API docs (Swagger UI, GraphiQL) load their code from public CDNs.
API_DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "font-src 'self' data: https://cdn.jsdelivr.net https://unpkg.com; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"  # JSON, CSV: nothing to run or load

COMMON_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
EVENT_PATH = "/_event"


def content_security_policy(path: str, content_type: str) -> str:
    if path.startswith("/api/"):
        return API_DOCS_CSP if content_type.startswith("text/html") else DATA_CSP
    return PAGE_CSP


def _encoded(csp: str) -> list[tuple[bytes, bytes]]:
    pairs = {**COMMON_HEADERS, "Content-Security-Policy": csp}
    return [(name.lower().encode(), value.encode()) for name, value in pairs.items()]


# Encoded once: the layer runs on every response, /ping included.
_HEADERS = {csp: _encoded(csp) for csp in (PAGE_CSP, API_DOCS_CSP, DATA_CSP)}
_NAMES = {name for name, _ in _HEADERS[PAGE_CSP]}


def _with_security_headers(
    headers: list[tuple[bytes, bytes]], path: str
) -> list[tuple[bytes, bytes]]:
    """`headers` plus the security headers the response does not set itself."""
    content_type, present = "", set()
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-type":
            content_type = value.decode("latin-1").lower()
        elif lowered in _NAMES:
            present.add(lowered)
    extra = _HEADERS[content_security_policy(path, content_type)]
    if not present:
        return [*headers, *extra]
    return [*headers, *(pair for pair in extra if pair[0] not in present)]


def origin_allowed(origin: str | None) -> bool:
    from paybridge.browser import allowed_origins

    if not origin:
        return False
    import reflex as rx

    if "*" in rx.config.get_config().cors_allowed_origins:
        return True
    return origin.rstrip("/") in allowed_origins()


class SecurityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path", "").startswith(EVENT_PATH):
            origins = [v for k, v in scope.get("headers") or [] if k.lower() == b"origin"]
            origin = origins[0].decode("latin-1") if len(origins) == 1 else None
            if not origin_allowed(origin):
                await send({"type": "websocket.close", "code": 1008})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _with_security_headers(list(message.get("headers", [])), path)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure(app: ASGIApp) -> ASGIApp:
    """`rx.App(api_transformer=[api, secure])`: wraps everything the backend serves."""
    return SecurityMiddleware(app)
