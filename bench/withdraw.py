"""Withdrawals through the API: `POST /api/v1/settlements/withdraw`, each with its own
Idempotency-Key, for one merchant (serialised by design: each holds the merchant's balance lock
from the balance check to the insert) and spread over 100 merchants (in parallel).

The app runs as one Granian worker pinned to core 0, `wrk` on core 1. Each run prints the
withdrawals per second, p50/p95/p99 latency, the status codes, PostgreSQL's deadlock count
and the units of work rerun after a deadlock or serialization failure (the worker's
`db_contention_retries` counter), plus the app's and PostgreSQL's CPU per withdrawal.

    .venv/bin/python bench/withdraw.py [--seconds 15] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import (  # noqa: E402
    DEFAULT_REDIS,
    ServedApp,
    create_database,
    drop_database,
    postgres_cpu,
    require_wrk,
    wrk_post,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_withdraw"


def merchants_with_money(count: int) -> list[str]:
    """`count` merchants, each with $1,000,000.00 available; their API keys."""
    from datetime import timedelta

    from paybridge.db import utcnow
    from paybridge.services.api_keys import api_key_create
    from paybridge.services.transactions import transaction_create
    from paybridge.services.users import user_create, user_update_payout_settings

    keys = []
    for n in range(count):
        user = user_create(
            email=f"payout-{n}@bench.paybridge.test",
            password="bench-password-1",
            full_name="Payout Bench",
            company_name=f"Bench {n}",
            kyc_status="verified",
        )
        user_update_payout_settings(
            user_id=user.id,
            schedule="manual",
            bank_name="Bench Bank",
            bank_account_number="0123456789",
        )
        transaction_create(
            merchant_id=user.id,
            amount=103_000_000,
            currency="USD",
            provider="bank_transfer",
            customer_email="payer@example.com",
            status="success",
            created_at=utcnow() - timedelta(days=30),
        )
        keys.append(api_key_create(merchant_id=user.id, name="bench")[1])
    return keys


def deadlocks(url: str) -> int:
    import sqlalchemy as sa

    from paybridge.engine import get_engine

    with get_engine().connect() as conn:
        return conn.execute(
            sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    require_wrk()

    create_database(args.database_url)
    keys = merchants_with_money(101)
    app = ServedApp(database_url=args.database_url, redis_url=args.redis or None, cpus="0")
    body = json.dumps({"amount": 1, "currency": "USD"})
    try:
        print(
            f"{args.connections} connections, {args.seconds:.0f} s each; app: 1 Granian worker "
            "on core 0, wrk on core 1"
        )
        print(
            f"{'merchants':>9} {'withdrawals/s':>13} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'app CPU/w':>10} {'pg CPU/w':>9} {'retries':>7} {'deadlocks':>9}  codes"
        )
        for label, tokens in (("1", keys[:1]), ("100", keys[1:])):
            retries_before = app.health()["counters"].get("db_contention_retries", 0)
            deadlocks_before = deadlocks(args.database_url)
            app_cpu, pg_cpu = app.cpu(), postgres_cpu()
            result = wrk_post(
                app.url,
                paths=["/api/v1/settlements/withdraw"],
                tokens=tokens,
                bodies=[body],
                connections=args.connections,
                seconds=args.seconds,
            )
            app_cpu, pg_cpu = app.cpu() - app_cpu, postgres_cpu() - pg_cpu
            made = max(result.ok(201), 1)
            retries = app.health()["counters"].get("db_contention_retries", 0) - retries_before
            print(
                f"{label:>9} {result.ok(201) / result.seconds:13.0f} {result.p50_ms:7.1f} "
                f"{result.p95_ms:7.1f} {result.p99_ms:7.1f} {app_cpu / made * 1e3:8.2f}ms "
                f"{pg_cpu / made * 1e3:7.2f}ms {retries:7d} "
                f"{deadlocks(args.database_url) - deadlocks_before:9d}  {result.codes} "
                f"{ {k: v for k, v in result.socket_errors.items() if v} or '' }",
                flush=True,
            )
            time.sleep(1)
    finally:
        app.stop()
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
