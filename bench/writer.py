"""The payment writer alone: `PaymentWriter._write` driven in this thread with batches of
keyed payments (no HTTP, no event loop), and the CPU a batch costs, split by phase.

    taskset -c 1 .venv/bin/python bench/writer.py                        # batches of 1 and 20
    chrt -f 50 taskset -c 1 .venv/bin/python bench/writer.py --batch 1,20,100 --phases

A group-commit batch has a fixed part (its transaction's round trips) and a part per payment;
this separates them from the HTTP side that `get_path.py` and `ingest.py` add. Each size runs
`--payments` payments after a warm-up and prints this thread's CPU (user and system, from
getrusage) a batch and a payment, and its voluntary context switches a batch (one per round trip
to PostgreSQL or Redis). `--phases` runs the same batches again with each step of the batch timed
on the thread's CPU clock (the claims, each statement, the 201's body...); a step's figure
includes the steps inside it. Run it pinned; under `chrt -f` the host's other load moves it
least (bench/HISTORY.md "Ninth pass").
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import os
import resource
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import DEFAULT_REDIS, bench_merchant, create_database, drop_database  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_writer"
PATH = "/api/v1/transactions"

# (module, attribute, where it is called from): each step of a batch that --phases times. A
# step imported by name into another module is timed where that module calls it.
PHASES = (
    ("paybridge.db", "unit_begin", "paybridge.db"),
    ("paybridge.services.idempotency", "idempotency_claim_many", "paybridge.api.ingest"),
    ("paybridge.services.idempotency", "_lock_keys", "paybridge.services.idempotency"),
    ("paybridge.services.idempotency", "_records", "paybridge.services.idempotency"),
    ("paybridge.services.transactions", "new_payment", "paybridge.services.transactions"),
    ("paybridge.services.transactions", "transactions_record", "paybridge.api.ingest"),
    ("paybridge.services.transactions", "_insert_payments", "paybridge.services.transactions"),
    ("paybridge.services.rollups", "rollup_apply", "paybridge.services.transactions"),
    ("paybridge.events.outbox", "record_events", "paybridge.services.transactions"),
    ("paybridge.events.payloads", "transaction_payload", "paybridge.services.transactions"),
    ("paybridge.services.idempotency", "idempotency_complete_many", "paybridge.api.ingest"),
)


def timed(spent: Counter[str], name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    """Add the step's CPU to `spent[name]` and its wall time (CPU plus the wait on the
    database) to `spent[name + WALL]`."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> Any:
        start, wall = time.thread_time(), time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            spent[name] += time.thread_time() - start
            spent[name + WALL] += time.perf_counter() - wall

    return run


WALL = " (wall)"


def time_phases(spent: Counter[str]) -> None:
    """Wrap each step of PHASES, and the unit's commit (with what runs after it)."""
    from paybridge import db

    for module, name, caller in PHASES:
        step = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(caller), name, timed(spent, name, step))
    db.Unit.commit = timed(spent, "Unit.commit", db.Unit.commit)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", default="1,20", help="batch sizes, comma-separated")
    parser.add_argument("--payments", type=int, default=4000, help="payments a size")
    parser.add_argument("--phases", action="store_true", help="then time each step")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args()
    os.environ.setdefault("PAYBRIDGE_ENV", "test")
    create_database(args.database_url)
    os.environ["REDIS_URL"] = args.redis  # the batch's events are published, as served
    try:
        run(args)
    finally:
        drop_database(args.database_url)


def run(args: argparse.Namespace) -> None:
    from paybridge.api.ingest import PaymentWriter, Pending
    from paybridge.api.resources.payments import payment_json
    from paybridge.services import transactions
    from paybridge.services.idempotency import KeyedRequest

    merchant = bench_merchant("writer")
    writer = PaymentWriter(payment_json)
    loop = asyncio.new_event_loop()

    def make() -> Any:  # through the module, so that --phases times it
        return transactions.new_payment(
            merchant_id=merchant,
            amount=1050,
            currency="USD",
            provider="card",
            customer_email="payer@example.com",
            status="success",
        )

    def batch(size: int) -> list[Pending]:
        return [
            Pending(
                make,
                KeyedRequest(merchant, uuid.uuid4().hex, "POST", PATH, "h" * 64),
                loop,
                loop.create_future(),
            )
            for _ in range(size)
        ]

    def write(size: int, count: int) -> None:
        for pending in [batch(size) for _ in range(count)]:
            writer._write(pending)

    sizes = [int(size) for size in args.batch.split(",") if size]
    for size in sizes:
        count = max(args.payments // size, 10)
        write(size, 20)  # warm-up: prepared statements, caches
        before = resource.getrusage(resource.RUSAGE_THREAD)
        wall = time.perf_counter()
        write(size, count)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_THREAD)
        user = (after.ru_utime - before.ru_utime) / count * 1e6
        system = (after.ru_stime - before.ru_stime) / count * 1e6
        switches = (after.ru_nvcsw - before.ru_nvcsw) / count
        print(
            f"batch {size:4d}: {user + system:7.0f} µs CPU a batch (user {user:.0f}, system "
            f"{system:.0f}), {(user + system) / size:6.0f} a payment; {switches:.1f} voluntary "
            f"switches, {wall / count * 1e6:.0f} µs wall a batch",
            flush=True,
        )
    if not args.phases:
        return
    spent: Counter[str] = Counter()
    time_phases(spent)
    for size in sizes:
        count = max(args.payments // size, 10)
        spent.clear()
        write(size, count)
        print(f"batch {size}, µs a batch by step, CPU and wall (a step includes those inside it):")
        for name, seconds in spent.most_common():
            if not name.endswith(WALL):
                wall = spent[name + WALL]
                print(f"  {seconds / count * 1e6:8.0f} {wall / count * 1e6:8.0f}  {name}")


if __name__ == "__main__":
    main()
