"""`/transactions`: search, filters, sorting and cursor pages over the merchant's payments, with
the filters in the URL, saved views, a live "N new payments" banner and a streamed CSV export.

The filters live in the URL's query string (`paybridge.transaction_query`, shared with saved
views and the export route): `load` reads them from the URL, and every change writes the
canonical query string back with `history.replaceState`, so a view can be bookmarked, shared
and reloaded.

Stable pages: a listing is pinned to the newest payment id that existed when it was (re)loaded
(`_snapshot`). Pages are keyset pages of that fixed set, so rows never jump while payments
arrive; the banner counts the matching payments newer than the snapshot and "Show" moves the
snapshot forward.

Live count (`listen`, state/live_tab.py, paced by `TransactionsPace`): the tab follows the
merchant's events on the bus, as the dashboard does. Event payloads update the status of visible
rows at once; the count itself is re-read from the database (one indexed count of ids above the
snapshot, capped), at most every NEW_COUNT_INTERVAL while events arrive and every
RECONCILE_INTERVAL anyway, because only the database can say whether a payment matches every
filter (a pending payment may succeed later). Idle pages cost nothing but the subscription.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import replace
from typing import Any, ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.selectors.analytics import merchant_currencies, provider_choices
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.transactions import (
    TransactionFilters,
    latest_transaction_id,
    transactions_count,
    transactions_page,
)
from paybridge.selectors.users import user_timezone
from paybridge.services.auth import Identity
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.live_tab import LiveTab, Pace
from paybridge.state.paging import CursorPages
from paybridge.state.saved_views import SavedViews
from paybridge.state.session import SessionState, in_thread
from paybridge.state.transaction_export import TransactionExport
from paybridge.transaction_query import (
    PARAMS,
    TransactionQuery,
    parse_query,
    with_changes,
)
from paybridge.views.transactions import (
    ROUTE,
    TransactionListRow,
    new_label,
    rows_with_events,
    total_label,
    transaction_list_row,
)

PAGE_SIZE = 25
NEW_COUNT_CAP = 1000  # the banner says "1,000+" beyond this
NEW_COUNT_INTERVAL = 1.0  # seconds between recounts while events arrive
RECONCILE_INTERVAL = 15.0  # recount anyway, in case a bus message was lost


class TransactionsState(LiveTab, CursorPages, SavedViews, TransactionExport, SessionState):
    # The filters, display-ready ("" = not set); also the form's default values.
    search: str = ""
    status: str = ""
    provider: str = ""
    currency: str = ""
    date_from: str = ""
    date_to: str = ""
    amount_min: str = ""
    amount_max: str = ""
    sort: str = "created_desc"
    query_string: str = ""
    filter_error: str = ""
    form_key: int = 0  # bumps to re-mount the form with new default values

    providers: list[list[str]] = []  # [code, name]
    currencies: list[str] = []
    timezone: str = "UTC"

    rows: list[TransactionListRow] = []
    total_label: str = ""
    new_count: int = 0
    new_label: str = ""

    _page_size: ClassVar[int] = PAGE_SIZE
    _route: ClassVar[str] = ROUTE
    _snapshot: int = 0

    # ----- helpers -------------------------------------------------------------------------

    def _query(self) -> TransactionQuery:
        return TransactionQuery(
            search=self.search,
            status=self.status,
            provider=self.provider,
            currency=self.currency,
            date_from=self.date_from,
            date_to=self.date_to,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            sort=self.sort,
        )

    def _set_query(self, query: TransactionQuery) -> None:
        for name, value in query.as_dict().items():
            setattr(self, name, value)
        self.query_string = query.to_query_string()
        self.form_key += 1

    def _listing(self) -> tuple[TransactionFilters, str]:
        return self._filters(), self.query_string

    def _filters(self) -> TransactionFilters:
        return replace(self._query().to_filters(self.timezone), snapshot_id=self._snapshot)

    def _url_script(self) -> EventSpec:
        target = ROUTE + (f"?{self.query_string}" if self.query_string else "")
        return rx.call_script(f"window.history.replaceState(null, '', {json.dumps(target)})")

    def _show(self, merchant_id: int, page: PageRequest | None = None) -> None:
        """Read one page of the pinned listing (the first when `page` is None)."""
        request = page or PageRequest(limit=PAGE_SIZE)
        filters = self._filters()
        with read_session() as session:
            result = transactions_page(
                session=session,
                merchant_id=merchant_id,
                page=request,
                filters=filters,
                sort=self.sort,
            )
            total = transactions_count(session=session, merchant_id=merchant_id, filters=filters)
        self.rows = [transaction_list_row(r, self.timezone) for r in result.data]
        self._paged(
            request,
            has_more=result.has_more,
            first=result.data[0].reference if result.data else "",
            last=result.data[-1].reference if result.data else "",
        )
        self.total_label = total_label(total)

    def _reset_listing(self, merchant_id: int) -> None:
        """Pin the listing to now and show its first page."""
        with read_session() as session:
            self._snapshot = latest_transaction_id(session=session)
        self.new_count, self.new_label = 0, ""
        self._show(merchant_id)

    def _count_new(self, merchant_id: int) -> None:
        with read_session() as session:
            count = transactions_count(
                session=session,
                merchant_id=merchant_id,
                filters=replace(self._filters(), snapshot_id=None),
                after_id=self._snapshot,
                limit=NEW_COUNT_CAP,
            )
        self.new_count, self.new_label = count, new_label(count, NEW_COUNT_CAP)

    def _load_context(self, merchant_id: int) -> None:
        with read_session() as session:
            self.timezone = user_timezone(session=session, merchant_id=merchant_id)
            self.providers = [[code, name] for code, name in provider_choices(session=session)]
            used = merchant_currencies(session=session, merchant_id=merchant_id)
        self.currencies = used or ["USD"]
        self._load_views(merchant_id)

    def _apply(self, merchant_id: int, query: TransactionQuery) -> EventSpec:
        self.filter_error = ""
        self._set_query(query)
        self._reset_listing(merchant_id)
        return self._url_script()

    # ----- page events ---------------------------------------------------------------------

    @rx.event
    @in_thread
    def load(self) -> EventSpec | None:
        self.filter_error = self.view_error = self.export_message = ""
        self.exporting = False
        found = self._identity()
        if found is None:
            return None
        self._load_context(found.merchant_id)
        params = dict(self.router.url.query_parameters)
        try:
            query = parse_query({k: params[k] for k in PARAMS if k in params})
        except DomainError as error:
            query = TransactionQuery()
            self.filter_error = f"{error.message} The filters in the link were ignored."
        self._set_query(query)
        self._reset_listing(found.merchant_id)
        return TransactionsState.listen

    @rx.event
    @in_thread
    @merchant_event
    def apply_filters(self, found: Identity, form: dict) -> EventSpec | None:
        try:
            fields = {
                param: form_text(form, param, max_length=200) for param in PARAMS if param != "sort"
            }
            query = parse_query({**fields, "sort": self.sort})
        except DomainError as error:
            self.filter_error = error.message
            return None
        return self._apply(found.merchant_id, query)

    @rx.event
    @in_thread
    @merchant_event
    def clear_filters(self, found: Identity) -> EventSpec | None:
        return self._apply(found.merchant_id, TransactionQuery(sort=self.sort))

    @rx.event
    @in_thread
    @merchant_event
    def sort_by(self, found: Identity, key: str) -> EventSpec | None:
        """Click on a sortable column: newest/largest first, a second click reverses it."""
        if key not in ("created", "amount"):
            return None
        sort = f"{key}_asc" if self.sort == f"{key}_desc" else f"{key}_desc"
        try:
            query = with_changes(self._query(), sort=sort)
        except DomainError as error:
            self.filter_error = error.message
            return None
        return self._apply(found.merchant_id, query)

    @rx.event
    @in_thread
    @merchant_event
    def show_new(self, found: Identity) -> EventSpec | None:
        self._reset_listing(found.merchant_id)
        return None

    # ----- live ----------------------------------------------------------------------------

    def _pace(self, merchant_id: int) -> TransactionsPace:
        return TransactionsPace(merchant_id)

    def _update_rows(self, messages: list[dict[str, Any]]) -> None:
        """Status and refunds of visible rows change in place; no row is added or moved."""
        if messages and self.rows:
            rows = rows_with_events(self.rows, messages)
            if rows is not None:
                self.rows = rows


class TransactionsPace(Pace[TransactionsState]):
    """Event payloads update the visible rows at once; the new payments are recounted at most
    every NEW_COUNT_INTERVAL while payments arrive and every RECONCILE_INTERVAL anyway, the first
    time at once (anything committed before subscribing). A failed push (PostgreSQL or Redis
    down) is tried again a second later, as on the dashboard: the page stays live."""

    retry = 1.0

    def __init__(self, merchant_id: int) -> None:
        self.merchant_id = merchant_id
        self.last_count, self.dirty = -math.inf, False  # never counted: a count is due now
        self.payments: list[dict[str, Any]] = []  # the last batch's payment events
        self.recount = False  # what `due` found

    def wait(self, now: float) -> float:
        return 0.0 if self.last_count == -math.inf else NEW_COUNT_INTERVAL

    def hear(self, batch: list[dict[str, Any]]) -> None:
        self.payments = [m for m in batch if m.get("type", "").startswith("transaction.")]
        self.dirty = self.dirty or bool(self.payments)

    def due(self, now: float) -> bool:
        self.recount = (self.dirty and now - self.last_count >= NEW_COUNT_INTERVAL) or (
            now - self.last_count >= RECONCILE_INTERVAL
        )
        return bool(self.payments) or self.recount

    async def push(self, state: TransactionsState, now: float) -> None:
        state._update_rows(self.payments)
        if self.recount:
            await asyncio.to_thread(state._count_new, self.merchant_id)
            self.last_count, self.dirty = now, False
            if not state.live:
                state.live = True
