"""`/developers`: API keys and the request log."""

from __future__ import annotations

import reflex as rx

from paybridge.components.access import allowed_to
from paybridge.components.cards import ONE_LINE
from paybridge.components.forms import dialog_buttons, form_error, native_select
from paybridge.components.layout import template
from paybridge.components.secret import secret_once
from paybridge.components.tables import data_table, empty_state
from paybridge.permissions import Action
from paybridge.state.developers import METHODS, STATUS_CLASSES, WINDOWS
from paybridge.state.developers import DevelopersState as S

REVOKE_WARNING = "Requests with this key will fail at once. This cannot be undone."


def _new_secret() -> rx.Component:
    return secret_once(
        S.new_key_secret,
        message=rx.text(
            "Copy this secret key now. It is not stored and will not be shown again.",
            weight="bold",
        ),
        on_done=S.dismiss_secret,
        test_id="new-key-secret",
    )


def _key_row(k: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(k["name"]),
        rx.table.cell(rx.code(k["masked"], size="1")),
        rx.table.cell(k["created"]),
        rx.table.cell(k["last_used"]),
        rx.table.cell(
            allowed_to(
                Action.API_KEYS,
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button(
                            "Revoke",
                            size="1",
                            color_scheme="red",
                            variant="soft",
                            class_name="key-revoke",
                        )
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Revoke ", k["name"], "?"),
                        rx.alert_dialog.description(REVOKE_WARNING),
                        dialog_buttons(
                            rx.alert_dialog.action(
                                rx.button(
                                    "Revoke key",
                                    color_scheme="red",
                                    class_name="key-revoke-confirm",
                                    on_click=S.revoke_key(k["id"]),
                                )
                            )
                        ),
                    ),
                ),
            )
        ),
        class_name="key-row",
    )


def _keys() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("API keys", size="4"),
            rx.text(
                "Authenticate server-to-server calls with ",
                rx.code("Authorization: Bearer sk_live_…"),
                ". Base URL ",
                rx.code(S.base_url),
                " · ",
                rx.link("API reference", href="/api/v1/docs", is_external=True),
                size="2",
            ),
            _new_secret(),
            form_error(S.key_error, "key-error"),
            allowed_to(
                Action.API_KEYS,
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="name",
                            id="key-name",
                            placeholder="Key name, e.g. Production server",
                            required=True,
                            max_length=80,
                        ),
                        rx.button("Create key", type="submit", id="key-create"),
                        spacing="2",
                    ),
                    on_submit=S.create_key,
                    reset_on_submit=False,
                ),
            ),
            data_table(
                ("Name", "Key", "Created", "Last used", ""),
                S.keys,
                _key_row,
                body_id="keys-body",
                width="100%",
                size="1",
                white_space="nowrap",
            ),
            empty_state("No active keys.", S.keys),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _select(name: str, options: list[str], value: rx.Var) -> rx.Component:
    return native_select(name, [(o, o) for o in options], value, id=f"log-{name}")


def _logs() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Request log", size="4"),
            rx.form(
                rx.hstack(
                    _select("method", METHODS, S.method),
                    _select("status_class", list(STATUS_CLASSES), S.status_class),
                    _select("window", list(WINDOWS), S.window),
                    rx.input(
                        name="path",
                        id="log-path",
                        placeholder="Path contains…",
                        default_value=S.path,
                        max_length=200,
                    ),
                    rx.button("Filter", type="submit", size="2", id="log-filter"),
                    spacing="2",
                    wrap="wrap",
                    align="center",
                ),
                on_submit=S.filter_logs,
                reset_on_submit=False,
            ),
            rx.accordion.root(
                rx.foreach(
                    S.logs,
                    lambda log: rx.accordion.item(
                        header=rx.flex(
                            rx.badge(log["status"], color_scheme=log["color"]),
                            rx.code(log["method"], size="1"),
                            rx.text(log["path"], size="2", flex="1 1 160px", **ONE_LINE),
                            rx.text(
                                log["ms"],
                                " · ",
                                log["time"],
                                size="1",
                                color_scheme="gray",
                                white_space="nowrap",
                            ),
                            width="100%",
                            align="center",
                            wrap="wrap",
                            spacing="2",
                            text_align="left",
                        ),
                        content=rx.data_list.root(
                            rx.data_list.item(
                                rx.data_list.label("Request"),
                                rx.data_list.value(
                                    log["method"].to(str) + " " + log["path"].to(str)
                                ),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Status"), rx.data_list.value(log["status"])
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Duration"), rx.data_list.value(log["ms"])
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Time (UTC)"),
                                rx.data_list.value(log["when_utc"]),
                            ),
                            rx.data_list.item(
                                rx.data_list.label("Log id"), rx.data_list.value(log["id"])
                            ),
                            size="1",
                        ),
                        value=log["id"],
                        class_name="log-row",
                    ),
                ),
                type="multiple",
                collapsible=True,
                width="100%",
                variant="ghost",
                id="log-list",
            ),
            empty_state("No API requests match.", S.logs),
            rx.hstack(
                rx.button(
                    "Newer",
                    on_click=S.previous_page,
                    disabled=~S.has_previous,
                    variant="soft",
                    size="1",
                ),
                rx.button(
                    "Older", on_click=S.next_page, disabled=~S.has_next, variant="soft", size="1"
                ),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@template(route="/developers", title="Developers", on_load=[S.load])
def developers_page() -> rx.Component:
    return rx.vstack(_keys(), _logs(), spacing="4", width="100%")
