"""`Idempotency-Key` bookkeeping: claim a key (one row per merchant and key, made unique by the
database so concurrent requests execute once), then store the response for replays.

Call these inside a unit of work (`paybridge.db.in_unit`) that also holds the request's
write: the claim, the write and the stored response then commit together or not at all. A
retry whose first attempt committed but whose reply was lost (the connection died between
COMMIT and its acknowledgement) replays the stored response; a first attempt that rolled back
left no row, so the key is free again at once. On PostgreSQL the claim also takes a
transaction-level advisory lock on the key, so a second request with the key while the first
is still running is refused with `idempotency_key_in_use` instead of waiting (on SQLite,
BEGIN IMMEDIATE makes it wait for the first and then replay).

Rows claimed but never finished can only come from releases before this scheme, which
committed the claim on its own: such a claim goes stale after `STALE_CLAIM` and may be taken
over by a retry with the same request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import delete, select, update

from paybridge.db import read_session, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.models import IdempotencyRecord
from paybridge.validation import clean_idempotency_key

RETENTION = timedelta(hours=24)
STALE_CLAIM = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    """This request owns the key: execute it, then `idempotency_complete` or `_release`."""

    record_id: int
    token: str


@dataclass(frozen=True)
class Replay:
    """The key was used before with the same request: answer with its stored response."""

    status: int
    body: str


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path and the body (JSON canonicalised, so key order and
    whitespace do not make two equal requests differ)."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(
    *,
    merchant_id: int,
    key: object,
    method: str,
    path: str,
    request_hash: str,
    now: datetime | None = None,
) -> Claim | Replay:
    """Claim `key` for this request, or say how to answer instead.

    Raises `idempotency_key_reused` when the key was used for a different request and
    `idempotency_key_in_use` while another request with it is still running.
    """
    key = clean_idempotency_key(key)
    now = now or utcnow()
    token = secrets.token_hex(16)
    _lock_key(merchant_id, key)
    with write_session() as session:
        record = IdempotencyRecord(
            merchant_id=merchant_id,
            key=key,
            method=method[:8],
            path=path[:255],
            request_hash=request_hash,
            claim_token=token,
            claimed_at=now,
            created_at=now,
            expires_at=now + RETENTION,
        )
        session.add(record)
        try:
            session.commit()
            return Claim(record_id=record.id, token=token)
        except IntegrityError:
            session.rollback()

    with write_session() as session:
        record = session.exec(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key)
            .with_for_update(key_share=True)
        ).first()
        if record is None:  # released or purged in between: start over
            return idempotency_claim(
                merchant_id=merchant_id,
                key=key,
                method=method,
                path=path,
                request_hash=request_hash,
                now=now,
            )
        expired = record.expires_at <= now
        if not expired and record.request_hash != request_hash:
            raise _reused()
        if not expired and record.response_status is not None:
            return Replay(status=record.response_status, body=record.response_body or "")
        if not expired and now - record.claimed_at < STALE_CLAIM:
            raise _in_progress()
        # Expired, or claimed by a request that never finished: take it over.
        record.method, record.path, record.request_hash = method[:8], path[:255], request_hash
        record.claim_token, record.claimed_at = token, now
        record.response_status, record.response_body = None, None
        if expired:
            record.created_at, record.expires_at = now, now + RETENTION
        session.add(record)
        session.commit()
        return Claim(record_id=record.id, token=token)


def idempotency_refuse_reuse(
    *, merchant_id: int, key: str, request_hash: str, now: datetime | None = None
) -> None:
    """Raise `idempotency_key_reused` when the key is held by a different request. For
    requests refused before they could claim the key (invalid input): a client that reused a
    key is told so, whatever else is wrong with its request."""
    with read_session() as session:
        record = session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key
            )
        ).first()
    live = record is not None and record.expires_at > (now or utcnow())
    if live and record.request_hash != request_hash:
        raise _reused()


def _reused() -> DomainError:
    return DomainError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request.",
        param="Idempotency-Key",
    )


def _lock_key(merchant_id: int, key: str) -> None:
    """PostgreSQL: hold a transaction-level advisory lock on the key until the unit ends, or
    refuse at once when another running request holds it."""
    with write_session() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        name = f"paybridge:idempotency:{merchant_id}:{key}"
        lock = sa.func.pg_try_advisory_xact_lock(sa.func.hashtextextended(name, 0))
        if not session.scalar(sa.select(lock)):
            raise _in_progress()
        session.commit()  # releases the savepoint only: the lock is kept by the transaction


def _in_progress() -> DomainError:
    return DomainError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry later.",
        param="Idempotency-Key",
    )


def idempotency_complete(*, claim: Claim, status: int, body: str) -> None:
    """Store the response of a claimed request (kept until the key expires). Inside the
    request's unit of work this commits with the write it answers for.

    Raises `idempotency_key_in_use` when the claim is no longer this request's (it
    went stale and another request took the key over): committing the write would then execute
    the key twice, so the caller must roll back."""
    with write_session() as session:
        result = session.exec(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.id == claim.record_id,
                IdempotencyRecord.claim_token == claim.token,
            )
            .values(response_status=status, response_body=body, claim_token=None)
        )
        if result.rowcount != 1:
            raise _in_progress()
        session.commit()


def idempotency_release(*, claim: Claim) -> None:
    """Forget a claim whose request produced nothing worth replaying (a crash, a 5xx, invalid
    input): the same key may be used again at once."""
    with write_session() as session:
        session.exec(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == claim.record_id,
                IdempotencyRecord.claim_token == claim.token,
                IdempotencyRecord.response_status.is_(None),
            )
        )
        session.commit()


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    """Delete keys past their 24 hours; returns how many."""
    with write_session() as session:
        result = session.exec(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or utcnow()))
        )
        session.commit()
        return result.rowcount or 0
