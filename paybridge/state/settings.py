"""`/settings`: profile, password, and closing the account (its owner)."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_local
from paybridge.errors import DomainError
from paybridge.models import LoginOutcome
from paybridge.selectors.failed_logins import FailedLoginRow, failed_logins_recent
from paybridge.selectors.users import user_summary
from paybridge.services.account import account_close
from paybridge.services.auth import Identity, password_change
from paybridge.services.users import user_update_profile
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.session import SessionState, in_thread


def failure_row(row: FailedLoginRow, timezone: str) -> dict[str, str]:
    what = (
        "Sign-in from new devices paused"
        if row.outcome == LoginOutcome.LOCKED.value
        else "Wrong password"
    )
    return {
        "at": format_local(row.at, timezone),
        "what": what + (" (a device that signed in before)" if row.known_device else ""),
        "address": row.ip_address or "unknown",
        "agent": row.user_agent[:80] or "unknown",
    }


class SettingsState(SessionState):
    email: str = ""
    full_name: str = ""
    company_name: str = ""
    timezone: str = "UTC"
    initials: str = ""
    kyc_status: str = ""
    account_type: str = ""
    profile_error: str = ""
    profile_saved: str = ""
    password_error: str = ""
    password_saved: str = ""
    close_error: str = ""
    sign_in_failures: list[dict[str, str]] = []

    def _show(self, merchant_id: int) -> None:
        """The account's company and timezone; the signed-in person's name, email and failed
        sign-ins."""
        person_id = self._user_id or merchant_id
        with read_session() as session:
            summary = user_summary(session=session, merchant_id=merchant_id)
            person = user_summary(session=session, merchant_id=person_id)
            failures = failed_logins_recent(session=session, merchant_id=person_id)
        if summary is None or person is None:
            return
        self.sign_in_failures = [failure_row(row, summary.timezone) for row in failures]
        self.email, self.full_name, self.company_name = (
            person.email,
            person.full_name,
            summary.company_name,
        )
        self.timezone, self.initials = summary.timezone, person.initials
        self.kyc_status, self.account_type = summary.kyc_status, summary.account_type

    @rx.event
    @in_thread
    def load(self) -> None:
        self.profile_error = self.profile_saved = self.password_error = self.password_saved = ""
        self.close_error = ""
        found = self._identity()
        if found is not None:
            self._show(found.merchant_id)

    @rx.event
    @in_thread
    @merchant_event
    def save_profile(self, found: Identity, form: dict) -> EventSpec | None:
        self.profile_error = self.profile_saved = ""
        try:
            user_update_profile(
                user_id=found.user_id,
                actor=self._actor(),
                full_name=form_text(form, "full_name"),
                company_name=form_text(form, "company_name"),
                timezone=form_text(form, "timezone", max_length=64),
            )
        except DomainError as error:
            self.profile_error = error.message
            return None
        self._show(found.merchant_id)
        self.profile_saved = "Profile saved."
        return None

    @rx.event
    @in_thread
    @merchant_event
    def change_password(self, found: Identity, form: dict) -> EventSpec | None:
        self.password_error = self.password_saved = ""
        try:
            if form_text(form, "new_password", max_length=1024) != form_text(
                form, "confirm_password", max_length=1024
            ):
                raise DomainError("invalid_request", "The new passwords do not match.")
            password_change(
                user_id=found.user_id,
                current_password=form_text(form, "current_password", max_length=1024),
                new_password=form_text(form, "new_password", max_length=1024),
                keep_session_id=found.session_id,
            )
        except DomainError as error:
            self.password_error = error.message
            return None
        self.password_saved = "Password changed. Every other session was signed out."
        return rx.set_value("current_password", "")

    @rx.event
    @in_thread
    @merchant_event
    def close_account(self, found: Identity, form: dict) -> EventSpec | None:
        """The owner closes the account with their password; every session ends with it."""
        self.close_error = ""
        try:
            account_close(
                actor=self._actor(), password=form_text(form, "close_password", max_length=1024)
            )
        except DomainError as error:
            self.close_error = error.message
            return None
        return rx.redirect("/login?closed=1")
