"""Sign-up, login, logout and password change in a real browser (issue: merchant accounts)."""

from __future__ import annotations

import re
import time
import uuid

import sqlalchemy as sa

from paybridge.engine import get_engine
from tests.e2e.conftest import login

NEW_PASSWORD = "a-brand-new-passphrase-42"
LOGIN_FOR_HOME = re.compile(r"/login/?\?next=%2F$")


def _cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == "pb_session")


def test_signup_logout_login_and_password_change(browser, app):
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    first_password = "first-passphrase-123"
    context = browser.new_context()
    page = context.new_page()

    # A merchant page without a session sends the visitor to log in, remembering where to.
    page.goto(f"{app.url}/settings")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Fsettings$"), timeout=30_000)

    page.goto(f"{app.url}/signup")
    page.fill("#full_name", "Nia Newcomer")
    page.fill("#company_name", "Newcomer Labs")
    page.fill("#email", email)
    page.fill("#password", "too-short")
    page.click("#signup-submit")
    page.wait_for_selector("#form-error:has-text('at least 12 characters')")
    page.fill("#password", first_password)
    page.click("#signup-submit")
    page.wait_for_url(f"{app.url}/", timeout=30_000)
    page.wait_for_selector("#merchant-name:has-text('Newcomer Labs')")

    cookie = _cookie(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    first_token = cookie["value"]

    # The same email cannot sign up twice, in any letter case.
    other = browser.new_context().new_page()
    other.goto(f"{app.url}/signup")
    other.fill("#full_name", "Copy Cat")
    other.fill("#email", email.upper())
    other.fill("#password", "another-passphrase-1")
    other.click("#signup-submit")
    other.wait_for_selector("#form-error:has-text('exists')")

    # A second device logs in; it must be signed out by the password change below.
    second = login(browser, app, email, first_password)

    page.goto(f"{app.url}/logout")
    page.wait_for_url(re.compile(r"/login/?\?logged_out=1$"), timeout=30_000)
    page.wait_for_selector("#form-notice:has-text('logged out')")
    assert not [c for c in page.context.cookies() if c["name"] == "pb_session"]
    page.goto(f"{app.url}/")
    page.wait_for_url(LOGIN_FOR_HOME, timeout=30_000)

    page.fill("#email", email)
    page.fill("#password", "wrong-passphrase-000")
    page.click("#login-submit")
    page.wait_for_selector("#form-error:has-text('Email or password is incorrect')")
    page.fill("#password", first_password)
    page.click("#login-submit")
    page.wait_for_url(f"{app.url}/", timeout=30_000)
    page.wait_for_selector("#merchant-name:has-text('Newcomer Labs')")
    assert _cookie(page)["value"] != first_token  # a new session, not the revoked one

    page.goto(f"{app.url}/settings")
    page.wait_for_selector("#user-summary:has-text('Nia Newcomer')")
    page.fill("#current_password", "not-my-password-1")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    page.click("#password-submit")
    page.wait_for_selector("#password-error:has-text('incorrect')")
    page.fill("#current_password", first_password)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)
    page.click("#password-submit")
    page.wait_for_selector("text=Password changed")

    # The other device's session is gone; this one stays.
    second.goto(f"{app.url}/")
    second.wait_for_url(LOGIN_FOR_HOME, timeout=30_000)
    page.goto(f"{app.url}/")
    page.wait_for_selector("#merchant-name:has-text('Newcomer Labs')")

    # Only the new password works now.
    third = browser.new_context().new_page()
    third.goto(f"{app.url}/login")
    third.fill("#email", email)
    third.fill("#password", first_password)
    third.click("#login-submit")
    third.wait_for_selector("#form-error:has-text('Email or password is incorrect')")
    login(browser, app, email, NEW_PASSWORD)

    # Secrets never in clear: not in the database, not in the app's log.
    token = _cookie(page)["value"]
    with get_engine().connect() as conn:
        password_hash = conn.execute(
            sa.text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}
        ).scalar_one()
        dump = "\n".join(
            str(row)
            for table in ("users", "auth_sessions", "throttle_counters", "failed_logins")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
        )
    assert password_hash.startswith("$2b$12$")
    for secret in (first_password, NEW_PASSWORD, token, first_token):
        assert secret not in dump
        assert secret not in app.log()


def _failed_logins(email: str) -> int:
    with get_engine().connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM failed_logins f JOIN users u ON u.id = f.user_id"
                " WHERE u.email = :e"
            ),
            {"e": email},
        ).scalar_one()


def test_repeated_failures_lock_the_email_out(browser, app):
    """Each failure on a real account is recorded for its owner (one row per checked password,
    one for the lock), which is also how this test knows the answer to each submit arrived."""
    from paybridge.services import throttle

    email = "alpha@example.com"
    page = browser.new_context().new_page()
    page.goto(f"{app.url}/login")
    before = _failed_logins(email)
    messages = []
    try:
        for attempt in range(throttle.LOGIN_ACCOUNT.limit + 1):
            page.fill("#email", email)
            page.fill("#password", f"wrong-passphrase-{attempt}")
            page.click("#login-submit")
            deadline = time.monotonic() + 30
            while _failed_logins(email) < before + attempt + 1:
                assert time.monotonic() < deadline, "the attempt was not recorded"
                time.sleep(0.1)
            if attempt == throttle.LOGIN_ACCOUNT.limit:
                page.wait_for_selector("#form-error:has-text('Too many attempts')")
            page.wait_for_timeout(300)  # the answer's delta follows the commit
            messages.append(page.inner_text("#form-error"))
        assert messages[:-1] == ["Email or password is incorrect."] * throttle.LOGIN_ACCOUNT.limit
        assert "Too many attempts. Try again in 15 minutes." in messages[-1]
    finally:
        throttle.clear((throttle.LOGIN_ACCOUNT, email), (throttle.LOGIN_ADDRESS, "127.0.0.1"))
