"""`python -m paybridge serve`: a Granian worker killed with SIGKILL is replaced and the app
keeps serving (plain `reflex run` shuts the whole app down when one worker dies).

Runs the real backend (`--backend-only`: no frontend compile, so it never touches the shared
`.web` build) with Redis and two Granian workers on the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.ops.topology import children, wait_for
from tests.ops.topology import http_status as status
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180
SERVE = [sys.executable, "-m", "paybridge", "serve", "--backend-only"]

pytestmark = pytest.mark.timeout(300)


class Served:
    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def workers(self) -> set[int]:
        return children(self.process.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def served(db: TestDatabase, redis_url: str, tmp_path: Path) -> Iterator[Served]:
    if db.is_sqlite:
        pytest.skip("one backend is enough for a process test")
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "REDIS_URL": redis_url,
        "GRANIAN_WORKERS": "2",
        "PAYBRIDGE_ENV": "test",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [*SERVE, "--backend-port", str(port), "--loglevel", "info"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Served(process, port, log)
    try:
        wait_for(
            lambda: process.poll() is not None or status(server.url + "/api/v1/ready") == 200,
            START_TIMEOUT,
            f"serve did not become ready:\n{server.text()[-3000:]}",
        )
        assert process.poll() is None, server.text()[-3000:]
        wait_for(lambda: len(server.workers()) == 2, 60, "two Granian workers never appeared")
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_a_killed_granian_worker_is_replaced(served: Served) -> None:
    before = served.workers()
    assert len(before) == 2
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        """One snapshot of /proc decides (two could disagree: a child forked to run a helper
        has the parent's command line until it execs)."""
        now = served.workers()
        return len(now) == 2 and victim not in now and len(now - before) == 1

    wait_for(replaced, 60, f"the killed worker was not replaced:\n{served.text()[-3000:]}")
    assert served.process.poll() is None, "the app stopped"

    # The app serves normally afterwards: health and readiness on every try.
    statuses = [status(served.url + "/api/v1/health") for _ in range(20)]
    assert statuses == [200] * 20
    assert status(served.url + "/api/v1/ready") == 200


def test_serve_passes_options_to_reflex_run_in_production_mode() -> None:
    from paybridge.serve import reflex_run_args

    assert reflex_run_args(["--backend-only"]) == ["run", "--env", "prod", "--backend-only"]
    assert reflex_run_args(["--env", "dev"]) == ["run", "--env", "dev"]
    assert reflex_run_args(["--env=dev"]) == ["run", "--env=dev"]


def test_enable_worker_respawn_sets_granian_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from granian.server import Server

    from paybridge.serve import enable_worker_respawn

    monkeypatch.delenv("PAYBRIDGE_DRAIN_SECONDS", raising=False)
    enable_worker_respawn()
    enable_worker_respawn()  # idempotent
    server = Server(target="paybridge.paybridge:app", workers=2)
    assert server.respawn_failed_workers is True
    assert server.workers_kill_timeout == 20  # PAYBRIDGE_DRAIN_SECONDS's default
    explicit = Server(target="paybridge.paybridge:app", respawn_failed_workers=False)
    assert explicit.respawn_failed_workers is False
    monkeypatch.setenv("PAYBRIDGE_DRAIN_SECONDS", "7")
    assert Server(target="paybridge.paybridge:app").workers_kill_timeout == 7
