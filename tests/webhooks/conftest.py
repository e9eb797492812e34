"""Fixtures for webhook delivery: real HTTP receivers on 127.0.0.1, endpoints, a fast retry
policy, and workers (in a thread, or as `python -m paybridge worker` subprocesses)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from paybridge.db import read_session, write_session
from paybridge.models import Event, Webhook, WebhookAttempt, WebhookDelivery
from paybridge.services.deliveries import DeliveryPolicy
from paybridge.services.webhooks import new_webhook_secret
from paybridge.settings import PROJECT_ROOT
from paybridge.worker import Worker, WorkerConfig

# Tiny delays: retries after 0.05, 0.1, 0.2, 0.4, 0.5, 0.5 ... seconds.
FAST_POLICY = DeliveryPolicy(
    retry_base=0.05,
    retry_factor=2.0,
    retry_max_delay=0.5,
    retry_window=60.0,
    disable_after=3600.0,
    timeout=2.0,
    lease=5.0,
    gap_timeout=2.0,
)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(interval)


# --- receivers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when the request arrived

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["id"]

    @property
    def attempt(self) -> int:
        return int(self.headers["paybridge-attempt"])

    @property
    def delivery_id(self) -> int:
        return int(self.headers["paybridge-delivery-id"])


# A responder gets the request and how many requests came before it; it returns
# (status, body) and may sleep.
Responder = Callable[[Received, int], tuple[int, bytes]]


def always(status: int) -> Responder:
    return lambda _req, _n: (status, b"ok" if status < 300 else b"nope")


def sequence(*statuses: int, then: int = 200) -> Responder:
    """Answer with `statuses` in order, then `then` forever."""
    return lambda _req, n: (statuses[n] if n < len(statuses) else then, b"answer %d" % n)


@dataclass
class Receiver:
    responder: Responder
    port: int = 0
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender died mid-request (a killed worker): no server would
                    # take a truncated body as a delivery, so neither does this one.
                    self.close_connection = True
                    return
                request = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                )
                with receiver._lock:
                    index = len(receiver.requests)
                    receiver.requests.append(request)
                status, answer = receiver.responder(request, index)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/redirected")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def event_ids(self) -> set[str]:
        return {r.event_id for r in self.snapshot()}

    def wait_for_count(self, count: int, timeout: float = 20.0) -> list[Received]:
        wait_until(lambda: len(self.snapshot()) >= count, timeout)
        return self.snapshot()


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    """`receivers(responder, port=0, start=True)` -> a Receiver, stopped after the test."""
    made: list[Receiver] = []

    def make(responder: Responder | None = None, *, port: int = 0, start: bool = True):
        receiver = Receiver(responder or always(200), port=port)
        made.append(receiver)
        return receiver.start() if start else receiver

    yield make
    for receiver in made:
        receiver.stop()


@pytest.fixture(autouse=True)
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receivers listen on 127.0.0.1, which production refuses."""
    monkeypatch.setenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", "1")


# --- endpoints and reads -------------------------------------------------------------------


def make_endpoint(
    merchant_id: int, url: str, event_types: list[str] | None = None, *, active: bool = True
) -> Webhook:
    """A webhooks row written directly (the CRUD service belongs to the public API)."""
    with write_session() as session:
        hook = Webhook(
            merchant_id=merchant_id,
            url=url,
            event_types=event_types if event_types is not None else ["*"],
            secret=new_webhook_secret(),
            is_active=active,
        )
        session.add(hook)
        session.commit()
        return hook


def deliveries(webhook_id: int | None = None) -> list[WebhookDelivery]:
    with read_session() as session:
        query = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if webhook_id is not None:
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        return list(session.exec(query).all())


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    with read_session() as session:
        return list(
            session.exec(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt_number)
            ).all()
        )


def events_of_type(prefix: str) -> list[Event]:
    with read_session() as session:
        return [
            e
            for e in session.exec(select(Event).order_by(Event.id)).all()
            if e.type.startswith(prefix)
        ]


def all_finished(webhook_id: int | None = None, expected: int | None = None) -> bool:
    rows = deliveries(webhook_id)
    if expected is not None and len(rows) < expected:
        return False
    return bool(rows) and all(d.status != "pending" for d in rows)


# --- workers -------------------------------------------------------------------------------


@contextlib.contextmanager
def running_worker(policy: DeliveryPolicy = FAST_POLICY, **config: Any) -> Iterator[Worker]:
    """A Worker loop in a thread of this process, stopped (gracefully) on exit."""
    options = {"concurrency": 4, "poll_interval": 0.02, "payouts": False} | config
    worker = Worker(WorkerConfig(policy=policy, **options))
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "worker did not stop"


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "PAYBRIDGE_ENV": "test",
            "PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE": "1",
            "PAYBRIDGE_WEBHOOK_RETRY_BASE_SECONDS": "0.1",
            "PAYBRIDGE_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "0.5",
            "PAYBRIDGE_WEBHOOK_TIMEOUT_SECONDS": "2",
            "PAYBRIDGE_WEBHOOK_LEASE_SECONDS": "3",
            "PAYBRIDGE_OUTBOX_GAP_SECONDS": "5",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """`worker_processes(database_url, *args)` -> a running `python -m paybridge worker`;
    any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def start(database_url: str, *args: str, **env: str) -> WorkerProcess:
        log_path = tmp_path / f"worker{len(started)}.log"
        log_file = log_path.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "paybridge", "worker", "--poll-interval", "0.1", *args],
            cwd=PROJECT_ROOT,
            env=worker_env(database_url, **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        handle = WorkerProcess(process, log_path)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        if handle.process.poll() is None:
            handle.process.kill()
            handle.process.wait(timeout=10)
