"""Recording an attempt and deciding what follows: done, a retry with backoff, a final
failure, or disabling an endpoint that has failed for too long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import utcnow, write_session
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.models import (
    DeliveryStatus,
    Event,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpointState,
)
from paybridge.models.keys import key
from paybridge.services.deliveries.claims import Claim, deliveries_claim
from paybridge.services.deliveries.fanout import deliveries_fan_out
from paybridge.services.deliveries.policy import DeliveryPolicy
from paybridge.services.deliveries.transport import AttemptResult, send_attempt
from paybridge.services.locks import row_lock

log = logging.getLogger("paybridge.services.deliveries")

LAST_TRIGGERED_PRECISION = 10  # seconds: webhooks.last_triggered_at is not rewritten more often


def attempt_record(
    claim: Claim,
    result: AttemptResult,
    *,
    policy: DeliveryPolicy | None = None,
    now: datetime | None = None,
) -> bool:
    """Write the attempt and schedule what follows. False when the claim was lost (its lease
    ran out and another worker took the delivery over): nothing is written then.

    Locks the delivery row, then, only when the endpoint's failing streak may change (a
    failure, or a success that ends a streak), the endpoint row: failure handling is
    serialised per endpoint while successes to one endpoint record in parallel. The disable
    step only touches unclaimed deliveries, which no recorder holds, so it cannot deadlock.
    """
    policy = policy or DeliveryPolicy.from_env()
    now = now or utcnow()
    with write_session() as session:
        delivery = session.exec(
            select(WebhookDelivery)
            .where(col(WebhookDelivery.id) == claim.delivery_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        ).first()
        if (
            delivery is None
            or delivery.claim_token != claim.token
            or delivery.status != DeliveryStatus.PENDING
        ):
            log.warning("delivery %s: claim lost, attempt not recorded", claim.delivery_id)
            return False
        state = session.get(WebhookEndpointState, delivery.webhook_id)
        lock_endpoint = not result.succeeded or (
            state is not None and state.failing_since is not None
        )
        query = select(Webhook).where(col(Webhook.id) == delivery.webhook_id)
        webhook = session.exec(row_lock(query) if lock_endpoint else query).first()
        if webhook is None:
            return False
        if lock_endpoint:
            state = session.get(WebhookEndpointState, webhook.id, populate_existing=True)
            webhook.last_triggered_at = now
        elif webhook.last_triggered_at is None or now - webhook.last_triggered_at > timedelta(
            seconds=LAST_TRIGGERED_PRECISION
        ):
            session.execute(
                sa.update(Webhook)
                .where(
                    col(Webhook.id) == webhook.id,
                    sa.or_(
                        col(Webhook.last_triggered_at).is_(None),
                        col(Webhook.last_triggered_at)
                        < now - timedelta(seconds=LAST_TRIGGERED_PRECISION),
                    ),
                )
                .values(last_triggered_at=now)
                .execution_options(synchronize_session=False)
            )
        session.add(
            WebhookAttempt(
                delivery_id=key(delivery),
                attempt_number=claim.attempt_number,
                succeeded=result.succeeded,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                response_excerpt=result.response_excerpt,
                error=result.error,
                started_at=result.started_at,
            )
        )
        delivery.attempt_count = claim.attempt_number
        delivery.claim_token = None
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        events: list[Event] = []

        if result.succeeded:
            _finish(delivery, DeliveryStatus.SUCCEEDED, now)
            if state is not None and state.failing_since is not None:
                state.failing_since = None
                session.add(state)
            events.append(
                _delivery_event(session, EventType.WEBHOOK_DELIVERED, delivery, webhook, result)
            )
        elif not webhook.is_active:
            _finish(delivery, DeliveryStatus.FAILED, now)
            events.append(
                _delivery_event(session, EventType.WEBHOOK_FAILED, delivery, webhook, result)
            )
        else:
            if state is None:
                state = WebhookEndpointState(webhook_id=key(webhook))
            if state.failing_since is None:
                state.failing_since = now
            disable = (now - state.failing_since).total_seconds() >= policy.disable_after
            retry_at = now + timedelta(seconds=policy.retry_delay(claim.attempt_number))
            if disable or retry_at > delivery.retry_until:
                _finish(delivery, DeliveryStatus.FAILED, now)
                events.append(
                    _delivery_event(session, EventType.WEBHOOK_FAILED, delivery, webhook, result)
                )
            else:
                delivery.next_attempt_at = retry_at
            if disable:
                events.append(
                    _disable(session, webhook, state, now, delivery_id=key(delivery), result=result)
                )
            session.add(state)
        session.add(delivery)
        commit_and_publish(session, events)
        return True


def _finish(delivery: WebhookDelivery, status: DeliveryStatus, now: datetime) -> None:
    delivery.status = status.value
    delivery.finished_at = now
    delivery.next_attempt_at = None


def _delivery_event(
    session: Session,
    type: EventType,
    delivery: WebhookDelivery,
    webhook: Webhook,
    result: AttemptResult,
) -> Event:
    return record_event(
        session,
        merchant_id=delivery.merchant_id,
        type=type,
        payload={
            "delivery_id": delivery.id,
            "webhook_id": webhook.id,
            "url": webhook.url,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "attempts": delivery.attempt_count,
            "status_code": result.status_code,
            "error": result.error,
        },
    )


def _disable(
    session: Session,
    webhook: Webhook,
    state: WebhookEndpointState,
    now: datetime,
    *,
    delivery_id: int,
    result: AttemptResult,
) -> Event:
    """Turn the endpoint off after failing since `state.failing_since`; its waiting deliveries
    fail now (deliveries claimed by another worker finish as failed when they are recorded)."""
    since = state.failing_since
    reason = f"Failing since {since.isoformat() if since else 'unknown'}: {result.error or ''}"
    webhook.is_active = False
    state.disabled_at = now
    state.disabled_reason = reason[:255]
    state.failing_since = None
    session.execute(
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.webhook_id) == webhook.id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
            col(WebhookDelivery.claim_token).is_(None),
            col(WebhookDelivery.id) != delivery_id,
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            finished_at=now,
            next_attempt_at=None,
            last_error="endpoint disabled",
        )
    )
    return record_event(
        session,
        merchant_id=webhook.merchant_id,
        type=EventType.WEBHOOK_DISABLED,
        payload={
            "webhook_id": webhook.id,
            "url": webhook.url,
            "failing_since": since.isoformat() if since else None,
            "reason": state.disabled_reason,
        },
    )


def deliver_claim(
    claim: Claim, *, client: httpx.Client, policy: DeliveryPolicy | None = None
) -> AttemptResult:
    """Send one claimed attempt and record it."""
    policy = policy or DeliveryPolicy.from_env()
    result = send_attempt(claim, client=client, policy=policy)
    attempt_record(claim, result, policy=policy)
    return result


def deliveries_run_once(
    *, client: httpx.Client, policy: DeliveryPolicy | None = None, limit: int = 100
) -> int:
    """Fan out, then send every due delivery one after another (tests, simple scripts).
    Returns the number of attempts made."""
    policy = policy or DeliveryPolicy.from_env()
    while deliveries_fan_out(policy=policy).more:
        pass
    claims = deliveries_claim(limit=limit, policy=policy)
    for claim in claims:
        deliver_claim(claim, client=client, policy=policy)
    return len(claims)
