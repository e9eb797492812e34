"""`/transactions/<reference>`: one payment in full, with its refund dialog."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from paybridge.components.access import allowed_to
from paybridge.components.cards import status_badge
from paybridge.components.forms import dialog_buttons, form_error
from paybridge.components.layout import template
from paybridge.components.tables import data_table, empty_state
from paybridge.permissions import Action
from paybridge.state.payment import PaymentState as S
from paybridge.views.payment import DeliveryRow


def _item(label: str, value: rx.Var, test_id: str = "") -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label), rx.data_list.value(value, id=test_id or None)
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.code(S.summary.reference, size="3", id="payment-reference"),
                rx.box(status_badge(S.summary.status), id="payment-status"),
                rx.spacer(),
                rx.heading(S.summary.amount, size="6", id="payment-amount"),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.grid(
                rx.data_list.root(
                    _item("Customer", S.summary.customer, "payment-customer"),
                    _item("Provider", S.summary.provider, "payment-provider"),
                    _item("Created", S.summary.created),
                    _item("Updated", S.summary.updated),
                    size="2",
                ),
                rx.data_list.root(
                    _item("Net after fees", S.summary.net, "payment-net"),
                    _item("Refunded", S.summary.refunded, "payment-refunded"),
                    _item("Refundable", S.summary.remaining, "payment-remaining"),
                    _item("Net kept", S.summary.kept, "payment-kept"),
                    size="2",
                ),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="4",
                width="100%",
            ),
            spacing="4",
            width="100%",
        ),
        width="100%",
    )


def _fees() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Fee breakdown", size="3"),
            rx.data_list.root(
                rx.foreach(
                    S.fees,
                    lambda f: rx.data_list.item(
                        rx.data_list.label(f.label), rx.data_list.value(f.value)
                    ),
                ),
                size="2",
                id="payment-fees",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _refund() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Refund", size="3"),
            rx.cond(
                S.notice != "",
                rx.callout(
                    S.notice, icon="check", color_scheme="green", size="1", id="refund-done"
                ),
            ),
            form_error(S.refund_error, "refund-error"),
            rx.cond(
                S.refundable,
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="amount",
                            id="refund-amount",
                            default_value=S.refund_default,
                            input_mode="decimal",
                            required=True,
                            width="160px",
                        ),
                        rx.text(S.summary.currency, size="2", color_scheme="gray"),
                        rx.button("Refund…", type="submit", color_scheme="red", id="refund-open"),
                        spacing="2",
                        align="center",
                    ),
                    on_submit=S.prepare_refund,
                    reset_on_submit=False,
                    key=S.form_key,
                ),
                rx.text(
                    "Only successful payments with something left to refund can be refunded.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.cond(
                S.refunds.length() > 0,
                rx.vstack(
                    rx.foreach(
                        S.refunds,
                        lambda r: rx.text(
                            r.time,
                            ": ",
                            r.amount,
                            " (",
                            r.net,
                            " off the balance)",
                            size="1",
                            class_name="refund-row",
                        ),
                    ),
                    spacing="1",
                ),
            ),
            rx.alert_dialog.root(
                rx.alert_dialog.content(
                    rx.alert_dialog.title("Confirm refund"),
                    rx.alert_dialog.description(S.confirm_text, id="refund-confirm-text"),
                    dialog_buttons(
                        rx.alert_dialog.action(
                            rx.button(
                                "Refund",
                                color_scheme="red",
                                on_click=S.confirm_refund,
                                id="refund-confirm",
                            )
                        ),
                        cancel=rx.button(
                            "Cancel",
                            variant="soft",
                            color_scheme="gray",
                            on_click=S.cancel_refund,
                            id="refund-cancel",
                        ),
                        margin_top="3",
                    ),
                ),
                open=S.confirm_open,
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _delivery_row(d: ObjectVar[DeliveryRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(d.event),
        rx.table.cell(
            rx.badge(
                d.status,
                color_scheme=d.color,
            )
        ),
        rx.table.cell(d.attempts),
        rx.table.cell(d.code),
        rx.table.cell(rx.text(d.url, size="1")),
        class_name="delivery-row",
    )


def _timeline() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Timeline", size="3"),
            rx.vstack(
                rx.foreach(
                    S.timeline,
                    lambda e: rx.hstack(
                        rx.icon("circle-dot", size=14, color=rx.color("accent", 9)),
                        rx.vstack(
                            rx.text(e.text, size="2"),
                            rx.text(e.type, " · ", e.time, size="1", color_scheme="gray"),
                            spacing="0",
                        ),
                        spacing="2",
                        align="start",
                        class_name="timeline-item",
                    ),
                ),
                spacing="3",
                id="payment-timeline",
            ),
            rx.cond(
                S.timeline.length() == 0,
                rx.text(
                    "No events recorded for this payment (imported history).",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            rx.heading("Webhook deliveries", size="3", margin_top="3"),
            rx.cond(
                S.deliveries.length() == 0,
                empty_state("No webhook deliveries for this payment."),
                data_table(
                    ("Event", "Status", "Attempts", "Last code", "Endpoint"),
                    S.deliveries,
                    _delivery_row,
                    size="1",
                    width="100%",
                    white_space="nowrap",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


@template(route="/transactions/[payment_reference]", title="Payment", on_load=[S.load])
def payment_page() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), "All transactions", align="center"),
            href="/transactions",
            size="2",
            id="back-to-transactions",
        ),
        rx.cond(
            S.found,
            rx.vstack(
                _summary(),
                rx.grid(
                    rx.vstack(
                        _fees(), allowed_to(Action.REFUND, _refund()), spacing="4", width="100%"
                    ),
                    _timeline(),
                    columns=rx.breakpoints(initial="1", lg="2"),
                    spacing="4",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            rx.cond(
                S.loaded,
                rx.callout("No such payment.", icon="circle-alert", id="payment-missing"),
                rx.spinner(),
            ),
        ),
        spacing="4",
        width="100%",
    )
