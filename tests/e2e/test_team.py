"""Teams in the real app: forged Reflex events from each role are allowed or refused as the
role table says (the services refuse, whatever the page shows), and in a browser an owner
invites, the invited person joins and sees only what their role allows, then is demoted and
removed while their dashboard is open."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from paybridge.db import utcnow
from paybridge.engine import get_engine
from paybridge.models import User
from paybridge.permissions import Action, Actor, Role, allowed
from paybridge.services.team import (
    invitation_accept,
    invitation_create,
    member_change_role,
    member_remove,
)
from paybridge.services.transactions import transaction_create
from paybridge.state.developers import DevelopersState
from paybridge.state.payment import PaymentState
from paybridge.state.settings import SettingsState
from paybridge.state.settlements import SettlementsState
from paybridge.state.team import AuditState, TeamState
from paybridge.state.webhooks import WebhooksState
from paybridge.state.withdraw import WithdrawState
from tests.conftest import MERCHANT_PASSWORD, create_merchant, web_session_token
from tests.e2e.conftest import login
from tests.e2e.harness import ForgedClient

# PAYBRIDGE_SCREENSHOTS=1 writes the team and audit pages into docs/screenshots (the demo of
# `make run` has no team for scripts/screenshots.py to show); otherwise into the test's tmp dir.
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _member(account: User, email: str, role: Role) -> User:
    owner = Actor(merchant_id=account.id, role=Role.OWNER, user_id=account.id)
    _, token = invitation_create(actor=owner, email=email, role=role.value)
    return invitation_accept(token=token, password=MERCHANT_PASSWORD, full_name=f"{role} person")


def _state(account_id: int) -> dict:
    with get_engine().connect() as conn:

        def one(sql: str) -> object:
            return conn.execute(sa.text(sql), {"m": account_id}).scalar()

        return {
            Action.WITHDRAW: one("SELECT count(*) FROM settlements WHERE merchant_id = :m"),
            Action.REFUND: one("SELECT count(*) FROM refunds WHERE merchant_id = :m"),
            Action.PAYOUT_SETTINGS: one("SELECT payout_schedule FROM users WHERE id = :m"),
            Action.API_KEYS: one("SELECT count(*) FROM api_keys WHERE merchant_id = :m"),
            Action.WEBHOOKS: one("SELECT count(*) FROM webhooks WHERE merchant_id = :m"),
            Action.TEAM: (
                one("SELECT count(*) FROM invitations WHERE account_id = :m"),
                one(
                    "SELECT string_agg(role, ',' ORDER BY user_id) FROM memberships"
                    " WHERE account_id = :m"
                ),
            ),
        }


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_forged_events_do_what_the_role_allows_and_nothing_more(app, merchants, role):
    tag = uuid.uuid4().hex[:8]
    account = create_merchant(f"acct-{tag}@example.com")
    person = account if role == Role.OWNER else _member(account, f"p-{tag}@example.com", role)
    changed = _member(account, f"t1-{tag}@example.com", Role.ANALYST)
    removed = _member(account, f"t2-{tag}@example.com", Role.ANALYST)
    payment = transaction_create(
        merchant_id=account.id, amount=50_000, currency="USD", provider="card",
        customer_email="payer@example.com", status="success",
        created_at=utcnow() - timedelta(days=12),
    )  # fmt: skip
    before = _state(account.id)

    client = ForgedClient(app.url, cookie=f"pb_session={web_session_token(person.id)}")
    withdraw, pay = WithdrawState.get_full_name(), PaymentState.get_full_name()
    team = TeamState.get_full_name()
    payment_path = f"/transactions/{payment.reference}"
    try:
        client.send(f"{withdraw}.open_for", {"currency": "USD"}, path="/settlements")
        client.send(f"{withdraw}.submit", {"form": {"amount": "1.00"}}, path="/settlements")
        client.send(f"{pay}.load", {}, path=payment_path)
        client.send(f"{pay}.prepare_refund", {"form": {"amount": "1.00"}}, path=payment_path)
        client.send(f"{pay}.confirm_refund", {}, path=payment_path)
        client.send(
            f"{SettlementsState.get_full_name()}.save_settings",
            {
                "form": {
                    "schedule": "daily",
                    "weekday": "0",
                    "day_of_month": "1",
                    "bank_name": "",
                    "bank_account_number": "",
                }
            },
            path="/settlements",
        )
        client.send(f"{DevelopersState.get_full_name()}.create_key", {"form": {"name": "x"}})
        client.send(
            f"{WebhooksState.get_full_name()}.create",
            {"form": {"url": "https://a.example.com/h", "all_events": "on"}},
        )
        client.send(f"{team}.invite", {"form": {"email": f"n-{tag}@example.com", "role": "admin"}})
        client.send(f"{team}.change_role", {"user_id": str(changed.id), "role": "developer"})
        client.send(f"{team}.remove", {"user_id": str(removed.id)})
        client.send(f"{AuditState.get_full_name()}.load", {}, path="/settings/audit")
        deadline = time.monotonic() + 20
        while (
            time.monotonic() < deadline
            and "Only owners" not in str(client.updates)
            and ("withdrawal" not in str(client.updates))
        ):
            time.sleep(0.2)  # the audit page's answer comes last: every event before is done
    finally:
        client.close()

    after = _state(account.id)
    assert client.updates, "the server answered nothing: the test proves nothing"
    for action in (Action.WITHDRAW, Action.REFUND, Action.API_KEYS, Action.WEBHOOKS):
        grew = after[action] == before[action] + 1
        assert grew == allowed(role, action), (action, before[action], after[action])
        assert after[action] in (before[action], before[action] + 1)
    assert (after[Action.PAYOUT_SETTINGS] == "daily") == allowed(role, Action.PAYOUT_SETTINGS)
    invitations, roles = after[Action.TEAM]
    if allowed(role, Action.TEAM):
        assert invitations == before[Action.TEAM][0] + 1
        assert "developer" in roles and roles.count(",") == before[Action.TEAM][1].count(",") - 1
    else:
        assert after[Action.TEAM] == before[Action.TEAM]
    audit_refused = "Only owners and admins can read the audit log." in str(client.updates)
    assert audit_refused == (not allowed(role, Action.AUDIT_LOG))


def test_invite_accept_and_a_restricted_dashboard(browser, app, merchants, tmp_path):
    """The owner invites in the browser; the link joins an analyst who sees no withdraw,
    payout settings, API key or team controls; demoted and then removed while their
    dashboard is open, they lose access at once."""
    bravo = merchants.bravo
    tag = uuid.uuid4().hex[:8]
    email = f"carol-{tag}@example.com"
    owner = login(browser, app, bravo.email, merchants.password, next_path="/settings/team")
    owner.wait_for_selector("#invite-email")
    owner.fill("#invite-email", email)
    owner.select_option("#invite-role", "analyst")
    owner.click("#invite-submit")
    owner.wait_for_selector("#invite-link")
    link = owner.inner_text("#invite-link").strip()
    assert re.fullmatch(re.escape(app.url) + r"/join\?token=[\w-]{40,}", link), link
    owner.wait_for_selector(f".invitation-row:has-text('{email}')")

    joining = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    joining.goto(link)
    joining.fill("#full_name", "Carol Analyst")
    joining.fill("#password", "carol-long-password")
    joining.fill("#confirm_password", "carol-long-password")
    joining.click("#join-submit")
    joining.wait_for_url(re.compile(r".*/login\?joined=1"), timeout=30_000)
    joining.context.close()
    # The link works once.
    again = browser.new_context().new_page()
    again.goto(link)
    again.fill("#full_name", "Mallory")
    again.fill("#password", "mallory-long-password")
    again.fill("#confirm_password", "mallory-long-password")
    again.click("#join-submit")
    again.wait_for_selector("#join-error")
    again.context.close()

    carol = login(browser, app, email, "carol-long-password", next_path="/settlements")
    carol.get_by_role("heading", name="Payouts", exact=True).wait_for(timeout=30_000)
    body = carol.inner_text("body")
    assert "Bravo Goods" in body  # Bravo's account, seen by Carol
    assert carol.query_selector("#withdraw-open") is None
    assert carol.query_selector("form:has-text('Bank account')") is None
    carol.goto(f"{app.url}/developers")
    carol.get_by_role("heading", name="API keys").wait_for()
    assert carol.query_selector("#key-create") is None
    carol.goto(f"{app.url}/settings/team")
    carol.wait_for_selector(f".member-row:has-text('{email}')")
    assert carol.query_selector("#invite-email") is None
    assert carol.query_selector(".member-remove") is None
    carol.goto(f"{app.url}/settings/audit")
    carol.wait_for_selector("#audit-error")

    # Promoted to developer by the owner in the UI: the key form is there.
    owner.reload()
    row = owner.locator(f".member-row:has-text('{email}')")
    row.locator(".member-role").select_option("developer")
    owner.wait_for_selector(f".member-row:has-text('{email}') >> text=Developer")
    shots = DOCS if os.environ.get("PAYBRIDGE_SCREENSHOTS") == "1" else tmp_path
    owner.screenshot(path=str(shots / "team-desktop-light.png"), full_page=True)
    carol.goto(f"{app.url}/developers")
    carol.wait_for_selector("#key-create", timeout=15_000)

    owner.goto(f"{app.url}/settings/audit")
    owner.wait_for_selector(".audit-row:has-text('member.role_changed')")
    owner.screenshot(path=str(shots / "audit-desktop-light.png"), full_page=True)

    # Removed while the dashboard is open: their sessions are deleted and the removal is
    # announced, so the open tab goes to the login page by itself, and so does any load.
    carol.goto(f"{app.url}/")
    carol.wait_for_selector("#merchant-name")
    owner.goto(f"{app.url}/settings/team")
    row = owner.locator(f".member-row:has-text('{email}')")
    row.locator(".member-remove").click()
    owner.click(".member-remove-confirm")
    owner.wait_for_selector(f".member-row:has-text('{email}')", state="detached")
    carol.wait_for_url(re.compile(r".*/login.*"), timeout=5_000)  # no reload needed
    carol.goto(f"{app.url}/")
    carol.wait_for_url(re.compile(r".*/login.*"), timeout=15_000)
    assert (
        get_engine()
        .connect()
        .execute(sa.text("SELECT count(*) FROM users WHERE email = :e"), {"e": email})
        .scalar()
        == 0
    )


def test_a_demoted_admins_open_tabs_lose_the_controls_at_once(browser, redis_app, merchants):
    """An admin has the dashboard and the team page open (two Granian workers, state in Redis).
    Demoted to analyst, both tabs lose the withdraw and team controls within 2 s without a
    reload, and a withdraw dialog their socket opened while admin is refused on submit;
    promoted again, the controls come back; removed, the open tab goes to the login page."""
    tag = uuid.uuid4().hex[:8]
    account = create_merchant(f"acct-{tag}@example.com")
    owner = Actor(merchant_id=account.id, role=Role.OWNER, user_id=account.id)
    transaction_create(
        merchant_id=account.id, amount=50_000, currency="USD", provider="card",
        customer_email="payer@example.com", status="success",
        created_at=utcnow() - timedelta(days=12),
    )  # fmt: skip
    email = f"admin-{tag}@example.com"
    admin = _member(account, email, Role.ADMIN)
    _member(account, f"analyst-{tag}@example.com", Role.ANALYST)  # a row with controls

    dashboard = login(browser, redis_app, email, MERCHANT_PASSWORD, next_path="/")
    dashboard.wait_for_selector("#withdraw-open", timeout=30_000)
    # Moving between pages within the tab (one socket, each page's load) keeps it followed.
    dashboard.locator("a[href='/settlements']:visible").first.click()
    dashboard.wait_for_selector("#withdraw-USD", timeout=30_000)
    dashboard.locator("a[href='/']:visible").first.click()
    dashboard.wait_for_selector("#withdraw-open", timeout=30_000)
    team = dashboard.context.new_page()
    team.goto(f"{redis_app.url}/settings/team")
    team.wait_for_selector("#invite-email", timeout=30_000)
    team.wait_for_selector(".member-remove")
    # A socket of the admin's that opened the withdraw dialog while it could.
    forged = ForgedClient(redis_app.url, cookie=f"pb_session={web_session_token(admin.id)}")
    withdraw = WithdrawState.get_full_name()
    try:
        forged.send(f"{withdraw}.open_for", {"currency": "USD"}, path="/")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "available" not in str(forged.updates):
            time.sleep(0.1)
        assert "available" in str(forged.updates), forged.updates  # the dialog is open

        member_change_role(actor=owner, user_id=admin.id, role="analyst")
        demoted = time.monotonic()
        dashboard.wait_for_selector("#withdraw-open", state="detached", timeout=2_000)
        team.wait_for_selector("#invite-email", state="detached", timeout=2_000)
        team.wait_for_selector(".member-remove", state="detached", timeout=2_000)
        gone = time.monotonic() - demoted
        assert dashboard.query_selector("#merchant-name") is not None  # no login, no reload

        forged.send(f"{withdraw}.submit", {"form": {"amount": "1.00"}}, path="/")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "does not allow" not in str(forged.updates):
            time.sleep(0.1)
        assert "Your role does not allow this." in str(forged.updates), forged.updates[-3:]
    finally:
        forged.close()
    assert _state(account.id)[Action.WITHDRAW] == 0

    member_change_role(actor=owner, user_id=admin.id, role="admin")
    promoted = time.monotonic()
    dashboard.wait_for_selector("#withdraw-open", timeout=2_000)
    team.wait_for_selector("#invite-email", timeout=2_000)
    team.wait_for_selector(".member-remove", timeout=2_000)
    back = time.monotonic() - promoted

    member_remove(actor=owner, user_id=admin.id)
    removed = time.monotonic()
    dashboard.wait_for_url(re.compile(r".*/login.*"), timeout=5_000)
    team.wait_for_url(re.compile(r".*/login.*"), timeout=5_000)
    print(
        f"controls gone {gone:.2f} s after the demotion, back {back:.2f} s after the promotion,"
        f" login page {time.monotonic() - removed:.2f} s after the removal"
    )
    dashboard.context.close()


def test_forged_owner_actions_of_non_owners_change_nothing(app):
    """Non-owners send "Make owner" and "Close account" with the right password: refused, nothing
    changes. The owner's same event does transfer, so the refusals are the service's."""
    tag = uuid.uuid4().hex[:8]
    account = create_merchant(f"acct-{tag}@example.com")
    people = {role: _member(account, f"{role}-{tag}@example.com", role) for role in list(Role)[1:]}
    target = _member(account, f"t-{tag}@example.com", Role.ANALYST)
    team, settings = TeamState.get_full_name(), SettingsState.get_full_name()
    refused = "Your role does not allow this."

    def send(person: User, *, close: bool = True, transfer: bool = True) -> list:
        client = ForgedClient(app.url, cookie=f"pb_session={web_session_token(person.id)}")
        try:
            if close:
                client.send(
                    f"{settings}.close_account",
                    {"form": {"close_password": MERCHANT_PASSWORD}},
                    path="/settings",
                )
            if transfer:
                client.send(
                    f"{team}.transfer_ownership",
                    {"form": {"member_id": str(target.id), "password": MERCHANT_PASSWORD}},
                    path="/settings/team",
                )
            marker = "transfer_error" if transfer else "close_error"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and marker not in str(client.updates):
                time.sleep(0.2)  # the last event's answer
            time.sleep(0.5)  # and whatever follows it
        finally:
            client.close()
        return client.updates

    def closed_at() -> object:
        with get_engine().connect() as conn:
            return conn.execute(
                sa.text("SELECT closed_at FROM users WHERE id = :m"), {"m": account.id}
            ).scalar()

    before = _state(account.id)[Action.TEAM]
    for role, person in people.items():
        updates = send(person)
        assert str(updates).count(refused) >= 2, (role, updates[-3:])
        assert _state(account.id)[Action.TEAM] == before, role
        assert closed_at() is None, role

    # The same events of the owners do it: the owner hands the ownership on, the new owner
    # closes the (empty) account.
    send(account, close=False)
    roles = _state(account.id)[Action.TEAM][1]
    assert roles.split(",")[0] == "admin" and roles.count("owner") == 1, roles
    send(target, transfer=False)
    assert closed_at() is not None


def test_the_owner_hands_the_ownership_on_and_the_new_owner_closes_the_account(browser, app):
    """In the browser: the owner makes an admin the owner (a wrong password is refused in the
    dialog); the admin's open settings tab gains "Close account" at once, the old owner's team
    page loses "Make owner". The new owner closes the account (no money in it) and lands on the
    login page; the old owner's open tab goes there too, and signing in is refused."""
    tag = uuid.uuid4().hex[:8]
    account = create_merchant(f"acct-{tag}@example.com")
    email = f"admin-{tag}@example.com"
    _member(account, email, Role.ADMIN)

    admin = login(browser, app, email, MERCHANT_PASSWORD, next_path="/settings")
    admin.wait_for_selector("#profile-submit", timeout=30_000)
    assert admin.query_selector("#close-account") is None
    owner = login(browser, app, account.email, MERCHANT_PASSWORD, next_path="/settings/team")
    row = owner.locator(f".member-row:has-text('{email}')")
    row.locator(".member-make-owner").click()
    owner.fill("#password", "not-the-password")
    owner.click(".member-make-owner-confirm")
    owner.wait_for_selector("#transfer-error:has-text('The password is incorrect.')")
    owner.fill("#password", MERCHANT_PASSWORD)
    owner.click(".member-make-owner-confirm")
    owner.wait_for_selector(f".member-row:has-text('{email}') >> text=Owner", timeout=15_000)
    owner.wait_for_selector(".member-make-owner", state="detached", timeout=5_000)
    admin.wait_for_selector("#close-account", timeout=5_000)  # no reload: the tab follows

    admin.click("#close-account")
    admin.fill("#close_password", MERCHANT_PASSWORD)
    admin.click("#close-account-confirm")
    # Its session ended with the account: the tab is on the login page (sent there by the
    # handler or, first, by the revocation notice every tab of the account follows).
    admin.wait_for_url(re.compile(r".*/login.*"), timeout=15_000)
    owner.wait_for_url(re.compile(r".*/login.*"), timeout=5_000)
    owner.fill("#email", account.email)
    owner.fill("#password", MERCHANT_PASSWORD)
    owner.click("#login-submit")
    owner.wait_for_selector("text=This account was closed by its owner", timeout=15_000)
