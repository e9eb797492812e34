"""Webhook delivery reads: the delivery log with its attempts, one delivery in full, each
endpoint's delivery state, and the 24-hour delivery rate for the dashboard's system health.
Every function is scoped to `merchant_id`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import utcnow
from paybridge.events.wire import webhook_body
from paybridge.models import (
    DeliveryStatus,
    Event,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpointState,
)
from paybridge.models.keys import key
from paybridge.selectors.ratios import ratio_bp


@dataclass(frozen=True)
class AttemptRow:
    attempt_number: int
    started_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None
    error: str | None
    response_excerpt: str


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    webhook_id: int
    url: str
    event_id: int
    event_type: str
    status: str  # pending | succeeded | failed
    attempt_count: int
    next_attempt_at: datetime | None  # the next (re)try while pending
    created_at: datetime
    finished_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: tuple[AttemptRow, ...]  # oldest first; empty unless asked for


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: DeliveryRow
    body: str  # the JSON body as sent ({id, type, created, data}), pretty-printed


@dataclass(frozen=True)
class DeliveryRate:
    succeeded: int  # deliveries that finished successfully in the window
    failed: int  # deliveries that finished failed (retries exhausted / endpoint disabled)
    retrying: int  # created in the window, still pending
    rate: float | None  # succeeded / (succeeded + failed); None when nothing finished

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class EndpointState:
    webhook_id: int
    is_active: bool
    disabled_at: datetime | None  # set when PayBridge disabled it for failing (and still off)
    disabled_reason: str | None
    failing_since: datetime | None  # start of the current run of failed attempts
    previous_secret_valid_until: datetime | None  # while a rolled secret still signs
    pending: int  # deliveries waiting for an attempt or a retry


def _attempts_by_delivery(
    session: Session, delivery_ids: list[int]
) -> dict[int, tuple[AttemptRow, ...]]:
    grouped: dict[int, list[AttemptRow]] = {}
    if not delivery_ids:
        return {}
    for attempt in session.exec(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
        .order_by(col(WebhookAttempt.delivery_id), col(WebhookAttempt.attempt_number))
    ).all():
        grouped.setdefault(attempt.delivery_id, []).append(
            AttemptRow(
                attempt_number=attempt.attempt_number,
                started_at=attempt.started_at,
                duration_ms=attempt.duration_ms,
                succeeded=attempt.succeeded,
                status_code=attempt.status_code,
                error=attempt.error,
                response_excerpt=attempt.response_excerpt,
            )
        )
    return {k: tuple(v) for k, v in grouped.items()}


def _row(delivery: WebhookDelivery, url: str, attempts: tuple[AttemptRow, ...] = ()) -> DeliveryRow:
    return DeliveryRow(
        id=key(delivery),
        webhook_id=delivery.webhook_id,
        url=url,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        next_attempt_at=(
            delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None
        ),
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        attempts=attempts,
    )


def delivery_log(
    *,
    session: Session,
    merchant_id: int,
    webhook_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
    with_attempts: bool = True,
) -> list[DeliveryRow]:
    """Newest deliveries first, optionally of one endpoint or one status; page with
    `before_id` = the last row's id. Attempts are loaded in one extra query."""
    limit = max(1, min(int(limit), 500))
    query = (
        select(WebhookDelivery, Webhook.url)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .where(col(WebhookDelivery.merchant_id) == merchant_id)
    )
    if webhook_id is not None:
        query = query.where(col(WebhookDelivery.webhook_id) == webhook_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    if before_id is not None:
        query = query.where(col(WebhookDelivery.id) < before_id)
    rows = session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit)).all()
    attempts = _attempts_by_delivery(session, [key(d) for d, _ in rows]) if with_attempts else {}
    return [_row(d, url, attempts.get(key(d), ())) for d, url in rows]


