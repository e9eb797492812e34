"""Sign-up, login, logout. Credentials are checked here; the cookie is set by the backend route
`/auth/complete`, which this state sends the browser to with a one-time ticket. The ticket is
bound to the browser's login nonce, which the page asks the backend for when it loads."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import reflex as rx
from reflex.event import EventSpec

from paybridge.browser import DEVICE_COOKIE, cookie_value, safe_next
from paybridge.errors import DomainError
from paybridge.models import AccountType
from paybridge.services.auth import authenticate, session_revoke, web_session_start
from paybridge.services.users import user_signup
from paybridge.state.session import SessionState, in_thread

MAX_FIELD = 300

PAGE_MESSAGES = {
    "expired": "That sign-in link expired. Please log in again.",
    "logged_out": "You are logged out.",
    "password_changed": "Password changed. Other sessions were signed out.",
    "joined": "Welcome to the team. Log in with your email and new password.",
    "closed": "The account is closed. Its records are kept; nobody can sign in to it any more.",
}
NO_NONCE = "This page could not prepare a secure login. Reload it and try again."


def form_text(form: Any, name: str, *, max_length: int = MAX_FIELD) -> str:
    """A form field as text; anything else a forged event might send is refused."""
    if not isinstance(form, dict):
        raise DomainError("invalid_request", "Malformed form.")
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > max_length:
        raise DomainError("invalid_request", f"Invalid {name.replace('_', ' ')}.", param=name)
    return value


class AuthFormState(SessionState):
    """Shared by the login and sign-up pages."""

    error: str = ""
    error_field: str = ""
    notice: str = ""
    nonce_ready: bool = False  # the submit button waits for it
    _login_nonce: str = ""

    def _next_target(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next", "/"))

    def _backend_origin(self) -> str:
        """Where the backend routes answer: this page's origin, or in development the
        backend's port (the websocket's host)."""
        host = self.router.headers.host or self.router.url.netloc
        scheme = "https" if self.router.url.origin.startswith("https") else "http"
        return f"{scheme}://{host}"

    def _finish_login(self, user_id: int) -> EventSpec:
        """Send the browser to the backend route that turns the ticket into the cookie."""
        ticket = web_session_start(
            user_id=user_id,
            browser_nonce=self._login_nonce,
            user_agent=self._user_agent(),
            ip_address=self._client_ip(),
        )
        frontend = self.router.url.origin
        backend = self._backend_origin()
        target = self._next_target()
        if backend != frontend:  # development: UI and backend ports differ
            target = safe_next(frontend + target)
        url = f"{backend}/auth/complete?ticket={ticket}&next={quote(target, safe='')}"
        return rx.call_script(f"window.location.assign({json.dumps(url)})")

    @rx.event
    @in_thread
    def load(self) -> EventSpec | None:
        self.error, self.error_field = "", ""
        params = self.router.url.query_parameters
        key = params.get("error") or next((k for k in PAGE_MESSAGES if k in params), "")
        self.notice = PAGE_MESSAGES.get(key, "")
        if self._identity() is not None:
            return rx.redirect(self._next_target())
        url = json.dumps(self._backend_origin() + "/auth/nonce")
        return rx.call_script(
            f"fetch({url}, {{method: 'POST', credentials: 'include'}})"
            ".then(r => r.ok ? r.json() : {}).then(j => j.nonce || '').catch(() => '')",
            callback=AuthFormState.keep_nonce,
        )

    @rx.event
    async def keep_nonce(self, nonce: str) -> None:
        """The browser's login nonce (its own HttpOnly cookie's value) for the ticket. (Async
        like every handler of ours, though it only assigns.)"""
        self._login_nonce = nonce if isinstance(nonce, str) and len(nonce) == 43 else ""
        self.nonce_ready = bool(self._login_nonce)
        if not self.nonce_ready:
            self.error = NO_NONCE

    def _refuse_without_nonce(self) -> bool:
        if not self._login_nonce:
            self.error = NO_NONCE
            return True
        return False


class LoginState(AuthFormState):
    @rx.event
    @in_thread
    def submit(self, form: dict) -> EventSpec | None:
        self.error, self.error_field, self.notice = "", "", ""
        if self._refuse_without_nonce():
            return None
        try:
            user = authenticate(
                email=form_text(form, "email"),
                password=form_text(form, "password", max_length=1024),
                client=self._client_ip(),
                user_agent=self._user_agent(),
                device_cookie=cookie_value(self.router.headers.cookie, DEVICE_COOKIE),
            )
            assert user.id is not None  # a saved row
            return self._finish_login(user.id)
        except DomainError as error:
            self.error = error.message
            return None


class SignupState(AuthFormState):
    @rx.event
    @in_thread
    def submit(self, form: dict) -> EventSpec | None:
        self.error, self.error_field, self.notice = "", "", ""
        if self._refuse_without_nonce():
            return None
        try:
            user = user_signup(
                client=self._client_ip(),
                email=form_text(form, "email"),
                password=form_text(form, "password", max_length=1024),
                full_name=form_text(form, "full_name"),
                company_name=form_text(form, "company_name"),
                account_type=form_text(form, "account_type") or AccountType.BUSINESS.value,
            )
            assert user.id is not None  # a saved row
            return self._finish_login(user.id)
        except DomainError as error:
            self.error, self.error_field = error.message, error.param or ""
            return None


class LogoutState(SessionState):
    @rx.event
    @in_thread
    def load(self) -> EventSpec:
        """Revoke the session server-side, then let the backend drop the cookie."""
        found = self._identity()
        if found is not None:
            session_revoke(session_id=found.session_id)
        self._merchant_id = self._session_id = None
        host = self.router.headers.host or self.router.url.netloc
        scheme = "https" if self.router.url.origin.startswith("https") else "http"
        return rx.call_script(
            f"window.location.assign({json.dumps(f'{scheme}://{host}/auth/logout')})"
        )
