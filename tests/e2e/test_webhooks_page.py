"""`/webhooks` in a real browser with a real worker and a real receiver on 127.0.0.1: create an
endpoint, see its secret once, send a test event that arrives signed, roll the secret (both
signatures verify), watch a failing delivery retry and resend it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from paybridge.webhook_signature import verify_signature
from tests.e2e.conftest import login
from tests.e2e.harness import ROOT


class Receiver:
    """A merchant's endpoint: records every POST; answers 500 while `failing`."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, str]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((body, self.headers.get("PayBridge-Signature", "")))
                self.send_response(500 if receiver.failing else 200)
                self.end_headers()
                self.wfile.write(b"nope" if receiver.failing else b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.requests) >= count, f"got {len(self.requests)} requests, wanted {count}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def worker(e2e_database):
    env = {
        **os.environ,
        "DATABASE_URL": e2e_database,
        "PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE": "1",
        "PAYBRIDGE_WEBHOOK_RETRY_BASE_SECONDS": "1",
        "PAYBRIDGE_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "2",
    }
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "paybridge", "worker", "--poll-interval", "0.2", "--no-payouts"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    process.wait(15)


def _reload_until(page, selector: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.reload()
        page.wait_for_selector(".webhook-endpoint, #webhook-create")
        if page.locator(selector).count():
            return
        assert time.monotonic() < deadline, f"{selector} never appeared"
        time.sleep(1)


def test_webhooks_page_end_to_end(browser, app, merchants, receiver, worker):
    bravo = merchants.bravo
    page = login(browser, app, bravo.email, merchants.password, next_path="/webhooks")

    page.fill("#webhook-url", "ftp://example.com/x")
    page.click("#new-all-events")
    page.click("#webhook-create")
    page.wait_for_selector("#webhook-error:has-text('http')")

    page.fill("#webhook-url", receiver.url)
    page.click("#new-all-events")
    page.click("#webhook-create")
    page.wait_for_selector("#webhook-secret")
    secret = page.inner_text("#webhook-secret").strip()
    assert secret.startswith("whsec_")
    endpoint = page.locator(".webhook-endpoint", has_text=receiver.url)
    endpoint.wait_for()

    endpoint.locator(".webhook-test").click()
    receiver.wait_for(1)
    body, header = receiver.requests[0]
    assert verify_signature(body, header, secret)
    assert json.loads(body)["type"] == "webhook.test"
    _reload_until(page, ".delivery-row:has-text('succeeded')")
    assert secret not in page.inner_text("body")  # shown once only

    # Roll: the new secret is shown once; for 24 hours both secrets sign.
    page.locator(".webhook-endpoint", has_text=receiver.url).locator(".webhook-roll").click()
    page.wait_for_selector("#webhook-secret")
    new_secret = page.inner_text("#webhook-secret").strip()
    assert new_secret != secret
    page.locator(".webhook-endpoint", has_text=receiver.url).locator(".webhook-test").click()
    receiver.wait_for(2)
    body, header = receiver.requests[1]
    assert header.count("v1=") == 2
    assert verify_signature(body, header, new_secret) and verify_signature(body, header, secret)

    # A failing receiver: the attempt is logged with its status, retried, and can be resent.
    receiver.failing = True
    page.locator(".webhook-endpoint", has_text=receiver.url).locator(".webhook-test").click()
    receiver.wait_for(4)  # the first try and at least one automatic retry
    receiver.failing = False
    _reload_until(page, ".delivery-row:has-text('succeeded') >> nth=1")
    page.locator(".delivery-row").first.click()
    page.wait_for_selector(".delivery-attempt:has-text('HTTP 500')")
    before = len(receiver.requests)
    page.locator(".delivery-resend").first.click()
    page.wait_for_selector("#webhook-notice:has-text('queued again')")
    receiver.wait_for(before + 1)

    # Disable: nothing more is sent.
    page.locator(".webhook-endpoint", has_text=receiver.url).locator(".webhook-toggle").click()
    page.wait_for_selector(".webhook-endpoint:has-text('disabled')")
