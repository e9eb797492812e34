"""The base of every merchant page's state: identity comes only from the HttpOnly session cookie
in the websocket handshake, re-checked on every event, and lives in backend-only vars."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, ParamSpec, TypeVar
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from paybridge.browser import SESSION_COOKIE, cookie_value
from paybridge.permissions import Action, Actor, Role, allowed
from paybridge.services.auth import Identity, session_identity

P = ParamSpec("P")
R = TypeVar("R")
# Page handlers get threads of their own: in asyncio's default threads (6 on 2 cores) a burst of
# them queued the live tabs' session checks and reloads behind them (bench/README.md, "Loop stall").
_HANDLER_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="event-handler")


def in_thread(handler: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """For an event handler that queries the database or hashes a password (under `@rx.event`).
    Reflex runs a plain handler on the worker's event loop, where every live tab of the worker
    would wait for it; in a thread only this tab waits, its state locked until the handler
    returns. Async handlers and listeners await `asyncio.to_thread` for the same reason."""

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        call = functools.partial(contextvars.copy_context().run, handler, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_HANDLER_THREADS, call)

    return run


def _overrides_reflex(method: Callable[P, R]) -> Callable[P, R]:
    """Reflex refuses a state method named like one of its own unless it carries this mark."""
    method.__override_base_method__ = True  # type: ignore[attr-defined]
    return method


class SessionState(rx.State):
    """Merchant pages subclass this and start every handler with `self._identity()`. Helpers
    here start with an underscore: Reflex makes every public method an event any client can
    send."""

    _merchant_id: int | None = None
    _session_id: int | None = None
    _user_id: int | None = None
    _role: str | None = None
    # What the signed-in person's role allows, from the one role table: pages read it only to
    # hide controls (the services refuse regardless).
    can: dict[str, bool] = {}
    # Vars that hold a secret shown once (a new API key, a signing secret, an invite link).
    _shown_once: ClassVar[tuple[str, ...]] = ()

    @_overrides_reflex
    def _reset_client_storage(self) -> None:
        """Reflex calls this on every state of the tree when a tab (re)connects and before it
        sends the tree to the browser: a secret shown once is forgotten there, so a reload
        neither shows it again nor sends it over the socket."""
        for name in self._shown_once:
            setattr(self, name, "")
        super()._reset_client_storage()

    def _identity(self) -> Identity | None:
        """Resolve the session from the cookie now; a revoked or expired one yields None. The
        role is read afresh too, so a member demoted a moment ago acts with the new one."""
        found = session_identity(token=cookie_value(self.router.headers.cookie, SESSION_COOKIE))
        self._merchant_id = found.merchant_id if found else None
        self._session_id = found.session_id if found else None
        self._user_id = found.user_id if found else None
        self._role = found.role.value if found else None
        can = {action.value: allowed(self._role, action) for action in Action}
        if can != self.can:
            self.can = can
        return found

    def _actor(self) -> Actor:
        """The person of the last `_identity()`, for the services to authorize and record."""
        return Actor(
            merchant_id=self._merchant_id or 0,
            role=Role(self._role) if self._role else Role.ANALYST,
            user_id=self._user_id,
            ip_address=self._client_ip(),
        )

    def _can(self, action: Action) -> bool:
        """For hiding controls only: the services refuse whatever this says."""
        return allowed(self._role, action)

    def _login_redirect(self) -> EventSpec:
        path = self.router.url.path.rstrip("/") or "/"  # static hosting adds a slash
        query = self.router.url.query
        target = path + (f"?{query}" if query else "")
        return rx.redirect(f"/login?next={quote(target, safe='')}")

    def _client_ip(self) -> str:
        return self.router.session.client_ip or ""

    def _user_agent(self) -> str:
        return self.router.headers.user_agent or ""
