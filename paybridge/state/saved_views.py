"""Saved views of a payments listing: a name for a query string, kept per merchant, applied
with one click."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.selectors.saved_views import saved_view_get, saved_views
from paybridge.selectors.transactions import TransactionFilters
from paybridge.services.auth import Identity
from paybridge.services.saved_views import saved_view_create, saved_view_delete
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.session import SessionState, in_thread
from paybridge.transaction_query import TransactionQuery, parse_query_string


class SavedViews(SessionState, mixin=True):
    """Mixed into the page state that lists payments: it says in `_listing` what it shows and
    shows a query with `_apply`."""

    views: list[dict[str, str]] = []
    view_error: str = ""

    _route: ClassVar[str]  # the listing's page, where a view's link points

    def _listing(self) -> tuple[TransactionFilters, str]:
        raise NotImplementedError

    def _apply(self, merchant_id: int, query: TransactionQuery) -> EventSpec:
        raise NotImplementedError

    def _load_views(self, merchant_id: int) -> None:
        with read_session() as session:
            rows = saved_views(session=session, merchant_id=merchant_id)
        self.views = [
            {"id": str(v.id), "name": v.name, "query": v.query, "href": f"{self._route}?{v.query}"}
            for v in rows
        ]

    @rx.event
    @in_thread
    @merchant_event
    def save_view(self, found: Identity, form: dict) -> EventSpec | None:
        self.view_error = ""
        try:
            saved_view_create(
                merchant_id=found.merchant_id,
                name=form_text(form, "view_name", max_length=60),
                query=self._listing()[1],
            )
        except DomainError as error:
            self.view_error = error.message
            return None
        self._load_views(found.merchant_id)
        return rx.set_value("view-name", "")

    @rx.event
    @in_thread
    @merchant_event
    def delete_view(self, found: Identity, view_id: str) -> EventSpec | None:
        self.view_error = ""
        try:
            saved_view_delete(merchant_id=found.merchant_id, view_id=_row_id(view_id))
        except DomainError as error:
            self.view_error = error.message
        self._load_views(found.merchant_id)
        return None

    @rx.event
    @in_thread
    @merchant_event
    def apply_view(self, found: Identity, view_id: str) -> EventSpec | None:
        self.view_error = ""
        with read_session() as session:
            view = saved_view_get(
                session=session, merchant_id=found.merchant_id, view_id=_row_id(view_id) or 0
            )
        if view is None:
            self.view_error = "No such view."
            self._load_views(found.merchant_id)
            return None
        try:
            query = parse_query_string(view.query)
        except DomainError as error:
            self.view_error = error.message
            return None
        return self._apply(found.merchant_id, query)


def _row_id(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 10 else None
