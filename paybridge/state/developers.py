"""`/developers`: API keys (created with a name, secret shown once, revoked) and the request log."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session, utcnow
from paybridge.display import format_local
from paybridge.errors import DomainError
from paybridge.selectors.api_keys import api_keys_page
from paybridge.selectors.api_logs import ApiLogFilters, api_logs_page
from paybridge.selectors.pagination import MAX_LIMIT, PageRequest
from paybridge.selectors.users import user_timezone
from paybridge.services.api_keys import api_key_create, api_key_revoke
from paybridge.services.auth import Identity
from paybridge.state.auth import form_text
from paybridge.state.guard import merchant_event
from paybridge.state.paging import CursorPages
from paybridge.state.session import SessionState, in_thread

LOG_PAGE = 25
METHODS = ("any", "GET", "POST", "PATCH", "DELETE")
STATUS_CLASSES = {"any": None, "2xx": 2, "4xx": 4, "5xx": 5}
WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "all": None}


class DevelopersState(CursorPages, SessionState):
    keys: list[dict[str, str]] = []
    new_key_secret: str = ""
    key_error: str = ""
    logs: list[dict[str, str]] = []
    method: str = "any"
    status_class: str = "any"
    path: str = ""
    window: str = "24h"
    base_url: str = ""

    _page_size: ClassVar[int] = LOG_PAGE
    _shown_once: ClassVar[tuple[str, ...]] = ("new_key_secret",)

    def _show(self, merchant_id: int, page: PageRequest | None = None) -> None:
        request = page or PageRequest(limit=LOG_PAGE)
        since = WINDOWS.get(self.window)
        with read_session() as session:
            tz = user_timezone(session=session, merchant_id=merchant_id)
            keys = api_keys_page(
                session=session, merchant_id=merchant_id, page=PageRequest(limit=MAX_LIMIT)
            )
            logs = api_logs_page(
                session=session,
                merchant_id=merchant_id,
                page=request,
                filters=ApiLogFilters(
                    method=None if self.method == "any" else self.method,
                    status_class=STATUS_CLASSES.get(self.status_class),
                    path_contains=self.path or None,
                    created_gte=utcnow() - since if since else None,
                ),
            )
        self.keys = [
            {
                "id": str(k.id),
                "name": k.name or "Unnamed key",
                "masked": f"sk_live_…{k.last4}",
                "created": format_local(k.created_at, tz),
                "last_used": format_local(k.last_used_at, tz) if k.last_used_at else "Never",
            }
            for k in keys.data
        ]
        self.logs = [
            {
                "id": str(log.id),
                "method": log.method,
                "path": log.endpoint,
                "status": str(log.status_code),
                "color": "green"
                if log.status_code < 400
                else "amber"
                if log.status_code < 500
                else "red",
                "ms": f"{log.response_time_ms} ms",
                "time": format_local(log.created_at, tz, seconds=True),
                "when_utc": log.created_at.isoformat(),
            }
            for log in logs.data
        ]
        self._paged(
            request,
            has_more=logs.has_more,
            first=self.logs[0]["id"] if self.logs else "",
            last=self.logs[-1]["id"] if self.logs else "",
        )
        self.base_url = self.router.url.origin + "/api/v1"

    @rx.event
    @in_thread
    def load(self) -> None:
        self.new_key_secret = self.key_error = ""
        found = self._identity()
        if found is not None:
            self._show(found.merchant_id)

    @rx.event
    @in_thread
    @merchant_event
    def create_key(self, found: Identity, form: dict) -> EventSpec | None:
        self.key_error = self.new_key_secret = ""
        try:
            _, secret = api_key_create(
                merchant_id=found.merchant_id, name=form_text(form, "name"), actor=self._actor()
            )
        except DomainError as error:
            self.key_error = error.message
            return None
        self.new_key_secret = secret  # shown once; dismissed below and never loaded again
        self._show(found.merchant_id)
        return rx.set_value("key-name", "")

    @rx.event
    async def dismiss_secret(self) -> None:
        self.new_key_secret = ""

    @rx.event
    @in_thread
    @merchant_event
    def revoke_key(self, found: Identity, key_id: str) -> EventSpec | None:
        self.key_error = ""
        if not isinstance(key_id, str) or not key_id.isdigit() or len(key_id) > 18:
            self.key_error = "No such API key."
            return None
        try:
            api_key_revoke(merchant_id=found.merchant_id, key_id=int(key_id), actor=self._actor())
        except DomainError as error:
            self.key_error = error.message
            return None
        self._show(found.merchant_id)
        return None

    @rx.event
    @in_thread
    @merchant_event
    def filter_logs(self, found: Identity, form: dict) -> EventSpec | None:
        try:
            method = form_text(form, "method", max_length=8) or "any"
            status_class = form_text(form, "status_class", max_length=4) or "any"
            window = form_text(form, "window", max_length=4) or "24h"
            path = form_text(form, "path", max_length=200).strip()
        except DomainError:
            return None
        if method not in METHODS or status_class not in STATUS_CLASSES or window not in WINDOWS:
            return None
        self.method, self.status_class, self.window, self.path = method, status_class, window, path
        self._show(found.merchant_id)
        return None
