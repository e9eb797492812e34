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
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from paybridge.db import read_session, retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events import EventType, commit_and_publish, record_event
from paybridge.events.tail import DEFAULT_GAP_SECONDS, OutboxTail, gap_seconds_from_env
from paybridge.events.wire import webhook_body
from paybridge.models import (
    DeliveryStatus,
    Event,
    OutboxCursor,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpointState,
)
from paybridge.outbound import (
    AddressRefused,
    ip_literal,
    private_addresses_allowed,
    public_addresses,
)
from paybridge.services.locks import row_lock
from paybridge.services.webhooks import new_webhook_secret
from paybridge.webhook_signature import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

USER_AGENT = "PayBridge-Webhooks/1.0"
FAN_OUT_CURSOR = "webhook_fan_out"
EXCERPT_CHARS = 1000
SECRET_OVERLAP = timedelta(hours=24)
LAST_TRIGGERED_PRECISION = 10  # seconds: webhooks.last_triggered_at is not rewritten more often


def is_engine_event(event_type: str) -> bool:
    """Events about webhook delivery itself: never delivered to webhooks (no loops)."""
    return event_type.startswith("webhook.")


# --- configuration -------------------------------------------------------------------------


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = float(raw)
    if value < 0:
        raise RuntimeError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timing of delivery. Defaults are production values; tests shrink them.

    With the defaults a failing delivery is retried after 1, 2, 4, ... minutes, each wait at
    most 12 hours, for as long as the next try falls within 3 days of the delivery's creation:
    15 attempts over about 65 hours.
    """

    retry_base: float = 60.0  # seconds before the first retry; doubles after each failure
    retry_factor: float = 2.0
    retry_max_delay: float = 12 * 3600.0
    retry_window: float = 3 * 24 * 3600.0  # no automatic retry later than this after creation
    disable_after: float = 3 * 24 * 3600.0  # an endpoint failing this long is disabled
    timeout: float = 10.0  # per HTTP request
    lease: float = 60.0  # how long a claimed delivery is reserved for its worker
    gap_timeout: float = DEFAULT_GAP_SECONDS  # how long fan-out waits for a missing event id

    def __post_init__(self) -> None:
        if self.lease <= self.timeout:
            raise ValueError("the claim lease must be longer than the HTTP timeout")
        if self.retry_factor < 1:
            raise ValueError("retry_factor must be at least 1")

    @classmethod
    def from_env(cls) -> DeliveryPolicy:
        """Read `PAYBRIDGE_WEBHOOK_*` overrides (seconds) from the environment."""
        d = cls()
        return cls(
            retry_base=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_BASE_SECONDS", d.retry_base),
            retry_factor=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_FACTOR", d.retry_factor),
            retry_max_delay=_env_seconds(
                "PAYBRIDGE_WEBHOOK_RETRY_MAX_DELAY_SECONDS", d.retry_max_delay
            ),
            retry_window=_env_seconds("PAYBRIDGE_WEBHOOK_RETRY_WINDOW_SECONDS", d.retry_window),
            disable_after=_env_seconds("PAYBRIDGE_WEBHOOK_DISABLE_AFTER_SECONDS", d.disable_after),
            timeout=_env_seconds("PAYBRIDGE_WEBHOOK_TIMEOUT_SECONDS", d.timeout),
            lease=_env_seconds("PAYBRIDGE_WEBHOOK_LEASE_SECONDS", d.lease),
            gap_timeout=gap_seconds_from_env(),
        )

    def retry_delay(self, failed_attempts: int) -> float:
        """Seconds to wait after the `failed_attempts`-th failure (1, 2, ...)."""
        exponent = max(failed_attempts - 1, 0)
        return min(self.retry_base * self.retry_factor**exponent, self.retry_max_delay)

    def schedule(self) -> list[float]:
        """Offsets (seconds after creation) of every attempt of a delivery that always fails."""
        offsets, at, failures = [0.0], 0.0, 0
        while True:
            failures += 1
            at += self.retry_delay(failures)
            if at > self.retry_window or failures > 1000:
                return offsets
            offsets.append(at)


# --- fan-out -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FanOutResult:
    events: int  # outbox events read in this pass
    deliveries: int  # deliveries created
    more: bool  # a full batch was read: call again without waiting


def deliveries_fan_out(
    *, policy: DeliveryPolicy | None = None, batch: int = 1000, now: datetime | None = None
) -> FanOutResult:
    """Turn new outbox events into deliveries; safe to run in several workers at once.

    The cursor row keeps an `OutboxTail` (paybridge.events.tail) in the database: the highest
    id read and the ids below it still missing, so events committed out of id order are
    delivered too, and a restart forgets nothing.

    Inserting a delivery is idempotent (unique (webhook_id, event_id), ON CONFLICT DO NOTHING),
    so re-reading an event never delivers it twice. The cursor row is locked with
    `FOR UPDATE SKIP LOCKED`: one worker fans out at a time, the others skip the step.

    An endpoint only receives events created after it (`webhooks.created_at`); `webhook.*`
    events are never delivered (see the module docstring).
    """
    policy = policy or DeliveryPolicy.from_env()
    now = now or utcnow()
    if not _outbox_has_work(FAN_OUT_CURSOR):
        return FanOutResult(0, 0, False)
    with write_session() as session:
        cursor = _lock_cursor(session, FAN_OUT_CURSOR)
        if cursor is None:
            return FanOutResult(0, 0, False)
        gaps = {int(k): float(v) for k, v in (cursor.gaps or {}).items()}
        tail = OutboxTail(position=cursor.position, gaps=gaps)
        read = tail.read(session, now=now.timestamp(), gap_seconds=policy.gap_timeout, batch=batch)
        new_gaps = {str(k): v for k, v in sorted(tail.gaps.items())}
        if not read.events and new_gaps == cursor.gaps:
            return FanOutResult(0, 0, False)  # still waiting for the same gaps: write nothing
        created = _create_deliveries(session, read.events, now=now, policy=policy)
        cursor.position = tail.position
        cursor.gaps = new_gaps
        cursor.updated_at = now
        session.add(cursor)
        session.commit()
        return FanOutResult(len(read.events), created, read.more)


def _upsert_ignore(session: Session, table: sa.Table):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def _outbox_has_work(name: str) -> bool:
    """A read-only look: open gaps, or an event past the cursor? (Idle polls then cost two
    indexed reads and no write transaction.)"""
    with read_session() as session:
        cursor = session.get(OutboxCursor, name)
        if cursor is not None and cursor.gaps:
            return True
        position = cursor.position if cursor is not None else 0
        return (
            session.exec(select(Event.id).where(Event.id > position).limit(1)).first() is not None
        )


def _lock_cursor(session: Session, name: str) -> OutboxCursor | None:
    """The cursor row, locked; None while another worker holds it (PostgreSQL)."""
    query = (
        select(OutboxCursor)
        .where(OutboxCursor.name == name)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    cursor = session.exec(query).first()
    if cursor is None and session.get(OutboxCursor, name) is None:
        insert = _upsert_ignore(session, OutboxCursor.__table__)
        session.execute(
            insert.values(
                name=name, position=0, gaps={}, updated_at=utcnow()
            ).on_conflict_do_nothing()
        )
        cursor = session.exec(query).first()
    return cursor


def _subscribes(webhook: Webhook, event_type: str) -> bool:
    types = webhook.event_types or []
    return event_type in types or "*" in types


def _create_deliveries(
    session: Session, events: Iterable[Event], *, now: datetime, policy: DeliveryPolicy
) -> int:
    events = [e for e in events if not is_engine_event(e.type)]
    if not events:
        return 0
    merchant_ids = {e.merchant_id for e in events}
    hooks: dict[int, list[Webhook]] = {}
    for hook in session.exec(
        select(Webhook).where(Webhook.merchant_id.in_(merchant_ids), Webhook.is_active)
    ).all():
        hooks.setdefault(hook.merchant_id, []).append(hook)
    retry_until = now + timedelta(seconds=policy.retry_window)
    rows = [
        {
            "merchant_id": event.merchant_id,
            "webhook_id": hook.id,
            "event_id": event.id,
            "event_type": event.type,
            "status": DeliveryStatus.PENDING.value,
            "attempt_count": 0,
            "next_attempt_at": now,
            "retry_until": retry_until,
            "created_at": now,
        }
        for event in events
        for hook in hooks.get(event.merchant_id, ())
        if _subscribes(hook, event.type) and hook.created_at <= event.created_at
    ]
    if not rows:
        return 0
    insert = _upsert_ignore(session, WebhookDelivery.__table__).on_conflict_do_nothing(
        index_elements=["webhook_id", "event_id"]
    )
    table = WebhookDelivery.__table__
    return len(session.execute(insert.returning(table.c.id), rows).all())


# --- claiming ------------------------------------------------------------------------------


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
            select(WebhookDelivery.id)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                WebhookDelivery.next_attempt_at <= now,
                Webhook.is_active,
            )
            .limit(1)
        ).first()
    if due is None:
        return []
    with write_session() as session:
        rows = list(
            session.exec(
                select(WebhookDelivery)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    WebhookDelivery.next_attempt_at <= now,
                    Webhook.is_active,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
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
            h.id: h for h in session.exec(select(Webhook).where(Webhook.id.in_(hook_ids))).all()
        }
        states = {
            s.webhook_id: s
            for s in session.exec(
                select(WebhookEndpointState).where(WebhookEndpointState.webhook_id.in_(hook_ids))
            ).all()
        }
        events = {
            e.id: e
            for e in session.exec(
                select(Event).where(Event.id.in_({r.event_id for r in rows}))
            ).all()
        }
        claims = [
            Claim(
                delivery_id=row.id,
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


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    extensions: dict[str, Any]


def resolve_target(url: str) -> Target:
    """Check `url` and pin it to a checked IP address.

    The host is resolved once here; every address must be public, and the request goes to the
    first one with the original Host header (and TLS server name), so a DNS answer that
    changes between the check and the connection cannot redirect the request inside the
    network. With `PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE=1` nothing is checked or pinned.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise AddressRefused(f"invalid URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise AddressRefused("only http and https URLs receive webhooks")
    host = parsed.host
    if not host:
        raise AddressRefused("the URL has no host")
    if private_addresses_allowed():
        return Target(url=str(parsed), headers={}, extensions={})
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = public_addresses(host, port)
    if ip_literal(host) is not None:  # nothing to pin
        return Target(url=str(parsed), headers={}, extensions={})
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(
        url=str(parsed.copy_with(host=addresses[0])),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions=extensions,
    )


@dataclass(frozen=True)
class AttemptResult:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: str | None
    started_at: datetime


def make_client(policy: DeliveryPolicy, *, max_connections: int = 20) -> httpx.Client:
    """The HTTP client for deliveries: no redirects, no proxies from the environment, and
    TCP_NODELAY (httpcore writes headers and body separately; with Nagle's algorithm the body
    of a request on a kept-alive connection can wait ~40 ms for the receiver's delayed ACK)."""
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        retries=0,
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(policy.timeout),
        follow_redirects=False,
        trust_env=False,
    )


