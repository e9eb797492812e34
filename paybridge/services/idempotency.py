"""`Idempotency-Key` bookkeeping: claim keys, then store each request's response for replays.

Call these inside a unit of work (`paybridge.db.in_unit`) that also holds the requests' writes:
the claims, the writes and the stored responses commit together or not at all. A retry whose
first attempt committed but whose reply was lost (the connection died between COMMIT and its
acknowledgement) replays the stored response; a first attempt that rolled back left no row, so
the key is free again at once.

Concurrent requests with one key execute once. On PostgreSQL a claim takes a transaction-level
advisory lock on the key (a try-lock: a second request with the key while the first is still
running is refused at once with `idempotency_key_in_use`); on SQLite, BEGIN IMMEDIATE makes the
second wait for the first and then replay it. The row is written when the response is known
(`idempotency_complete_many`), in the same transaction.

Many requests are claimed and completed with a few statements in all (`*_many`), so a batch of
payments written together (group commit) pays for its keys once.

Rows claimed but never finished can only come from releases before this scheme: such a claim
goes stale after `STALE_CLAIM` and may be taken over by a retry with the same request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col, delete

from paybridge.db import driver_rows, read_session, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.models import IdempotencyRecord
from paybridge.models.tables import ArrayInsert, Int8Array, TextArray, table_of
from paybridge.validation import clean_idempotency_key

RETENTION = timedelta(hours=24)
STALE_CLAIM = timedelta(seconds=60)


@dataclass(frozen=True)
class KeyedRequest:
    """A request that carries an Idempotency-Key."""

    merchant_id: int
    key: str
    method: str
    path: str
    request_hash: str


@dataclass(frozen=True)
class Claim:
    """This request owns the key: execute it, then complete the claim with its response.
    `record_id` is the expired or abandoned row it takes over (None: a key never seen)."""

    request: KeyedRequest
    record_id: int | None = None


@dataclass(frozen=True)
class Replay:
    """The key was used before with the same request: answer with its stored response."""

    status: int
    body: str


NOT_JSON = object()  # `request_fingerprint`'s `document` for a body that is not JSON


def request_fingerprint(method: str, path: str, body: bytes, document: Any) -> str:
    """SHA-256 of the method, the path and the body (JSON canonicalised, so key order and
    whitespace do not make two equal requests differ). `document` is the body as the caller
    parsed it (the request keeps one parse for FastAPI too), or NOT_JSON."""
    if document is NOT_JSON:
        canonical = body
    else:
        canonical = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim_many(
    requests: Sequence[KeyedRequest], *, now: datetime | None = None
) -> list[Claim | Replay | DomainError]:
    """Per request: a Claim (execute it), a Replay (answer with the stored response), or the
    refusal to answer with (`idempotency_key_reused`, `idempotency_key_in_use`)."""
    now = now or utcnow()
    outcomes: list[Claim | Replay | DomainError | None] = [None] * len(requests)
    with write_session() as session:
        held = _lock_keys(session, requests)
        seen: set[tuple[int, str]] = set()
        for i, request in enumerate(requests):
            name = (request.merchant_id, request.key)
            if not held[i] or name in seen:  # another request (here or elsewhere) runs it
                outcomes[i] = _in_use()
            seen.add(name)
        records = _records(session, [r for i, r in enumerate(requests) if outcomes[i] is None])
        for i, request in enumerate(requests):
            if outcomes[i] is None:
                outcomes[i] = _judge(request, records.get((request.merchant_id, request.key)), now)
        session.commit()  # releases the savepoint only: the advisory locks last to the end
    return cast("list[Claim | Replay | DomainError]", outcomes)  # every slot is filled above


def idempotency_complete_many(
    answers: Sequence[tuple[Claim, int, str]], *, now: datetime | None = None
) -> None:
    """Store (claim, status, body) for each claimed request, kept until the key expires."""
    if not answers:
        return
    now = now or utcnow()
    table = table_of(IdempotencyRecord)
    with write_session() as session:
        fresh = [
            {
                "merchant_id": claim.request.merchant_id,
                "key": claim.request.key,
                "method": claim.request.method[:8],
                "path": claim.request.path[:255],
                "request_hash": claim.request.request_hash,
                "claim_token": None,
                "claimed_at": now,
                "response_status": status,
                "response_body": body,
                "created_at": now,
                "expires_at": now + RETENTION,
            }
            for claim, status, body in answers
            if claim.record_id is None
        ]
        _ARRAY_INSERT.insert(session, fresh)
        for claim, status, body in answers:
            if claim.record_id is not None:
                session.execute(
                    sa.update(table)
                    .where(table.c.id == claim.record_id)
                    .values(
                        method=claim.request.method[:8],
                        path=claim.request.path[:255],
                        request_hash=claim.request.request_hash,
                        claim_token=None,
                        claimed_at=now,
                        response_status=status,
                        response_body=body,
                        created_at=now,
                        expires_at=now + RETENTION,
                    )
                )
        session.commit()


def idempotency_claim(request: KeyedRequest, *, now: datetime | None = None) -> Claim | Replay:
    """One request's claim (`idempotency_claim_many`); a refusal is raised."""
    outcome = idempotency_claim_many([request], now=now)[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def idempotency_complete(*, claim: Claim, status: int, body: str) -> None:
    idempotency_complete_many([(claim, status, body)])


def idempotency_release(*, claim: Claim) -> None:
    """Forget a claim whose request produced nothing worth replaying (a streamed answer): the
    same key may be used again at once."""
    if claim.record_id is None:
        return
    with write_session() as session:
        session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.id) == claim.record_id))
        session.commit()


