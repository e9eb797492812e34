"""What open dashboards cost the app while nothing happens: N simulated dashboards (raw
socket.io clients in their own process, as in `live_latency.py`) connect to the real app,
settle, and the app's CPU is measured over a few windows with no payments at all. The cost
comes from each listener's periodic reconcile, session re-checks and socket.io pings.

    PYTHONPATH=. .venv/bin/python bench/idle_dashboards.py --clients 200 --windows 2
    PYTHONPATH=. .venv/bin/python bench/idle_dashboards.py --workers 1 --redis ""   # no Redis
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live_latency import (  # noqa: E402
    DEFAULT_REDIS,
    DEFAULT_URL,
    cpu_split,
    point_at,
    prepare_database,
    session_cookie,
    tree_rss_kib,
)
from bench.sim_dashboards import SimDashboards  # noqa: E402

SETTLE_SECONDS = 20  # every listener past its first reload and first reconcile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--windows", type=int, default=2, help="measurement windows")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis", default=DEFAULT_REDIS, help='"" for none (one worker)')
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()
    redis_url = args.redis or None
    if redis_url is None and args.workers > 1:
        sys.exit("several workers need Redis (Reflex runs one worker without it)")

    from paybridge.state.dashboard import DashboardState
    from tests.e2e.harness import AppServer

    merchant_id = prepare_database(args.database_url, 3000)
    point_at(args.database_url, redis_url)
    server = AppServer(
        database_url=args.database_url,
        redis_url=redis_url,
        workers=args.workers,
        log_dir=Path(tempfile.mkdtemp(prefix="idle-dashboards-")),
    )
    try:
        rss_before = tree_rss_kib(server.process.pid)
        sims = SimDashboards(
            [server.url],
            session_cookie(merchant_id),
            f"{DashboardState.get_full_name()}.load",
            args.clients,
        )
        time.sleep(SETTLE_SECONDS)
        per_dashboard = (tree_rss_kib(server.process.pid) - rss_before) / max(sims.connected, 1)
        print(
            f"{sims.connected} dashboards connected ({sims.refused} refused), "
            f"{args.workers} worker(s), Redis {redis_url or 'none'}; "
            f"RSS {per_dashboard / 1024:.2f} MiB each",
            flush=True,
        )
        for _ in range(args.windows):
            cpu, started = cpu_split(server.process.pid)[0], time.monotonic()
            time.sleep(args.window)
            used = cpu_split(server.process.pid)[0] - cpu
            print(
                f"  app CPU {used / (time.monotonic() - started) * 100:5.1f} % of one core "
                f"over {args.window:.0f} s",
                flush=True,
            )
        sims.collect([], timeout=0)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
