"""Clients that give up mid-request (close the connection after a few milliseconds, or before
their body is complete), as integrations with short timeouts do, mixed with ordinary clients,
against two app instances on PostgreSQL:

- afterwards no connection of the app is idle in a transaction and nothing waits on a lock;
- every ordinary request was answered, and none with a 5xx;
- every payment, payout and refund the database holds is whole (rollups, balances, events);
- a client retrying with the same Idempotency-Key gets the stored answer or makes the write
  exactly once;
- after such a burst SIGTERM stops an instance within its drain time.

Before the fix a unit of work (claim + write + stored answer) lived across awaits of the
request's coroutine: 60 such requests at once left connections "idle in transaction" holding
the rollup row while the coroutines that owned them waited for a thread, and ordinary requests
stalled or got 503 for the length of the pool timeout.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from paybridge.models import Provider, Refund, Settlement, Transaction
from tests.api.conftest import Caller
from tests.conftest import TestDatabase, seed_available
from tests.money import money_problems
from tests.ops.clients import Answer, give_up, random_delay, send, together
from tests.ops.topology import Instance, Topology, instance_env, wait_for

pytestmark = pytest.mark.timeout(600)

PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


def app_connections(db: TestDatabase) -> Counter[str]:
    """States of the other connections to the test database, e.g. {"idle": 12}; a backend
    waiting for a lock counts as "waiting on a lock"."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT state, wait_event_type FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    return Counter("waiting on a lock" if wait == "Lock" else str(state) for state, wait in rows)


def wait_until_settled(db: TestDatabase) -> Counter[str]:
    """Wait for the requests the servers are still finishing, then return the connection
    states seen on five samples in a row with nothing in a transaction."""
    busy = ("active", "idle in transaction", "idle in transaction (aborted)", "waiting on a lock")
    streak, last = 0, Counter[str]()

    def quiet() -> bool:
        nonlocal streak, last
        last = app_connections(db)
        streak = streak + 1 if not any(last[state] for state in busy) else 0
        return streak >= 5

    wait_for(quiet, 60, "connections still busy")
    return last


def storm(instances: Topology, calls: list) -> list:  # type: ignore[type-arg]
    """Run every call (giving-up and ordinary clients) at once, spread over the instances."""
    return together(len(calls), lambda i: calls[i](), threads=min(len(calls), 120))


def urls(instances: Topology) -> list[str]:
    return [instances.nginx.url, *(i.url for i in instances.instances)]


def test_payments_whose_clients_give_up_leave_nothing_open(
    instances: Topology, db: TestDatabase, alice: Caller
) -> None:
    rng = random.Random(29)
    bases = urls(instances)
    calls, given_up, ordinary = [], [], []
    for n in range(300):
        base = bases[n % len(bases)]
        body = {**PAYMENT, "reference": f"p-{n}"}
        key = f"key-{n}" if n % 2 == 0 else None
        if n % 3 == 0:
            ordinary.append(n)
            calls.append(partial(send, base, "/transactions", body, alice.token, key=key))
        else:
            given_up.append((n, body, key))
            cut = {
                "after": random_delay(rng),
                "mid_body": rng.random() < 0.15,
                "reset": rng.random() < 0.5,
            }
            calls.append(partial(give_up, base, "/transactions", body, alice.token, key=key, **cut))
    results = storm(instances, calls)

    answers = [results[n] for n in ordinary]
    assert all(a.status == 201 for a in answers), [a for a in answers if a.status != 201][:3]
    states = wait_until_settled(db)
    assert not states["idle in transaction"], states

    # A retry with the key gets the stored answer or makes the payment now, exactly once.
    for n, body, key in given_up:
        if key is None:
            continue
        retry = send(bases[0], "/transactions", body, alice.token, key=key)
        assert retry.status == 201 and retry.body["reference"] == body["reference"], (n, retry)
    with db.session() as session:
        references = Counter(session.exec(select(Transaction.reference)).all())
        assert money_problems(session) == []
    assert max(references.values()) == 1
    keyed = {body["reference"] for _, body, key in given_up if key} | {f"p-{n}" for n in ordinary}
    assert keyed <= set(references)


def test_payouts_and_refunds_whose_clients_give_up_are_made_once(
    instances: Topology, db: TestDatabase, alice: Caller, providers: dict[str, Provider]
) -> None:
    rng = random.Random(2029)
    bases = urls(instances)
    seed_available(alice.user.id, providers["card"], 1_000_000)
    for n in range(10):
        body = {**PAYMENT, "amount": 10_000, "reference": f"r-{n}"}
        assert send(bases[0], "/transactions", body, alice.token).status == 201

    calls, given_up = [], []
    for n in range(160):
        base = bases[n % len(bases)]
        if n % 2:
            path, body = "/settlements/withdraw", {"amount": 1_000 + n, "currency": "USD"}
        else:
            path, body = f"/transactions/r-{n % 10}/refund", {"amount": 100 + n}
        key = f"money-{n}"
        if n % 4 == 0:
            calls.append(partial(send, base, path, body, alice.token, key=key))
        else:
            given_up.append((path, body, key))
            cut = {"after": random_delay(rng), "reset": rng.random() < 0.5}
            calls.append(partial(give_up, base, path, body, alice.token, key=key, **cut))
    results = storm(instances, calls)
    answered = [r for r in results if isinstance(r, Answer)]
    assert answered and all(a.status in (200, 201) for a in answered), [
        a for a in answered if a.status not in (200, 201)
    ][:3]
    states = wait_until_settled(db)
    assert not states["idle in transaction"], states

    for path, body, key in given_up:
        retry = send(bases[1], path, body, alice.token, key=key)
        assert retry.status in (200, 201), (path, key, retry)
    # Every key made its write exactly once: one payout per withdrawal key, one refund per
    # refund key (amounts are distinct, so each can be found).
    with db.session() as session:
        payouts = Counter(session.exec(select(Settlement.amount)).all())
        refunds = Counter(session.exec(select(Refund.amount)).all())
        assert money_problems(session) == []
    assert payouts == Counter(1_000 + n for n in range(160) if n % 2)
    assert refunds == Counter(100 + n for n in range(160) if n % 2 == 0)


def test_sigterm_after_a_burst_of_abandoned_requests_stops_the_instance(
    db: TestDatabase, alice: Caller, redis_url: str, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("the served instances run on PostgreSQL")
    env = instance_env(db.url, redis_url, workers=1, PAYBRIDGE_DRAIN_SECONDS="10")
    instance = Instance(env=env, log=tmp_path / "instance.log")
    try:
        instance.wait_ready()
        rng = random.Random(7)
        together(
            200,
            lambda n: give_up(
                instance.url,
                "/transactions",
                {**PAYMENT, "reference": f"t-{n}"},
                alice.token,
                key=f"t-{n}" if n % 2 else None,
                after=random_delay(rng),
            ),
            threads=100,
        )
        started = time.monotonic()
        os.kill(instance.process.pid, signal.SIGTERM)  # as `docker stop` does
        try:
            instance.process.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGTERM:\n{instance.text()[-2000:]}")
        assert time.monotonic() - started < 30
    finally:
        instance.stop()
    states = wait_until_settled(db)
    assert not states["idle in transaction"], states
    with db.session() as session:
        assert money_problems(session) == []
