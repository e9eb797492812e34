"""What the login defences cost, against floors measured in the same run.

- counting one attempt (`services.throttle.attempt`, two counters as a login from an unknown
  device counts) on PostgreSQL, SQLite and Redis, against the bcrypt check every allowed
  attempt pays anyway (the floor a login cannot go under);
- turning away a guess once the account is locked (`authenticate` -> 429), i.e. how cheaply an
  attack is answered, against the same bcrypt floor;
- the security-headers layer on one response (`paybridge/api/security.py`), against the same
  tiny ASGI app without it (the floor), in microseconds.

    .venv/bin/python bench/login_throttle.py [--repeat 400]

Sequential and single-threaded: these are per-call costs. The machine is shared; the floors are
measured in the same run, and each figure is the median of five rounds with their spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rounds(call: Callable[[], object], repeat: int, *, count: int = 5) -> tuple[float, float]:
    """Median and spread (max - min) of `count` rounds, in microseconds per call."""
    per_call = []
    for _ in range(count):
        started = time.perf_counter()
        for _ in range(repeat):
            call()
        per_call.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(per_call), max(per_call) - min(per_call)


def show(label: str, result: tuple[float, float], floor: tuple[float, float] | None = None) -> None:
    median, spread = result
    ratio = f"  ({median / floor[0]:.3f}x the floor)" if floor else ""
    print(f"  {label:<46} {median:>10.1f} us  ±{spread / 2:.1f}{ratio}", flush=True)


def use(database_url: str, redis_url: str | None) -> None:
    from tests.conftest import use_database

    os.environ["DATABASE_URL"] = database_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    use_database(database_url)


def bench_store(name: str, repeat: int, floor: tuple[float, float]) -> None:
    from paybridge.errors import DomainError
    from paybridge.services import throttle
    from paybridge.services.auth import authenticate
    from tests.conftest import create_merchant

    big = throttle.Rule("bench-account", 10**9, throttle.LOGIN_ACCOUNT.window)
    address = throttle.Rule("bench-address", 10**9, throttle.LOGIN_ADDRESS.window)
    key = uuid.uuid4().hex
    show(
        f"{name}: count one login attempt",
        rounds(lambda: throttle.attempt((big, key), (address, key)), repeat),
        floor,
    )
    email = f"bench-{uuid.uuid4().hex[:8]}@bench.paybridge.test"
    create_merchant(email, bank=False)
    for n in range(throttle.LOGIN_ACCOUNT.limit):  # lock it for unknown devices
        with contextlib.suppress(DomainError):
            authenticate(email=email, password=f"wrong-{n}", client="bench")

    def refused() -> None:
        try:
            authenticate(email=email, password="wrong", client="bench")
        except throttle.TooManyAttempts:
            return
        raise AssertionError("not refused")

    show(f"{name}: turn away a guess (429)", rounds(refused, repeat), floor)


def bench_headers(repeat: int) -> None:
    from paybridge.api.security import secure

    async def tiny(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    scope = {"type": "http", "path": "/api/v1/profile", "method": "GET", "headers": []}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        pass

    wrapped = secure(tiny)
    loop = asyncio.new_event_loop()

    def timed(app) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        for _ in range(repeat * 20):
            loop.run_until_complete(app(scope, receive, send))
        return (time.perf_counter() - started) / (repeat * 20) * 1e6

    bare, layered = [], []
    for _ in range(9):  # interleaved, so both see the same share of a busy machine
        bare.append(timed(tiny))
        layered.append(timed(wrapped))
    loop.close()
    floor = (statistics.median(bare), max(bare) - min(bare))
    show("one response, bare ASGI app (floor)", floor)
    show(
        "one response with the security headers",
        (statistics.median(layered), max(layered) - min(layered)),
        floor,
    )
    extra = [b - a for a, b in zip(bare, layered, strict=True)]
    print(f"  {'added by the layer (paired rounds)':<46} {statistics.median(extra):>10.1f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=400)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    args = parser.parse_args()
    os.environ.setdefault("PAYBRIDGE_ENV", "dev")

    from paybridge.migrations import migrate
    from paybridge.services.users import check_password, hash_password
    from tests.conftest import postgres_create_database

    password_hash = hash_password("bench-password-123")
    floor = rounds(lambda: check_password("wrong", password_hash), 4)
    print("per call, median of 5 rounds (± half the spread):")
    show("bcrypt check of one password (floor)", floor)

    postgres = postgres_create_database("paybridge_bench_security", drop_first=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, url, redis_url in (
            ("PostgreSQL", postgres, None),
            ("SQLite", f"sqlite:///{tmp}/bench.db", None),
            ("Redis", postgres, args.redis_url),
        ):
            use(url, redis_url)
            from paybridge.engine import get_engine

            migrate(get_engine())
            bench_store(name, args.repeat, floor)
    bench_headers(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
