"""Form pieces with labels and inline errors."""

from __future__ import annotations

import reflex as rx


def field(
    label: str, name: str, *, type: str = "text", placeholder: str = "", error_var=None, **props
) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=name),
        rx.input(name=name, id=name, type=type, placeholder=placeholder, width="100%", **props),
        rx.cond(error_var, rx.text(error_var, color_scheme="red", size="1"))
        if error_var is not None
        else rx.fragment(),
        spacing="1",
        width="100%",
    )


def form_error(message: rx.Var, test_id: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", size="1", id=test_id),
    )


def form_notice(message: rx.Var) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="info", color_scheme="blue", size="1", id="form-notice"),
    )
