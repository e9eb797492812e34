"""`/webhooks`: endpoints and the delivery log."""

from __future__ import annotations

import reflex as rx

from paybridge.components.access import allowed_to
from paybridge.components.cards import ONE_LINE
from paybridge.components.forms import dialog_buttons, form_error, native_select
from paybridge.components.layout import template
from paybridge.components.secret import secret_once
from paybridge.components.tables import empty_state
from paybridge.permissions import Action
from paybridge.state.webhooks import DELIVERY_STATUSES
from paybridge.state.webhooks import WebhooksState as S
from paybridge.views.labels import WEBHOOK_EVENT_TYPES

SIGNATURE_HELP = (
    'Each POST carries PayBridge-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>"> keyed '
    "with the endpoint's secret. Verify it with paybridge.webhook_signature.verify_signature."
)


def _type_boxes(prefix: str = "") -> rx.Component:
    return rx.vstack(
        rx.checkbox(
            "All events (including future types)", name="all_events", id=f"{prefix}all-events"
        ),
        rx.flex(
            *[
                rx.checkbox(t, name=f"type:{t}", id=f"{prefix}type-{t.replace('.', '-')}")
                for t in WEBHOOK_EVENT_TYPES
            ],
            wrap="wrap",
            spacing="3",
        ),
        spacing="2",
    )


def _secret() -> rx.Component:
    return secret_once(
        S.secret,
        message=rx.text(
            "Signing secret for ",
            rx.code(S.secret_for),
            ". Copy it now: it is shown only this once.",
            weight="bold",
        ),
        on_done=S.dismiss_secret,
        test_id="webhook-secret",
    )


def _create() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Add an endpoint", size="4"),
                rx.input(
                    name="url",
                    id="webhook-url",
                    placeholder="https://example.com/paybridge",
                    required=True,
                    type="url",
                    width="100%",
                ),
                _type_boxes("new-"),
                rx.button("Add endpoint", type="submit", id="webhook-create"),
                rx.text(SIGNATURE_HELP, size="1", color_scheme="gray"),
                spacing="3",
                width="100%",
            ),
            on_submit=S.create,
            reset_on_submit=True,
        ),
        width="100%",
    )


