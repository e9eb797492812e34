"""`CursorPages`: the Next and Previous events of a cursor-paged list, and the flags that enable
their buttons, once for every page state with such a list."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from paybridge.selectors.pagination import PageRequest
from paybridge.services.auth import Identity
from paybridge.state.guard import merchant_event
from paybridge.state.session import SessionState, in_thread


class CursorPages(SessionState, mixin=True):
    """Mixed into a page state (`class S(CursorPages, SessionState)`: a state whose only state
    base is a mixin is a mixin too). The state sets `_page_size`, shows a page of its list in
    `_show(merchant_id, page)` (the first page when `page` is None) and reports what it read
    to `_paged`. Next is the way the list is sorted (older, or smaller): `starting_after` the
    page's last row; Previous is `ending_before` its first."""

    has_next: bool = False
    has_previous: bool = False

    _page_size: ClassVar[int] = 25
    _page_first: str = ""
    _page_last: str = ""

    def _show(self, merchant_id: int, page: PageRequest | None = None) -> None:
        raise NotImplementedError

    def _paged(self, request: PageRequest, *, has_more: bool, first: str, last: str) -> None:
        """Keep the shown page's ends as the cursors. A page read backwards (`ending_before`)
        reports in `has_more` whether there is more towards the start, and vice versa."""
        self._page_first, self._page_last = first, last
        if request.ending_before is not None:
            self.has_previous, self.has_next = has_more, True
        else:
            self.has_next, self.has_previous = has_more, request.starting_after is not None

    @rx.event
    @in_thread
    @merchant_event
    def next_page(self, found: Identity) -> None:
        if self._page_last:  # no cursor: no page that way
            page = PageRequest(limit=self._page_size, starting_after=self._page_last)
            self._show(found.merchant_id, page)

    @rx.event
    @in_thread
    @merchant_event
    def previous_page(self, found: Identity) -> None:
        if self._page_first:
            page = PageRequest(limit=self._page_size, ending_before=self._page_first)
            self._show(found.merchant_id, page)
