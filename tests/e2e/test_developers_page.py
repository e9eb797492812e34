"""`/developers` in a real browser: a key created in the UI works against the API until it is
revoked, and the request log shows the calls."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import sqlalchemy as sa
from sqlmodel import select

from paybridge.db import read_session
from paybridge.models import ApiLog
from tests.e2e.conftest import login


def _profile(app, secret: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{app.url}/api/v1/profile", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _profile_calls(merchant_id: int) -> int:
    with read_session() as session:
        query = select(sa.func.count()).where(
            ApiLog.merchant_id == merchant_id, ApiLog.endpoint.contains("/profile")
        )
        return session.exec(query).one()


def test_key_created_in_the_ui_works_until_revoked(browser, app, merchants):
    bravo = merchants.bravo
    page = login(browser, app, bravo.email, merchants.password, next_path="/developers")
    page.fill("#key-name", "Checkout server")
    page.click("#key-create")
    page.wait_for_selector("#new-key-secret")
    secret = page.inner_text("#new-key-secret").strip()
    assert secret.startswith("sk_live_")

    status, body = _profile(app, secret)
    assert status == 200 and body["email"] == bravo.email

    # The secret is shown once: a reload shows only the masked key, and the state the reload
    # brings over the socket no longer holds it.
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda data: frames.append(str(data))))
    page.reload()
    page.wait_for_selector(".key-row:has-text('Checkout server')")
    assert secret not in page.inner_text("body")
    assert frames and not any(secret in frame for frame in frames)
    assert f"sk_live_…{secret[-4:]}" in page.inner_text("#keys-body")

    # The call shows up in the request log, filterable by path and status class.
    page.fill("#log-path", "/profile")
    page.select_option("#log-status_class", "2xx")
    for _ in range(20):  # the API writes its request log in batches about once a second
        page.click("#log-filter")
        page.wait_for_timeout(500)
        if page.locator(".log-row", has_text="/profile").count():
            break
    page.wait_for_selector(".log-row:has-text('/profile')")

    # Older and Newer page through the log, 25 lines at a time.
    for _ in range(30):
        assert _profile(app, secret)[0] == 200
    for _ in range(40):  # written in batches about once a second
        if _profile_calls(bravo.id) >= 31:
            break
        time.sleep(0.25)
    assert _profile_calls(bravo.id) == 31
    page.click("#log-filter")
    page.wait_for_function("document.querySelectorAll('.log-row').length === 25")
    page.click("text=Older")
    page.wait_for_function("document.querySelectorAll('.log-row').length === 6")
    page.click("text=Newer")
    page.wait_for_function("document.querySelectorAll('.log-row').length === 25")

    row = page.locator(".key-row", has_text="Checkout server")
    row.locator(".key-revoke").click()
    page.click(".key-revoke-confirm")
    page.wait_for_selector(".key-row:has-text('Checkout server')", state="detached")
    status, body = _profile(app, secret)
    assert status == 401 and body["error"]["code"]
