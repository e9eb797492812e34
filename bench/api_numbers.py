"""`GET /api/v1/analytics` + `GET /api/v1/balance` over HTTP, against an authenticated one-row
GET (`/api/v1/profile`) as the floor, on a merchant that bench/dashboard.py seeded.

Serve the app on the bench database first, e.g.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench \\
    PAYBRIDGE_API_RATE_LIMIT=100000/1 REDIS_URL=redis://127.0.0.1:6379/7 \\
    python -m paybridge serve --backend-only --backend-port 8011
    .venv/bin/python bench/api_numbers.py --base-url http://127.0.0.1:8011 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench

One client, requests in turn (the latency of one dashboard poll, not throughput); the three
kinds alternate so that the machine's noise falls on each alike. An API key is made for the
bench merchant and revoked at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dashboard import DEFAULT_URL, backend_pids, ms, percentile


def group_pids(pgid: int) -> list[int]:
    """Every process of a process group (the served app: `setsid python -m paybridge serve`)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def set_fifo(pids: list[int], on: bool) -> None:
    """SCHED_FIFO (real time) for `pids` or back to the default (root only)."""
    for pid in pids:
        try:
            if on:
                os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
            else:
                os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        except ProcessLookupError:
            continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8011")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--transactions", type=int, default=1_000_000, help="which bench merchant")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--fifo-server-pgid",
        type=int,
        default=None,
        help="after the warm-up, run this client, the app's process group and the bench "
        "database's PostgreSQL backends SCHED_FIFO (root): less waiting for a CPU on a shared "
        "machine; restored at the end",
    )
    args = parser.parse_args(argv)

    os.environ["DATABASE_URL"] = args.database_url
    from sqlmodel import Session, select

    from paybridge.engine import get_engine
    from paybridge.models import User
    from paybridge.services.api_keys import api_key_create, api_key_revoke

    with Session(get_engine()) as session:
        email = f"bench-{args.transactions}@bench.paybridge.test"
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            sys.exit(f"no merchant {email}: run bench/dashboard.py on this database first")
    key, secret = api_key_create(merchant_id=user.id, name="bench api_numbers")
    paths = {"floor": "/api/v1/profile", "analytics": "/api/v1/analytics"}
    paths["balance"] = "/api/v1/balance"
    samples: dict[str, list[float]] = {name: [] for name in [*paths, "together"]}
    fifo: list[int] = []
    try:
        with httpx.Client(
            base_url=args.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as client:
            for i in range(args.warmup + args.repeat):
                if i == args.warmup and args.fifo_server_pgid is not None:
                    fifo = [0, *group_pids(args.fifo_server_pgid)]
                    fifo += backend_pids(args.database_url)
                    set_fifo(fifo, True)
                took = {}
                for name, path in paths.items():
                    t0 = time.perf_counter()
                    response = client.get(path)
                    took[name] = time.perf_counter() - t0
                    response.raise_for_status()
                if i >= args.warmup:
                    for name, seconds in took.items():
                        samples[name].append(seconds)
                    samples["together"].append(took["analytics"] + took["balance"])
    finally:
        set_fifo(fifo, False)
        api_key_revoke(merchant_id=user.id, key_id=key.id)

    load = os.getloadavg()[0]
    print(
        f"HTTP, one client, {args.repeat} rounds ({args.transactions:,}-payment merchant, "
        f"{os.cpu_count()} CPUs, load average {load:.2f}"
        f"{', SCHED_FIFO' if fifo else ''}); ms"
    )
    print(f"  {'':<28} {'p50':>8} {'p95':>8} {'max':>8}")
    for name, values in samples.items():
        label = {"floor": "GET /profile (floor)", "together": "analytics + balance"}.get(
            name, f"GET /{name}"
        )
        print(
            f"  {label:<28} {ms(statistics.median(values)):>8} "
            f"{ms(percentile(values, 95)):>8} {ms(max(values)):>8}"
        )
    p95 = percentile(samples["together"], 95) * 1000
    verdict = "met" if p95 <= 20 else "MISSED"
    print(f"  target: analytics + balance p95 <= 20 ms: {p95:.2f} ms, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
