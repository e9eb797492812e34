"""`/login`, `/signup`, `/logout`."""

from __future__ import annotations

import reflex as rx

from paybridge.components.forms import field, form_error, form_notice
from paybridge.components.layout import template
from paybridge.state.auth import LoginState, LogoutState, SignupState
from paybridge.views.labels import PASSWORD_HINT


@template(route="/login", title="Log in", on_load=[LoginState.load], public=True)
def login_page() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Log in", size="5"),
            form_notice(LoginState.notice),
            form_error(LoginState.error),
            field("Email", "email", type="email", auto_complete="email", required=True),
            field(
                "Password",
                "password",
                type="password",
                auto_complete="current-password",
                required=True,
            ),
            # Disabled until the app is live (a click before that would be a native GET submit
            # that puts the password in the URL) and the browser holds its login nonce.
            rx.button(
                "Log in",
                type="submit",
                width="100%",
                id="login-submit",
                disabled=~LoginState.nonce_ready,
            ),
            rx.text("New to PayBridge? ", rx.link("Create an account", href="/signup"), size="2"),
            spacing="4",
            width="100%",
        ),
        on_submit=LoginState.submit,
        reset_on_submit=False,
    )


@template(route="/signup", title="Create your account", on_load=[SignupState.load], public=True)
def signup_page() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.heading("Create your account", size="5"),
            form_error(SignupState.error),
            field("Full name", "full_name", auto_complete="name", required=True),
            field("Company", "company_name", auto_complete="organization"),
            rx.vstack(
                rx.text("Account type", size="2", weight="medium"),
                rx.radio_group.root(
                    rx.hstack(
                        rx.radio_group.item(value="business", id="account-business"),
                        rx.text("Business", size="2"),
                        rx.radio_group.item(value="individual", id="account-individual"),
                        rx.text("Individual", size="2"),
                        spacing="2",
                        align="center",
                    ),
                    name="account_type",
                    default_value="business",
                ),
                spacing="1",
            ),
            field("Email", "email", type="email", auto_complete="email", required=True),
            field(
                "Password", "password", type="password", auto_complete="new-password", required=True
            ),
            rx.text(PASSWORD_HINT, size="1", color_scheme="gray"),
            rx.button(
                "Create account",
                type="submit",
                width="100%",
                id="signup-submit",
                disabled=~SignupState.nonce_ready,
            ),
            rx.text("Already have an account? ", rx.link("Log in", href="/login"), size="2"),
            spacing="4",
            width="100%",
        ),
        on_submit=SignupState.submit,
        reset_on_submit=False,
    )


@template(route="/logout", title="Logging out", on_load=[LogoutState.load], public=True)
def logout_page() -> rx.Component:
    return rx.hstack(rx.spinner(), rx.text("Logging out…"), align="center")
