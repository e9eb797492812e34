"""`/settings`: who you are, your profile, your password; for the owner, closing the account."""

from __future__ import annotations

from zoneinfo import available_timezones

import reflex as rx

from paybridge.components.forms import field, form_error, native_select, password_confirm
from paybridge.components.layout import template
from paybridge.components.tables import data_table
from paybridge.components.user import user_summary_card
from paybridge.state.session import SessionState
from paybridge.state.settings import SettingsState

TIMEZONES = sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def _saved(message: rx.Var) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="check", color_scheme="green", size="1"))


def _close_account() -> rx.Component:
    """The danger zone: the owner closes the account, confirming in a dialog with their
    password. Refused while money is in the account (the service says what to do)."""
    dialog = rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button("Close account", color_scheme="red", variant="soft", id="close-account")
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Close this account?"),
            rx.alert_dialog.description(
                "Everyone is signed out, every API key stops working and nobody can sign in "
                "again. Payments and payouts are kept as records. This cannot be undone here.",
                size="2",
            ),
            password_confirm(
                SettingsState.close_error,
                "close-error",
                password_name="close_password",
                confirm=rx.button(
                    "Close account", type="submit", color_scheme="red", id="close-account-confirm"
                ),
                on_submit=SettingsState.close_account,
            ),
        ),
    )
    return rx.card(
        rx.vstack(
            rx.heading("Close account", size="4", color_scheme="red"),
            rx.text(
                "Withdraw the balance and wait for payouts to complete first. Closing ends "
                "every session and API key; the account's records are kept.",
                size="2",
                color_scheme="gray",
            ),
            form_error(SettingsState.close_error, "close-account-error"),
            dialog,
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="danger-zone",
        style={"border": "1px solid var(--red-7)"},
    )


@template(route="/settings", title="Settings", on_load=[SettingsState.load])
def settings_page() -> rx.Component:
    profile = rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Profile", size="4"),
                form_error(SettingsState.profile_error, "profile-error"),
                _saved(SettingsState.profile_saved),
                field(
                    "Full name",
                    "full_name",
                    default_value=SettingsState.full_name,
                    key=SettingsState.full_name,
                    required=True,
                ),
                field(
                    "Company",
                    "company_name",
                    default_value=SettingsState.company_name,
                    key=SettingsState.company_name,
                ),
                rx.vstack(
                    rx.text(
                        "Timezone", as_="label", size="2", weight="medium", html_for="timezone"
                    ),
                    native_select("timezone", [(z, z) for z in TIMEZONES], SettingsState.timezone),
                    spacing="1",
                ),
                rx.button("Save profile", type="submit", id="profile-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=SettingsState.save_profile,
            reset_on_submit=False,
        ),
        width="100%",
    )
    password = rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Password", size="4"),
                form_error(SettingsState.password_error, "password-error"),
                _saved(SettingsState.password_saved),
                field(
                    "Current password",
                    "current_password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                ),
                field(
                    "New password",
                    "new_password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                field(
                    "Repeat new password",
                    "confirm_password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button("Change password", type="submit", id="password-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=SettingsState.change_password,
            reset_on_submit=True,
        ),
        width="100%",
    )
    activity = rx.card(
        rx.vstack(
            rx.heading("Sign-in activity", size="4"),
            rx.text(
                "Failed sign-ins of the last 30 days. A browser that signed in before keeps "
                "its own allowance while others' guesses are throttled.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                SettingsState.sign_in_failures.length() > 0,
                data_table(
                    ("When", "What", "From"),
                    SettingsState.sign_in_failures,
                    lambda row: rx.table.row(
                        rx.table.cell(row["at"]),
                        rx.table.cell(row["what"]),
                        rx.table.cell(rx.tooltip(rx.text(row["address"]), content=row["agent"])),
                    ),
                    body_id="sign-in-failures",
                    size="1",
                    width="100%",
                ),
                rx.text("No failed sign-ins.", size="2", id="sign-in-failures-none"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="sign-in-activity",
    )
    close = rx.cond(SessionState.can["account.close"], _close_account())
    return rx.grid(
        rx.vstack(
            user_summary_card(
                initials=SettingsState.initials,
                name=SettingsState.full_name,
                company=SettingsState.company_name,
                email=SettingsState.email,
                kyc_status=SettingsState.kyc_status,
                account_type=SettingsState.account_type,
            ),
            width="100%",
        ),
        rx.vstack(profile, password, activity, close, width="100%", spacing="4"),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )
