"""What an attacker tries against the HTTP app (docs/security.md): private webhook targets,
tokens signed with a key from the source, someone else's login ticket."""

from __future__ import annotations

import ast
import hashlib
import hmac
import secrets
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paybridge.api.app import served_api
from paybridge.db import utcnow
from paybridge.models import User
from paybridge.services.auth import web_session_start
from tests.api.conftest import Caller, error_of, login

ROOT = Path(__file__).resolve().parents[2]

PRIVATE_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "http://127.0.0.1:8080/hook",
    "http://[::1]/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost:3000/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://[ff02::1]/hook",
    "http://[fe80::1]/hook",
]


@pytest.mark.parametrize("url", PRIVATE_TARGETS)
def test_private_webhook_targets_are_refused_at_registration_and_change(
    client: TestClient, alice: Caller, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    created = client.post(
        "/api/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=alice.headers
    )
    assert created.status_code == 400, created.text
    assert error_of(created)["code"] == "url_not_allowed"
    assert error_of(created)["param"] == "url"

    public = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.com/in", "event_types": ["*"]},
        headers=alice.headers,
    )
    assert public.status_code == 201, public.text
    changed = client.patch(
        f"/api/v1/webhooks/{public.json()['id']}", json={"url": url}, headers=alice.headers
    )
    assert changed.status_code == 400 and error_of(changed)["code"] == "url_not_allowed"
    kept = client.get(f"/api/v1/webhooks/{public.json()['id']}", headers=alice.headers).json()
    assert kept["url"] == "https://hooks.example.com/in"


def test_graphql_refuses_private_targets_too(client: TestClient, alice: Caller) -> None:
    mutation = 'mutation($u: String!) { createWebhook(url: $u, eventTypes: ["*"]) { secret } }'
    response = client.post(
        "/api/v1/graphql",
        json={"query": mutation, "variables": {"u": "http://169.254.169.254/"}},
        headers=alice.headers,
    )
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "url_not_allowed", error


def test_the_switch_allows_private_targets_for_local_development(
    client: TestClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", "1")
    response = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:8080/hook", "event_types": ["*"]},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text


def _source_constants() -> set[str]:
    """Every string and bytes literal of the application's source (and the secret it used
    to ship with, which is in the history)."""
    found = {"dev-insecure-secret-change-me", ""}
    for path in [*sorted((ROOT / "paybridge").rglob("*.py")), ROOT / "rxconfig.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                value = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
                if len(value) <= 200:
                    found.add(value)
    return found


def test_no_constant_in_the_source_signs_a_valid_token(client: TestClient, merchant: User) -> None:
    """An attacker who has read the source forges an access token for a real session, with
    every literal of the code as the secret key (and as the raw signing key)."""
    pair = login(client, merchant.email)
    sid = jwt.decode(pair["access"], options={"verify_signature": False})["sid"]
    assert client.get("/api/v1/profile", headers=_bearer(pair["access"])).status_code == 200
    now = utcnow()
    claims = {
        "iss": "paybridge",
        "aud": "paybridge-api",
        "sub": str(merchant.id),
        "sid": sid,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    constants = _source_constants()
    assert len(constants) > 1000  # the walk found the source
    accepted = []
    for constant in constants:
        secret = constant.encode()
        derived = hmac.new(secret, b"paybridge-api-jwt-v1", hashlib.sha256).digest()
        for key in (derived, secret.ljust(32, b"\0")):
            token = jwt.encode(claims, key, algorithm="HS256")
            if client.get("/api/v1/profile", headers=_bearer(token)).status_code != 401:
                accepted.append(constant)
    assert accepted == []


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the login ticket ----------------------------------------------------------------------


def _nonce(client: TestClient) -> str:
    response = client.post("/auth/nonce")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return response.json()["nonce"]


def test_the_login_nonce_is_an_httponly_cookie_for_the_auth_routes(
    client: TestClient, merchant: User
) -> None:
    first = client.post("/auth/nonce")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("pb_login_nonce=") and "HttpOnly" in cookie and "Path=/auth" in cookie
    assert "SameSite=lax" in cookie
    assert _nonce(client) == first.json()["nonce"]  # tabs of one browser share it
    refused = client.post("/auth/nonce", headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_a_ticket_signs_in_only_the_browser_that_logged_in(
    client: TestClient, api_app: FastAPI, merchant: User
) -> None:
    with TestClient(served_api(api_app)) as attacker, TestClient(served_api(api_app)) as victim:
        attacker_nonce = _nonce(attacker)
        _nonce(victim)  # the victim's browser has been on the login page too
        ticket = web_session_start(user_id=merchant.id, browser_nonce=attacker_nonce)

        # Redeemed in the victim's browser (a link, an image, a cross-site form): no cookie.
        for headers in ({}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "none"}):
            response = victim.get(
                f"/auth/complete?ticket={ticket}", headers=headers, follow_redirects=False
            )
            assert response.status_code == 303
            assert response.headers["location"].endswith("/login?error=expired")
            assert "set-cookie" not in response.headers

        # Even the right browser refuses a redemption another site started.
        cross = attacker.get(
            f"/auth/complete?ticket={ticket}",
            headers={"Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert "set-cookie" not in cross.headers

        # From its own page, the browser that logged in gets the session and a device token.
        done = attacker.get(
            f"/auth/complete?ticket={ticket}&next=/settings",
            headers={"Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/settings"
        cookies = done.headers.get_list("set-cookie")
        assert any(c.startswith("pb_session=") and "HttpOnly" in c for c in cookies)
        assert any(c.startswith("pb_device=") and "HttpOnly" in c for c in cookies)
        again = attacker.get(f"/auth/complete?ticket={ticket}", follow_redirects=False)
        assert "set-cookie" not in again.headers  # one time only


def test_a_ticket_cannot_be_issued_without_a_browser_nonce(merchant: User) -> None:
    from paybridge.errors import DomainError

    for nonce in (None, "", "short", 42):
        with pytest.raises(DomainError):
            web_session_start(user_id=merchant.id, browser_nonce=nonce)
    web_session_start(user_id=merchant.id, browser_nonce=secrets.token_urlsafe(32))
