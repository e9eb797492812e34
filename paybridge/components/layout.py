"""The one layout every page uses: `@template(route=..., title=..., on_load=...)` registers a page
wrapped in the merchant shell (sidebar, header with live connection indicator) or, for public
pages, in a centred card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import reflex as rx
from reflex.components.core.banner import has_connection_errors, has_too_many_connection_errors

from paybridge.state.shell import ShellState

NAV = (
    ("Dashboard", "/", "layout-dashboard"),
    ("Transactions", "/transactions", "arrow-left-right"),
    ("Settlements", "/settlements", "landmark"),
    ("Webhooks", "/webhooks", "webhook"),
    ("Developers", "/developers", "code"),
    ("Team", "/settings/team", "users"),
    ("Settings", "/settings", "settings"),
)


@dataclass(frozen=True)
class PageSpec:
    route: str
    title: str
    component: Callable[[], rx.Component]
    on_load: list


PAGES: list[PageSpec] = []

# One breakpoint for the whole shell (48em, 768 px): the sidebar and wide tables from there up,
# the top navigation and stacked rows below it.
WIDE_ONLY = ["none", "none", "block"]
NARROW_ONLY = ["block", "block", "none"]


def wide_or_narrow(wide: rx.Component, narrow: rx.Component) -> rx.Component:
    """Two renderings of the same data: `wide` (a table, say) from the shell's breakpoint up,
    `narrow` (stacked rows) on a phone."""
    return rx.fragment(
        rx.box(wide, display=WIDE_ONLY, width="100%"),
        rx.box(narrow, display=NARROW_ONLY, width="100%"),
    )


def connection_indicator() -> rx.Component:
    """Reflects the websocket itself: live, reconnecting (errors), offline (repeated errors)."""
    return rx.cond(
        has_too_many_connection_errors,
        rx.badge(rx.icon("wifi-off", size=12), "offline", color_scheme="red", id="connection"),
        rx.cond(
            has_connection_errors,
            rx.badge("reconnecting…", color_scheme="amber", id="connection"),
            rx.cond(
                rx.State.is_hydrated,
                rx.badge(rx.icon("radio", size=12), "live", color_scheme="green", id="connection"),
                rx.badge("connecting…", color_scheme="gray", id="connection"),
            ),
        ),
    )


def _nav_links(direction: str = "column") -> rx.Component:
    """The site navigation: in the sidebar on wide screens, under the title on a phone (one
    of them shows at any width)."""
    return rx.el.nav(_nav_list(direction), class_name="site-nav", aria_label="Main")


def _nav_list(direction: str) -> rx.Component:
    return rx.flex(
        *[
            rx.link(
                rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), align="center"),
                href=href,
                underline="none",
                padding_x="10px",
                padding_y="6px",
                border_radius="var(--radius-2)",
                color=rx.cond(
                    ShellState.current_path == href, rx.color("accent", 11), rx.color("gray", 11)
                ),
                background=rx.cond(
                    ShellState.current_path == href, rx.color("accent", 3), "transparent"
                ),
            )
            for label, href, icon in NAV
        ],
        direction=direction,
        spacing="1",
        wrap="wrap",
    )


def _sidebar() -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.icon("zap", color=rx.color("accent", 9)), rx.heading("PayBridge", size="5")
            ),
            _nav_links(),
            rx.spacer(),
            rx.link("Log out", href="/logout", size="2", color_scheme="gray", id="logout-link"),
            height="100%",
            spacing="5",
        ),
        display=WIDE_ONLY,
        width="220px",
        min_width="220px",
        height="100vh",
        position="sticky",
        top="0",
        padding="20px",
        border_right=f"1px solid {rx.color('gray', 4)}",
    )


def _header(title: str) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(title, size="6"),
            connection_indicator(),
            rx.spacer(),
            rx.hstack(
                rx.avatar(fallback=ShellState.initials, size="2", radius="full"),
                rx.text(ShellState.merchant_name, size="2", weight="medium", id="merchant-name"),
                rx.color_mode.button(size="1", variant="ghost"),
                align="center",
                spacing="3",
            ),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.box(_nav_links("row"), display=NARROW_ONLY, width="100%"),
        width="100%",
    )


def _security_notice() -> rx.Component:
    """Failed sign-ins since the owner last dismissed this (paybridge/state/shell.py)."""
    return rx.cond(
        ShellState.security_notice != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("shield-alert")),
            rx.callout.text(ShellState.security_notice, id="security-notice-text"),
            rx.hstack(
                rx.link("Review", href="/settings#sign-in-activity", size="2"),
                rx.button(
                    "Dismiss",
                    size="1",
                    variant="soft",
                    on_click=ShellState.dismiss_security_notice,
                    id="security-notice-dismiss",
                ),
                align="center",
                spacing="3",
            ),
            color_scheme="amber",
            width="100%",
            id="security-notice",
        ),
    )


def template(
    *, route: str, title: str, on_load: list | None = None, public: bool = False
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    def register(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            if public:
                return rx.center(
                    rx.vstack(
                        rx.hstack(
                            rx.icon("zap", color=rx.color("accent", 9)),
                            rx.heading("PayBridge", size="6"),
                        ),
                        rx.card(content(), width="100%", size="3"),
                        width="100%",
                        max_width="420px",
                        spacing="5",
                        align="center",
                    ),
                    min_height="100vh",
                    padding="16px",
                )
            return rx.hstack(
                _sidebar(),
                rx.box(
                    rx.vstack(
                        _header(title), _security_notice(), content(), spacing="5", width="100%"
                    ),
                    width="100%",
                    padding=rx.breakpoints(initial="12px", sm="16px", md="24px"),
                    min_width="0",
                ),
                spacing="0",
                align="start",
                width="100%",
            )

        loads = list(on_load or [])
        if not public:
            loads = [ShellState.load, *loads]
        PAGES.append(
            PageSpec(route=route, title=f"{title} · PayBridge", component=page, on_load=loads)
        )
        return content

    return register
