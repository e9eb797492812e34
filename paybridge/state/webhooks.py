"""`/webhooks`: endpoints (create, event types, enable/disable, roll secret, test, delete) and
the delivery log with attempts and resend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import reflex as rx
from reflex.event import EventSpec

from paybridge.db import read_session
from paybridge.display import format_local
from paybridge.errors import DomainError
from paybridge.selectors.deliveries import delivery_log, endpoint_states
from paybridge.selectors.pagination import MAX_LIMIT, PageRequest
from paybridge.selectors.users import user_timezone
from paybridge.selectors.webhooks import webhooks_page
from paybridge.services.deliveries import (
    webhook_delivery_resend,
    webhook_roll_secret,
    webhook_send_test,
)
from paybridge.services.webhooks import (
    ALL_EVENTS,
    EVENT_TYPES,
    webhook_create,
    webhook_delete,
    webhook_update,
)
from paybridge.state.auth import form_text
from paybridge.state.session import SessionState, in_thread
from paybridge.views.labels import DELIVERY_COLORS

LOG_SIZE = 30
DELIVERY_STATUSES = ("all", "pending", "succeeded", "failed")


def _id(value: object) -> int:
    """A row id from the browser: digits only, or refused."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 2**31:
        return int(value)
    raise DomainError("not_found", "No such webhook.")


def _chosen_types(form: dict) -> list[str]:
    """Checked boxes arrive as `type:<name>` fields; 'all' wins."""
    if not isinstance(form, dict):
        raise DomainError("invalid_request", "Malformed form.")
    if form.get("all_events") in ("on", True):
        return [ALL_EVENTS]
    return [t for t in EVENT_TYPES if form.get(f"type:{t}") in ("on", True)]


STATUS_COLORS = {"active": "green", "failing": "amber", "disabled": "gray"}


def _when(moment, tz: str, default: str = "") -> str:  # type: ignore[no-untyped-def]
    return format_local(moment, tz, seconds=True) if moment else default


