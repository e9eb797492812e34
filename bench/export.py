"""CSV export of 1,000,000 payments on PostgreSQL: rows/s and peak memory.

Seeds one merchant with N payments (reusing bench/dashboard.py's COPY seeding) in its own
database, then measures, each in a fresh child process so that peak RSS belongs to the export
alone:

  generator  paybridge.exports.transactions_csv, the generator the route streams, consumed
             in process (newest first, and once sorted by amount);
  filtered   the same with a filter (status=success, currency=USD);
  Python     the generator with the lines formatted in Python (what SQLite uses) instead of
             by PostgreSQL;
  http       GET /exports/transactions.csv through the real FastAPI app served by Granian,
             read by a streaming HTTP client; the server's RSS is sampled from /proc.

Memory: RSS is sampled every 5 ms by a thread (peak, and growth over the RSS right before the
export started); VmHWM is the kernel's own peak RSS of the process (the child, or the server's
worker for the HTTP run). One more generator run under
tracemalloc reports the peak of Python allocations (slower; its speed is not reported).

    .venv/bin/python bench/export.py                 # 1M payments
    .venv/bin/python bench/export.py --reuse         # keep an already seeded merchant
    .venv/bin/python bench/export.py --transactions 100000 --skip-http

See bench/README.md for recorded results.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/paybridge_bench_export"


# --------------------------------------------------------------------------- memory


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Peak RSS of a process, sampled every `interval` seconds on a thread."""

    def __init__(self, pid: int | str = "self", interval: float = 0.005) -> None:
        self.pid, self.interval = pid, interval
        self.baseline = rss_bytes(pid)
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except OSError:
                return
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))


