"""The payments explorer's filter bar and its saved views (named filter sets)."""

from __future__ import annotations

import reflex as rx

from paybridge.components.forms import Options, form_error, native_select
from paybridge.state.transactions import TransactionsState as S
from paybridge.views.labels import TRANSACTION_STATUSES


def _label(text: str | rx.Var, control: rx.Component) -> rx.Component:
    """A caption over a control. `text` is plain text: a component inside the caption's <p>
    could be another <p>, which the browser's parser splits, and React then fails to hydrate
    the prerendered page and renders it again (the global stylesheet twice, over the styles)."""
    return rx.vstack(rx.text(text, size="1", color_scheme="gray"), control, spacing="1")


AMOUNT = {"input_mode": "decimal", "width": "110px"}


def _field(caption: str | rx.Var, name: str, value: rx.Var, **props) -> rx.Component:
    """A captioned filter input; the form submits it as `name`."""
    return _label(
        caption, rx.input(name=name, id=f"filter-{name}", default_value=value, size="1", **props)
    )


def _select(name: str, options: Options, value: rx.Var, *, any_label: str) -> rx.Component:
    return native_select(
        name,
        options,
        value,
        id=f"filter-{name}",
        any_label=any_label,
        keyed=False,
        style={"padding": "4px 6px", "minWidth": "120px"},
    )


def transaction_filters() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.hstack(
                rx.input(
                    rx.input.slot(rx.icon("search", size=14)),
                    name="q",
                    id="filter-q",
                    default_value=S.search,
                    placeholder="Reference or customer email starts with…",
                    max_length=100,
                    width="340px",
                    max_width="100%",
                ),
                _select(
                    "status",
                    [(s, s.capitalize()) for s in TRANSACTION_STATUSES],
                    S.status,
                    any_label="Any status",
                ),
                _select("provider", S.providers, S.provider, any_label="Any provider"),
                rx.el.select(
                    rx.el.option("Any currency", value=""),
                    rx.foreach(S.currencies, lambda c: rx.el.option(c, value=c)),
                    name="currency",
                    id="filter-currency",
                    default_value=S.currency,
                    style={"padding": "4px 6px"},
                ),
                spacing="3",
                wrap="wrap",
                align="center",
            ),
            rx.hstack(
                _field(f"From ({S.timezone})", "from", S.date_from, type="datetime-local"),
                _field("Before", "to", S.date_to, type="datetime-local"),
                _field("Amount from", "min", S.amount_min, placeholder="e.g. 10.00", **AMOUNT),
                _field("to", "max", S.amount_max, placeholder="e.g. 250", **AMOUNT),
                rx.button("Apply", type="submit", id="filter-apply", size="2"),
                rx.button(
                    "Clear",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    on_click=S.clear_filters,
                    id="filter-clear",
                    size="2",
                ),
                spacing="3",
                wrap="wrap",
                align="end",
            ),
            form_error(S.filter_error, "filter-error"),
            spacing="3",
            width="100%",
        ),
        on_submit=S.apply_filters,
        reset_on_submit=False,
        key=S.form_key,
        width="100%",
    )


def saved_views() -> rx.Component:
    return rx.hstack(
        rx.text("Saved views:", size="2", color_scheme="gray"),
        rx.foreach(
            S.views,
            lambda v: rx.hstack(
                rx.button(
                    v["name"],
                    size="1",
                    variant="soft",
                    on_click=S.apply_view(v["id"]),
                    class_name="view-apply",
                    title=v["query"],
                ),
                rx.icon_button(
                    rx.icon("x", size=12),
                    size="1",
                    variant="ghost",
                    color_scheme="gray",
                    on_click=S.delete_view(v["id"]),
                    class_name="view-delete",
                    aria_label="Delete view",
                ),
                spacing="0",
                align="center",
                class_name="view-item",
            ),
        ),
        rx.cond(S.views.length() == 0, rx.text("none yet", size="1", color_scheme="gray")),
        rx.spacer(),
        rx.form(
            rx.hstack(
                rx.input(
                    name="view_name",
                    id="view-name",
                    placeholder="Name this view",
                    max_length=60,
                    required=True,
                    size="1",
                ),
                rx.button("Save view", type="submit", size="1", id="view-save"),
                spacing="2",
            ),
            on_submit=S.save_view,
            reset_on_submit=False,
        ),
        rx.cond(S.view_error != "", rx.text(S.view_error, color_scheme="red", size="1")),
        spacing="2",
        align="center",
        wrap="wrap",
        width="100%",
    )
