"""Live dashboards per core: what one app core holds, against a bare socket.io floor.

The real app (`reflex run --env prod`, one Granian worker, Redis for the bus, through
tests/e2e/harness.AppServer) is pinned with `taskset` to one core (--app-core); this process (the
payment writer) and the simulated dashboards (bench/sim_dashboards.py: raw Reflex socket.io
clients in a child process, each running the dashboard's `load` so the app starts its live
listener, as for a browser tab) run on the other (--load-core). PostgreSQL and Redis are shared
services and stay unpinned; their CPU is recorded beside both cores' use.

For each count of connected dashboards (--dashboards 50,200,1000) and layout (`one`: all tabs of
one merchant; `spread`: one tab each of as many merchants), a search over payment rates finds
the highest payments/s (in total) at which the p95 from commit to client stays within --p95
(250 ms), no payment goes unseen and the writer keeps up. A step: the writer records payments at
the rate for --seconds with `services.transactions.transactions_record` (the ingest path: one
database transaction per batch, 50 batches a second, round robin over the layout's merchants);
commit time = when the batch's call returned. A payment's latency at a client is the time to
the first frame naming it or a payment of the same merchant committed later (the 10-row table
skips most payments of a stream). Per step: the app's CPU per payment and per delivered frame
(whole window, from just before the writer starts until the clients report), both cores' busy
share, the load side's, PostgreSQL's and Redis's CPU, and the load average. Memory per connected
dashboard, for the first configuration of a run only (the app serves them all in turn): the app's
RSS (all its processes) and Redis's used_memory after the tabs connected, less before, over the
tabs; beside it two floors: the socket.io floor's RSS per client, and a bare Granian websocket's
(bench/granian_ws_floor.py: the app's server with no framework behind it).

The floor, in the same run: bench/socketio_floor.py, a bare python-socketio server pinned to the
same core, with the same clients and layout, hearing the same Redis messages and pushing frames
of the app's average size at the app's fast-path pace; its CPU per delivered frame at the rate
the app held (at least --floor-min-rate).

    PYTHONPATH=. .venv/bin/python bench/live_capacity.py
    PYTHONPATH=. .venv/bin/python bench/live_capacity.py --dashboards 200 --layouts one

Only one `reflex run` can compile in a checkout at a time (they share .web). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.granian_ws_floor import granian_kib_per_websocket  # noqa: E402
from bench.http_load import postgres_cpu  # noqa: E402
from bench.live_latency import (  # noqa: E402
    DEFAULT_REDIS,
    cpu_seconds,
    point_at,
    prepare_database,
    redis_used_memory,
    session_cookie,
    tree_pids,
    tree_rss_kib,
)
from bench.sim_dashboards import SimDashboards  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_capacity"
SPREAD_EMAIL = "capacity-{}@bench.paybridge.test"
TICK = 0.02  # the writer records a batch every TICK seconds
WARMUP = 1.0  # seconds of each step whose payments are not measured (the stream starting)
DRAIN = 3.0  # seconds the clients get after the last payment of a step
REST = 2.0  # seconds between steps (longer after a step that failed: the backlog drains)


# --------------------------------------------------------------------------- setup


def spread_merchants(count: int) -> list[int]:
    """Ids of `count` merchants without history, created once (copies of one bcrypt hash: a
    thousand hashes would take minutes and measure nothing here), each with its owner's
    membership as `user_create` makes it (a session without one resolves to nobody)."""
    from sqlmodel import select

    from paybridge.db import read_session, write_session
    from paybridge.models import Membership, User
    from paybridge.permissions import Role
    from paybridge.services.users import user_create

    emails = [SPREAD_EMAIL.format(i) for i in range(count)]
    with read_session() as session:
        found = {u.email: u.id for u in session.exec(select(User).where(User.email.in_(emails)))}
    if emails[0] not in found:
        user = user_create(
            email=emails[0],
            password="capacity-bench-1",
            full_name="Capacity Bench",
            company_name="Capacity 0",
            kyc_status="verified",
        )
        found[user.email] = user.id
    missing = [e for e in emails if e not in found]
    if missing:
        with write_session() as session:
            template = session.get(User, found[emails[0]])
            fields = template.model_dump(exclude={"id", "email", "company_name"})
            for email in missing:
                session.add(User(**fields, email=email, company_name=email.split("@")[0]))
            session.commit()
        with read_session() as session:
            found = {
                u.email: u.id for u in session.exec(select(User).where(User.email.in_(emails)))
            }
    ids = [found[e] for e in emails]
    with write_session() as session:
        owned = select(Membership.account_id).where(Membership.account_id.in_(ids))
        have = set(session.exec(owned))
        session.add_all(
            Membership(user_id=i, account_id=i, role=Role.OWNER.value) for i in ids if i not in have
        )
        session.commit()
    return ids


def pin(pids: set[int], core: int, fifo: bool = False) -> None:
    """Every thread of `pids` on `core` only; with `fifo`, SCHED_FIFO too (real time, root): the
    server runs whenever it is ready, so other sessions' work on a shared machine does not take
    its core (the kernel still leaves them 5 % of it, sched_rt_runtime_us)."""
    for pid in pids:
        commands = [["taskset", "-a", "-p", "-c", str(core), str(pid)]]
        if fifo:
            commands.append(["chrt", "-a", "-f", "-p", "1", str(pid)])
        for command in commands:
            subprocess.run(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )


# --------------------------------------------------------------------------- measurements


def core_times() -> dict[int, tuple[int, int]]:
    """Per core: (busy, total) jiffies from /proc/stat."""
    cores = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            v = [int(x) for x in values]
            idle = v[3] + v[4]
            cores[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return cores


def process_cpu(name: str) -> float:
    """CPU seconds of every process called `name` (children's time included)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] != name:
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def database_work() -> tuple[int, int]:
    """(transactions, rows returned) of the bench database so far: the app's reads and the
    writer's batches, and no other session's (-1, -1 when PostgreSQL refuses a connection)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    try:
        with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit + xact_rollback, tup_returned FROM pg_stat_database"
                " WHERE datname = current_database()"
            ).fetchone()
    except psycopg.Error:
        return -1, -1
    return int(row[0]), int(row[1])


@dataclass
class Meter:
    """Everything a step's window measures, read at its start and end."""

    app_pid: int
    at: float = 0.0
    app: float = 0.0
    load: float = 0.0
    postgres: float = 0.0
    redis: float = 0.0
    cores: dict = field(default_factory=dict)
    database: tuple[int, int] = (0, 0)

    def read(self) -> Meter:
        own = tree_pids(os.getpid())
        return Meter(
            self.app_pid,
            time.monotonic(),
            cpu_seconds(tree_pids(self.app_pid)),
            cpu_seconds(own),
            postgres_cpu(),
            process_cpu("redis-server"),
            core_times(),
            database_work(),
        )


def shares(start: Meter, end: Meter) -> dict[str, float]:
    """Share of one core each used over the window (1.0 = a whole core)."""
    wall = end.at - start.at
    out = {
        "app": (end.app - start.app) / wall,
        "load": (end.load - start.load) / wall,
        "postgres": (end.postgres - start.postgres) / wall,
        "redis": (end.redis - start.redis) / wall,
    }
    if min(start.database + end.database) >= 0:
        out["db_transactions"] = (end.database[0] - start.database[0]) / wall
        out["db_rows"] = (end.database[1] - start.database[1]) / wall
    for core, (busy, total) in end.cores.items():
        b0, t0 = start.cores[core]
        out[f"core{core}"] = (busy - b0) / max(total - t0, 1)
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- the writer


class Writer(threading.Thread):
    """Records payments at `rate` a second in total, a batch every TICK, round robin over
    `merchants`; keeps (reference, commit epoch ms) per merchant index."""

    def __init__(self, merchants: list[int], rate: float) -> None:
        super().__init__(daemon=True)
        self.merchants, self.rate = merchants, rate
        self.stop_event = threading.Event()
        self.committed: dict[int, list[tuple[str, float]]] = {}
        self.count = 0
        self.measure_from = 0.0  # epoch ms: payments committed before are not measured
        self.started = self.stopped = 0.0

    def run(self) -> None:
        from paybridge.services.transactions import new_payment, transactions_record

        self.started = time.monotonic()
        turn = 0
        while not self.stop_event.is_set():
            due = int(self.rate * (time.monotonic() - self.started)) - self.count
            if due > 0:
                batch, owners = [], []
                for _ in range(min(due, 500)):
                    index = turn % len(self.merchants)
                    turn += 1
                    owners.append(index)
                    batch.append(
                        new_payment(
                            merchant_id=self.merchants[index],
                            amount=1000 + turn % 9000,
                            currency="USD",
                            provider="card",
                            customer_email="load@example.com",
                            status="success",
                        )
                    )
                recorded = transactions_record(batch)
                at = time.time() * 1000
                self.count += len(batch)
                if at >= self.measure_from:
                    for index, payment, result in zip(owners, batch, recorded, strict=True):
                        if not isinstance(result, Exception):
                            self.committed.setdefault(index, []).append((payment.reference, at))
            self.stop_event.wait(TICK)
        self.stopped = time.monotonic()

    def achieved(self) -> float:
        return self.count / max((self.stopped or time.monotonic()) - self.started, 1e-9)


# --------------------------------------------------------------------------- one step


@dataclass
class Step:
    rate: float
    achieved: float = 0.0
    p50: float = float("nan")
    p95: float = float("nan")
    missed: int = 0
    samples: int = 0
    payments: int = 0
    frames: int = 0
    bytes: int = 0
    cpu: dict = field(default_factory=dict)
    load_average: float = 0.0
    ok: bool = False

    @property
    def app_us_per_frame(self) -> float:
        return self.cpu.get("app_seconds", 0) * 1e6 / max(self.frames, 1)

    @property
    def app_us_per_payment(self) -> float:
        return self.cpu.get("app_seconds", 0) * 1e6 / max(self.payments, 1)


def run_step(
    sims: SimDashboards, merchants: list[int], rate: float, seconds: float, p95: float, pid: int
) -> Step:
    step = Step(rate)
    sims.step({}, 0)  # zero the frame counters
    meter = Meter(pid)
    before = meter.read()
    writer = Writer(merchants, rate)
    writer.measure_from = time.time() * 1000 + WARMUP * 1000
    writer.start()
    time.sleep(WARMUP + seconds)
    writer.stop_event.set()
    writer.join()
    report = sims.step(writer.committed, DRAIN)
    after = meter.read()
    step.cpu = shares(before, after)
    step.cpu["app_seconds"] = after.app - before.app
    step.load_average = os.getloadavg()[0]
    step.achieved, step.payments = writer.achieved(), writer.count
    step.frames, step.bytes = report["frames"], report["bytes"]
    latencies, step.missed = report["latencies"], report["missed"]
    step.samples = len(latencies)
    if latencies:
        step.p50, step.p95 = statistics.median(latencies), percentile(latencies, 95)
    step.ok = (
        bool(latencies) and step.p95 <= p95 and step.missed == 0 and step.achieved >= 0.9 * rate
    )
    return step


def describe(step: Step) -> str:
    c = step.cpu
    return (
        f"{step.rate:>6.0f}/s -> {step.achieved:>6.0f}/s  p50 {step.p50:>7.1f}  p95 "
        f"{step.p95:>7.1f} ms  missed {step.missed:>4}/{step.samples + step.missed:<6} "
        f"frames {step.frames:>7}  app {c.get('app', 0):>4.0%}  core0 {c.get('core0', 0):>4.0%}  "
        f"core1 {c.get('core1', 0):>4.0%}  load {c.get('load', 0):>4.0%}  pg "
        f"{c.get('postgres', 0):>4.0%}  redis {c.get('redis', 0):>4.0%}  db "
        f"{c.get('db_transactions', -1):>5.0f} tx/s  "
        f"{step.app_us_per_frame:>6.0f} us/frame  {step.app_us_per_payment:>6.0f} us/pay  "
        f"loadavg {step.load_average:.1f}  {'ok' if step.ok else 'FAIL'}"
    )


def search(run: callable, start: float, top: float, budget: int) -> tuple[Step | None, list[Step]]:
    """Doubling from `start` to the first failure (at most `top`), then halving the interval
    between the last pass and the first failure while it is wider than 20 %, in at most
    `budget` steps; below `start` if `start` already fails."""
    steps: list[Step] = []
    best: Step | None = None
    low, high, rate = 0.0, None, start
    while len(steps) < budget:
        step = run(rate)
        steps.append(step)
        print("    " + describe(step), flush=True)
        if step.ok:
            best, low = step, rate
        else:
            high = rate
        time.sleep(REST if step.ok else 3 * REST)
        if high is None:
            if rate >= top:
                break
            rate = min(rate * 2, top)
        elif low == 0:
            if high <= 5:
                break
            rate = high / 2
        elif high / low > 1.2:
            rate = round((low + high) / 2)
        else:
            break
    return best, steps


# --------------------------------------------------------------------------- configurations


@dataclass
class Config:
    layout: str
    dashboards: int
    connected: int = 0
    refused: int = 0
    connect_seconds: float = 0.0
    # None after an earlier configuration in the same app: the memory its tabs left behind is
    # still being given back, so a difference would be meaningless (it came out negative)
    rss_kib_per_dashboard: float | None = None
    redis_kib_per_dashboard: float | None = None
    idle_app: float = 0.0
    idle_postgres: float = 0.0
    idle_redis: float = 0.0
    best: Step | None = None
    steps: list[Step] = field(default_factory=list)
    floor: Step | None = None
    floor_idle: float = 0.0
    floor_rss_kib_per_dashboard: float | None = None  # the bare socket.io server's
    granian_kib_per_websocket: float | None = None  # bench/granian_ws_floor.py's


def layout_for(layout: str, dashboards: int, one: int, spread: list[int]) -> list[int]:
    return [one] if layout == "one" else spread[:dashboards]


def measure_app(
    config: Config, server, merchants: list[int], cookies: list[str], args, *, fresh: bool
) -> tuple[float, int]:
    """Connect the dashboards, take memory (`fresh`: no tabs have been in this app before)
    and idle CPU, search the rates. Returns the mean frame size (bytes) at the best step and
    the merchant count, for the floor."""
    from paybridge.state.dashboard import DashboardState

    pid = server.process.pid
    rss_before, redis_before = tree_rss_kib(pid), redis_used_memory(args.redis)
    started = time.monotonic()
    sims = SimDashboards(
        [server.url],
        cookies[0],
        f"{DashboardState.get_full_name()}.load",
        config.dashboards,
        cookies=cookies,
    )
    config.connect_seconds = time.monotonic() - started
    config.connected, config.refused = sims.connected, sims.refused
    try:
        time.sleep(5)  # listeners past their first reload
        connected = max(sims.connected, 1)
        if fresh:
            config.rss_kib_per_dashboard = (tree_rss_kib(pid) - rss_before) / connected
        redis_after = redis_used_memory(args.redis)
        if fresh and redis_before is not None and redis_after is not None:
            config.redis_kib_per_dashboard = (redis_after - redis_before) / 1024 / connected
        meter = Meter(pid)
        before = meter.read()
        time.sleep(5)
        idle = shares(before, meter.read())
        config.idle_app, config.idle_postgres = idle["app"], idle["postgres"]
        config.idle_redis = idle["redis"]
        print(
            f"  {config.connected} connected ({config.refused} refused) in "
            f"{config.connect_seconds:.0f} s; app RSS {_kib(config.rss_kib_per_dashboard)} and "
            f"Redis {_kib(config.redis_kib_per_dashboard)} per dashboard; idle app "
            f"{config.idle_app:.0%}, PostgreSQL {config.idle_postgres:.0%}, Redis "
            f"{config.idle_redis:.0%} (all PostgreSQL backends, other sessions' too)",
            flush=True,
        )
        config.best, config.steps = search(
            lambda rate: run_step(sims, merchants, rate, args.seconds, args.p95, pid),
            args.start_rate,
            args.max_rate,
            args.budget,
        )
    finally:
        sims.collect([], timeout=0)
    reference = config.best or (config.steps[-1] if config.steps else None)
    return (reference.bytes / max(reference.frames, 1)) if reference else 1500.0


def measure_floor(config: Config, merchants, cookies, frame_bytes: float, args) -> None:
    """The same clients and layout on the bare socket.io server, one step at the app's rate."""
    from paybridge.events.bus import channel_for
    from tests.e2e.harness import free_port

    port = free_port()
    rooms = {cookie: channel_for(merchants[i % len(merchants)]) for i, cookie in enumerate(cookies)}
    floor = subprocess.Popen(
        [
            "taskset",
            "-c",
            str(args.app_core),
            sys.executable,
            str(ROOT / "bench/socketio_floor.py"),
            "--port",
            str(port),
            "--redis",
            args.redis,
            "--frame-bytes",
            str(int(frame_bytes)),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PB_FLOOR_ROOMS": json.dumps(rooms)},
    )
    try:
        floor.stdout.readline()
        pin({floor.pid}, args.app_core, args.priority == "fifo")
        rss_before = tree_rss_kib(floor.pid)
        url = f"http://127.0.0.1:{port}"
        sims = SimDashboards([url], cookies[0], "floor.load", config.dashboards, cookies=cookies)
        try:
            meter = Meter(floor.pid)
            time.sleep(2)
            config.floor_rss_kib_per_dashboard = (tree_rss_kib(floor.pid) - rss_before) / max(
                sims.connected, 1
            )
            before = meter.read()
            time.sleep(3)
            config.floor_idle = shares(before, meter.read())["app"]
            rate = max(config.best.rate if config.best else 0, args.floor_min_rate)
            config.floor = run_step(sims, merchants, rate, args.seconds, args.p95, floor.pid)
            print("    floor " + describe(config.floor), flush=True)
        finally:
            sims.collect([], timeout=0)
    finally:
        floor.terminate()
        floor.wait(10)


# --------------------------------------------------------------------------- report


def _kib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} KiB"


def report(configs: list[Config], args) -> None:
    print()
    head = (
        "| layout | dashboards | payments/s held | p50 / p95 | app CPU | core 0 / core 1 | "
        "app µs per frame | per payment | floor µs per frame | x floor | RSS per dashboard | "
        "floors: Granian websocket / socket.io | Redis per dashboard | load avg |"
    )
    print(head)
    print("| --- " * (head.count("|") - 1) + "|")
    for c in configs:
        b = c.best
        f = c.floor
        ratio = (b.app_us_per_frame / f.app_us_per_frame) if b and f and f.frames else float("nan")
        label = "one merchant" if c.layout == "one" else f"{c.dashboards} merchants"
        if b is None:
            print(f"| {label} | {c.connected} | none passed | | | | | | | | | | | |")
            continue
        print(
            f"| {label} | {c.connected} | {b.rate:.0f} ({b.achieved:.0f}) | {b.p50:.0f} / "
            f"{b.p95:.0f} ms | {b.cpu['app']:.0%} | {b.cpu.get('core0', 0):.0%} / "
            f"{b.cpu.get('core1', 0):.0%} | {b.app_us_per_frame:.0f} | "
            f"{b.app_us_per_payment:.0f} µs | {f.app_us_per_frame if f else float('nan'):.0f} | "
            f"{ratio:.1f} | {_kib(c.rss_kib_per_dashboard)} | "
            f"{_kib(c.granian_kib_per_websocket)} / {_kib(c.floor_rss_kib_per_dashboard)} | "
            f"{_kib(c.redis_kib_per_dashboard)} | {b.load_average:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(c) for c in configs], indent=1, default=str))
        print(f"\nevery step: {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--dashboards", default="50,200,1000")
    parser.add_argument("--layouts", default="one,spread")
    parser.add_argument("--app-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per step")
    parser.add_argument("--p95", type=float, default=250.0, help="ms, commit to client")
    parser.add_argument("--start-rate", type=float, default=100.0)
    parser.add_argument("--max-rate", type=float, default=2000.0)
    parser.add_argument("--budget", type=int, default=7, help="steps per configuration at most")
    parser.add_argument("--floor-min-rate", type=float, default=100.0)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument(
        "--priority",
        choices=("normal", "fifo"),
        default="normal",
        help="fifo: the app (and the floor) SCHED_FIFO on their core, for a shared machine",
    )
    parser.add_argument("--json", default=str(Path(tempfile.gettempdir()) / "live_capacity.json"))
    args = parser.parse_args()
    counts = [int(n) for n in args.dashboards.split(",")]
    layouts = [name.strip() for name in args.layouts.split(",")]

    one = prepare_database(args.database_url, 3000)
    point_at(args.database_url, args.redis)
    spread = spread_merchants(max(counts)) if "spread" in layouts else []
    print(f"session cookies for {1 + len(spread)} merchants ...", flush=True)
    one_cookie = session_cookie(one)
    spread_cookies = [session_cookie(m) for m in spread]

    from tests.e2e.harness import AppServer

    log_dir = Path(tempfile.mkdtemp(prefix="live-capacity-"))
    print(f"starting the app: 1 worker + Redis (logs in {log_dir}) ...", flush=True)
    server = AppServer(
        database_url=args.database_url, redis_url=args.redis, workers=1, log_dir=log_dir
    )
    pin(tree_pids(server.process.pid), args.app_core, args.priority == "fifo")
    os.sched_setaffinity(0, {args.load_core})  # this process and the clients it starts
    print(
        f"app pinned to core {args.app_core} ({args.priority} priority), load on core "
        f"{args.load_core}; load average {os.getloadavg()}",
        flush=True,
    )
    configs: list[Config] = []
    sizes: dict[tuple[str, int], float] = {}
    try:
        for layout in layouts:
            for count in counts:
                config = Config(layout, count)
                merchants = layout_for(layout, count, one, spread)
                cookies = [one_cookie] if layout == "one" else spread_cookies[:count]
                print(f"{layout}: {count} dashboards", flush=True)
                sizes[layout, count] = measure_app(
                    config, server, merchants, cookies, args, fresh=not configs
                )
                configs.append(config)
                time.sleep(3)  # the listeners of the closed tabs end
    finally:
        server.stop()
    if not args.no_floor:
        print("floor: bare python-socketio on the same core", flush=True)
        for config in configs:
            merchants = layout_for(config.layout, config.dashboards, one, spread)
            cookies = (
                [one_cookie] if config.layout == "one" else spread_cookies[: config.dashboards]
            )
            print(f"  {config.layout}: {config.dashboards} dashboards", flush=True)
            measure_floor(config, merchants, cookies, sizes[config.layout, config.dashboards], args)
        granian = {}
        for count in sorted({c.dashboards for c in configs}):
            granian[count] = granian_kib_per_websocket(count, args.app_core)
            print(f"  bare Granian websocket, {count}: {granian[count]:.0f} KiB each", flush=True)
        for config in configs:
            config.granian_kib_per_websocket = granian[config.dashboards]
    report(configs, args)


if __name__ == "__main__":
    main()