def send_attempt(claim: Claim, *, client: httpx.Client, policy: DeliveryPolicy) -> AttemptResult:
    """POST one signed attempt. Never raises for network trouble: it is part of the result."""
    started = utcnow()
    clock = time.monotonic()
    status: int | None = None
    excerpt = ""
    error: str | None = None
    try:
        target = resolve_target(claim.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(claim.body, list(claim.secrets)),
            "PayBridge-Event-Id": f"evt_{claim.event_id}",
            "PayBridge-Delivery-Id": str(claim.delivery_id),
            "PayBridge-Attempt": str(claim.attempt_number),
            **target.headers,
        }
        deadline = clock + policy.timeout
        with client.stream(
            "POST",
            target.url,
            content=claim.body,
            headers=headers,
            extensions=target.extensions,
            follow_redirects=False,
        ) as response:
            status = response.status_code
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= EXCERPT_CHARS * 4 or time.monotonic() > deadline:
                    break
            excerpt = b"".join(chunks).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
    except AddressRefused as refused:
        error = str(refused)
    except httpx.TimeoutException:
        error = f"timed out after {policy.timeout:g} s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    duration_ms = int((time.monotonic() - clock) * 1000)
    succeeded = error is None and status is not None and 200 <= status < 300
    return AttemptResult(
        succeeded=succeeded,
        status_code=status,
        duration_ms=duration_ms,
        response_excerpt=excerpt,
        error=error[:255] if error else None,
        started_at=started,
    )


