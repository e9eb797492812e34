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


Options = list[tuple[str, str]] | rx.Var


def native_select(
    name: str,
    options: Options,
    value: rx.Var,
    *,
    id: str | None = None,
    any_label: str | None = None,
    keyed: bool = True,
    **props,
) -> rx.Component:
    """A native <select> (the form submits the option's value). `options` are (value, label)
    pairs, or a Var of [value, label] pairs; `any_label` adds a first option with value "".
    Keyed by its value, so a state change re-renders the chosen option (`default_value`
    alone only sets the first render)."""
    if isinstance(options, rx.Var):
        items = [rx.foreach(options, lambda o: rx.el.option(o[1], value=o[0]))]
    else:
        items = [rx.el.option(label, value=v) for v, label in options]
    if any_label is not None:
        items.insert(0, rx.el.option(any_label, value=""))
    if keyed:
        props["key"] = value
    return rx.el.select(*items, name=name, id=id or name, default_value=value, **props)


def labeled_select(label: str, name: str, options: Options, value: rx.Var, **props) -> rx.Component:
    """A caption over a `native_select` (same arguments)."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        native_select(name, options, value, **props),
        spacing="1",
    )


def password_confirm(
    error: rx.Var,
    error_id: str,
    *,
    confirm: rx.Component,
    on_submit: rx.EventHandler,
    password_name: str = "password",
    hidden: rx.Component | None = None,
) -> rx.Component:
    """The form of a dialog that asks for the person's password before a step that cannot be
    undone (handing on the ownership, closing the account): the error, the password, Cancel
    and the `confirm` button."""
    return rx.form(
        rx.vstack(
            form_error(error, error_id),
            *([hidden] if hidden is not None else []),
            field(
                "Your password",
                password_name,
                type="password",
                auto_complete="current-password",
                required=True,
            ),
            dialog_buttons(confirm),
            spacing="3",
        ),
        on_submit=on_submit,
        reset_on_submit=True,
    )


def dialog_buttons(
    confirm: rx.Component, *, cancel: rx.Component | None = None, **props: object
) -> rx.Component:
    """The foot of an alert dialog: Cancel, then the button that does it (wrap it in
    `rx.alert_dialog.action` to close the dialog on click; a form's submit button stays bare so
    that an error can show in the dialog)."""
    return rx.hstack(
        rx.alert_dialog.cancel(
            cancel
            if cancel is not None
            else rx.button("Cancel", type="button", variant="soft", color_scheme="gray")
        ),
        confirm,
        justify="end",
        spacing="2",
        **props,
    )
