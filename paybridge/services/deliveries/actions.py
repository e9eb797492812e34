"""What a merchant does to deliveries and endpoints: resend one, send a test event, roll the
signing secret."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from paybridge.db import retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEndpointState
from paybridge.models.keys import key
from paybridge.permissions import Action, Actor, authorize
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.deliveries.policy import DeliveryPolicy
from paybridge.services.webhooks import new_webhook_secret

SECRET_OVERLAP = timedelta(hours=24)


def _merchant_webhook(session: Session, merchant_id: int, webhook_id: object) -> Webhook:
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int):
        raise DomainError("invalid_request", "webhook_id must be an integer.", param="webhook_id")
    webhook = session.exec(
        select(Webhook)
        .where(col(Webhook.id) == webhook_id, col(Webhook.merchant_id) == merchant_id)
        .with_for_update(key_share=True)
    ).first()
    if webhook is None:
        raise DomainError("not_found", "No such webhook endpoint.", param="webhook_id")
    return webhook


def webhook_delivery_resend(
    *, merchant_id: int, delivery_id: int, actor: Actor | None = None
) -> WebhookDelivery:
    """Send a delivery again now (one more attempt; a failed delivery gets no automatic
    retries after a failed resend). Refused while an attempt is in flight or the endpoint is
    disabled."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        raise DomainError("invalid_request", "delivery_id must be an integer.", param="delivery_id")
    now = utcnow()
    with write_session() as session:
        delivery = session.exec(
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.merchant_id) == merchant_id,
            )
            .with_for_update(key_share=True)
        ).first()
        if delivery is None:
            raise DomainError("not_found", "No such delivery.", param="delivery_id")
        webhook = session.get(Webhook, delivery.webhook_id)
        if webhook is None or not webhook.is_active:
            raise DomainError(
                "webhook_disabled", "Enable the endpoint before resending.", param="delivery_id"
            )
        if (
            delivery.claim_token is not None
            and delivery.next_attempt_at is not None
            and delivery.next_attempt_at > now
        ):
            raise DomainError(
                "delivery_in_progress",
                "This delivery is being attempted right now.",
                param="delivery_id",
            )
        if delivery.status != DeliveryStatus.PENDING:
            delivery.retry_until = now  # a finished delivery gets exactly one more attempt
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = now
        delivery.finished_at = None
        delivery.claim_token = None
        session.add(delivery)
        session.commit()
        return delivery


def webhook_send_test(
    *, merchant_id: int, webhook_id: int, actor: Actor | None = None
) -> WebhookDelivery:
    """Send a `webhook.test` event to one endpoint (whatever types it subscribes to). The event
    shows in the feed; the delivery is in the log like any other."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    now = utcnow()
    policy = DeliveryPolicy.from_env()
    with write_session() as session:
        webhook = _merchant_webhook(session, merchant_id, webhook_id)
        if not webhook.is_active:
            raise DomainError(
                "webhook_disabled", "Enable the endpoint before testing it.", param="webhook_id"
            )
        event = record_event(
            session,
            merchant_id=merchant_id,
            type=EventType.WEBHOOK_TEST,
            payload={
                "webhook_id": webhook.id,
                "url": webhook.url,
                "message": "A test event from PayBridge.",
            },
        )
        session.flush()
        delivery = WebhookDelivery(
            merchant_id=merchant_id,
            webhook_id=key(webhook),
            event_id=key(event),
            event_type=event.type,
            next_attempt_at=now,
            retry_until=now + timedelta(seconds=policy.retry_window),
            created_at=now,
        )
        session.add(delivery)
        commit_and_publish(session, [event])
        return delivery


@retry_on_contention
def webhook_roll_secret(
    *,
    merchant_id: int,
    webhook_id: int,
    overlap: timedelta = SECRET_OVERLAP,
    now: datetime | None = None,
    actor: Actor | None = None,
) -> tuple[Webhook, str]:
    """Give the endpoint a new secret; the old one keeps signing (as a second `v1`) for
    `overlap` (24 hours). Rolling again during an overlap drops the oldest secret. Returns the
    endpoint and the new secret, to show once."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    if overlap < timedelta(0) or overlap > timedelta(days=7):
        raise DomainError("invalid_request", "overlap is 0 to 7 days.", param="overlap")
    now = now or utcnow()
    secret = new_webhook_secret()
    with write_session() as session:
        webhook = _merchant_webhook(session, merchant_id, webhook_id)
        state = session.get(WebhookEndpointState, webhook.id, with_for_update={"key_share": True})
        if state is None:
            state = WebhookEndpointState(webhook_id=key(webhook))
        state.previous_secret = webhook.secret if overlap > timedelta(0) else None
        state.previous_secret_expires_at = now + overlap if overlap > timedelta(0) else None
        webhook.secret = secret
        session.add(state)
        session.add(webhook)
        audit_record(
            session,
            actor=actor,
            action=AuditAction.WEBHOOK_SECRET_ROLLED,
            target=webhook.url,
            details={"id": webhook.id},
        )
        session.commit()
        return webhook, secret