# --- recording -----------------------------------------------------------------------------


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
            .where(WebhookDelivery.id == claim.delivery_id)
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
        query = select(Webhook).where(Webhook.id == delivery.webhook_id)
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
                    Webhook.id == webhook.id,
                    sa.or_(
                        Webhook.last_triggered_at.is_(None),
                        Webhook.last_triggered_at
                        < now - timedelta(seconds=LAST_TRIGGERED_PRECISION),
                    ),
                )
                .values(last_triggered_at=now)
                .execution_options(synchronize_session=False)
            )
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
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
                state = WebhookEndpointState(webhook_id=webhook.id)
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
                    _disable(session, webhook, state, now, delivery_id=delivery.id, result=result)
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
        type=type,  # type: ignore[arg-type]
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
            WebhookDelivery.webhook_id == webhook.id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.claim_token.is_(None),
            WebhookDelivery.id != delivery_id,
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


# --- merchant actions ----------------------------------------------------------------------


def _merchant_webhook(session: Session, merchant_id: int, webhook_id: object) -> Webhook:
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int):
        raise DomainError("invalid_request", "webhook_id must be an integer.", param="webhook_id")
    webhook = session.exec(
        select(Webhook)
        .where(Webhook.id == webhook_id, Webhook.merchant_id == merchant_id)
        .with_for_update(key_share=True)
    ).first()
    if webhook is None:
        raise DomainError("not_found", "No such webhook endpoint.", param="webhook_id")
    return webhook