def idempotency_refuse_reuse(
    *, merchant_id: int, key: str, request_hash: str, now: datetime | None = None
) -> None:
    """Raise `idempotency_key_reused` when the key is held by a different request. For
    requests refused before they could claim the key (invalid input): a client that reused a
    key is told so, whatever else is wrong with its request."""
    with read_session() as session:
        record = _records(
            session, [KeyedRequest(merchant_id, clean_idempotency_key(key), "", "", "")]
        ).get((merchant_id, key))
    live = record is not None and record.expires_at > (now or utcnow())
    if live and record is not None and record.request_hash != request_hash:
        raise _reused()


def idempotency_purge_expired(*, now: datetime | None = None) -> int:
    """Delete keys past their 24 hours; returns how many."""
    with write_session() as session:
        result = session.exec(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= (now or utcnow()))
        )
        session.commit()
        return result.rowcount or 0


def _lock_keys(session: Session, requests: Sequence[KeyedRequest]) -> list[bool]:
    """PostgreSQL: try to take each key's transaction-level advisory lock, all in one
    statement; False where another running request holds it. SQLite: True (its write lock
    serialises requests)."""
    if not requests or session.get_bind().dialect.name != "postgresql":
        return [True] * len(requests)
    names = TextArray(f"paybridge:idempotency:{r.merchant_id}:{r.key}" for r in requests)
    rows = driver_rows(session, _TRY_LOCKS, {"names": names})
    return [bool(got) for _, got in sorted(rows)]


_ARRAY_INSERT = ArrayInsert(
    table_of(IdempotencyRecord),
    ["merchant_id", "key", "method", "path", "request_hash", "claim_token", "claimed_at",
     "response_status", "response_body", "created_at", "expires_at"],
)  # fmt: skip

_TRY_LOCKS = sa.text(
    "SELECT n.ord, pg_try_advisory_xact_lock(hashtextextended(n.name, 0))"
    " FROM unnest(CAST(:names AS text[])) WITH ORDINALITY AS n(name, ord)"
)


def _records(session: Session, requests: Sequence[KeyedRequest]) -> dict[tuple[int, str], Any]:
    """The stored records of these requests' keys, as rows of the columns `_judge` reads (a
    Core select: the ORM's objects cost a fifth of a one-payment batch)."""
    if not requests:
        return {}
    rows: Sequence[Any]
    if session.get_bind().dialect.name == "postgresql":  # the same text for any number of keys
        pairs = sorted({(r.merchant_id, r.key) for r in requests})
        arrays = {
            "merchants": Int8Array(m for m, _ in pairs),
            "keys": TextArray(k for _, k in pairs),
        }
        rows = driver_rows(session, _RECORDS, arrays)
    else:
        merchants = sorted({r.merchant_id for r in requests})
        keys = sorted({r.key for r in requests})
        table = table_of(IdempotencyRecord)
        rows = session.execute(
            sa.select(*(table.c[name] for name in _JUDGED)).where(
                table.c.merchant_id.in_(merchants), table.c.key.in_(keys)
            )
        ).all()
    return {(row.merchant_id, row.key): row for row in rows}


_JUDGED = ("id", "merchant_id", "key", "request_hash", "claimed_at", "expires_at",
           "response_status", "response_body")  # fmt: skip
# Built once; the same text for any number of keys. One probe of the unique index a (merchant,
# key) pair, whatever PostgreSQL's statistics say: the LIMIT keeps the subquery a lookup per
# pair instead of a join it may plan as a scan. `merchant_id = ANY(...) AND key = ANY(...)`
# read all of a merchant's keys where the statistics thought it had few (never analysed, or a
# merchant grown since), a cost that grew with the table: 21 ms of PostgreSQL a batch of 100
# at 69,000 keys (bench/HISTORY.md "Tenth pass").
_RECORDS = sa.text(
    f"SELECT {', '.join('r.' + name for name in _JUDGED)}"
    " FROM unnest(CAST(:merchants AS integer[]), CAST(:keys AS text[])) AS k(merchant_id, key)"
    f" CROSS JOIN LATERAL (SELECT * FROM {table_of(IdempotencyRecord).name} AS i"
    " WHERE i.merchant_id = k.merchant_id AND i.key = k.key LIMIT 1) AS r"
)


def _judge(request: KeyedRequest, record: Any, now: datetime) -> Claim | Replay | DomainError:
    if record is None:
        return Claim(request)
    if record.expires_at <= now:
        return Claim(request, record.id)
    if record.request_hash != request.request_hash:
        return _reused()
    if record.response_status is not None:
        return Replay(status=record.response_status, body=record.response_body or "")
    if now - record.claimed_at < STALE_CLAIM:
        return _in_use()
    return Claim(request, record.id)  # claimed long ago and never finished: take it over


def _reused() -> DomainError:
    return DomainError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request.",
        param="Idempotency-Key",
    )


def _in_use() -> DomainError:
    return DomainError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry later.",
        param="Idempotency-Key",
    )
