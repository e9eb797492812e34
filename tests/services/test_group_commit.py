"""Group commit (`paybridge.api.ingest.PaymentWriter`): requests that arrive together are
written in one transaction, without a SAVEPOINT per service call, yet each refusal is its own
request's answer and changes nothing for the others."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from sqlmodel import select

from paybridge import metrics
from paybridge.api.ingest import Answer, PaymentWriter
from paybridge.api.resources.payments import payment_json
from paybridge.db import Unit, current_unit, in_unit
from paybridge.models import Event, IdempotencyRecord, Transaction, User
from paybridge.services.idempotency import (
    Claim,
    KeyedRequest,
    idempotency_claim,
    idempotency_claim_many,
    idempotency_complete,
)
from paybridge.services.transactions import NewPayment, new_payment
from tests.conftest import TestDatabase, create_merchant
from tests.money import money_problems

PATH = "/api/v1/transactions"


def payment(merchant: User, reference: str, **overrides: object) -> Callable[[], NewPayment]:
    fields = {"amount": 1_000, "currency": "USD", "provider": "card", "status": "success"}
    fields |= {"customer_email": "payer@example.com", "reference": reference, **overrides}
    return lambda: new_payment(merchant_id=merchant.id, **fields)  # type: ignore[arg-type]


def keyed(merchant: User, key: str, body: str = "same body") -> KeyedRequest:
    return KeyedRequest(merchant.id, key, "POST", PATH, body.ljust(64, "."))


def test_refusals_in_a_batch_are_their_own_requests_answers(
    db: TestDatabase, merchant: User
) -> None:
    used = keyed(merchant, "used-before", "another body")
    idempotency_complete(claim=idempotency_claim(used), status=201, body="{}")  # type: ignore[arg-type]
    requests: list[tuple[Callable[[], NewPayment], KeyedRequest | None]] = [
        (payment(merchant, f"good-{n}"), keyed(merchant, f"key-{n}") if n % 2 else None)
        for n in range(12)
    ]
    requests += [
        (payment(merchant, "twice"), None),
        (payment(merchant, "twice", amount=2_000), None),
        (payment(merchant, "bad-currency", currency="XXX"), keyed(merchant, "bad")),
        (payment(merchant, "same-key-a"), keyed(merchant, "shared")),
        (payment(merchant, "same-key-b"), keyed(merchant, "shared")),
        (payment(merchant, "reused"), keyed(merchant, "used-before")),
    ]
    writer = PaymentWriter(payment_json, writers=1)

    async def all_at_once() -> list[Answer]:
        return await asyncio.gather(*(writer.submit(make, key) for make, key in requests))

    counted = metrics.snapshot()
    answers = asyncio.run(all_at_once())
    now = metrics.snapshot()
    batched = now["ingest_batched_requests"] - counted.get("ingest_batched_requests", 0)
    batches = now["ingest_batches"] - counted.get("ingest_batches", 0)
    assert batched == len(requests) and 1 <= batches < len(requests)  # counted, and grouped
    codes = [(a.status, json.loads(a.body).get("error", {}).get("code")) for a in answers]
    assert codes[:12] == [(201, None)] * 12
    assert sorted(codes[12:14]) == [(201, None), (409, "duplicate_reference")]
    assert codes[14] == (400, "invalid_currency")
    shared = sorted([(a.status, a.replayed) for a in answers[15:17]])
    assert shared in ([(201, False), (201, True)], [(201, False), (409, False)]), shared
    assert codes[17] == (409, "idempotency_key_reused")

    with db.session() as session:
        references = sorted(session.exec(select(Transaction.reference)))
        assert references == sorted(
            [f"good-{n}" for n in range(12)] + ["twice", "same-key-a" if answers[15].status == 201
                                                and not answers[15].replayed else "same-key-b"]
        )  # fmt: skip
        assert len(session.exec(select(Event)).all()) == len(references)
        assert money_problems(session) == []
        stored = {r.key: r.response_status for r in session.exec(select(IdempotencyRecord))}
    assert {stored[f"key-{n}"] for n in range(1, 12, 2)} == {201}
    assert stored["used-before"] == 201  # the earlier request's answer stands


def test_a_batch_finds_its_keys_without_reading_the_merchants_other_keys(
    db: TestDatabase, merchant: User
) -> None:
    """The keys' lookup probes the unique index once a key, even where PostgreSQL's statistics
    say the merchant has almost no keys (taken before it grew): before, it read every key of
    the merchant and filtered them, a cost that grew with the table."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner")
    other = create_merchant("other@example.com")
    stored = (
        "INSERT INTO idempotency_keys (merchant_id, key, method, path, request_hash, claimed_at,"
        " created_at, expires_at) SELECT %s, 'stored-' || n, 'POST', '/', 'h', now(), now(),"
        " now() + interval '1 day' FROM generate_series(1, 3000) AS n"
    )
    with db.engine.begin() as conn:
        conn.exec_driver_sql(stored, (other.id,))
        conn.exec_driver_sql("ANALYZE idempotency_keys")  # the merchant has no keys yet
        conn.exec_driver_sql(stored, (merchant.id,))
    wanted = [keyed(merchant, f"stored-{n}") for n in range(1, 3001, 30)] + [keyed(merchant, "new")]

    def reads(unit: Unit) -> tuple[int, int]:
        """Rows of the table read by sequential scans and fetched through an index, by this
        connection (counts not yet flushed to the shared statistics: hence the difference)."""
        read = "SELECT seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = %s"
        return unit.session().connection().exec_driver_sql(read, ("idempotency_keys",)).one()

    def look_up() -> tuple[int, int]:
        unit = current_unit()
        assert unit is not None
        before = reads(unit)
        outcomes = idempotency_claim_many(wanted)
        assert sum(isinstance(outcome, Claim) for outcome in outcomes) == 1  # "new"
        after = reads(unit)
        return after[0] - before[0], after[1] - before[1]

    scanned, fetched = in_unit(look_up)
    assert scanned == 0
    assert fetched == 100  # the stored keys asked for, not the merchant's 3,000