def webhook_delivery_resend(*, merchant_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again now (one more attempt; a failed delivery gets no automatic
    retries after a failed resend). Refused while an attempt is in flight or the endpoint is
    disabled."""
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int):
        raise DomainError("invalid_request", "delivery_id must be an integer.", param="delivery_id")
    now = utcnow()
    with write_session() as session:
        delivery = session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.merchant_id == merchant_id)
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


def webhook_send_test(*, merchant_id: int, webhook_id: int) -> WebhookDelivery:
    """Send a `webhook.test` event to one endpoint (whatever types it subscribes to). The event
    shows in the feed; the delivery is in the log like any other."""
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
            webhook_id=webhook.id,
            event_id=event.id,
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
) -> tuple[Webhook, str]:
    """Give the endpoint a new secret; the old one keeps signing (as a second `v1`) for
    `overlap` (24 hours). Rolling again during an overlap drops the oldest secret. Returns the
    endpoint and the new secret, to show once."""
    if overlap < timedelta(0) or overlap > timedelta(days=7):
        raise DomainError("invalid_request", "overlap is 0 to 7 days.", param="overlap")
    now = now or utcnow()
    secret = new_webhook_secret()
    with write_session() as session:
        webhook = _merchant_webhook(session, merchant_id, webhook_id)
        state = session.get(WebhookEndpointState, webhook.id, with_for_update={"key_share": True})
        if state is None:
            state = WebhookEndpointState(webhook_id=webhook.id)
        state.previous_secret = webhook.secret if overlap > timedelta(0) else None
        state.previous_secret_expires_at = now + overlap if overlap > timedelta(0) else None
        webhook.secret = secret
        session.add(state)
        session.add(webhook)
        session.commit()
        return webhook, secret
