"""Live latency: time from a payment's commit to the new row in open dashboards' DOM.

Starts the real app (`reflex run --env prod`, through tests/e2e/harness.AppServer, from this
checkout) on its own PostgreSQL database, opens N dashboard tabs of one merchant in Debian's
Chromium, and installs a MutationObserver in each tab that records
`performance.timeOrigin + performance.now()` when a row with a new reference appears in
`#recent-body`. This process then creates payments with `services.transactions.transaction_create`
and takes the commit time right after it returns (same machine, same wall clock; the
browser-to-Python clock offset is measured per tab and reported).

Topologies:
  1 worker, no Redis  — this process's publish goes to its own in-memory bus, which no dashboard
                        hears: the app's outbox relay (polls every 250 ms) picks the event up.
  N workers + Redis   — this process publishes to Redis pub/sub; every tab's listener hears it.

Also measured: the backend memory each connected dashboard costs (VmRSS of the server process and
all its descendants, before and after opening the tabs, divided by N; and Redis used_memory).
With --load-clients, simulated websocket dashboards (raw Reflex socket.io clients calling the
dashboard's load event, so each starts its listener; bench/sim_dashboards.py, in a child process)
are connected and --load-rate payments/s are written while the tabs measure.

    PYTHONPATH=. .venv/bin/python bench/live_latency.py      # both topologies, 1 and 20 tabs
    PYTHONPATH=. .venv/bin/python bench/live_latency.py --workers 2 --redis --tabs 20
    PYTHONPATH=. .venv/bin/python bench/live_latency.py --workers 2 --redis --tabs 5 \\
        --load-clients 200 --load-rate 1000

Only one `reflex run` can compile in a checkout at a time (they share .web): if another app runs
from this directory, run the bench from a clone (`git clone . /tmp/livebench`, symlink .venv).
See bench/README.md for recorded results.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sim_dashboards import SimDashboards  # noqa: E402  (needs ROOT on the path)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_live"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
MERCHANT_EMAIL = "live-bench@example.com"
REFERENCE = re.compile(r"txn_[0-9a-f]{24}")

# Records the first time each reference is seen in the recent-transactions table.
OBSERVER_JS = """
() => {
  window.__seen = {};
  const scan = () => {
    const now = performance.timeOrigin + performance.now();
    const body = document.getElementById('recent-body');
    if (!body) return;
    for (const code of body.querySelectorAll('tr.recent-row code')) {
      const ref = code.textContent;
      if (!(ref in window.__seen)) window.__seen[ref] = now;
    }
  };
  scan();
  new MutationObserver(scan).observe(document.body, {
    childList: true, subtree: true, characterData: true,
  });
}
"""


# Installed before the page's scripts: records when a websocket frame naming a reference arrives,
# which splits the latency into server + network (commit -> frame) and browser (frame -> DOM).
WIRE_JS = """
(() => {
  window.__wire = {};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        const now = performance.timeOrigin + performance.now();
        if (typeof event.data !== 'string') return;
        for (const ref of event.data.match(/txn_[0-9a-f]{24}/g) || []) {
          if (!(ref in window.__wire)) window.__wire[ref] = now;
        }
      });
    }
  };
})();
"""


# --------------------------------------------------------------------------- setup


def prepare_database(url: str, history: int) -> int:
    """Create and migrate the bench database; return the bench merchant's id (seeded once)."""
    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="test")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    point_at(url, None)
    from sqlmodel import select

    from paybridge.db import read_session
    from paybridge.engine import get_engine
    from paybridge.migrations import migrate
    from paybridge.models import User

    migrate(get_engine())
    with read_session() as session:
        user = session.exec(select(User).where(User.email == MERCHANT_EMAIL)).first()
    if user is not None:
        return user.id

    from paybridge.services.demo import seed_history
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.services.users import user_create

    providers_ensure_defaults()
    user = user_create(
        email=MERCHANT_EMAIL,
        password=uuid.uuid4().hex,
        full_name="Live Bench",
        company_name="Bench Traders",
        kyc_status="verified",
        timezone="Africa/Lagos",
    )
    if history:
        print(f"seeding {history} payments of history ...")
        seed_history(merchant_id=user.id, days=60, transactions=history)
    return user.id


