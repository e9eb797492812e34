"""Payment ingest under load, as deployed (two instances behind nginx on PostgreSQL and Redis),
and an instance killed in the middle of a burst:

- 256 POSTs at once are all answered, every 201 payment is in the database with its rollup and
  its event, the rollups equal a raw recompute, no connection is left idle in a transaction;
- kill -9 of an instance mid-burst: every payment answered 201 is in the database, and nothing
  is half-written (no payment without its rollup and event) — a batch commits whole or not.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlmodel import select

from paybridge.models import Transaction
from tests.api.conftest import Caller
from tests.conftest import TestDatabase
from tests.money import money_problems
from tests.ops.clients import send, together
from tests.ops.test_abandoned_requests import wait_until_settled
from tests.ops.topology import Instance, Topology, instance_env

pytestmark = pytest.mark.timeout(600)

PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


def test_a_burst_of_256_payments_is_answered_and_written_whole(
    instances: Topology, db: TestDatabase, alice: Caller
) -> None:
    bases = [instances.nginx.url, *(i.url for i in instances.instances)]
    answers = together(
        256,
        lambda n: send(
            bases[n % 3],
            "/transactions",
            {**PAYMENT, "amount": 1_000 + n, "reference": f"burst-{n}"},
            alice.token,
            key=f"burst-{n}" if n % 2 else None,
        ),
    )
    assert [a.status for a in answers] == [201] * 256, [a for a in answers if a.status != 201][:3]
    assert not wait_until_settled(db)["idle in transaction"]
    with db.session() as session:
        stored = {t.reference: t.amount for t in session.exec(select(Transaction))}
        assert money_problems(session) == []
    assert stored == {f"burst-{n}": 1_000 + n for n in range(256)}


def test_an_instance_killed_mid_burst_loses_no_answered_payment(
    db: TestDatabase, alice: Caller, redis_url: str, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("the served instance runs on PostgreSQL")
    env = instance_env(db.url, redis_url)
    instance = Instance(env=env, log=tmp_path / "instance.log")
    try:
        instance.wait_ready()
        killer = threading.Timer(1.5, lambda: os.killpg(instance.process.pid, signal.SIGKILL))
        killer.start()

        def keep_posting(n: int) -> list[tuple[str, int | None]]:
            sent = []
            deadline = time.monotonic() + 4
            i = 0
            while time.monotonic() < deadline:
                reference = f"kill-{n}-{i}"
                answer = send(instance.url, "/transactions", {**PAYMENT, "reference": reference},
                              alice.token, key=reference)  # fmt: skip
                sent.append((reference, answer.status))
                i += 1
                if answer.status is None:  # the instance is gone
                    break
            return sent

        results = [r for batch in together(64, keep_posting) for r in batch]
        killer.join()
    finally:
        instance.stop()
    answered = {reference for reference, status in results if status == 201}
    assert answered, "nothing was answered before the kill"
    assert any(status is None for _, status in results), "the kill interrupted nothing"
    with db.session() as session:
        stored = set(session.exec(select(Transaction.reference)).all())
        assert money_problems(session) == []
    assert answered <= stored
    assert stored <= {reference for reference, _ in results}
