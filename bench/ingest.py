"""Payment ingest: `POST /api/v1/transactions` driven by `wrk` (a fresh Idempotency-Key per
request), beside a raw psycopg insert loop into the same `transactions` table at the same
concurrency, in the same run; the in-process services path; an authenticated GET beside
Reflex's `/ping`. CPU per payment of the app and of PostgreSQL comes from /proc.

    .venv/bin/python bench/ingest.py                       # 1, 16, 64, 256 connections
    .venv/bin/python bench/ingest.py --connections 64 --seconds 20 --workers 2

The raw loop is the floor: N threads, each with its own autocommit connection, inserting one
payment row per statement (no rollup, no event, no key): what PostgreSQL needs for the row
alone. It runs at most 64 connections (PostgreSQL's max_connections is 100 here); at 256 the
256-connection API figure is compared with it. Rate limits are off (PAYBRIDGE_API_RATE_LIMIT=0)
so that one key can be driven at full speed. The rows follow `--warmup` seconds of the same
POSTs at the first level, unmeasured: without them the first row of a run took the app's first
seconds under load (its p99 96-210 ms, the next row's 60-88). `batch` is the requests a
group-commit batch held during the row, from the app's counters (`GET /api/v1/health`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import (  # noqa: E402
    DEFAULT_REDIS,
    ServedApp,
    bench_credentials,
    bench_merchant,
    create_database,
    drop_database,
    postgres_cpu,
    require_wrk,
    wrk_post,
)
from bench.live_latency import cpu_seconds  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_ingest"
PAYMENT = {
    "amount": 1050,
    "currency": "USD",
    "provider": "card",
    "customer_email": "payer@example.com",
    "status": "success",
}


def credentials() -> tuple[int, str, str]:
    """(merchant id, API key, JWT access token) of the bench merchant."""
    merchant_id = bench_merchant("ingest")
    return (merchant_id, *bench_credentials(merchant_id))


def raw_loop(url: str, merchant_id: int, threads: int, seconds: float) -> dict[str, float]:
    """The floor: `threads` autocommit connections inserting one payment row each statement."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        provider = conn.execute("SELECT id FROM providers WHERE code = 'card'").fetchone()[0]
    latencies: list[float] = []
    counts = [0] * threads
    start_line = threading.Barrier(threads + 1)
    stop = threading.Event()

    def insert(n: int) -> None:
        mine: list[float] = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            start_line.wait()
            i = 0
            while not stop.is_set():
                began = time.perf_counter()
                conn.execute(
                    "INSERT INTO transactions (merchant_id, reference, amount, currency, status,"
                    " provider_id, customer_email, fee, net_amount, refunded_amount, refunded_net,"
                    " created_at, updated_at) VALUES (%s, %s, 1050, 'USD', 'success', %s,"
                    " 'payer@example.com', 60, 990, 0, 0, now(), now())",
                    (merchant_id, f"raw-{threads}-{n}-{i}-{time.monotonic_ns()}", provider),
                )
                mine.append(time.perf_counter() - began)
                i += 1
            counts[n] = i
        latencies.extend(mine)

    workers = [threading.Thread(target=insert, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start_line.wait()
    pg_before, began = postgres_cpu(), time.monotonic()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed, pg_used = time.monotonic() - began, postgres_cpu() - pg_before
    latencies.sort()
    total = sum(counts)
    return {
        "rate": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "pg_cpu_ms": pg_used / max(total, 1) * 1e3,
    }


def services_path(merchant_id: int, seconds: float, batch: int) -> dict[str, float]:
    """In this process: `transaction_create` one at a time, or `transactions_record` of
    `batch` payments at once; payments/s and this process's CPU per payment."""
    from paybridge.services.transactions import (
        new_payment,
        transaction_create,
        transactions_record,
    )

    made = 0
    cpu_before, pg_before, began = _own_cpu(), postgres_cpu(), time.monotonic()
    while time.monotonic() - began < seconds:
        if batch == 1:
            transaction_create(merchant_id=merchant_id, **PAYMENT)
            made += 1
        else:
            payments = [new_payment(merchant_id=merchant_id, **PAYMENT) for _ in range(batch)]
            made += len(transactions_record(payments))
    elapsed = time.monotonic() - began
    return {
        "rate": made / elapsed,
        "app_cpu_ms": (_own_cpu() - cpu_before) / made * 1e3,
        "pg_cpu_ms": (postgres_cpu() - pg_before) / made * 1e3,
    }


def _own_cpu() -> float:
    import os

    return cpu_seconds({os.getpid()})


def per_batch(before: dict[str, int], after: dict[str, int]) -> float:
    """Requests a group-commit batch between two readings of the app's counters (one worker's:
    with several, whichever answered `/health`)."""
    batches = after.get("ingest_batches", 0) - before.get("ingest_batches", 0)
    requests = after.get("ingest_batched_requests", 0) - before.get("ingest_batched_requests", 0)
    return requests / batches if batches else 0.0


def wrk_get(url: str, connections: int, seconds: float, token: str | None) -> tuple[float, int]:
    """(requests a second, requests answered) of `wrk` GETting `url`."""
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{round(seconds)}s", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = answered = None
    for line in output.splitlines():
        if line.startswith("Requests/sec:"):
            rate = float(line.split()[1])
        elif "requests in" in line:
            answered = int(line.split()[0])
    if rate is None or answered is None:
        raise RuntimeError(output)
    return rate, answered


def get_against_ping(app: ServedApp, key: str, rounds: int) -> None:
    """`GET /api/v1/profile` beside Reflex's `/ping`, alternated, by wall rate and by the app's
    CPU a request (the rate swings with the machine's other load; the CPU much less)."""
    rates: dict[str, list[float]] = {"profile": [], "ping": []}
    cpu: dict[str, list[float]] = {"profile": [], "ping": []}
    for _ in range(rounds):
        for name, path, token in (("ping", "/ping", None), ("profile", "/api/v1/profile", key)):
            before = app.cpu()
            rate, answered = wrk_get(app.url + path, 16, 5, token)
            rates[name].append(rate)
            cpu[name].append((app.cpu() - before) / max(answered, 1) * 1e6)
    for name in ("profile", "ping"):
        print(
            f"GET {name:>8}: {statistics.median(rates[name]):7.0f} req/s, "
            f"{min(cpu[name]):5.0f} ({statistics.median(cpu[name]):.0f}) us app CPU a request"
        )
    wall = statistics.median(rates["profile"]) / statistics.median(rates["ping"])
    by_cpu = statistics.median(cpu["ping"]) / statistics.median(cpu["profile"])
    print(
        f"profile / ping: wall {wall:.2f}, by CPU {by_cpu:.2f} "
        f"(least (median) of {rounds} rounds of 5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2, help="Granian workers of the app")
    parser.add_argument("--cpus", default="", help="taskset the app to these cores (e.g. 0)")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--get-only", action="store_true", help="only the GET against /ping")
    parser.add_argument("--get-rounds", type=int, default=3)
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of unmeasured POSTs before the rows"
    )
    args = parser.parse_args()
    require_wrk()
    levels = [] if args.get_only else [int(c) for c in args.connections.split(",")]

    create_database(args.database_url)
    merchant_id, key, jwt = credentials()
    if levels:
        print(f"services path, {args.seconds:.0f} s each (this process, no HTTP):")
        for batch in (1, 50):
            result = services_path(merchant_id, min(args.seconds, 10), batch)
            print(
                f"  batches of {batch:>3}: {result['rate']:7.0f} payments/s, "
                f"{result['app_cpu_ms']:.2f} ms Python CPU and {result['pg_cpu_ms']:.2f} ms "
                "PostgreSQL CPU per payment",
                flush=True,
            )

    app = ServedApp(
        database_url=args.database_url,
        redis_url=args.redis or None,
        workers=args.workers,
        cpus=args.cpus,
    )
    body = json.dumps(PAYMENT)
    try:
        if levels:
            print(
                f"\nPOST /api/v1/transactions, {args.workers} Granian worker(s)"
                f"{' on cores ' + args.cpus if args.cpus else ''}, {args.seconds:.0f} s per row "
                "(wrk; fresh Idempotency-Key per request):"
            )
            print(
                f"{'conns':>5} {'auth':>7} {'payments/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
                f"{'app ms/p':>8} {'pg ms/p':>7} {'batch':>5} | {'raw rows/s':>10} {'raw p50':>7} "
                f"{'ratio':>5}  codes"
            )
        if levels and args.warmup > 0:  # the app's first seconds under load, unmeasured
            wrk_post(
                app.url,
                paths=["/api/v1/transactions"],
                tokens=[key],
                bodies=[body],
                connections=levels[0],
                seconds=args.warmup,
                cpus="",
            )
        for connections in levels:
            floor = raw_loop(args.database_url, merchant_id, min(connections, 64), args.seconds)
            for label, token in (("api key", key), ("jwt", jwt)):
                if label == "jwt" and connections not in (64,):
                    continue
                app_cpu, pg_cpu, counted = app.cpu(), postgres_cpu(), app.health()["counters"]
                result = wrk_post(
                    app.url,
                    paths=["/api/v1/transactions"],
                    tokens=[token],
                    bodies=[body],
                    connections=connections,
                    seconds=args.seconds,
                    cpus="",
                    timeout="30s",
                )
                made = max(result.ok(201), 1)
                app_cpu, pg_cpu = app.cpu() - app_cpu, postgres_cpu() - pg_cpu
                grouped = per_batch(counted, app.health()["counters"])
                rate = result.ok(201) / result.seconds
                errors = {k: v for k, v in result.socket_errors.items() if v}
                print(
                    f"{connections:>5} {label:>7} {rate:10.0f} {result.p50_ms:7.1f} "
                    f"{result.p99_ms:7.1f} {app_cpu / made * 1e3:8.2f} {pg_cpu / made * 1e3:7.2f}"
                    f" {grouped:5.1f}"
                    f" | {floor['rate']:10.0f} {floor['p50_ms']:7.2f} "
                    f"{rate / floor['rate']:5.2f}  {result.codes} {errors or ''}",
                    flush=True,
                )
        time.sleep(1)
        print(f"\nGET, {args.workers} Granian worker(s), wrk 16 connections, API key:")
        get_against_ping(app, key, args.get_rounds)
        print(f"app counters: {app.health()['counters']}")
    finally:
        app.stop()
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