def _endpoint_row(hook, state, tz: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if not hook.is_active:
        status = "disabled"
    else:
        status = "failing" if state and state.failing_since else "active"
    detail = ""
    if state and state.disabled_at:
        detail = f"Disabled {_when(state.disabled_at, tz)}: {state.disabled_reason}"
    elif state and state.failing_since:
        detail = f"Failing since {_when(state.failing_since, tz)}"
    rolling = state.previous_secret_valid_until if state else None
    return {
        "id": str(hook.id),
        "url": hook.url,
        "types": "all events" if hook.event_types == [ALL_EVENTS] else ", ".join(hook.event_types),
        "status": status,
        "color": STATUS_COLORS[status],
        "detail": detail,
        "rolling": f"Old secret signs until {_when(rolling, tz)}" if rolling else "",
        "pending": str(state.pending if state else 0),
        "last": _when(hook.last_triggered_at, tz, "never"),
        "toggle": "Enable" if not hook.is_active else "Disable",
    }


@dataclass
class AttemptView:
    n: str
    at: str
    result: str
    ok: bool
    ms: str
    error: str
    excerpt: str


@dataclass
class DeliveryView:
    id: str
    url: str
    event: str
    status: str
    color: str
    attempts: str
    last: str
    next: str
    created: str
    tries: list[AttemptView] = field(default_factory=list)


def _delivery_row(d, tz: str) -> DeliveryView:  # type: ignore[no-untyped-def]
    last = f"HTTP {d.last_status_code}" if d.last_status_code is not None else d.last_error
    return DeliveryView(
        id=str(d.id),
        url=d.url,
        event=f"{d.event_type} · evt_{d.event_id}",
        status=d.status,
        color=DELIVERY_COLORS.get(d.status, "gray"),
        attempts=str(d.attempt_count),
        last=last or "—",
        next=_when(d.next_attempt_at, tz),
        created=_when(d.created_at, tz),
        tries=[
            AttemptView(
                n=str(a.attempt_number),
                at=_when(a.started_at, tz),
                result=f"HTTP {a.status_code}" if a.status_code is not None else "no response",
                ok=a.succeeded,
                ms=f"{a.duration_ms} ms",
                error=a.error or "",
                excerpt=a.response_excerpt[:200],
            )
            for a in d.attempts
        ],
    )


class WebhooksState(SessionState):
    endpoints: list[dict[str, str]] = []
    deliveries: list[DeliveryView] = []
    secret: str = ""
    secret_for: str = ""
    error: str = ""
    notice: str = ""
    log_status: str = "all"
    log_endpoint: str = "all"
    has_older: bool = False

    _before_id: int | None = None
    _shown_once: ClassVar[tuple[str, ...]] = ("secret", "secret_for")

    def _show(self, merchant_id: int) -> None:
        with read_session() as session:
            tz = user_timezone(session=session, merchant_id=merchant_id)
            hooks = webhooks_page(
                session=session, merchant_id=merchant_id, page=PageRequest(limit=MAX_LIMIT)
            ).data
            states = endpoint_states(session=session, merchant_id=merchant_id)
            rows = delivery_log(
                session=session,
                merchant_id=merchant_id,
                webhook_id=None if self.log_endpoint == "all" else int(self.log_endpoint),
                status=None if self.log_status == "all" else self.log_status,
                limit=LOG_SIZE + 1,
                before_id=self._before_id,
            )
        self.endpoints = [
            _endpoint_row(hook, None if hook.id is None else states.get(hook.id), tz)
            for hook in hooks
        ]
        self.has_older = len(rows) > LOG_SIZE
        self.deliveries = [_delivery_row(d, tz) for d in rows[:LOG_SIZE]]

    def _run(self, action) -> EventSpec | None:  # type: ignore[no-untyped-def]
        """Check the session, run one service call, show its error or refresh."""
        found = self._identity()
        if found is None:
            return self._login_redirect()
        self.error = self.notice = ""
        try:
            message = action(found.merchant_id)
        except DomainError as error:
            self.error = error.message
            return None
        self.notice = message or ""
        self._show(found.merchant_id)
        return None

    @rx.event
    @in_thread
    def load(self) -> None:
        self.secret = self.secret_for = self.error = self.notice = ""
        self._before_id = None
        found = self._identity()
        if found is not None:
            self._show(found.merchant_id)

    @rx.event
    @in_thread
    def create(self, form: dict) -> EventSpec | None:
        def action(merchant_id: int) -> str:
            hook, secret = webhook_create(
                merchant_id=merchant_id,
                url=form_text(form, "url", max_length=2048).strip(),
                event_types=_chosen_types(form),
                actor=self._actor(),
            )
            self.secret, self.secret_for = secret, hook.url
            return "Endpoint added."

        return self._run(action)

    @rx.event
    @in_thread
    def set_types(self, webhook_id: str, form: dict) -> EventSpec | None:
        return self._run(
            lambda m: (
                webhook_update(
                    merchant_id=m,
                    webhook_id=_id(webhook_id),
                    event_types=_chosen_types(form),
                    actor=self._actor(),
                )
                and "Event types saved."
            )
        )

    @rx.event
    @in_thread
    def toggle(self, webhook_id: str) -> EventSpec | None:
        def action(merchant_id: int) -> str:
            hook_id = _id(webhook_id)
            current = next((e for e in self.endpoints if e["id"] == str(hook_id)), None)
            enable = current is not None and current["status"] == "disabled"
            webhook_update(
                merchant_id=merchant_id, webhook_id=hook_id, is_active=enable, actor=self._actor()
            )
            return "Endpoint enabled." if enable else "Endpoint disabled."

        return self._run(action)

    @rx.event
    @in_thread
    def roll(self, webhook_id: str) -> EventSpec | None:
        def action(merchant_id: int) -> str:
            hook, secret = webhook_roll_secret(
                merchant_id=merchant_id, webhook_id=_id(webhook_id), actor=self._actor()
            )
            self.secret, self.secret_for = secret, hook.url
            return "New secret issued; the old one keeps signing for 24 hours."

        return self._run(action)

    @rx.event
    @in_thread
    def send_test(self, webhook_id: str) -> EventSpec | None:
        return self._run(
            lambda m: (
                webhook_send_test(merchant_id=m, webhook_id=_id(webhook_id), actor=self._actor())
                and "Test event queued."
            )
        )

    @rx.event
    @in_thread
    def delete(self, webhook_id: str) -> EventSpec | None:
        def action(merchant_id: int) -> str:
            webhook_delete(merchant_id=merchant_id, webhook_id=_id(webhook_id), actor=self._actor())
            return "Endpoint deleted."

        return self._run(action)

    @rx.event
    @in_thread
    def resend(self, delivery_id: str) -> EventSpec | None:
        return self._run(
            lambda m: (
                webhook_delivery_resend(
                    merchant_id=m, delivery_id=_id(delivery_id), actor=self._actor()
                )
                and "Delivery queued again."
            )
        )

    @rx.event
    async def dismiss_secret(self) -> None:
        self.secret = self.secret_for = ""

    @rx.event
    @in_thread
    def filter_log(self, form: dict) -> EventSpec | None:
        def action(merchant_id: int) -> None:
            status = form_text(form, "status", max_length=10) or "all"
            endpoint = form_text(form, "endpoint", max_length=12) or "all"
            if status not in DELIVERY_STATUSES:
                raise DomainError("invalid_request", "Unknown delivery status.")
            if endpoint != "all":
                endpoint = str(_id(endpoint))
            self.log_status, self.log_endpoint, self._before_id = status, endpoint, None

        return self._run(action)

    @rx.event
    @in_thread
    def older(self) -> EventSpec | None:
        def action(merchant_id: int) -> None:
            if self.deliveries:
                self._before_id = int(self.deliveries[-1].id)

        return self._run(action)

    @rx.event
    @in_thread
    def newest(self) -> EventSpec | None:
        def action(merchant_id: int) -> None:
            self._before_id = None

        return self._run(action)
