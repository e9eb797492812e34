"""The demo merchant's own integration, as `make run` drives it: its backend calls the public
API with an API key (payments in, refunds, the odd list and balance read) and answers
PayBridge's webhooks on a small local receiver that verifies each signature and, as real
endpoints do now and then, fails a share of deliveries, which PayBridge retries.

Nothing here imports the app: it speaks HTTP to it like any integrator. The simulator that
uses it (`python -m paybridge simulate --api URL`) plays the payment providers' side too,
settling payments through the services a few seconds later.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from paybridge.webhook_signature import SIGNATURE_HEADER, verify_signature

log = logging.getLogger(__name__)

KEY_NAME = "Demo integration"
WEBHOOK_PATH = "/paybridge/webhooks"


class ApiUnavailable(Exception):
    """The app did not answer (yet): starting, restarting, or gone."""


@dataclass
class DemoApi:
    """A thin client of /api/v1 with the merchant's API key (the way a merchant's backend
    would call it; every POST carries an Idempotency-Key)."""

    base_url: str  # e.g. http://127.0.0.1:3000
    key: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1{path}"

    def request(
        self, method: str, path: str, *, token: str | None = None, json_body: Any = None
    ) -> Any:
        headers = {"Authorization": f"Bearer {token or self.key}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        try:
            response = self.http.request(method, self._url(path), headers=headers, json=json_body)
        except httpx.TransportError as error:
            raise ApiUnavailable(str(error)) from error
        if response.status_code >= 500:
            raise ApiUnavailable(f"{method} {path}: {response.status_code}")
        response.raise_for_status()
        return response.json()

    def wait_until_up(self, timeout: float) -> None:
        """The first `make run` builds the frontend before the app answers: wait for it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.http.get(self._url("/health"), timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ApiUnavailable(f"no answer from {self._url('/health')} in {timeout:.0f} s")
            time.sleep(2)

    def set_up_key(self, email: str, password: str) -> None:
        """Log in, revoke the keys earlier runs made, and make this run's key (an API key
        can only be made with a login, and its secret is shown once)."""
        tokens = self.http.post(
            self._url("/auth/token"), json={"email": email, "password": password}
        )
        tokens.raise_for_status()
        access = tokens.json()["access"]
        for key in self.request("GET", "/api-keys?limit=100", token=access)["data"]:
            if key["name"] == KEY_NAME:
                self.request("DELETE", f"/api-keys/{key['id']}", token=access)
        self.key = self.request("POST", "/api-keys", token=access, json_body={"name": KEY_NAME})[
            "secret"
        ]

    def register_webhook(self, url: str) -> str:
        """(Re-)register the receiver's URL for every event; returns the signing secret. An
        endpoint an earlier run registered at this URL is replaced: its secret is gone with
        that run."""
        for hook in self.request("GET", "/webhooks?limit=100")["data"]:
            if hook["url"] == url:
                self.request("DELETE", f"/webhooks/{hook['id']}")
        created = self.request("POST", "/webhooks", json_body={"url": url, "event_types": ["*"]})
        return created["secret"]


@dataclass
class ReceivedStats:
    accepted: int = 0
    refused: int = 0  # answered 503 on purpose
    bad_signature: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class WebhookReceiver:
    """A merchant's webhook endpoint on 127.0.0.1: verifies the signature of every delivery,
    answers 200, and answers 503 to a share of them (`fail_rate`) as a busy server would."""

    def __init__(self, port: int, *, fail_rate: float = 0.08, seed: int | None = None) -> None:
        self.secret = ""
        self.fail_rate = fail_rate
        self.stats = ReceivedStats()
        self._rng = random.Random(seed)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length)
                status = receiver.answer(body, self.headers.get(SIGNATURE_HEADER, ""))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # one line per delivery
                log.debug("webhook receiver: " + format, *args)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}{WEBHOOK_PATH}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body: bytes, signature: str) -> int:
        with self.stats.lock:
            if not self.secret or not verify_signature(body, signature, self.secret):
                self.stats.bad_signature += 1
                return 400
            if self._rng.random() < self.fail_rate:
                self.stats.refused += 1
                return 503
            self.stats.accepted += 1
        try:
            event = json.loads(body)
            log.debug("webhook %s %s", event.get("id"), event.get("type"))
        except ValueError:
            pass
        return 200
