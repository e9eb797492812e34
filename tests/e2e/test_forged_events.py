"""A hostile client on the Reflex websocket: logged in as Bravo, it calls the dashboard's,
withdraw and settings handlers with Alpha's ids, wrong types, huge strings and negative amounts.
Nothing of Alpha is read or changed."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from paybridge.engine import get_engine
from paybridge.services.users import user_update_profile
from paybridge.state.auth import LoginState, LogoutState
from paybridge.state.dashboard import DashboardState
from paybridge.state.settings import SettingsState
from paybridge.state.withdraw import WithdrawState
from tests.conftest import web_session_token
from tests.e2e.harness import ForgedClient


def _snapshot(merchant_id: int) -> dict:
    with get_engine().connect() as conn:

        def rows(sql: str) -> list:
            return [tuple(r) for r in conn.execute(sa.text(sql), {"m": merchant_id})]

        return {
            "user": rows(
                "SELECT email, full_name, company_name, timezone, password_hash "
                "FROM users WHERE id = :m"
            ),
            "settlements": rows(
                "SELECT id, amount, status FROM settlements WHERE merchant_id = :m ORDER BY id"
            ),
            "transactions": rows(
                "SELECT count(*), sum(amount) FROM transactions WHERE merchant_id = :m"
            ),
            "sessions": rows(
                "SELECT id, revoked_at FROM auth_sessions WHERE user_id = :m ORDER BY id"
            ),
        }


def _alpha_secrets(alpha_id: int) -> list[str]:
    with get_engine().connect() as conn:
        references = [
            r
            for (r,) in conn.execute(
                sa.text(
                    "SELECT reference FROM transactions WHERE merchant_id = :m "
                    "ORDER BY id DESC LIMIT 50"
                ),
                {"m": alpha_id},
            )
        ]
    return ["alpha@example.com", "Alpha Traders", "Ada Alpha", *references]


def _session_cookie(user_id: int) -> str:
    token = web_session_token(user_id)
    return f"pb_session={token}"


def test_forged_events_never_touch_another_merchant(app, merchants):
    alpha, bravo = merchants.alpha, merchants.bravo
    alpha_before = _snapshot(alpha.id)
    bravo_before = _snapshot(bravo.id)
    dash = DashboardState.get_full_name()
    settings = SettingsState.get_full_name()
    withdraw = WithdrawState.get_full_name()
    huge = "9" * 200_000

    client = ForgedClient(app.url, cookie=_session_cookie(bravo.id))
    try:
        client.send(f"{dash}.load", {})
        attacks = [
            (f"{dash}.set_range", {"key": ["30d"]}),
            (f"{dash}.set_range", {"key": {"merchant_id": alpha.id}}),
            (f"{dash}.set_range", {"key": huge}),
            (f"{dash}.set_custom_range", {"form": {"from": "0001-01-01", "to": "9999-12-31"}}),
            (f"{dash}.set_custom_range", {"form": "not a form"}),
            (f"{dash}.set_currency", {"code": "EUR"}),  # Alpha's currency, not Bravo's
            (f"{dash}.set_currency", {"code": huge}),
            (f"{dash}.set_currency", {"code": 12}),
            (f"{withdraw}.submit", {"form": {"amount": "1.00"}}),  # no dialog opened: refused
            (f"{withdraw}.open_for", {"currency": huge}),
            (f"{withdraw}.open_for", {"currency": {"merchant_id": alpha.id}}),
            (f"{withdraw}.open_for", {"currency": "USD"}),
            (f"{withdraw}.submit", {"form": {"amount": "-50.00"}}),
            (f"{withdraw}.submit", {"form": {"amount": "0"}}),
            (f"{withdraw}.submit", {"form": {"amount": 1e308}}),
            (f"{withdraw}.submit", {"form": {"amount": huge}}),
            (f"{withdraw}.submit", {"form": {"amount": "NaN"}}),
            (f"{withdraw}.submit", {"form": {"amount": "99999999.00", "merchant_id": alpha.id}}),
            (f"{withdraw}.submit", {"form": ["amount", "10"]}),
            (f"{withdraw}.submit", {"form": None}),
            (f"{withdraw}.open_for", {"currency": "EUR"}),  # Bravo has no EUR: nothing to take
            (f"{withdraw}.submit", {"form": {"amount": "1.00"}}),
            (
                f"{settings}.save_profile",
                {
                    "form": {
                        "full_name": "Pwned",
                        "company_name": "x",
                        "timezone": "UTC",
                        "user_id": alpha.id,
                    }
                },
            ),
            (
                f"{settings}.save_profile",
                {"form": {"full_name": huge, "company_name": "x", "timezone": "UTC"}},
            ),
            (
                f"{settings}.change_password",
                {
                    "form": {
                        "current_password": "x" * 5000,
                        "new_password": "y" * 20,
                        "confirm_password": "y" * 20,
                        "user_id": alpha.id,
                    }
                },
            ),
            (
                f"{LoginState.get_full_name()}.submit",
                {"form": {"email": alpha.email, "password": ["a", "b"]}},
            ),
            (f"{dash}.no_such_handler", {}),
            (f"{dash}._reload", {"merchant_id": alpha.id}),
        ]
        for handler, payload in attacks:
            client.send(handler, payload)
        time.sleep(3)
    finally:
        client.close()

    # An anonymous socket cannot withdraw or log anyone out either.
    anonymous = ForgedClient(app.url)
    try:
        anonymous.send(f"{withdraw}.open_for", {"currency": "USD"})
        anonymous.send(f"{withdraw}.submit", {"form": {"amount": "1.00"}})
        anonymous.send(f"{LogoutState.get_full_name()}.load", {})
        time.sleep(1.5)
    finally:
        anonymous.close()

    assert _snapshot(alpha.id) == alpha_before
    bravo_after = _snapshot(bravo.id)
    assert bravo_after["settlements"] == bravo_before["settlements"]  # every withdraw refused
    # The one legitimate change: Bravo edited Bravo's own profile (the extra user_id was ignored).
    email, _, _, _, password_hash = bravo_before["user"][0]
    assert bravo_after["user"] == [(email, "Pwned", "x", "UTC", password_hash)]
    user_update_profile(
        user_id=bravo.id,
        full_name=bravo.full_name,
        company_name=bravo.company_name,
        timezone=bravo.timezone,
    )

    sent = json.dumps(client.updates) + json.dumps(anonymous.updates)
    assert client.updates, "the server answered nothing: the test proves nothing"
    assert "Bravo Goods" in sent  # Bravo's own dashboard did load
    for secret in _alpha_secrets(alpha.id):
        assert secret not in sent
    assert "password_hash" not in sent and "pb_session" not in sent
