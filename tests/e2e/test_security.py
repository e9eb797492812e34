"""The attacks of docs/security.md against the running app (`reflex run --env prod` on
PostgreSQL) and a real Chromium: headers and the CSP on every page, the event websocket's
Origin, someone else's login ticket, parallel guessing, the owner's device during an attack,
sign-up spam."""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import websocket
from sqlmodel import select

from paybridge.api.security import PAGE_CSP
from paybridge.db import read_session
from paybridge.models import Transaction
from paybridge.services import throttle
from tests.conftest import create_merchant, web_session_token
from tests.e2e.conftest import login

PASSWORD = "owner-passphrase-2026"
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    `${e.violatedDirective} ${e.blockedURI}`));
"""


class AttackerSite:
    """A page on another site than the app's (localhost is another site than 127.0.0.1)."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def _forget_login_counters(*emails: str) -> None:
    throttle.clear(
        *((throttle.LOGIN_ACCOUNT, email) for email in emails),
        (throttle.LOGIN_ADDRESS, "127.0.0.1"),
        (throttle.SIGNUP_ADDRESS, "127.0.0.1"),
    )


def test_security_headers_on_pages_and_api_responses(app) -> None:
    for path, csp in (
        ("/", PAGE_CSP),
        ("/login", PAGE_CSP),
        ("/settings", PAGE_CSP),
        ("/api/v1/health", "default-src 'none'; frame-ancestors 'none'"),
        ("/api/v1/transactions", "default-src 'none'; frame-ancestors 'none'"),  # a 401
    ):
        response = httpx.get(app.url + path, timeout=30)
        headers = response.headers
        assert headers["content-security-policy"] == csp, path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert len(headers.get_list("x-frame-options")) == 1
    docs = httpx.get(app.url + "/api/v1/docs", timeout=30).headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs and "https://cdn.jsdelivr.net" in docs


def test_no_site_can_frame_the_app(browser, app) -> None:
    """Clickjacking: another site's page that frames the app's pages shows nothing of them."""
    site = AttackerSite(
        f'<iframe id="login" src="{app.url}/login"></iframe>'
        f'<iframe id="home" src="{app.url}/settlements"></iframe>'
    )
    try:
        page = browser.new_context().new_page()
        page.goto(site.url)
        page.wait_for_timeout(3000)
        for frame in ("#login", "#home"):
            assert page.frame_locator(frame).locator("button, input").count() == 0
    finally:
        site.close()


def test_every_page_works_in_chromium_under_the_csp(browser, app, merchants) -> None:
    """Each page renders its data over the websocket, charts draw, and nothing the app does
    is blocked by its own policy."""
    alpha = merchants.alpha
    with read_session() as session:
        reference = session.exec(
            select(Transaction.reference).where(Transaction.merchant_id == alpha.id).limit(1)
        ).one()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(CSP_RECORDER)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    page.goto(f"{app.url}/signup")
    page.wait_for_selector("#signup-submit:not([disabled])")
    page.goto(f"{app.url}/login")
    page.wait_for_selector("#login-submit:not([disabled])")
    page.fill("#email", alpha.email)
    page.fill("#password", merchants.password)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(app.url) + "/?$"), timeout=30_000)

    checks = {
        "/": ["#feed-live", ".js-plotly-plot .main-svg", "#daily-chart .js-plotly-plot"],
        "/transactions": ["#tx-live", "#tx-body tr"],
        f"/transactions/{reference}": [f"#payment-reference:has-text('{reference}')"],
        "/settlements": ["#payouts-body", "#schedule"],
        "/webhooks": ["#webhook-create"],
        "/developers": ["#key-create", "#log-list"],
        "/settings": ["#user-summary", "#sign-in-activity"],
        "/settings/team": ["#members-body", "#invite-email"],
        "/settings/audit": ["#audit-body"],
    }
    for path, selectors in checks.items():
        page.goto(app.url + path)
        page.wait_for_selector("#connection:has-text('live')", timeout=30_000)
        page.wait_for_selector("#merchant-name:has-text('Alpha Traders')", timeout=30_000)
        for selector in selectors:
            page.wait_for_selector(selector, state="attached", timeout=30_000)
        assert page.evaluate("window.__csp") == [], path
    assert not [line for line in console if "Content Security Policy" in line], console


def _event_socket(url: str, cookie: str, origin: str | None) -> websocket.WebSocket:
    """A raw handshake on the event websocket (websocket-client, which otherwise adds an
    Origin of its own)."""
    address = (
        url.replace("http://", "ws://") + f"/_event/?EIO=4&transport=websocket&token={uuid.uuid4()}"
    )
    return websocket.create_connection(
        address,
        header=[f"Cookie: {cookie}"],
        origin=origin,
        suppress_origin=origin is None,
        timeout=10,
    )