def point_at(database_url: str, redis_url: str | None) -> None:
    """Make this process's services use the bench database and (optionally) Redis for the bus."""
    os.environ["DATABASE_URL"] = database_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    from paybridge.engine import get_engine
    from paybridge.events import reset_bus
    from paybridge.settings import get_settings

    get_settings.cache_clear()
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    reset_bus()


def session_ticket(merchant_id: int, browser_nonce: str) -> str:
    from paybridge.services.auth import web_session_start

    return web_session_start(user_id=merchant_id, browser_nonce=browser_nonce)


def session_cookie(merchant_id: int) -> str:
    from tests.conftest import web_session_token

    return f"pb_session={web_session_token(merchant_id)}"


# --------------------------------------------------------------------------- measurements


def tree_pids(root_pid: int) -> set[int]:
    """A process and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def tree_rss_kib(root_pid: int) -> int:
    """VmRSS of a process and all its descendants, in KiB."""
    total = 0
    for pid in tree_pids(root_pid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time of these processes so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_split(server_pid: int) -> tuple[float, float]:
    """(app server tree, everything else started by this process: Chromium) CPU seconds."""
    server = tree_pids(server_pid)
    others = tree_pids(os.getpid()) - server - {os.getpid()}
    return cpu_seconds(server), cpu_seconds(others)


def redis_used_memory(url: str | None) -> int | None:
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def clock_offset_ms(page) -> float:
    """Browser clock minus this process's clock (ms), from the tightest of a few round trips."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        before = time.time() * 1000
        browser = page.evaluate("() => performance.timeOrigin + performance.now()")
        after = time.time() * 1000
        if best is None or after - before < best[0]:
            best = (after - before, browser - (before + after) / 2)
    assert best is not None
    return best[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Result:
    label: str
    tabs: int
    load_clients: int
    payments: int
    latencies: list[float] = field(default_factory=list)
    wire: list[float] = field(default_factory=list)  # commit -> websocket frame in the tab
    sim: list[float] = field(default_factory=list)  # commit -> frame at a simulated dashboard
    sim_missed: int = 0
    missed: int = 0
    rss_per_dashboard_kib: float | None = None
    redis_per_dashboard_kib: float | None = None
    offset_ms: float = 0.0
    load_rate: float | None = None
    refused: int = 0  # simulated dashboards that could not connect
    server_cpu: float = 0.0  # share of one CPU while the payments were measured
    browser_cpu: float = 0.0
    tab_ms_per_payment: float | None = None  # main-thread work in one tab per payment (median)


# --------------------------------------------------------------------------- simulated dashboards


class PaymentLoad(threading.Thread):
    """Writes payments for the merchant at a target rate from a few threads until stopped."""

    def __init__(self, merchant_id: int, rate: float, threads: int = 4) -> None:
        super().__init__(daemon=True)
        self.merchant_id, self.rate, self.threads = merchant_id, rate, threads
        self.stop_event = threading.Event()
        self.count = 0
        self.committed: dict[str, float] = {}  # reference -> commit time (epoch ms)
        self._lock = threading.Lock()
        self.started_at = self.stopped_at = 0.0

    def _writer(self) -> None:
        from paybridge.services.transactions import transaction_create

        per_thread = self.rate / self.threads
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            tx = transaction_create(
                merchant_id=self.merchant_id,
                amount=random.randint(500, 50_000),
                currency="USD",
                provider="card",
                customer_email="load@example.com",
                status="success",
            )
            at = time.time() * 1000
            with self._lock:
                self.count += 1
                self.committed[tx.reference] = at
            next_at += 1 / per_thread
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # behind: write as fast as possible, no catch-up burst

    def run(self) -> None:
        self.started_at = time.monotonic()
        workers = [threading.Thread(target=self._writer, daemon=True) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.stopped_at = time.monotonic()

    def achieved(self) -> float:
        end = self.stopped_at or time.monotonic()
        return self.count / max(end - self.started_at, 1e-9)


# --------------------------------------------------------------------------- one run


def open_tab(browser, app_url: str, merchant_id: int):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WIRE_JS)
    nonce = secrets.token_urlsafe(32)  # the login nonce cookie the login page would get
    context.add_cookies([{"name": "pb_login_nonce", "value": nonce, "url": app_url + "/auth"}])
    page = context.new_page()
    page.goto(f"{app_url}/auth/complete?ticket={session_ticket(merchant_id, nonce)}&next=/")
    page.wait_for_selector("#feed-live", timeout=60_000)  # the listener has subscribed
    page.evaluate(OBSERVER_JS)
    page.cdp = context.new_cdp_session(page)
    page.cdp.send("Performance.enable")
    return page


def main_thread_seconds(page) -> float:
    """Seconds the tab's renderer main thread has spent on tasks (script, style, layout, paint)
    since Performance.enable: what a payment costs the browser, whatever else shares the cores."""
    metrics = page.cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def run_once(
    *,
    browser,
    server,
    merchant_id: int,
    label: str,
    tabs: int,
    payments: int,
    interval: float,
    redis_url: str | None,
    load_clients: int,
    load_rate: float,
) -> Result:
    from paybridge.services.transactions import transaction_create
    from paybridge.state.dashboard import DashboardState

    result = Result(label=label, tabs=tabs, load_clients=load_clients, payments=payments)
    # Warm up (first page load imports and caches), then take the baseline.
    warm = open_tab(browser, server.url, merchant_id)
    warm.context.close()
    time.sleep(2)
    rss_before, redis_before = tree_rss_kib(server.process.pid), redis_used_memory(redis_url)

    pages = [open_tab(browser, server.url, merchant_id) for _ in range(tabs)]
    sims: SimDashboards | None = None
    if load_clients:
        print(f"    connecting {load_clients} simulated dashboards ...", flush=True)
        sims = SimDashboards(
            [server.url],
            session_cookie(merchant_id),
            f"{DashboardState.get_full_name()}.load",
            load_clients,
        )
        result.refused = sims.refused
    time.sleep(3)  # every listener subscribed and its first reload sent
    connected = tabs + (sims.connected if sims else 0)
    rss_after, redis_after = tree_rss_kib(server.process.pid), redis_used_memory(redis_url)
    result.rss_per_dashboard_kib = (rss_after - rss_before) / connected
    if redis_before is not None and redis_after is not None:
        result.redis_per_dashboard_kib = (redis_after - redis_before) / 1024 / connected

    offsets = [clock_offset_ms(page) for page in pages]
    result.offset_ms = statistics.median(offsets) if offsets else 0.0

    load = PaymentLoad(merchant_id, load_rate) if load_clients and load_rate else None
    if load:
        load.start()
        time.sleep(2)
    committed: dict[str, float] = {}
    cpu_before, wall_before = cpu_split(server.process.pid), time.monotonic()
    busy_before = [main_thread_seconds(page) for page in pages]
    try:
        for i in range(payments):
            tx = transaction_create(
                merchant_id=merchant_id,
                amount=1000 + i,
                currency="USD",
                provider="card",
                customer_email="live.bench@example.com",
                status="success",
            )
            committed[tx.reference] = time.time() * 1000
            time.sleep(interval * random.uniform(0.7, 1.3))
        deadline = time.monotonic() + 15
        while True:
            seen = [page.evaluate("() => window.__seen") for page in pages]
            done = all(all(ref in s for ref in committed) for s in seen)
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        cpu_after, wall = cpu_split(server.process.pid), time.monotonic() - wall_before
        busy = [main_thread_seconds(p) - b for p, b in zip(pages, busy_before, strict=True)]
        if busy:
            result.tab_ms_per_payment = statistics.median(busy) * 1000 / payments
        result.server_cpu = (cpu_after[0] - cpu_before[0]) / wall
        result.browser_cpu = (cpu_after[1] - cpu_before[1]) / wall
    finally:
        if load:
            load.stop_event.set()
            load.join()
            result.load_rate = load.achieved()
    wires = [page.evaluate("() => window.__wire") for page in pages]
    if load:
        # Under load the 10-row table skips most payments, so a measured payment counts as shown
        # when a row committed at the same time or later first appears (how stale the tab is).
        every = {**load.committed, **committed}
        for offset, s, w in zip(offsets, seen, wires, strict=True):
            for at in committed.values():
                shown = [t for ref, t in s.items() if every.get(ref, -1) >= at]
                arrived = [t for ref, t in w.items() if every.get(ref, -1) >= at]
                if shown:
                    result.latencies.append(min(shown) - offset - at)
                else:
                    result.missed += 1
                if arrived:
                    result.wire.append(min(arrived) - offset - at)
    else:
        for offset, s, w in zip(offsets, seen, wires, strict=True):
            for ref, at in committed.items():
                if ref in s:
                    result.latencies.append(s[ref] - offset - at)
                else:
                    result.missed += 1
                if ref in w:
                    result.wire.append(w[ref] - offset - at)
    every = {**(load.committed if load else {}), **committed}
    for sim_arrived in sims.collect(list(committed), timeout=15)["arrived"] if sims else []:
        arrived = {ref: t for ref, t in sim_arrived.items() if ref in every}
        for at in committed.values():
            later = [t for ref, t in arrived.items() if every[ref] >= at]
            if later:
                result.sim.append(min(later) - at)
            else:
                result.sim_missed += 1
    for page in pages:
        page.context.close()
    return result


# --------------------------------------------------------------------------- main


def report(results: list[Result]) -> None:
    head = (
        f"{'topology':<22} {'tabs':>4} {'sim':>4} {'pay':>4} {'load/s':>7} {'median':>8} "
        f"{'p95':>8} {'max':>8} {'missed':>6} {'RSS/dash':>9} {'Redis/dash':>10} "
        f"{'CPU app':>7} {'CPU browser':>11} {'wire p50':>9} {'wire p95':>9} "
        f"{'sim p50':>9} {'sim p95':>9} {'sim max':>9} {'tab ms/pay':>10}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        lat = r.latencies or [float("nan")]
        wire = r.wire or [float("nan")]
        sim = r.sim or [float("nan")]
        rss = f"{r.rss_per_dashboard_kib / 1024:.2f} MiB" if r.rss_per_dashboard_kib else "—"
        red = f"{r.redis_per_dashboard_kib:.0f} KiB" if r.redis_per_dashboard_kib else "—"
        rate = f"{r.load_rate:.0f}" if r.load_rate else "—"
        if r.refused:
            print(f"({r.refused} of {r.load_clients} simulated dashboards could not connect)")
        print(
            f"{r.label:<22} {r.tabs:>4} {r.load_clients:>4} {r.payments:>4} {rate:>7} "
            f"{statistics.median(lat):>6.1f}ms {percentile(lat, 95):>6.1f}ms "
            f"{max(lat):>6.1f}ms {r.missed:>6} {rss:>9} {red:>10} "
            f"{r.server_cpu:>6.0%} {r.browser_cpu:>10.0%} "
            f"{statistics.median(wire):>7.1f}ms {percentile(wire, 95):>7.1f}ms "
            f"{statistics.median(sim):>7.1f}ms {percentile(sim, 95):>7.1f}ms {max(sim):>7.1f}ms "
            f"{r.tab_ms_per_payment or float('nan'):>8.1f}ms"
        )
        if r.sim_missed:
            print(f"  ({r.sim_missed} (payment, simulated dashboard) pairs never arrived)")
    print(
        "\nlatency = payment commit (transaction_create returned, this process) -> row in each "
        "tab's #recent-body (MutationObserver); one sample per payment per tab. "
        f"browser clock offset (median over tabs, subtracted): "
        f"{', '.join(f'{r.offset_ms:+.2f} ms' for r in results)}. missed = (payment, tab) pairs "
        "never shown within 15 s after the last payment (the table keeps 10 rows: a reload that "
        "comes after more than 10 new payments skips some). CPU = share of one core used by the "
        f"app's processes / by Chromium while the payments were measured ({os.cpu_count()} cores). "
        "wire = commit -> first websocket frame naming the payment arriving in the tab "
        "(server side + network; the rest of the latency is the browser's). sim = commit -> first "
        "frame naming the payment (or a later one, under load) at each simulated dashboard: the "
        "server's latency without any browser rendering. tab ms/pay = main-thread task time of "
        "a tab (median over tabs; Chrome's TaskDuration) over the measured payments, per payment."
    )
    if any(r.load_clients for r in results):
        print(
            "with simulated dashboards (sim) and background payments (load/s achieved), a measured "
            "payment counts as shown when the first row committed at the same time or later "
            "appears: the 10-row table skips most payments at that rate."
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--tabs", default="1,20", help="comma-separated tab counts (1,20)")
    parser.add_argument("--payments", type=int, default=30, help="measured payments per run")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between measured payments (±30%%)"
    )
    parser.add_argument(
        "--workers", type=int, help="Granian workers (2+ needs --redis); default: both topologies"
    )
    parser.add_argument(
        "--redis",
        nargs="?",
        const=DEFAULT_REDIS,
        help=f"run with Redis (default URL {DEFAULT_REDIS})",
    )
    parser.add_argument("--history", type=int, default=3000, help="payments seeded once")
    parser.add_argument("--load-clients", type=int, default=0, help="simulated dashboards")
    parser.add_argument("--load-rate", type=float, default=1000, help="payments/s with load")
    args = parser.parse_args()

    if args.workers is None and args.redis is None:
        topologies = [("1 worker, no Redis", 1, None), ("2 workers + Redis", 2, DEFAULT_REDIS)]
    else:
        workers = args.workers or (2 if args.redis else 1)
        if workers > 1 and not args.redis:
            sys.exit("several workers need --redis (Reflex runs one worker without Redis)")
        name = f"{workers} worker{'s' if workers > 1 else ''}"
        topologies = [
            (f"{name} + Redis" if args.redis else f"{name}, no Redis", workers, args.redis)
        ]
    tab_counts = [int(t) for t in args.tabs.split(",") if t.strip()]

    merchant_id = prepare_database(args.database_url, args.history)

    from playwright.sync_api import sync_playwright

    from tests.e2e.harness import CHROMIUM, CHROMIUM_ARGS, AppServer

    log_dir = Path(tempfile.mkdtemp(prefix="live-latency-"))
    results: list[Result] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, workers, redis_url in topologies:
            point_at(args.database_url, redis_url)
            print(f"starting the app: {label} (logs in {log_dir}) ...", flush=True)
            server = AppServer(
                database_url=args.database_url,
                redis_url=redis_url,
                workers=workers,
                log_dir=log_dir,
            )
            try:
                for tabs in tab_counts:
                    print(f"  {tabs} tab(s), {args.load_clients} simulated ...", flush=True)
                    results.append(
                        run_once(
                            browser=browser,
                            server=server,
                            merchant_id=merchant_id,
                            label=label,
                            tabs=tabs,
                            payments=args.payments,
                            interval=args.interval,
                            redis_url=redis_url,
                            load_clients=args.load_clients,
                            load_rate=args.load_rate,
                        )
                    )
            finally:
                server.stop()
        browser.close()
    report(results)


if __name__ == "__main__":
    main()
