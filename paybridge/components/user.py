"""The user summary card: avatar (initials), name, company, KYC status, account type."""

from __future__ import annotations

import reflex as rx

KYC_COLORS = {"verified": "green", "pending": "amber", "rejected": "red"}


def kyc_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[
            (name, rx.badge(f"KYC {name}", color_scheme=color))
            for name, color in KYC_COLORS.items()
        ],
        rx.badge(status),
    )


def user_summary_card(*, initials, name, company, email, kyc_status, account_type) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.avatar(fallback=initials, size="5", radius="full"),
            rx.vstack(
                rx.heading(name, size="4"),
                rx.text(company, size="2", color_scheme="gray"),
                rx.text(email, size="1", color_scheme="gray"),
                rx.hstack(
                    kyc_badge(kyc_status), rx.badge(account_type, variant="outline"), spacing="2"
                ),
                spacing="1",
            ),
            spacing="4",
            align="center",
        ),
        width="100%",
        id="user-summary",
    )
