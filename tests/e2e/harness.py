"""Running the real app (`reflex run --env prod`) and a real Chromium for browser tests."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PAYBRIDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 600  # the first start installs the frontend packages and builds them


class AppServer:
    """One `reflex run --env prod` process group serving UI and API on one port."""

    def __init__(
        self, *, database_url: str, redis_url: str | None = None, workers: int = 1, log_dir: Path
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"reflex-{self.port}.log"
        self.secret = secrets.token_urlsafe(48)  # another instance of this app needs it too
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PAYBRIDGE_ALLOWED_ORIGINS": self.url,
            "PAYBRIDGE_PORT": str(self.port),
            # `reflex run --env prod` is production: it needs a secret of its own.
            "PAYBRIDGE_SECRET_KEY": self.secret,
            # The webhook receivers of the browser tests listen on 127.0.0.1.
            "PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE": "1",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REDIS_URL", None)
        env.pop("PAYBRIDGE_ENV", None)  # production, as `reflex run --env prod` makes it
        if redis_url:
            env["REDIS_URL"] = redis_url
            env["GRANIAN_WORKERS"] = str(workers)
        reflex = Path(sys.executable).with_name("reflex")
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                str(reflex),
                "run",
                "--env",
                "prod",
                "--frontend-port",
                str(self.port),
                "--backend-port",
                str(self.port),
                "--loglevel",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited early:\n{self.log()[-4000:]}")
            if "App running" in self.log():
                try:
                    with urllib.request.urlopen(self.url + "/ping", timeout=2) as response:
                        if response.status == 200:
                            # and the compiled frontend answers
                            with urllib.request.urlopen(self.url + "/login", timeout=5):
                                return
                except OSError:
                    pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"app did not start in {START_TIMEOUT}s:\n{self.log()[-4000:]}")

    def worker_pids(self) -> list[int]:
        """Granian workers: the server process's children (read from /proc)."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:  # ppid
                children.append(int(stat.parent.name))
        return children

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()


class ForgedClient:
    """A raw Reflex websocket client: sends any event with any arguments, as a hostile browser
    could, and records every update the server sends back."""

    NAMESPACE = "/_event"

    def __init__(self, base_url: str, *, cookie: str | None = None) -> None:
        import socketio

        self.updates: list[Any] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("event", self.updates.append, namespace=self.NAMESPACE)
        # websocket-client sends an Origin of the URL's host itself, as a page of the app would
        # (the app refuses an event websocket without one; a second Origin header would make
        # the two one foreign value).
        headers = {"Cookie": cookie} if cookie else {}
        self.client.connect(
            f"{base_url}?token={uuid.uuid4()}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=[self.NAMESPACE],
            headers=headers,
        )

    def send(self, handler: str, payload: dict[str, Any], path: str = "/") -> None:
        self.client.emit(
            "event",
            {
                "name": handler,
                "payload": payload,
                "router_data": {"pathname": path, "asPath": path, "query": {}},
            },
            namespace=self.NAMESPACE,
        )

    def close(self) -> None:
        self.client.disconnect()


class DevCopy:
    """`make dev` (`scripts/run.sh --dev`: Reflex's development mode on the embedded SQLite
    default, with the demo seed, the worker and the simulator) in a copy of this checkout, so
    that a test or a bench can edit its files. The copy shares this checkout's `.venv`."""

    MARK = "backend serving"  # one line per backend start (paybridge/paybridge.py)

    def __init__(self, workdir: Path, *, simulate_rate: str = "2") -> None:
        self.root = workdir / "paybridge"
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for name in filter(None, (raw.decode() for raw in listed)):
            source = ROOT / name
            if source.is_file():
                target = self.root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)  # mtimes kept: setup.sh finds the .venv current
        (self.root / ".venv").symlink_to(ROOT / ".venv")
        self.port, self.backend_port, webhook_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backend_url = f"http://127.0.0.1:{self.backend_port}"
        self.log_path = workdir / "make-dev.log"
        env = {
            **os.environ,
            "PAYBRIDGE_PORT": str(self.port),
            "PAYBRIDGE_BACKEND_PORT": str(self.backend_port),
            "PAYBRIDGE_DEMO_WEBHOOK_PORT": str(webhook_port),
            "PAYBRIDGE_ALLOWED_ORIGINS": f"{self.url},http://localhost:{self.port}",
            "PAYBRIDGE_SIMULATE_RATE": simulate_rate,
            "PYTHONPATH": str(self.root),  # the copy's package, not this checkout's
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "PAYBRIDGE_ENV", "PAYBRIDGE_SECRET_KEY"):
            env.pop(name, None)  # the embedded default, as on a fresh clone
        for name in [n for n in env if n.startswith("REFLEX_HOT_RELOAD")]:
            # Set by this checkout's rxconfig.py once anything in this process read it: inherited,
            # the copy would watch this checkout's files instead of its own.
            env.pop(name)
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            ["bash", "scripts/run.sh", "--dev"],
            cwd=self.root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make dev exited early:\n{self.log()[-4000:]}")
            if self.starts() and "simulating" in self.data_log("simulate.log"):
                try:
                    with urllib.request.urlopen(self.url + "/login", timeout=10) as response:
                        if response.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(1)
        raise RuntimeError(f"make dev did not start in {START_TIMEOUT}s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def data_log(self, name: str) -> str:
        path = self.root / "data" / name
        return path.read_text(errors="replace") if path.exists() else ""

    def starts(self) -> int:
        """Backend starts so far: the first one, then one per hot reload."""
        return self.log().count(self.MARK)

    def edit(self, relative: str, old: str, new: str) -> None:
        """Replace `old` (which must be there) as an editor saves: the whole file rewritten."""
        path = self.root / relative
        text = path.read_text()
        assert old in text, f"{old!r} is not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()
