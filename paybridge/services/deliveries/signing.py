"""Which secrets sign an attempt (the current one, and the previous one while a roll's overlap
lasts) and the signed headers it is sent with (format: paybridge/webhook_signature.py)."""

from __future__ import annotations

from datetime import datetime

from paybridge.models import Webhook, WebhookEndpointState
from paybridge.webhook_signature import SIGNATURE_HEADER, sign

USER_AGENT = "PayBridge-Webhooks/1.0"


def signing_secrets(
    webhook: Webhook, state: WebhookEndpointState | None, now: datetime
) -> tuple[str, ...]:
    """The current secret, then the previous one while its overlap lasts."""
    out = [webhook.secret]
    if (
        state is not None
        and state.previous_secret
        and state.previous_secret_expires_at is not None
        and state.previous_secret_expires_at > now
    ):
        out.append(state.previous_secret)
    return tuple(out)


def signed_headers(
    body: bytes, secrets: tuple[str, ...], *, event_id: int, delivery_id: int, attempt_number: int
) -> dict[str, str]:
    """The headers of one attempt: its signature over the body with every valid secret, and
    the ids a receiver dedupes and logs by."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(body, list(secrets)),
        "PayBridge-Event-Id": f"evt_{event_id}",
        "PayBridge-Delivery-Id": str(delivery_id),
        "PayBridge-Attempt": str(attempt_number),
    }