def vm_hwm(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mb(n: float) -> str:
    return f"{n / 2**20:,.1f} MB"


# --------------------------------------------------------------------------- child runs


def child_generator(args: argparse.Namespace) -> dict:
    """Run inside a fresh process: export every row through transactions_csv."""
    os.environ["DATABASE_URL"] = args.database_url  # before paybridge reads its settings
    from dataclasses import replace

    from paybridge.db import read_session
    from paybridge.exports import transactions_csv
    from paybridge.selectors.transactions import latest_transaction_id
    from paybridge.transaction_query import parse_query

    with read_session() as session:
        snapshot = latest_transaction_id(session=session)
    query = parse_query(json.loads(args.query))
    filters = replace(query.to_filters(args.tz), snapshot_id=snapshot)

    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    rows = 0

    def progress(n: int, finished: bool) -> None:
        nonlocal rows
        rows = n

    size = 0
    cpu0 = time.process_time()
    with RssSampler() as sampler:
        start = time.perf_counter()
        for chunk in transactions_csv(
            merchant_id=args.merchant_id,
            filters=filters,
            sort=query.sort,
            tz=args.tz,
            on_progress=progress,
            in_python=args.in_python,
        ):
            size += len(chunk)
        elapsed = time.perf_counter() - start
    result = {
        "rows": rows,
        "bytes": size,
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu0,
        "rss_baseline": sampler.baseline,
        "rss_peak": sampler.peak,
        # The kernel's own peak for this process (VmHWM restarts at exec; ru_maxrss would
        # still include the parent's memory from before the exec).
        "vm_hwm": vm_hwm(),
    }
    if args.tracemalloc:
        import tracemalloc

        result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def run_child(
    args: argparse.Namespace, merchant_id: int, query: dict, *, trace: bool, in_python: bool = False
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        "--database-url",
        args.database_url,
        "--merchant-id",
        str(merchant_id),
        "--query",
        json.dumps(query),
    ]
    if trace:
        command.append("--tracemalloc")
    if in_python:
        command.append("--in-python")
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_http(args: argparse.Namespace, merchant_id: int, query: dict) -> dict:
    """Serve the FastAPI app with Granian (one worker) and download the export over HTTP."""
    from urllib.parse import urlencode

    from paybridge.browser import SESSION_COOKIE
    from tests.conftest import web_session_token

    token = web_session_token(merchant_id)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": args.database_url, "PAYBRIDGE_ENV": "development"}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("granian")),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "paybridge.api.app:api",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/exports/transactions.csv", timeout=2
                )
            except urllib.error.HTTPError:
                break  # 401 without a cookie: the app answers
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.2)
        worker = _granian_worker(server.pid)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/exports/transactions.csv?{urlencode(query)}",
            headers={"Cookie": f"{SESSION_COOKIE}={token}"},
        )
        size = lines = 0
        cpu0 = cpu_seconds(worker)
        with RssSampler(worker) as sampler:
            start = time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as response:
                assert response.status == 200, response.status
                while chunk := response.read(1 << 16):
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            elapsed = time.perf_counter() - start
        hwm = vm_hwm(worker)
        return {
            "rows": lines - 1,
            "bytes": size,
            "seconds": elapsed,
            "cpu_seconds": cpu_seconds(worker) - cpu0,  # the server's
            "rss_baseline": sampler.baseline,
            "rss_peak": sampler.peak,
            "vm_hwm": hwm,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def _granian_worker(parent: int) -> int:
    """Granian runs the app in a child process; sample that one."""
    for _ in range(50):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                return int(stat.parent.name)
        time.sleep(0.1)
    return parent


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_EXPORT_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="keep a merchant already seeded")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--seed", type=int, default=11)
    # child mode
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--merchant-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--query", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-python", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tz", default="Africa/Lagos", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def line(label: str, r: dict) -> str:
    rate = r["rows"] / r["seconds"]
    growth = r["rss_peak"] - r["rss_baseline"]
    extra = f", VmHWM {mb(r['vm_hwm'])}"
    cpu = f", CPU {r['cpu_seconds']:.1f} s" if "cpu_seconds" in r else ""
    return (
        f"  {label:<28} {r['rows']:>10,} rows {r['bytes'] / 2**20:>7.1f} MiB "
        f"{r['seconds']:>6.2f} s {rate:>10,.0f} rows/s{cpu}; RSS peak {mb(r['rss_peak'])} "
        f"(+{mb(growth)} over {mb(r['rss_baseline'])}){extra}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child_generator(args)))
        return 0

    url = args.database_url
    os.environ["DATABASE_URL"] = url
    import dashboard as seeding  # bench/dashboard.py: COPY seeding of realistic payments

    from paybridge.engine import get_engine
    from paybridge.migrations import migrate
    from paybridge.services.providers import providers_ensure_defaults
    from paybridge.settings import get_settings

    get_settings.cache_clear()
    get_engine.cache_clear()
    seeding.ensure_database(url)
    engine = get_engine()
    migrate(engine)
    providers_ensure_defaults()
    merchant_id = seeding.ensure_merchant(engine, args.transactions)
    rows, rolled = seeding.merchant_rows(engine, merchant_id)
    if args.reuse and rows == rolled == args.transactions:
        print(f"reusing merchant {merchant_id}: {rows:,} payments")
    else:
        if rows or rolled:
            seeding.clear_merchant(url, merchant_id)
        print(f"seeding merchant {merchant_id}: {args.transactions:,} payments")
        times = seeding.seed(url, merchant_id, args.transactions, args.days, args.seed)
        print(f"seeded in {times.total:.1f} s")

    runs = [
        ("generator, newest first", {}, False),
        ("generator, by amount", {"sort": "amount_desc"}, False),
        ("generator, success USD", {"status": "success", "currency": "USD"}, False),
        ("generator, Python formatting", {}, True),
    ]
    results = []
    load = os.getloadavg()[0]
    for label, query, in_python in runs:
        result = run_child(args, merchant_id, query, trace=False, in_python=in_python)
        results.append((label, result))
        print(line(*results[-1]), flush=True)
    traced = run_child(args, merchant_id, {}, trace=True)
    if not args.skip_http:
        results.append(("HTTP route, newest first", run_http(args, merchant_id, {})))
        print(line(*results[-1]), flush=True)
    print()
    print(
        f"export of {args.transactions:,} payments on PostgreSQL, {os.cpu_count()} CPUs, "
        f"load average {load:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    for label, r in results:
        print(line(label, r))
    print(
        f"  tracemalloc peak of Python allocations during a full export: "
        f"{mb(traced['tracemalloc_peak'])} ({traced['rows']:,} rows)"
    )
    first = results[0][1]
    rate = first["rows"] / first["seconds"]
    print(
        f"  targets: >= 100,000 rows/s: {rate:,.0f} "
        f"{'met' if rate >= 100_000 else 'MISSED'}; < 100 MB peak RSS: {mb(first['rss_peak'])} "
        f"{'met' if first['rss_peak'] < 100 * 2**20 else 'MISSED'}"
    )
    engine.dispose()
    if args.drop:
        seeding.drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
