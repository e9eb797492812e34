"""`python -m paybridge serve [reflex run options]`: `reflex run --env prod` with self-healing
Granian workers and a bounded drain on SIGTERM.

Reflex 0.10 starts Granian without `respawn_failed_workers`, so one worker process dying (an
OOM kill, a segfault in a native library, kill -9) makes Granian shut the whole app down. This
command runs the same `reflex run` in this process with Granian told to start a replacement
instead (Granian's own crash-loop guard still stops the app if a worker keeps dying within
seconds of its start).

On SIGTERM Granian closes the listening socket, lets every worker finish the requests it is
serving (open websockets are closed) and exits. Without a limit, one request that never ends
(a client that stopped sending halfway, a long export) kept the instance alive until the
orchestrator's SIGKILL; `workers_kill_timeout` stops workers still busy after
`PAYBRIDGE_DRAIN_SECONDS` (default 20, below the compose file's 30 s stop_grace_period).

Everything else is plain `reflex run`: pass its options after `serve`, e.g.
`python -m paybridge serve --backend-only --backend-port 8000`.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

RESPAWN_INTERVAL = 1.0  # seconds between starting replacement workers


def drain_seconds() -> int:
    """How long a stopping instance lets its workers finish in-flight requests."""
    raw = os.environ.get("PAYBRIDGE_DRAIN_SECONDS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 20


DRAIN_SECONDS = drain_seconds()


def enable_worker_respawn(interval: float = RESPAWN_INTERVAL) -> None:
    """Make every Granian server created from now on in this process replace dead workers and
    stop workers still busy `PAYBRIDGE_DRAIN_SECONDS` after a SIGTERM."""
    from granian.server import common

    original = common.AbstractServer.__init__
    if getattr(original, "_paybridge_respawn", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("respawn_failed_workers", True)
        kwargs.setdefault("respawn_interval", interval)
        kwargs.setdefault("workers_kill_timeout", drain_seconds())
        original(self, *args, **kwargs)

    init._paybridge_respawn = True  # type: ignore[attr-defined]
    common.AbstractServer.__init__ = init  # type: ignore[method-assign]


def reflex_run_args(argv: list[str]) -> list[str]:
    """`reflex run` arguments: production mode unless the caller chose an --env."""
    has_env = any(arg == "--env" or arg.startswith("--env=") for arg in argv)
    return ["run", *argv] if has_env else ["run", "--env", "prod", *argv]


def backend_workers() -> int:
    """Granian workers `reflex run` will start: GRANIAN_WORKERS, else Reflex's own choice (one
    without Redis, 2 x CPUs + 1 up to 8 with it)."""
    raw = os.environ.get("GRANIAN_WORKERS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    if not (os.environ.get("REFLEX_REDIS_URL") or os.environ.get("REDIS_URL")):
        return 1
    return min((os.cpu_count() or 1) * 2 + 1, 8)


def check_connection_budget() -> str | None:
    """Size each worker's database pool before the workers start, and refuse to start when
    the instances together would need more connections than PostgreSQL allows. Returns the
    refusal, or None (the plan is printed)."""
    from paybridge.engine import connection_plan, server_connection_limit
    from paybridge.settings import get_settings

    workers = backend_workers()
    os.environ["GRANIAN_WORKERS"] = str(workers)  # Reflex starts exactly as many as planned
    os.environ["PAYBRIDGE_APP_PROCESSES"] = str(workers)
    url = get_settings().database_url
    if not url.startswith("postgresql"):
        return None
    plan = connection_plan(server_connection_limit(url))
    if not plan.fits:
        return (
            f"error: not enough database connections: {plan.describe()}.\n"
            "Raise PostgreSQL's max_connections, run fewer workers (GRANIAN_WORKERS) or "
            "instances (PAYBRIDGE_INSTANCES), or put PgBouncer in front (deploy/pgbouncer.ini, "
            "with PAYBRIDGE_DB_MAX_CONNECTIONS set to its pool size)."
        )
    print(f"database connections: {plan.describe()}", flush=True)
    return None


def serve(argv: list[str]) -> int:
    from paybridge.settings import SettingsError

    enable_worker_respawn()
    try:
        refusal = check_connection_budget()
    except SettingsError as error:  # e.g. production without a secret key
        refusal = f"error: {error}"
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 2
    from reflex.reflex import cli

    try:
        cli.main(args=reflex_run_args(argv), prog_name="reflex", standalone_mode=True)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # a refusal to start (e.g. no secret in production)
            print(exit_.code, file=sys.stderr)
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0
