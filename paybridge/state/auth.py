"""Sign-up, login, logout. Credentials are checked here; the cookie is set by the backend route
`/auth/complete`, which this state sends the browser to with a one-time ticket."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import reflex as rx

from paybridge.api.web_auth import safe_next
from paybridge.errors import DomainError
from paybridge.models import AccountType
from paybridge.services.auth import authenticate, session_revoke, web_session_start
from paybridge.services.users import user_create
from paybridge.state.session import SessionState, in_thread

MAX_FIELD = 300

PAGE_MESSAGES = {
    "expired": "That sign-in link expired. Please log in again.",
    "logged_out": "You are logged out.",
    "password_changed": "Password changed. Other sessions were signed out.",
}


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

    def _next_target(self) -> str:
        return safe_next(self.router.url.query_parameters.get("next", "/"))

    def _finish_login(self, user_id: int) -> rx.event.EventSpec:
        """Send the browser to the backend route that turns the ticket into the cookie."""
        ticket = web_session_start(
            user_id=user_id, user_agent=self._user_agent(), ip_address=self._client_ip()
        )
        frontend = self.router.url.origin
        backend_host = self.router.headers.host or self.router.url.netloc
        scheme = "https" if frontend.startswith("https") else "http"
        target = self._next_target()
        if f"{scheme}://{backend_host}" != frontend:  # development: UI and backend ports differ
            target = safe_next(frontend + target)
        url = (
            f"{scheme}://{backend_host}/auth/complete?ticket={ticket}&next={quote(target, safe='')}"
        )
        return rx.call_script(f"window.location.assign({json.dumps(url)})")

    @rx.event
    @in_thread
    def load(self) -> rx.event.EventSpec | None:
        self.error, self.error_field = "", ""
        params = self.router.url.query_parameters
        key = params.get("error") or next((k for k in PAGE_MESSAGES if k in params), "")
        self.notice = PAGE_MESSAGES.get(key, "")
        if self._identity() is not None:
            return rx.redirect(self._next_target())
        return None


class LoginState(AuthFormState):
    @rx.event
    @in_thread
    def submit(self, form: dict) -> rx.event.EventSpec | None:
        self.error, self.error_field, self.notice = "", "", ""
        try:
            user = authenticate(
                email=form_text(form, "email"),
                password=form_text(form, "password", max_length=1024),
                client=self._client_ip(),
            )
        except DomainError as error:
            self.error = error.message
            return None
        return self._finish_login(user.id)


class SignupState(AuthFormState):
    @rx.event
    @in_thread
    def submit(self, form: dict) -> rx.event.EventSpec | None:
        self.error, self.error_field, self.notice = "", "", ""
        try:
            user = user_create(
                email=form_text(form, "email"),
                password=form_text(form, "password", max_length=1024),
                full_name=form_text(form, "full_name"),
                company_name=form_text(form, "company_name"),
                account_type=form_text(form, "account_type") or AccountType.BUSINESS.value,
            )
        except DomainError as error:
            self.error, self.error_field = error.message, error.param or ""
            return None
        return self._finish_login(user.id)


class LogoutState(SessionState):
    @rx.event
    @in_thread
    def load(self) -> rx.event.EventSpec:
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
