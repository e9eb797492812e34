"""Secret API keys (`sk_live_...`) for server-to-server calls: created (the secret is returned
once), used (looked up by the SHA-256 of the secret) and revoked. Keys are high-entropy random
strings, so a plain SHA-256 is enough to make a stolen table useless."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select, update

from paybridge.db import read_session, retry_on_contention, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.models import ApiKey
from paybridge.permissions import Action, Actor, authorize
from paybridge.services.audit import AuditAction, audit_record
from paybridge.validation import clean_text, is_row_id

PREFIX = "sk_live_"
MAX_ACTIVE_KEYS = 25
LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def api_key_create(
    *, merchant_id: int, name: object = "", actor: Actor | None = None
) -> tuple[ApiKey, str]:
    """Create a key; return it with its secret, which is never available again."""
    authorize(actor, Action.API_KEYS, merchant_id=merchant_id)
    label = clean_text(
        name if name is not None else "", param="name", max_length=80, required=False
    )
    secret = PREFIX + secrets.token_urlsafe(32)
    with write_session() as session:
        active = session.exec(
            select(sa.func.count())
            .select_from(ApiKey)
            .where(col(ApiKey.merchant_id) == merchant_id, col(ApiKey.revoked_at).is_(None))
        ).one()
        if active >= MAX_ACTIVE_KEYS:
            raise DomainError(
                "too_many_api_keys",
                f"A merchant can hold at most {MAX_ACTIVE_KEYS} active API keys; revoke one first.",
            )
        key = ApiKey(
            merchant_id=merchant_id, name=label, key_hash=hash_api_key(secret), last4=secret[-4:]
        )
        session.add(key)
        session.flush()
        audit_record(
            session,
            actor=actor,
            action=AuditAction.API_KEY_CREATED,
            target=f"{PREFIX}…{key.last4}",
            details={"id": key.id, "name": label},
        )
        session.commit()
        return key, secret


@retry_on_contention
def api_key_revoke(*, merchant_id: int, key_id: int, actor: Actor | None = None) -> ApiKey:
    """Revoke one of the merchant's keys (another merchant's id is `not_found`). Idempotent."""
    authorize(actor, Action.API_KEYS, merchant_id=merchant_id)
    if not is_row_id(key_id):
        raise DomainError("not_found", "No such API key.", param="id")
    with write_session() as session:
        key = session.exec(
            select(ApiKey)
            .where(col(ApiKey.id) == key_id, col(ApiKey.merchant_id) == merchant_id)
            .with_for_update(key_share=True)
        ).first()
        if key is None:
            raise DomainError("not_found", "No such API key.", param="id")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            session.add(key)
            audit_record(
                session,
                actor=actor,
                action=AuditAction.API_KEY_REVOKED,
                target=f"{PREFIX}…{key.last4}",
                details={"id": key.id, "name": key.name},
            )
            session.commit()
    announce_revocation(Revocation(api_key_ids=(key_id,)))  # the row found by key_id
    return key


def api_key_authenticate(*, secret: object) -> ApiKey | None:
    """The active key with this secret, or None. Records use at most once a minute."""
    if not isinstance(secret, str) or not looks_like_api_key(secret) or len(secret) > 128:
        return None
    with read_session() as session:
        key = session.exec(
            select(ApiKey).where(col(ApiKey.key_hash) == hash_api_key(secret))
        ).first()
    if key is None or key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        with write_session() as session:
            session.exec(update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now))
            session.commit()
        key.last_used_at = now
    return key
