"""Shared pieces of the HTTP benchmarks: a bench database, the app served on its own core, `wrk`
POSTing with a fresh Idempotency-Key per request, and CPU read from /proc.

The app (`python -m paybridge serve --backend-only`) is pinned to one core with `taskset` and
`wrk` to the other, so the load generator is not what limits the app; the CPU each side used
is read from /proc beside the wall time, since the machine may be shared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live_latency import cpu_seconds, point_at, tree_pids  # noqa: E402

DEFAULT_REDIS = "redis://127.0.0.1:6379/7"
CLK = os.sysconf("SC_CLK_TCK")


def create_database(url: str, *, fresh: bool = True) -> None:
    """Create (dropping it first when `fresh`) and migrate the bench database, with providers."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="test")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    point_at(url, None)
    from paybridge.engine import get_engine
    from paybridge.migrations import migrate
    from paybridge.services.providers import providers_ensure_defaults

    migrate(get_engine())
    providers_ensure_defaults()


def bench_merchant(name: str) -> int:
    """A verified merchant for a bench run, `name`@bench.paybridge.test; returns its id."""
    from paybridge.services.users import user_create

    return user_create(
        email=f"{name}@bench.paybridge.test",
        password="bench-password-1",
        full_name=f"{name.title()} Bench",
        company_name=f"{name.title()} Bench Ltd",
        kyc_status="verified",
    ).id


def bench_credentials(merchant_id: int) -> tuple[str, str]:
    """(API key, JWT access token) of a bench merchant."""
    from paybridge.api.auth import issue_tokens
    from paybridge.services.api_keys import api_key_create
    from paybridge.services.auth import api_session_start

    key = api_key_create(merchant_id=merchant_id, name="bench")[1]
    session_id = api_session_start(user_id=merchant_id)
    return key, issue_tokens(user_id=merchant_id, session_id=session_id).access


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    point_at("sqlite://", None)  # let go of the bench database's pooled connections
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="test")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedApp:
    """`python -m paybridge serve --backend-only` on `cpus` (taskset), Granian `workers`."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str | None,
        workers: int = 1,
        cpus: str = "0",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkdtemp(prefix="paybridge-bench-")) / "app.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GRANIAN_WORKERS": str(workers),
            "PAYBRIDGE_ENV": "test",
            "PAYBRIDGE_API_RATE_LIMIT": "0",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        for name in ("REDIS_URL", "REFLEX_REDIS_URL"):
            env.pop(name, None)
            if redis_url:
                env[name] = redis_url
        command = [sys.executable, "-m", "paybridge", "serve", "--backend-only"]
        command += ["--backend-port", str(self.port), "--loglevel", "warning"]
        if cpus and shutil.which("taskset"):
            command = ["taskset", "-c", cpus, *command]
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("app did not become ready")

    def cpu(self) -> float:
        return cpu_seconds(tree_pids(self.process.pid))

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/api/v1/health", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process so far (backends come and go; their
    time is charged when they exit to the postmaster's children totals, so read both)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if not name.startswith("postgres"):
            continue
        fields = text.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK
    return total


WRK_SCRIPT = r"""
local tokens = {%(tokens)s}
local bodies = {%(bodies)s}
local paths = {%(paths)s}
local keyed = %(keyed)s
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  codes = {}
end
function request()
  n = n + 1
  local i = (n * 7919 + tid * 104729) %% #tokens + 1
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[i],
    ["Content-Type"] = "application/json",
  }
  if keyed then headers["Idempotency-Key"] = "%(run)s-" .. tid .. "-" .. n end
  return wrk.format("POST", paths[(i - 1) %% #paths + 1], headers, bodies[(n - 1) %% #bodies + 1])
end
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. "=" .. v) end
  io.write("CODES " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("LATENCY %%d %%d %%d %%d\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max))
  local e = summary.errors
  io.write(string.format("SUMMARY %%d %%d %%d %%d %%d %%d %%d\n", summary.requests,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua_strings(values: list[str]) -> str:
    return ", ".join(json.dumps(v) for v in values)


@dataclass
class WrkResult:
    connections: int
    requests: int
    seconds: float
    codes: dict[int, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok(self, *statuses: int) -> int:
        return sum(self.codes.get(s, 0) for s in statuses)


def wrk_post(
    base_url: str,
    *,
    paths: list[str],
    tokens: list[str],
    bodies: list[str],
    connections: int,
    seconds: float,
    keyed: bool = True,
    cpus: str = "1",
    threads: int | None = None,
    timeout: str = "10s",
) -> WrkResult:
    """POST for `seconds` with `connections` keep-alive connections; request n of a thread
    takes body n (cycling), a token and a path chosen by n, and a fresh Idempotency-Key."""
    script = Path(tempfile.mkdtemp(prefix="wrk-")) / "post.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "tokens": _lua_strings(tokens),
            "bodies": _lua_strings(bodies),
            "paths": _lua_strings(paths),
            "keyed": "true" if keyed else "false",
            "run": f"{os.getpid()}-{time.time_ns()}",
        }
    )
    threads = threads or min(connections, 4)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{round(seconds)}s"]
    command += ["--timeout", timeout, "-s", str(script), base_url]
    if cpus and shutil.which("taskset"):
        command = ["taskset", "-c", cpus, *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    codes = dict(
        (int(k), int(v))
        for k, v in re.findall(r"(\d+)=(\d+)", re.search(r"^CODES(.*)$", output, re.M).group(1))
    )
    p50, p95, p99, most = map(int, re.search(r"^LATENCY (.*)$", output, re.M).group(1).split())
    fields = list(map(int, re.search(r"^SUMMARY (.*)$", output, re.M).group(1).split()))
    requests, duration_us, *errors = fields
    return WrkResult(
        connections=connections,
        requests=requests,
        seconds=duration_us / 1e6,
        codes=codes,
        p50_ms=p50 / 1000,
        p95_ms=p95 / 1000,
        p99_ms=p99 / 1000,
        max_ms=most / 1000,
        socket_errors=dict(
            zip(("connect", "read", "write", "status", "timeout"), errors, strict=True)
        ),
    )


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian)")
