"""Claiming due deliveries: each attempt is leased to one worker, with everything needed to
send it without the database."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select

from paybridge.db import read_session, utcnow, write_session
from paybridge.events.wire import webhook_body
from paybridge.models import DeliveryStatus, Event, Webhook, WebhookDelivery, WebhookEndpointState
from paybridge.models.keys import key
from paybridge.services.deliveries.policy import DeliveryPolicy
from paybridge.services.deliveries.signing import signing_secrets


@dataclass(frozen=True)
class Claim:
    """One attempt a worker has reserved: everything needed to send it without the database."""

    delivery_id: int
    attempt_number: int
    token: str
    webhook_id: int
    merchant_id: int
    url: str
    event_id: int
    event_type: str
    body: bytes = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)


def deliveries_claim(
    *, limit: int, policy: DeliveryPolicy | None = None, now: datetime | None = None
) -> list[Claim]:
    """Reserve up to `limit` due deliveries of active endpoints for this caller.

    The rows are selected `FOR UPDATE SKIP LOCKED` (PostgreSQL) and leased: `next_attempt_at`
    moves `policy.lease` seconds ahead and a fresh `claim_token` is set, in one short
    transaction. Another worker skips rows being claimed and does not see leased rows as due,
    so one attempt is sent by one worker; the lease ends a dead worker's claim.
    """
    if limit <= 0:
        return []
    policy = policy or DeliveryPolicy.from_env()
    now = now or utcnow()
    with read_session() as session:  # idle polls stay read-only
        due = session.exec(
            select(col(WebhookDelivery.id))
            .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
            .where(
                col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                col(WebhookDelivery.next_attempt_at) <= now,
                col(Webhook.is_active),
            )
            .limit(1)
        ).first()
    if due is None:
        return []
    with write_session() as session:
        rows = list(
            session.exec(
                select(WebhookDelivery)
                .join(Webhook, col(Webhook.id) == col(WebhookDelivery.webhook_id))
                .where(
                    col(WebhookDelivery.status) == DeliveryStatus.PENDING.value,
                    col(WebhookDelivery.next_attempt_at) <= now,
                    col(Webhook.is_active),
                )
                .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
                .limit(limit)
                .with_for_update(skip_locked=True, key_share=True, of=WebhookDelivery)
            ).all()
        )
        if not rows:
            return []
        token = secrets.token_hex(16)
        lease_end = now + timedelta(seconds=policy.lease)
        for row in rows:
            row.claim_token = token
            row.next_attempt_at = lease_end
            session.add(row)
        hook_ids = {r.webhook_id for r in rows}
        hooks = {
            h.id: h
            for h in session.exec(select(Webhook).where(col(Webhook.id).in_(hook_ids))).all()
        }
        states = {
            s.webhook_id: s
            for s in session.exec(
                select(WebhookEndpointState).where(
                    col(WebhookEndpointState.webhook_id).in_(hook_ids)
                )
            ).all()
        }
        events = {
            e.id: e
            for e in session.exec(
                select(Event).where(col(Event.id).in_({r.event_id for r in rows}))
            ).all()
        }
        claims = [
            Claim(
                delivery_id=key(row),
                attempt_number=row.attempt_count + 1,
                token=token,
                webhook_id=row.webhook_id,
                merchant_id=row.merchant_id,
                url=hooks[row.webhook_id].url,
                event_id=row.event_id,
                event_type=row.event_type,
                body=webhook_body(events[row.event_id]),
                secrets=signing_secrets(hooks[row.webhook_id], states.get(row.webhook_id), now),
            )
            for row in rows
        ]
        session.commit()
        return claims
