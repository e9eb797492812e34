"""Two PayBridge instances (`python -m paybridge serve --backend-only`, two Granian workers
each) behind Debian's nginx running deploy/nginx.conf, over PostgreSQL and Redis reached through
TCP proxies that tests cut and restore (the real servers keep running for everyone else)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TestDatabase
from tests.ops.proxy import TcpProxy
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180
SERVE = [sys.executable, "-m", "paybridge", "serve", "--backend-only"]


def http_status(url: str, timeout: float = 5) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for(condition, timeout: float, message: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(message)


class Instance:
    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [*SERVE, "--backend-port", str(self.port), "--loglevel", "info"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        wait_for(
            lambda: (
                self.process.poll() is not None or http_status(self.url + "/api/v1/ready") == 200
            ),
            START_TIMEOUT,
            f"instance on {self.port} not ready:\n{self.text()[-3000:]}",
        )
        assert self.process.poll() is None, self.text()[-3000:]
        # Ready means every Granian worker, not just the first to answer: ten probes in a row.
        wait_for(
            lambda: all(http_status(self.url + "/api/v1/ready") == 200 for _ in range(10)),
            60,
            f"instance on {self.port} not steadily ready:\n{self.text()[-3000:]}",
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


class Nginx:
    def __init__(self, upstreams: list[int], workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = workdir
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        servers = "".join(
            f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=10s;\n" for port in upstreams
        )
        conf = re.sub(r"(        server app\d:8000[^\n]*\n)+", servers, conf)
        conf = conf.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("/dev/stdout", str(workdir / "access.log"))
        conf = conf.replace("/dev/stderr", str(workdir / "error.log"))
        conf = conf.replace("/srv/paybridge", str(ROOT / ".web" / "build" / "client"))
        conf = conf.replace(
            "    sendfile on;",
            "    sendfile on;\n"
            + "".join(
                f"    {kind}_temp_path {workdir / kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            ),
        )
        conf = f"pid {workdir / 'nginx.pid'};\nuser root;\n" + conf
        (workdir / "nginx.conf").write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen(
            [nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir), "-e",
             str(workdir / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(
            lambda: (
                self.process.poll() is not None or http_status(self.url + "/api/v1/health") == 200
            ),
            30,
            f"nginx did not start: {self.error_log()}",
        )
        assert self.process.poll() is None, self.error_log()

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def instance_env(database_url: str, redis_url: str, *, workers: int = 2, **settings: str) -> dict:
    """The environment of a served test instance: PostgreSQL, Redis for the bus and Reflex's
    state, no API rate limit; `settings` adds or overrides variables."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REFLEX_REDIS_URL": redis_url,
        "GRANIAN_WORKERS": str(workers),
        "PAYBRIDGE_ENV": "test",
        "PAYBRIDGE_API_RATE_LIMIT": "0",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


class Topology:
    """`proxied=False` connects the instances to PostgreSQL and Redis directly (no outage can be
    staged, but a load test measures the app, not the test process's proxy threads)."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        workdir: Path,
        nginx_port: int | None = None,
        proxied: bool = True,
    ) -> None:
        from sqlalchemy.engine import make_url

        db = make_url(database_url)
        self.postgres = TcpProxy(db.host or "127.0.0.1", db.port or 5432)
        redis_host, _, rest = redis_url.removeprefix("redis://").partition(":")
        redis_port, _, redis_db = rest.partition("/")
        self.redis = TcpProxy(redis_host, int(redis_port or 6379))
        if proxied:
            self.postgres.start()
            self.redis.start()
            db = db.set(host="127.0.0.1", port=self.postgres.port)
            redis_url = f"redis://127.0.0.1:{self.redis.port}/{redis_db or 0}"
        env = instance_env(db.render_as_string(hide_password=False), redis_url)
        self.instances: list[Instance] = []
        self.nginx: Nginx | None = None
        try:
            for n in (1, 2):  # one after the other: they share the project directory
                instance = Instance(env=env, log=workdir / f"instance{n}.log")
                self.instances.append(instance)
                instance.wait_ready()
            self.nginx = Nginx([i.port for i in self.instances], workdir, nginx_port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for instance in self.instances:
            instance.stop()
        self.postgres.stop()
        self.redis.stop()


def children(pid: int) -> set[int]:
    """Granian workers of a serve process: its children forked from it (same command line),
    read from /proc; helpers it runs now and then (other command lines) are left out."""
    try:
        parent_cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return set()
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid:
                continue
            if (stat.parent / "cmdline").read_bytes() == parent_cmdline:
                found.add(int(stat.parent.name))
        except OSError:
            continue
    return found


# The fixture of the tests that race many HTTP clients: two app instances (two Granian workers
# each) behind nginx on the test PostgreSQL and Redis, connected directly, shared by a module.
@pytest.fixture(scope="module")
def instances(
    backend: TestDatabase, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    if backend.is_sqlite:
        pytest.skip("several instances need PostgreSQL")
    topology = Topology(
        database_url=backend.url,
        redis_url=redis_url,
        workdir=tmp_path_factory.mktemp("instances"),
        proxied=False,
    )
    try:
        yield topology
    finally:
        topology.stop()