def test_the_event_websocket_needs_the_apps_origin(app, merchants) -> None:
    cookie = f"pb_session={web_session_token(merchants.bravo.id)}"
    for origin in (None, "http://evil.example", "null", app.url + ".evil.example"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            _event_socket(app.url, cookie, origin)
        assert refused.value.status_code == 403, origin
    accepted = _event_socket(app.url, cookie, app.url)
    assert accepted.recv().startswith("0{")  # engine.io's open packet: Reflex took it
    accepted.close()


def _attackers_ticket(app, user_id: int) -> str:
    """The attacker logs in to their own account in their own browser: they hold a ticket
    bound to their own login nonce."""
    from paybridge.services.auth import web_session_start

    with httpx.Client(base_url=app.url) as attacker:
        nonce = attacker.post("/auth/nonce").json()["nonce"]
    return web_session_start(user_id=user_id, browser_nonce=nonce)


def test_someone_elses_ticket_signs_no_browser_in(browser, app, merchants) -> None:
    """Login CSRF: the attacker's ticket, redeemed in the victim's browser from another site
    or from a link the victim opens, sets no session cookie."""
    for via_site in (True, False):
        ticket = _attackers_ticket(app, merchants.bravo.id)
        target = f"{app.url}/auth/complete?ticket={ticket}&next=/settlements"
        victim = browser.new_context()
        page = victim.new_page()
        page.goto(f"{app.url}/login")  # the victim has a login nonce of their own
        page.wait_for_selector("#login-submit:not([disabled])")
        redirect = f'<script>location.href = "{target}";</script>'
        site = AttackerSite(redirect) if via_site else None
        try:
            page.goto(site.url if site else target)
            page.wait_for_url(re.compile(r"/login/?\?error=expired$"), timeout=30_000)
        finally:
            if site:
                site.close()
        assert not [c for c in victim.cookies() if c["name"] == "pb_session"]
        page.wait_for_selector("#form-notice:has-text('expired')")
        victim.close()


def test_parallel_wrong_passwords_over_http_check_at_most_the_limit(app, merchants) -> None:
    """150 guesses at once through the real app (counters on PostgreSQL): ten are checked,
    the rest refused; the right password afterwards is refused too."""
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    create_merchant(email)
    try:

        def guess(n: int) -> int:
            return httpx.post(
                f"{app.url}/api/v1/auth/token",
                json={"email": email, "password": f"wrong-password-{n}"},
                timeout=120,
            ).status_code

        with ThreadPoolExecutor(150) as pool:
            statuses = Counter(pool.map(guess, range(150)))
        assert statuses == {401: throttle.LOGIN_ACCOUNT.limit, 429: 150 - 10}, statuses
        right = httpx.post(
            f"{app.url}/api/v1/auth/token",
            json={"email": email, "password": "correct-horse-battery"},
            timeout=30,
        )
        assert right.status_code == 429 and int(right.headers["Retry-After"]) > 800
    finally:
        _forget_login_counters(email)


def test_the_owner_signs_in_from_their_device_during_an_attack(browser, app, merchants):
    """Strangers' guesses lock the account for new devices; the owner's browser, which signed
    in before, still gets in and is told what happened."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    from paybridge.services.users import user_create

    user_create(email=email, password=PASSWORD, full_name="Olu Owner", company_name="Owner Co")
    try:
        owner = login(browser, app, email, PASSWORD)
        assert next(c for c in owner.context.cookies() if c["name"] == "pb_device")["httpOnly"]
        owner.goto(f"{app.url}/logout")
        owner.wait_for_url(re.compile(r"/login/?\?logged_out=1$"), timeout=30_000)

        for n in range(throttle.LOGIN_ACCOUNT.limit + 1):
            httpx.post(
                f"{app.url}/api/v1/auth/token",
                json={"email": email, "password": f"guess-{n}"},
                timeout=30,
            )
        stranger = browser.new_context().new_page()
        stranger.goto(f"{app.url}/login")
        stranger.fill("#email", email)
        stranger.fill("#password", PASSWORD)  # even with the right password
        stranger.click("#login-submit")
        stranger.wait_for_selector("#form-error:has-text('Too many attempts')")

        owner.fill("#email", email)
        owner.fill("#password", PASSWORD)
        owner.click("#login-submit")
        owner.wait_for_url(re.compile(re.escape(app.url) + "/?$"), timeout=30_000)
        notice = owner.wait_for_selector("#security-notice-text", timeout=30_000).inner_text()
        assert "10 failed sign-in attempts" in notice and "paused for 15 minutes" in notice
        assert "127.0.0.1" in notice

        owner.goto(f"{app.url}/settings")
        owner.wait_for_selector("#sign-in-failures")
        text = owner.inner_text("#sign-in-activity")
        assert text.count("Wrong password") == 10 and "Sign-in from new devices paused" in text
        owner.click("#security-notice-dismiss")
        owner.wait_for_selector("#security-notice", state="detached")
        owner.reload()
        owner.wait_for_selector("#sign-in-failures")
        assert owner.locator("#security-notice").count() == 0
    finally:
        _forget_login_counters(email)


def test_sign_up_spam_from_one_address_is_throttled(browser, app) -> None:
    _forget_login_counters()
    try:
        outcomes = []
        for n in range(throttle.SIGNUP_ADDRESS.limit + 1):
            page = browser.new_context().new_page()
            page.goto(f"{app.url}/signup")
            page.fill("#full_name", f"Spam {n}")
            page.fill("#email", f"spam-{uuid.uuid4().hex[:8]}@example.com")
            page.fill("#password", "spam-passphrase-123")
            page.click("#signup-submit")
            page.wait_for_selector("#merchant-name, #form-error", timeout=30_000)
            error = page.locator("#form-error")
            outcomes.append(error.inner_text() if error.count() else "signed up")
            page.context.close()
        assert outcomes[:-1] == ["signed up"] * throttle.SIGNUP_ADDRESS.limit
        assert "Too many attempts" in outcomes[-1]
    finally:
        _forget_login_counters()
