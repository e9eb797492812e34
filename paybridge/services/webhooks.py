"""Webhook endpoints a merchant registers: create (the signing secret is returned here and
stored as-is, since the worker needs it to sign), update, delete. Delivery lives elsewhere."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from paybridge.db import write_session
from paybridge.errors import DomainError
from paybridge.events import EventType
from paybridge.models import Webhook
from paybridge.outbound import (
    AddressRefused,
    HostUnresolvable,
    private_addresses_allowed,
    public_addresses,
)
from paybridge.permissions import Action, Actor, authorize
from paybridge.services.audit import AuditAction, audit_record
from paybridge.settings import get_settings
from paybridge.validation import is_row_id

SECRET_PREFIX = "whsec_"
MAX_WEBHOOKS = 16
ALL_EVENTS = "*"
# What an endpoint may subscribe to: events about deliveries themselves are never delivered.
EVENT_TYPES = tuple(t.value for t in EventType if not t.value.startswith("webhook."))


def new_webhook_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def clean_webhook_url(value: object, *, param: str = "url") -> str:
    """An absolute http(s) URL without credentials, to a public address (`url_not_allowed`
    otherwise: the rule delivery applies again to every attempt). Plain http only outside
    production, or where private receivers are allowed (local development)."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 2048:
        raise DomainError(
            "invalid_url", "Enter an http(s) URL of at most 2048 characters.", param=param
        )
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise DomainError("invalid_url", "This URL cannot be parsed.", param=param) from None
    local = private_addresses_allowed()
    allowed = ("https",) if get_settings().is_production and not local else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise DomainError(
            "invalid_url", f"The URL must start with {' or '.join(allowed)}://.", param=param
        )
    if parts.username or parts.password:
        raise DomainError("invalid_url", "The URL must not contain credentials.", param=param)
    if any(ord(ch) <= 32 for ch in url):
        raise DomainError("invalid_url", "The URL must not contain spaces.", param=param)
    if not local:
        try:
            public_addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80))
        except HostUnresolvable:
            pass  # its DNS may not be set up yet; each delivery attempt checks again
        except AddressRefused:
            raise DomainError(
                "url_not_allowed",
                "Webhooks go to public addresses only, not to private, loopback, link-local, "
                "multicast or cloud metadata addresses.",
                param=param,
            ) from None
    return url


def clean_event_types(value: object, *, param: str = "event_types") -> list[str]:
    """A non-empty list of known event types, or ["*"] for all of them."""
    if not isinstance(value, list) or not value or len(value) > len(EVENT_TYPES) + 1:
        raise DomainError("invalid_event_types", "List at least one event type.", param=param)
    cleaned: list[str] = []
    for item in value:
        if item != ALL_EVENTS and item not in EVENT_TYPES:
            raise DomainError(
                "invalid_event_types",
                f"Unknown event type {item!r}; use {ALL_EVENTS!r} or some of: "
                + ", ".join(EVENT_TYPES),
                param=param,
            )
        if item not in cleaned:
            cleaned.append(item)
    return [ALL_EVENTS] if ALL_EVENTS in cleaned else cleaned


def webhook_create(
    *, merchant_id: int, url: object, event_types: object, actor: Actor | None = None
) -> tuple[Webhook, str]:
    """Register an endpoint; return it with its signing secret."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    clean_url = clean_webhook_url(url)
    types = clean_event_types(event_types)
    secret = new_webhook_secret()
    with write_session() as session:
        count = session.exec(
            select(sa.func.count())
            .select_from(Webhook)
            .where(col(Webhook.merchant_id) == merchant_id)
        ).one()
        if count >= MAX_WEBHOOKS:
            raise DomainError(
                "too_many_webhooks", f"A merchant can register at most {MAX_WEBHOOKS} webhooks."
            )
        webhook = Webhook(merchant_id=merchant_id, url=clean_url, event_types=types, secret=secret)
        session.add(webhook)
        session.flush()
        audit_record(
            session,
            actor=actor,
            action=AuditAction.WEBHOOK_CREATED,
            target=clean_url,
            details={"id": webhook.id, "event_types": types},
        )
        session.commit()
        return webhook, secret


def webhook_update(
    *,
    merchant_id: int,
    webhook_id: int,
    url: object | None = None,
    event_types: object | None = None,
    is_active: object | None = None,
    actor: Actor | None = None,
) -> Webhook:
    """Change the URL, the event types or the active flag; None leaves a field as it is."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    clean_url = clean_webhook_url(url) if url is not None else None
    types = clean_event_types(event_types) if event_types is not None else None
    if is_active is not None and not isinstance(is_active, bool):
        raise DomainError("invalid_request", "is_active must be true or false.", param="is_active")
    with write_session() as session:
        webhook = _owned(session, merchant_id, webhook_id, lock=True)
        if clean_url is not None:
            webhook.url = clean_url
        if types is not None:
            webhook.event_types = types
        if is_active is not None:
            webhook.is_active = is_active
        session.add(webhook)
        changed = {"url": clean_url, "event_types": types, "is_active": is_active}
        audit_record(
            session,
            actor=actor,
            action=AuditAction.WEBHOOK_UPDATED,
            target=webhook.url,
            details={"id": webhook.id, **{k: v for k, v in changed.items() if v is not None}},
        )
        session.commit()
        return webhook


def webhook_delete(*, merchant_id: int, webhook_id: int, actor: Actor | None = None) -> None:
    """Remove an endpoint (its deliveries go with it)."""
    authorize(actor, Action.WEBHOOKS, merchant_id=merchant_id)
    with write_session() as session:
        webhook = _owned(session, merchant_id, webhook_id, lock=True)
        audit_record(
            session,
            actor=actor,
            action=AuditAction.WEBHOOK_DELETED,
            target=webhook.url,
            details={"id": webhook.id},
        )
        session.delete(webhook)
        session.commit()


def _owned(session: Session, merchant_id: int, webhook_id: int, *, lock: bool) -> Webhook:
    if not is_row_id(webhook_id):
        raise DomainError("not_found", "No such webhook.", param="id")
    query = select(Webhook).where(
        col(Webhook.id) == webhook_id, col(Webhook.merchant_id) == merchant_id
    )
    webhook = session.exec(query.with_for_update(key_share=True) if lock else query).first()
    if webhook is None:
        raise DomainError("not_found", "No such webhook.", param="id")
    return webhook
