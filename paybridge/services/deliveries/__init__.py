"""Webhook delivery: outbox -> deliveries, signed attempts, retries, resend, secret rolls.

The pieces, in the order the worker runs them:

1. `deliveries_fan_out` reads new outbox events and writes one `WebhookDelivery` per active
   endpoint subscribed to the event's type (see its docstring for how events committed out of id
   order are still found).
2. `deliveries_claim` takes due deliveries with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has
   a single writer) and leases them to the caller, so two workers never send the same attempt.
3. `send_attempt` POSTs the signed body with httpx (timeout, no redirects, no private addresses)
   and `attempt_record` writes the attempt and decides what comes next: done, a retry with
   exponential backoff, or a final failure after the retry window (about three days). An endpoint
   whose failures have lasted `disable_after` (three days) is disabled, with an event.

Delivery is at least once: a worker that dies after sending but before recording leaves the
delivery leased; once the lease ends another worker sends that attempt again. Receivers dedupe
by the event `id` in the body.

Events produced here (`webhook.delivered`, `webhook.failed`, `webhook.disabled`,
`webhook.test`) go through the outbox like every other event, so they reach the live
dashboard, but fan-out never turns a `webhook.*` event into a delivery: a delivery that produced
an event that produced a delivery would never stop.

The modules: policy (timing), fanout, claims, signing, transport (the outgoing HTTP and its
private-address guard), attempts (recording and what follows), actions (what a merchant does).
Their public names are importable from this package.
"""

from paybridge.services.deliveries.actions import (
    SECRET_OVERLAP,
    webhook_delivery_resend,
    webhook_roll_secret,
    webhook_send_test,
)
from paybridge.services.deliveries.attempts import (
    LAST_TRIGGERED_PRECISION,
    attempt_record,
    deliver_claim,
    deliveries_run_once,
)
from paybridge.services.deliveries.claims import Claim, deliveries_claim
from paybridge.services.deliveries.fanout import (
    FAN_OUT_CURSOR,
    FanOutResult,
    deliveries_fan_out,
    is_engine_event,
)
from paybridge.services.deliveries.policy import DeliveryPolicy
from paybridge.services.deliveries.signing import USER_AGENT, signed_headers, signing_secrets
from paybridge.services.deliveries.transport import (
    EXCERPT_CHARS,
    AttemptResult,
    Target,
    make_client,
    resolve_target,
    send_attempt,
)

__all__ = [
    "EXCERPT_CHARS",
    "FAN_OUT_CURSOR",
    "LAST_TRIGGERED_PRECISION",
    "SECRET_OVERLAP",
    "USER_AGENT",
    "AttemptResult",
    "Claim",
    "DeliveryPolicy",
    "FanOutResult",
    "Target",
    "attempt_record",
    "deliver_claim",
    "deliveries_claim",
    "deliveries_fan_out",
    "deliveries_run_once",
    "is_engine_event",
    "make_client",
    "resolve_target",
    "send_attempt",
    "signed_headers",
    "signing_secrets",
    "webhook_delivery_resend",
    "webhook_roll_secret",
    "webhook_send_test",
]
