"""Soak: two app instances behind nginx (the fault-test topology), simulated API traffic, N live
dashboards and M GraphQL subscribers, for a while; prints every process's memory at start and
end, the errors, and whether every dashboard and subscriber saw every accepted payment.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_soak \
        .venv/bin/python bench/soak.py --minutes 30 --dashboards 50 --subscribers 10 --rate 20

The database is created if missing and migrated; a soak merchant is added to it. "Dashboards"
are raw Reflex websocket clients logged in with a session cookie that run the dashboard's
`load` event (so each has a live listener in the app, exactly as a browser tab does) and collect
the payment references in every update they receive; they connect through nginx and straight
to each instance in turn, on one asyncio loop in a child process (bench/sim_dashboards.py), so
their pauses are the app's, not this process's threads'. "Subscribers" are GraphQL `events`
subscriptions. Exit status 1 when any request failed, any dashboard or subscriber missed a
payment, or a process grew by more than --max-growth-mib after the warm-up (--warmup-minutes;
every worker's RSS is printed every 10 s so the curve can be read). Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree(pid: int) -> list[int]:
    found = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.extend(tree(int(stat.parent.name)))
        except OSError:
            continue
    return found


REFERENCE = r"soak-[0-9a-f]{16}"
ORIGIN = "http://soak.paybridge.test"  # the UI origin the instances are told to accept


def memory(topology) -> dict[str, float]:  # type: ignore[no-untyped-def]
    sizes: dict[str, float] = {}
    for n, instance in enumerate(topology.instances, 1):
        for pid in tree(instance.process.pid):
            role = "supervisor" if pid == instance.process.pid else f"worker {pid}"
            sizes[f"instance{n} {role}"] = round(rss_mib(pid), 1)
    for pid in tree(topology.nginx.process.pid):
        sizes[f"nginx {pid}"] = round(rss_mib(pid), 1)
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--dashboards", type=int, default=50, help="live dashboard clients")
    parser.add_argument("--subscribers", type=int, default=10, help="GraphQL subscriptions")
    parser.add_argument("--rate", type=float, default=20.0, help="payments per second in total")
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=5.0,
        help="growth is judged from here on (caches, pools and allocator arenas fill first)",
    )
    parser.add_argument("--max-growth-mib", type=float, default=32.0)
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        print("set DATABASE_URL to a PostgreSQL database (created if missing)", file=sys.stderr)
        return 2
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ["REDIS_URL"] = ""  # this process writes set-up rows only; no bus needed
    os.environ["PAYBRIDGE_ALLOWED_ORIGINS"] = ORIGIN

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{url.database}"')
    admin.dispose()
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)

    from bench.sim_dashboards import SimDashboards
    from paybridge.engine import get_engine
    from paybridge.migrations import migrate
    from paybridge.services.api_keys import api_key_create
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.services.users import user_create
    from paybridge.state.dashboard import DashboardState
    from tests.conftest import web_session_token
    from tests.ops.test_topology import PAYMENT, V1, post, subscribe
    from tests.ops.topology import Topology

    migrate(get_engine())
    providers_ensure_defaults()
    merchant = user_create(
        email=f"soak-{uuid.uuid4().hex[:8]}@example.com",
        password="soak-password-123",
        full_name="Soak",
        company_name="Soak Ltd",
        kyc_status="verified",
        timezone="UTC",
    )
    token = api_key_create(merchant_id=merchant.id, name="soak")[1]
    session = web_session_token(merchant.id)

    workdir = Path(tempfile.mkdtemp(prefix="paybridge-soak-"))
    topology = Topology(
        database_url=os.environ["DATABASE_URL"], redis_url=redis_url, workdir=workdir
    )
    errors: list[str] = []
    accepted: set[str] = set()
    received: list[dict[str, float]] = [{} for _ in range(args.subscribers)]  # ref -> when
    answered: dict[str, float] = {}  # reference -> when its POST answered 201
    writers: list[threading.Thread] = []
    stop = threading.Event()  # subscribers
    stop_writing = threading.Event()
    lock = threading.Lock()

    def subscriber(n: int) -> None:
        base = [topology.nginx.url, *(i.url for i in topology.instances)][n % 3]
        ws = subscribe(base, token)
        ws.settimeout(5)
        while not stop.is_set():
            try:
                message = json.loads(ws.recv())
            except Exception:  # a quiet second: keep listening
                continue
            if message.get("type") != "next":
                with lock:
                    errors.append(f"subscriber {n}: {message}")
                return
            reference = message["payload"]["data"]["events"]["payload"].get("reference")
            received[n].setdefault(reference, time.monotonic())
        ws.close()

    def writer() -> None:
        interval = len(writers) / args.rate  # the writers share the rate
        next_at = time.monotonic()
        while not stop_writing.is_set():
            reference = f"soak-{uuid.uuid4().hex[:16]}"
            status, body = post(
                f"{topology.nginx.url}{V1}/transactions", {**PAYMENT, "reference": reference}, token
            )
            with lock:
                if status == 201:
                    accepted.add(reference)
                    answered[reference] = time.monotonic()
                else:
                    errors.append(f"POST {status}: {str(body)[:200]}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    dashboards: SimDashboards | None = None
    report: dict[str, list] = {"arrived": [], "updates": [], "gaps": []}
    try:
        dashboards = SimDashboards(
            [topology.nginx.url, *(i.url for i in topology.instances)],
            f"pb_session={session}",
            f"{DashboardState.get_full_name()}.load",
            args.dashboards,
            origin=ORIGIN,
            references=REFERENCE,
        )
        if dashboards.refused:
            errors.append(f"{dashboards.refused} dashboards could not connect")
        threads = [
            threading.Thread(target=subscriber, args=(n,), daemon=True)
            for n in range(args.subscribers)
        ]
        for thread in threads:
            thread.start()
        time.sleep(3)
        start = memory(topology)
        writers.extend(threading.Thread(target=writer, daemon=True) for _ in range(4))
        for thread in writers:
            thread.start()
        started = time.monotonic()
        warm: dict[str, float] | None = None
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(min(10, args.minutes * 60))
            elapsed = time.monotonic() - started
            sizes = memory(topology)
            if warm is None and elapsed >= args.warmup_minutes * 60:
                warm = sizes
            workers = sorted(v for k, v in sizes.items() if "worker" in k)
            print(f"{elapsed:7.0f} s  accepted {len(accepted)}  errors {len(errors)}  "
                  f"worker RSS MiB {workers}", flush=True)  # fmt: skip
        stop_writers = time.monotonic()
        stop_writing.set()
        for thread in writers:
            thread.join(30)
        time.sleep(5)  # the last events reach the subscribers
        stop.set()
        report = dashboards.collect(sorted(accepted), timeout=10)
        end = memory(topology)
    finally:
        stop_writing.set()
        stop.set()
        if dashboards is not None and dashboards.process.poll() is None:
            dashboards.process.kill()
        topology.stop()

    missed = [n for n, seen in enumerate(received) if not accepted <= seen.keys()]
    for n in missed[:5]:
        print(f"subscriber {n}: received {len(received[n].keys() & accepted)} of {len(accepted)}")
    waits = sorted(
        (at - answered[ref]) * 1000
        for seen in received
        for ref, at in seen.items()
        if ref in answered
    )  # an event can beat its POST's answer: then the wait is negative
    if waits:
        print(f"GraphQL subscriber, POST answered -> event received: median "
              f"{waits[len(waits) // 2]:.0f} ms, p95 {waits[int(len(waits) * 0.95)]:.0f} ms, "
              f"max {waits[-1]:.0f} ms ({len(waits)} events)")  # fmt: skip
    arrived, gaps_of = report["arrived"], report["gaps"]
    blind = [n for n, seen in enumerate(arrived) if not accepted <= seen.keys()]
    for n in blind[:5]:
        print(f"dashboard {n}: saw {len(accepted & arrived[n].keys())} of {len(accepted)}; "
              f"longest gap between updates {gaps_of[n]:.1f} s")  # fmt: skip
    gaps = sorted(gaps_of) or [0.0]
    print(f"longest gap between two updates of a dashboard: median {gaps[len(gaps) // 2]:.2f} s, "
          f"max {gaps[-1]:.2f} s")  # fmt: skip
    updates = sorted(report["updates"]) or [0]
    print(f"\n{len(accepted)} payments in {stop_writers - started:.0f} s, errors: {len(errors)}; "
          f"{args.dashboards} dashboards ({updates[0]}-{updates[-1]} updates each), "
          f"missing payments: {len(blind)}; {args.subscribers} subscribers, "
          f"missing payments: {len(missed)}")  # fmt: skip
    warm = warm or start
    growth = 0.0
    print(f"{'process':32} {'start MiB':>10} {'warm MiB':>10} {'end MiB':>10}")
    for name in sorted(set(start) | set(end)):
        before, settled, after = start.get(name), warm.get(name), end.get(name)
        print(f"{name:32} {before or '-':>10} {settled or '-':>10} {after or '-':>10}")
        if settled and after:
            growth = max(growth, after - settled)
    print(f"largest growth after the {args.warmup_minutes:g}-minute warm-up: {growth:.1f} MiB "
          f"(bound {args.max_growth_mib} MiB)")  # fmt: skip
    for error in errors[:10]:
        print("error:", error)
    return 0 if not (errors or missed or blind) and growth <= args.max_growth_mib else 1


if __name__ == "__main__":
    raise SystemExit(main())
