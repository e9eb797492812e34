"""`python -m paybridge worker` as real processes: killed with SIGKILL in the middle of a run
and restarted it loses nothing; two workers on PostgreSQL never send one attempt twice;
SIGTERM stops a worker cleanly."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from paybridge.models import User
from paybridge.services.transactions import transaction_create
from tests.conftest import TestDatabase
from tests.webhooks.conftest import (
    Received,
    all_finished,
    deliveries,
    make_endpoint,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)


def pay(merchant_id: int, count: int) -> list[str]:
    return [
        transaction_create(
            merchant_id=merchant_id,
            amount=1_000 + i,
            currency="USD",
            provider="card",
            customer_email="payer@example.com",
        ).reference
        for i in range(count)
    ]


def slow_ok(delay: float):
    def respond(_request: Received, _n: int) -> tuple[int, bytes]:
        time.sleep(delay)
        return 200, b"ok"

    return respond


def test_a_worker_killed_mid_run_and_restarted_loses_nothing(
    db: TestDatabase, merchant: User, receivers, worker_processes
) -> None:
    receiver = receivers(slow_ok(0.02))
    hook = make_endpoint(merchant.id, receiver.url, ["transaction.created"])
    references = pay(merchant.id, 80)

    first = worker_processes(db.url, "--concurrency", "4")
    receiver.wait_for_count(20, timeout=30)
    first.kill()  # SIGKILL: no chance to finish anything
    assert first.process.returncode == -9
    received_before = len(receiver.snapshot())
    assert received_before < 80, "the worker finished before it could be killed"

    references += pay(merchant.id, 20)  # written while no worker runs
    second = worker_processes(db.url, "--concurrency", "4")
    wait_until(lambda: all_finished(hook.id, expected=100), timeout=60)
    assert second.terminate() == 0

    got = receiver.snapshot()
    assert {r.json["data"]["reference"] for r in got} == set(references)
    assert {d.status for d in deliveries(hook.id)} == {"succeeded"}
    # At least once: only the handful in flight at the kill may have arrived twice.
    repeats = sum(n - 1 for n in Counter(r.event_id for r in got).values())
    assert repeats <= 8


def test_two_workers_never_deliver_one_attempt_twice(
    db: TestDatabase, merchant: User, receivers, worker_processes
) -> None:
    if db.is_sqlite:
        pytest.skip("several workers are a PostgreSQL setup (SQLite runs one worker)")

    def first_attempt_fails(request: Received, _n: int) -> tuple[int, bytes]:
        time.sleep(0.005)
        return (500, b"try again") if request.attempt == 1 else (200, b"ok")

    receiver = receivers(first_attempt_fails)
    hooks = [make_endpoint(merchant.id, receiver.url) for _ in range(2)]
    workers = [worker_processes(db.url, "--concurrency", "4") for _ in range(2)]
    pay(merchant.id, 60)  # 60 events x 2 endpoints x 2 attempts = 240 requests

    wait_until(lambda: all_finished(expected=120), timeout=60)
    logs = []
    for worker in workers:
        assert worker.terminate() == 0
        logs.append(worker.log())

    got = receiver.snapshot()
    pairs = Counter((r.delivery_id, r.attempt) for r in got)
    assert [pair for pair, n in pairs.items() if n > 1] == []
    assert len(got) == 240
    per_delivery = Counter(r.delivery_id for r in got)
    assert set(per_delivery.values()) == {2}
    assert {d.status for d in deliveries()} == {"succeeded"}
    assert {d.webhook_id for d in deliveries()} == {h.id for h in hooks}
    # Both workers took part (each logs how many attempts it recorded when it stops).
    counts = [int(re.search(r"worker stopped after (\d+) attempts", log).group(1)) for log in logs]
    assert sum(counts) == 240 and min(counts) > 0, counts


def test_sigterm_lets_the_attempt_in_flight_finish(
    db: TestDatabase, merchant: User, receivers, worker_processes
) -> None:
    receiver = receivers(slow_ok(1.0))
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id, 1)
    worker = worker_processes(db.url, "--concurrency", "1")
    receiver.wait_for_count(1, timeout=30)
    started = time.monotonic()
    assert worker.terminate() == 0
    assert time.monotonic() - started >= 0.5  # it waited for the answer
    [delivery] = deliveries(hook.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert "signal 15" in worker.log()
