"""Loop stall: how much one tab's slow event handler delays the live dashboards of its worker.

Reflex runs a plain (not async) event handler on the worker's event loop, so while it queries the
database or checks a bcrypt password no other tab of that worker gets an update. This bench
starts the real app (`reflex run --env prod`, one worker, no Redis) on the live-latency bench
database, opens simulated dashboards (bench/sim_dashboards.py, a child process), writes payments
at a steady rate and measures commit -> first websocket frame naming each payment, first with
nothing else going on, then while another socket client logs in over and over (each login
checks a bcrypt password), then while one reloads the transactions page over and over.

    PYTHONPATH=. .venv/bin/python bench/loop_stall.py
    PYTHONPATH=. .venv/bin/python bench/loop_stall.py --dashboards 5 --payments 60 --rate 5 \\
        --others 8                                      # 8 other tabs at once

Only one `reflex run` can compile in a checkout at a time: run it from a clone when another app
runs from this directory (see bench/README.md, "Loop stall").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.live_latency import DEFAULT_URL, point_at, prepare_database  # noqa: E402
from bench.sim_dashboards import SimDashboards  # noqa: E402

LOGIN_EMAIL = "loop-stall-login@example.com"
LOGIN_PASSWORD = "loop-stall-bench-password"


def login_user() -> None:
    """A merchant this bench can log in as (created once, with a known password)."""
    from sqlmodel import select

    from paybridge.db import read_session
    from paybridge.models import User
    from paybridge.services.users import user_create

    with read_session() as session:
        if session.exec(select(User).where(User.email == LOGIN_EMAIL)).first() is None:
            user_create(
                email=LOGIN_EMAIL,
                password=LOGIN_PASSWORD,
                full_name="Loop Stall",
                company_name="Loop Stall Ltd",
            )


def session_cookie(merchant_id: int) -> str:
    from tests.conftest import web_session_token

    token = web_session_token(merchant_id)
    return f"pb_session={token}"


class Noise:
    """Another tab of the same worker sending one event after another (each waits for the
    answer), until stopped."""

    def __init__(self, url: str, cookie: str | None, event: str, payload: dict, path: str):
        from tests.e2e.harness import ForgedClient

        self.client = ForgedClient(url, cookie=cookie)
        self.event, self.payload, self.path = event, payload, path
        self.done = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            before = len(self.client.updates)
            self.client.send(self.event, self.payload, path=self.path)
            deadline = time.monotonic() + 30
            while len(self.client.updates) == before and time.monotonic() < deadline:
                time.sleep(0.005)
            self.done += 1

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join(35)
        self.client.close()
        return self.done


def measure(
    *,
    url: str,
    merchant_id: int,
    dashboards: int,
    payments: int,
    rate: float,
    noise: Callable[[], Noise] | None,
    noise_clients: int,
) -> dict:
    from paybridge.services.transactions import transaction_create
    from paybridge.state.dashboard import DashboardState

    sims = SimDashboards(
        [url], session_cookie(merchant_id), f"{DashboardState.get_full_name()}.load", dashboards
    )
    running = [noise() for _ in range(noise_clients)] if noise else []  # all connected,
    for each in running:  # then all sending
        each.start()
    time.sleep(1.0)
    committed: dict[str, float] = {}
    rng = random.Random(7)
    started = time.monotonic()
    for n in range(payments):
        payment = transaction_create(
            merchant_id=merchant_id,
            amount=rng.randint(500, 90_000),
            currency="USD",
            provider="card",
            customer_email=f"stall-{n}@example.com",
            status="success",
        )
        committed[payment.reference] = time.time() * 1000
        time.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
    elapsed = time.monotonic() - started
    handled = sum(each.stop() for each in running)
    report = sims.collect(list(committed), timeout=15)
    latencies, missed = [], 0
    for arrived in report["arrived"]:
        for reference, at in committed.items():
            if reference in arrived:
                latencies.append(arrived[reference] - at)
            else:
                missed += 1
    latencies.sort()
    return {
        "samples": len(latencies),
        "missed": missed,
        "median": statistics.median(latencies) if latencies else None,
        "p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        "max": latencies[-1] if latencies else None,
        "handled/s": handled / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--dashboards", type=int, default=5, help="simulated dashboards")
    parser.add_argument("--payments", type=int, default=60, help="payments per scenario")
    parser.add_argument("--rate", type=float, default=5.0, help="payments per second")
    parser.add_argument("--history", type=int, default=3000, help="payments seeded once")
    parser.add_argument("--others", type=int, default=1, help="other tabs sending events")
    args = parser.parse_args()

    merchant_id = prepare_database(args.database_url, args.history)
    point_at(args.database_url, None)
    login_user()

    from paybridge.state.auth import LoginState
    from paybridge.state.transactions import TransactionsState
    from tests.e2e.harness import AppServer

    log_dir = Path(tempfile.mkdtemp(prefix="loop-stall-"))
    print(f"starting the app: 1 worker, no Redis (logs in {log_dir}) ...", flush=True)
    server = AppServer(database_url=args.database_url, workers=1, log_dir=log_dir)
    scenarios: list[tuple[str, Callable[[], Noise] | None]] = [
        ("nothing else", None),
        (
            "another tab logging in",
            lambda: Noise(
                server.url,
                None,
                f"{LoginState.get_full_name()}.submit",
                {"form": {"email": LOGIN_EMAIL, "password": LOGIN_PASSWORD}},
                "/login",
            ),
        ),
        (
            "another tab loading /transactions",
            lambda: Noise(
                server.url,
                session_cookie(merchant_id),
                f"{TransactionsState.get_full_name()}.load",
                {},
                "/transactions",
            ),
        ),
    ]
    results = []
    try:
        for label, noise in scenarios:
            print(f"  {label} ...", flush=True)
            results.append(
                (
                    label,
                    measure(
                        url=server.url,
                        merchant_id=merchant_id,
                        dashboards=args.dashboards,
                        payments=args.payments,
                        rate=args.rate,
                        noise=noise,
                        noise_clients=args.others,
                    ),
                )
            )
    finally:
        server.stop()

    print()
    print(f"{'while':36} {'samples':>7} {'missed':>6} {'median':>9} {'p95':>9} {'max':>9} "
          f"{'handled/s':>9}")  # fmt: skip
    for label, r in results:
        cells = [f"{r[k]:8.1f}ms" if r[k] is not None else "        —" for k in
                 ("median", "p95", "max")]  # fmt: skip
        print(f"{label:36} {r['samples']:>7} {r['missed']:>6} {' '.join(cells)} "
              f"{r['handled/s']:>9.1f}")  # fmt: skip
    print(
        f"\nlatency = payment commit (this process) -> first websocket frame naming it at each of "
        f"{args.dashboards} simulated dashboards (1 worker; the outbox relay carries the event). "
        f"handled/s = the other tabs' ({args.others}) events answered per second."
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