def delivery_detail(
    *, session: Session, merchant_id: int, delivery_id: int
) -> DeliveryDetail | None:
    """One delivery with every attempt and the body it sends."""
    found = session.exec(
        select(WebhookDelivery, Webhook.url, Event)
        .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(
            col(WebhookDelivery.id) == delivery_id, col(WebhookDelivery.merchant_id) == merchant_id
        )
    ).first()
    if found is None:
        return None
    delivery, url, event = found
    body = json.dumps(json.loads(webhook_body(event)), indent=2, ensure_ascii=False)
    attempts = _attempts_by_delivery(session, [key(delivery)]).get(key(delivery), ())
    return DeliveryDetail(delivery=_row(delivery, url, attempts), body=body)


def webhook_delivery_rate(
    *, session: Session, merchant_id: int, now: datetime | None = None, hours: int = 24
) -> DeliveryRate:
    """Successful / finished deliveries over the last `hours` (by when they finished)."""
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    finished = dict(
        session.exec(
            select(WebhookDelivery.status, sa.func.count())
            .where(
                col(WebhookDelivery.merchant_id) == merchant_id,
                col(WebhookDelivery.finished_at) >= since,
                col(WebhookDelivery.finished_at) <= now,
            )
            .group_by(col(WebhookDelivery.status))
        ).all()
    )
    retrying = session.exec(
        select(sa.func.count())
        .select_from(WebhookDelivery)
        .where(
            col(WebhookDelivery.merchant_id) == merchant_id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
            col(WebhookDelivery.created_at) >= since,
        )
    ).one()
    succeeded = int(finished.get(DeliveryStatus.SUCCEEDED.value, 0))
    failed = int(finished.get(DeliveryStatus.FAILED.value, 0))
    total = succeeded + failed
    return DeliveryRate(
        succeeded=succeeded,
        failed=failed,
        retrying=int(retrying),
        rate=succeeded / total if total else None,
    )


def delivery_rate_bp(
    *, session: Session, merchant_id: int, now: datetime | None = None
) -> int | None:
    """The 24-hour delivery rate in basis points (10000 = 100 %), rounded half up; None when
    no delivery finished in the last 24 hours. For the dashboard's system health."""
    rate = webhook_delivery_rate(session=session, merchant_id=merchant_id, now=now)
    return ratio_bp(rate.succeeded, rate.finished)


def endpoint_states(
    *, session: Session, merchant_id: int, now: datetime | None = None
) -> dict[int, EndpointState]:
    """Delivery state of every endpoint of the merchant, by webhook id."""
    now = now or utcnow()
    hooks = session.exec(
        select(Webhook, WebhookEndpointState)
        .join(
            WebhookEndpointState,
            col(WebhookEndpointState.webhook_id) == col(Webhook.id),
            isouter=True,
        )
        .where(col(Webhook.merchant_id) == merchant_id)
    ).all()
    pending = dict(
        session.exec(
            select(WebhookDelivery.webhook_id, sa.func.count())
            .where(
                col(WebhookDelivery.merchant_id) == merchant_id,
                col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
            )
            .group_by(col(WebhookDelivery.webhook_id))
        ).all()
    )
    out: dict[int, EndpointState] = {}
    for hook, state in hooks:
        rolled_until = None
        if (
            state is not None
            and state.previous_secret
            and state.previous_secret_expires_at
            and state.previous_secret_expires_at > now
        ):
            rolled_until = state.previous_secret_expires_at
        disabled = state is not None and state.disabled_at is not None and not hook.is_active
        hook_id = key(hook)
        out[hook_id] = EndpointState(
            webhook_id=hook_id,
            is_active=hook.is_active,
            disabled_at=state.disabled_at if disabled else None,
            disabled_reason=state.disabled_reason if disabled else None,
            failing_since=state.failing_since if state is not None else None,
            previous_secret_valid_until=rolled_until,
            pending=int(pending.get(hook_id, 0)),
        )
    return out
