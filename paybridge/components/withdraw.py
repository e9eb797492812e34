"""The withdraw button and dialog (state: WithdrawState)."""

from __future__ import annotations

import reflex as rx

from paybridge.components.access import allowed_to
from paybridge.permissions import Action
from paybridge.state.withdraw import WithdrawState as W


def withdraw_button(
    currency: rx.Var, *, enabled: rx.Var, button_id: str = "withdraw-open", label: str = "Withdraw"
) -> rx.Component:
    """Opens the page's withdraw dialog for `currency`."""
    return allowed_to(
        Action.WITHDRAW,
        rx.button(
            label, disabled=~enabled, on_click=W.open_for(currency), id=button_id, width="100%"
        ),
    )


def withdraw_dialog() -> rx.Component:
    """The page's one withdraw dialog, for whichever button opened it: it is controlled by
    WithdrawState.is_open, so one instance per button would open them all at once."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Withdraw to your bank"),
            rx.dialog.description("Available: ", W.available, size="2"),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="amount",
                        placeholder="Amount, e.g. 250.00",
                        id="withdraw-amount",
                        input_mode="decimal",
                        required=True,
                        width="100%",
                    ),
                    rx.cond(
                        W.error != "",
                        rx.callout(
                            W.error,
                            color_scheme="red",
                            icon="triangle-alert",
                            size="1",
                            id="withdraw-error",
                        ),
                    ),
                    rx.cond(
                        W.result != "",
                        rx.callout(
                            W.result,
                            color_scheme="green",
                            icon="check",
                            size="1",
                            id="withdraw-result",
                        ),
                    ),
                    rx.hstack(
                        rx.button(
                            "Close",
                            variant="soft",
                            color_scheme="gray",
                            type="button",
                            on_click=W.close,
                        ),
                        rx.button(
                            "Withdraw", type="submit", id="withdraw-submit", disabled=W.result != ""
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=W.submit,
                reset_on_submit=False,
            ),
        ),
        open=W.is_open,
        on_open_change=lambda _: W.close(),
    )
