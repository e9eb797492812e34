"""An authenticated GET (and a payment's POST) in process: `GET /api/v1/profile` driven
straight into the API as the backend serves it (`served_api`: its security layer, the short
path to table routes, and the CORS layer Reflex adds; no HTTP server), so that
what one request costs in Python CPU can be read without Granian, `wrk` or the machine's other
load in the figure.

    .venv/bin/python bench/get_path.py                       # API key and JWT, limits off and on
    .venv/bin/python bench/get_path.py --requests 5000 --concurrency 16 --profile key-redis

Each case sends `--requests` requests, `--concurrency` at a time on one uvloop loop, after a
warm-up, and reports the process's CPU (every thread: the loop, the threadpool, Redis and
PostgreSQL clients) per request, and the loop thread's own share. Cases: `key` / `jwt` with
rate limits off (what `bench/ingest.py` measures; Redis still carries revocation notices),
`key-redis` / `jwt-redis` with a limit high enough never to refuse, counted in Redis (what
production does); `post`: `POST /api/v1/transactions` with the key and a unique
`Idempotency-Key` (bench/ingest.py's payment; the batch writer's thread is in the process CPU).
`--profile CASE` prints the cProfile of the loop thread in that case's first round, on the
thread's CPU clock (the wall clock charges a GIL wait to whichever call let the GIL go), sorted
by own time. Run it pinned (`taskset -c 1`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.http_load import (  # noqa: E402
    DEFAULT_REDIS,
    bench_credentials,
    bench_merchant,
    create_database,
    drop_database,
)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_get"
CASES = ("key", "jwt", "key-redis", "jwt-redis", "post")
PAYMENT = json.dumps(
    {
        "amount": 1050,
        "currency": "USD",
        "provider": "card",
        "customer_email": "payer@example.com",
        "status": "success",
    }
).encode()


def credentials() -> tuple[str, str]:
    """(API key, JWT access token) of a fresh bench merchant."""
    return bench_credentials(bench_merchant("get"))


async def one_request(app, token: str, post: bool = False) -> int:  # type: ignore[no-untyped-def]
    path = "/api/v1/transactions" if post else "/api/v1/profile"
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"accept", b"*/*"),
    ]
    if post:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(PAYMENT)).encode()),
            (b"idempotency-key", uuid.uuid4().hex.encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST" if post else "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    status = 0

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": PAYMENT if post else b"", "more_body": False}

    async def send(message):  # type: ignore[no-untyped-def]
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app, token: str, requests: int, concurrency: int, post: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    codes: dict[str, int] = {}
    per_task = requests // concurrency

    async def client() -> None:
        for _ in range(per_task):
            code = str(await one_request(app, token, post))
            codes[code] = codes.get(code, 0) + 1

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return codes


def run_case(app, case: str, tokens: dict[str, str], args) -> float:  # type: ignore[no-untyped-def]
    from paybridge.api import ratelimit
    from paybridge.settings import get_settings

    os.environ["PAYBRIDGE_API_RATE_LIMIT"] = "1000000000/1" if case.endswith("-redis") else "0"
    get_settings.cache_clear()
    ratelimit.reset_memory()
    token = tokens["key" if case == "post" else case.split("-")[0]]
    post = case == "post"
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(drive(app, token, 500, args.concurrency, post))  # warm-up
        profiler = cProfile.Profile(time.thread_time) if args.profile == case else None
        loop_thread = threading.get_native_id()
        cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        codes = loop.run_until_complete(drive(app, token, args.requests, args.concurrency, post))
        if profiler:
            profiler.disable()
        cpu = time.process_time() - cpu
        loop_cpu = time.thread_time() - loop_cpu
        wall = time.perf_counter() - wall
    finally:
        loop.close()
    done = sum(codes.values())
    assert threading.get_native_id() == loop_thread
    print(
        f"{case:>10}: {cpu / done * 1e6:6.0f} µs CPU a request ({loop_cpu / done * 1e6:4.0f} µs on "
        f"the loop), {done / wall:6.0f} req/s wall, codes {codes}",
        flush=True,
    )
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats(args.sort).print_stats(args.lines)
    return cpu / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="cProfile this case (once)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    os.environ.setdefault("PAYBRIDGE_ENV", "test")
    os.environ["PAYBRIDGE_API_RATE_LIMIT_PREFIX"] = f"bench-get:{os.getpid()}"
    create_database(args.database_url)
    os.environ["REDIS_URL"] = args.redis  # revocation notices, and the limits when on
    try:
        key, jwt = credentials()
        import reflex as rx

        from paybridge.api.app import api, served_api

        rx.App._add_cors(api)  # as Reflex adds it to the API it mounts
        app = served_api(api)
        # As under Granian, requests run in a context that holds Reflex's config: without it
        # every `rx.config.get_config()` in a fresh task's context reads rxconfig.py again.
        rx.config.get_config()
        tokens = {"key": key, "jwt": jwt}
        cases = [c for c in args.cases.split(",") if c]
        figures: dict[str, list[float]] = {case: [] for case in cases}
        for n in range(args.rounds):
            print(f"round {n + 1}: {args.requests} requests, {args.concurrency} at a time")
            for case in cases:
                figures[case].append(run_case(app, case, tokens, args))
            args.profile = ""  # profile the first round only
        # The least a round cost is the figure to compare: other load only ever adds to it.
        print("µs CPU a request, least (median) of the rounds:")
        for case, values in figures.items():
            print(f"{case:>10}: {min(values):6.0f} ({statistics.median(values):.0f})")
    finally:
        from paybridge.api.request_log import api_logs

        api_logs.flush()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
