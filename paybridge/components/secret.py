"""A secret shown exactly once (API keys, webhook signing secrets), with copy and dismiss."""

from __future__ import annotations

import reflex as rx


def secret_once(secret: rx.Var, *, message: rx.Component, on_done, test_id: str) -> rx.Component:  # type: ignore[no-untyped-def]
    return rx.cond(
        secret != "",
        rx.callout(
            rx.vstack(
                message,
                rx.hstack(
                    rx.code(secret, id=test_id, size="2"),
                    rx.button(
                        rx.icon("copy", size=14),
                        "Copy",
                        size="1",
                        variant="soft",
                        on_click=rx.set_clipboard(secret),
                    ),
                    rx.button("Done", size="1", on_click=on_done),
                    wrap="wrap",
                    align="center",
                ),
                spacing="2",
            ),
            icon="key-round",
            color_scheme="amber",
            width="100%",
        ),
    )