def _endpoint(e: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.badge(e["status"], color_scheme=e["color"]),
                rx.code(e["url"], size="2"),
                rx.spacer(),
                rx.text(
                    "last sent ",
                    e["last"],
                    " · ",
                    e["pending"],
                    " waiting",
                    size="1",
                    color_scheme="gray",
                ),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.text("Events: ", e["types"], size="2"),
            rx.cond(e["detail"] != "", rx.text(e["detail"], size="1", color_scheme="red")),
            rx.cond(e["rolling"] != "", rx.text(e["rolling"], size="1", color_scheme="amber")),
            allowed_to(
                Action.WEBHOOKS,
                rx.hstack(
                    rx.popover.root(
                        rx.popover.trigger(rx.button("Event types", size="1", variant="soft")),
                        rx.popover.content(
                            rx.form(
                                rx.vstack(
                                    _type_boxes(), rx.button("Save", size="1", type="submit")
                                ),
                                on_submit=lambda form: S.set_types(e["id"], form),
                            ),
                        ),
                    ),
                    rx.button(
                        e["toggle"],
                        size="1",
                        variant="soft",
                        on_click=S.toggle(e["id"]),
                        class_name="webhook-toggle",
                    ),
                    rx.button(
                        "Send test event",
                        size="1",
                        variant="soft",
                        on_click=S.send_test(e["id"]),
                        class_name="webhook-test",
                    ),
                    rx.button(
                        "Roll secret",
                        size="1",
                        variant="soft",
                        color_scheme="amber",
                        on_click=S.roll(e["id"]),
                        class_name="webhook-roll",
                    ),
                    rx.alert_dialog.root(
                        rx.alert_dialog.trigger(
                            rx.button("Delete", size="1", variant="soft", color_scheme="red")
                        ),
                        rx.alert_dialog.content(
                            rx.alert_dialog.title("Delete this endpoint?"),
                            rx.alert_dialog.description("Its delivery log goes with it."),
                            dialog_buttons(
                                rx.alert_dialog.action(
                                    rx.button(
                                        "Delete", color_scheme="red", on_click=S.delete(e["id"])
                                    )
                                )
                            ),
                        ),
                    ),
                    wrap="wrap",
                    spacing="2",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="webhook-endpoint",
    )


def _delivery(d: rx.Var) -> rx.Component:
    return rx.accordion.item(
        header=rx.flex(
            rx.hstack(
                rx.badge(d.status, color_scheme=d.color),
                rx.text(d.event, size="2", white_space="nowrap"),
                spacing="2",
                align="center",
            ),
            rx.text(d.url, size="1", color_scheme="gray", flex="1 1 120px", **ONE_LINE),
            rx.text(
                d.attempts,
                " tries · ",
                d.last,
                " · ",
                d.created,
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
        content=rx.vstack(
            rx.cond(d.next != "", rx.text("Next try ", d.next, size="1")),
            rx.foreach(
                d.tries,
                lambda a: rx.hstack(
                    rx.text("#", a.n, size="1"),
                    rx.badge(a.result, color_scheme=rx.cond(a.ok, "green", "red")),
                    rx.text(a.ms, size="1"),
                    rx.text(a.at, size="1", color_scheme="gray"),
                    rx.text(a.error, size="1", color_scheme="red"),
                    rx.code(a.excerpt, size="1"),
                    wrap="wrap",
                    spacing="2",
                    class_name="delivery-attempt",
                ),
            ),
            allowed_to(
                Action.WEBHOOKS,
                rx.button(
                    "Resend",
                    size="1",
                    variant="soft",
                    on_click=S.resend(d.id),
                    class_name="delivery-resend",
                ),
            ),
            spacing="2",
        ),
        value=d.id,
        class_name="delivery-row",
    )


def _log() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Deliveries", size="4"),
                rx.spacer(),
                rx.form(
                    rx.hstack(
                        native_select(
                            "status",
                            [(s, s) for s in DELIVERY_STATUSES],
                            S.log_status,
                            id="delivery-status",
                        ),
                        rx.el.select(
                            rx.el.option("all endpoints", value="all"),
                            rx.foreach(
                                S.endpoints, lambda e: rx.el.option(e["url"], value=e["id"])
                            ),
                            name="endpoint",
                            id="delivery-endpoint",
                            style={"maxWidth": "180px"},
                            default_value=S.log_endpoint,
                            key=S.log_endpoint,
                        ),
                        rx.button("Filter", size="1", type="submit"),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    on_submit=S.filter_log,
                    reset_on_submit=False,
                ),
                width="100%",
                wrap="wrap",
            ),
            rx.accordion.root(
                rx.foreach(S.deliveries, _delivery),
                type="multiple",
                collapsible=True,
                variant="ghost",
                width="100%",
                id="deliveries",
            ),
            empty_state("No deliveries yet.", S.deliveries),
            rx.hstack(
                rx.button("Newest", size="1", variant="soft", on_click=S.newest),
                rx.button(
                    "Older", size="1", variant="soft", on_click=S.older, disabled=~S.has_older
                ),
                justify="end",
                width="100%",
            ),
            width="100%",
        ),
        width="100%",
    )


@template(route="/webhooks", title="Webhooks", on_load=[S.load])
def webhooks_page() -> rx.Component:
    return rx.vstack(
        form_error(S.error, "webhook-error"),
        rx.cond(
            S.notice != "",
            rx.callout(S.notice, icon="check", color_scheme="green", size="1", id="webhook-notice"),
        ),
        _secret(),
        allowed_to(Action.WEBHOOKS, _create()),
        rx.foreach(S.endpoints, _endpoint),
        _log(),
        spacing="4",
        width="100%",
    )
