"""Credentials: JWT pairs (login, refresh, logout, password change), API keys, and every way a
credential can be missing or wrong."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.api.app import served_api
from paybridge.api.auth import signing_key
from paybridge.db import utcnow
from paybridge.models import ApiKey, User
from paybridge.services.auth import password_change
from paybridge.settings import get_settings
from tests.api.conftest import Caller, error_of, login
from tests.conftest import MERCHANT_PASSWORD, TestDatabase

PROFILE = "/api/v1/profile"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_pair_authenticates_and_refreshes(client: TestClient, merchant: User) -> None:
    pair = login(client, merchant.email)
    assert set(pair) >= {"access", "refresh", "access_expires_at", "refresh_expires_at"}
    claims = jwt.decode(pair["access"], options={"verify_signature": False})
    assert claims["typ"] == "access" and claims["sub"] == str(merchant.id) and claims["sid"]
    assert 14 * 60 <= claims["exp"] - claims["iat"] <= 15 * 60
    refresh_claims = jwt.decode(pair["refresh"], options={"verify_signature": False})
    assert 6.9 * 86400 <= refresh_claims["exp"] - refresh_claims["iat"] <= 7 * 86400

    response = client.get(PROFILE, headers=bearer(pair["access"]))
    assert response.status_code == 200
    assert response.json()["email"] == merchant.email

    again = client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]})
    assert again.status_code == 200
    assert client.get(PROFILE, headers=bearer(again.json()["access"])).status_code == 200


def test_wrong_password_is_401_without_saying_which_part(
    client: TestClient, merchant: User
) -> None:
    for email, password in ((merchant.email, "wrong-password-123"), ("nobody@example.com", "x")):
        response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_credentials"


TOKEN = "/api/v1/auth/token"


def wrong(email: str, n: int = 0) -> dict[str, str]:
    return {"email": email, "password": f"nope-nope-nope-{n}"}


def test_failed_logins_are_limited_per_account(client: TestClient, merchant: User) -> None:
    """Ten wrong passwords per account in a window; then even the right one waits, with a
    Retry-After that is the rest of the window."""
    statuses = [client.post(TOKEN, json=wrong(merchant.email, n)).status_code for n in range(10)]
    assert statuses == [401] * 10
    refused = client.post(TOKEN, json={"email": merchant.email, "password": MERCHANT_PASSWORD})
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "too_many_attempts"
    assert 14 * 60 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Try again in 15 minutes" in error_of(refused)["message"]
    # Another account is not affected (the address allows 50).
    assert client.post(TOKEN, json=wrong("other@example.com")).status_code == 401


def test_successful_logins_do_not_use_up_the_allowance(client: TestClient, merchant: User) -> None:
    client.cookies.clear()
    for _ in range(3):
        client.post(TOKEN, json=wrong(merchant.email))
    for _ in range(12):  # a script that logs in on every run is not throttled
        client.cookies.clear()
        assert (
            client.post(
                TOKEN, json={"email": merchant.email, "password": MERCHANT_PASSWORD}
            ).status_code
            == 200
        )
    client.cookies.clear()
    statuses = [client.post(TOKEN, json=wrong(merchant.email, n)).status_code for n in range(8)]
    assert statuses == [401] * 7 + [429]  # the three earlier failures still count


def test_a_device_that_signed_in_before_keeps_its_own_allowance(
    client: TestClient, api_app, merchant: User, db: TestDatabase
) -> None:
    """OWASP device cookies: the owner's client, which logged in before, still gets in while
    strangers' guesses have locked the account for unknown devices; its own wrong guesses
    are limited separately; the owner is shown what happened."""
    from paybridge.models import FailedLogin
    from paybridge.selectors.failed_logins import failed_login_notice

    owner = client
    login(owner, merchant.email)
    device = owner.cookies.get("pb_device")
    assert device and len(device) == 72
    with TestClient(served_api(api_app)) as attacker:
        for n in range(10):
            assert attacker.post(TOKEN, json=wrong(merchant.email, n)).status_code == 401
        assert attacker.post(TOKEN, json=wrong(merchant.email, 99)).status_code == 429
        assert (
            attacker.post(
                TOKEN, json={"email": merchant.email, "password": MERCHANT_PASSWORD}
            ).status_code
            == 429
        )
        # A device cookie is bound to its account and signed: a forged one is a stranger's.
        attacker.cookies.set("pb_device", device[:40] + "0" * 32)
        assert attacker.post(TOKEN, json=wrong(merchant.email)).status_code == 429
        attacker.cookies.set("pb_device", device)  # a stolen one only has the device's allowance
    # The owner's client still gets in, and gets a fresh device token.
    pair = login(owner, merchant.email)
    assert client.get(PROFILE, headers=bearer(pair["access"])).status_code == 200
    assert owner.cookies.get("pb_device") != device
    # Its own typos are limited on their own.
    statuses = [owner.post(TOKEN, json=wrong(merchant.email, n)).status_code for n in range(11)]
    assert statuses == [401] * 10 + [429]

    with db.session() as session:
        rows = session.exec(select(FailedLogin).where(FailedLogin.user_id == merchant.id)).all()
        notice = failed_login_notice(session=session, merchant_id=merchant.id)
    outcomes = sorted((row.outcome, row.known_device) for row in rows)
    assert outcomes.count(("wrong_password", False)) == 10
    assert outcomes.count(("wrong_password", True)) == 10
    assert outcomes.count(("locked", False)) == 1  # once per window, not once per request
    assert outcomes.count(("locked", True)) == 1
    assert notice is not None and notice.count == 20 and notice.locked


def test_failed_logins_are_limited_per_address(client: TestClient, providers) -> None:
    """One address spraying many accounts: 50 wrong passwords in a window, then 429 for any
    account from it (devices that signed in before are not counted against it)."""
    statuses = [
        client.post(TOKEN, json=wrong(f"user{n}@example.com")).status_code for n in range(51)
    ]
    assert statuses == [401] * 50 + [429]


def test_logout_kills_access_and_refresh_tokens(client: TestClient, merchant: User) -> None:
    pair = login(client, merchant.email)
    other = login(client, merchant.email)  # a second session survives
    response = client.post("/api/v1/auth/logout", headers=bearer(pair["access"]))
    assert response.status_code == 200 and response.json() == {"logged_out": True}

    dead = client.get(PROFILE, headers=bearer(pair["access"]))
    assert dead.status_code == 401 and error_of(dead)["code"] == "invalid_token"
    assert dead.headers["WWW-Authenticate"].startswith("Bearer")
    refused = client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]})
    assert refused.status_code == 401
    assert client.get(PROFILE, headers=bearer(other["access"])).status_code == 200


def test_password_change_kills_api_tokens(client: TestClient, merchant: User) -> None:
    pair = login(client, merchant.email)
    password_change(
        user_id=merchant.id,
        current_password=MERCHANT_PASSWORD,
        new_password="a-brand-new-password",
        keep_session_id=None,
    )
    assert client.get(PROFILE, headers=bearer(pair["access"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh": pair["refresh"]}).status_code == 401


def _forge(merchant: User, **overrides: object) -> str:
    now = utcnow()
    claims = {
        "iss": "paybridge",
        "aud": "paybridge-api",
        "sub": str(merchant.id),
        "sid": 1,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        **overrides,
    }
    key = overrides.get("key", signing_key())
    claims.pop("key", None)
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "authentication_required"),
        ({"Authorization": ""}, "authentication_required"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_token"),
        ({"Authorization": "Bearer "}, "invalid_token"),
        ({"Authorization": "Bearer not-a-jwt"}, "invalid_token"),
        ({"Authorization": "Bearer sk_live_unknownkeyunknownkeyunknownkey"}, "invalid_token"),
    ],
)
def test_missing_or_malformed_credentials(
    client: TestClient, merchant: User, headers: dict[str, str], code: str
) -> None:
    response = client.get(PROFILE, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == code


def test_expired_tampered_and_misused_tokens(client: TestClient, merchant: User) -> None:
    pair = login(client, merchant.email)
    sid = jwt.decode(pair["access"], options={"verify_signature": False})["sid"]
    past = utcnow() - timedelta(minutes=30)
    expired = _forge(merchant, sid=sid, iat=past, exp=past + timedelta(minutes=15))
    response = client.get(PROFILE, headers=bearer(expired))
    assert response.status_code == 401 and error_of(response)["code"] == "token_expired"

    wrong_key = _forge(merchant, sid=sid, key=b"not-the-signing-key-at-all-0123456789")
    raw_secret = _forge(merchant, sid=sid, key=get_settings().secret_key.encode().ljust(32, b"_"))
    assert client.get(PROFILE, headers=bearer(raw_secret)).status_code == 401
    assert client.get(PROFILE, headers=bearer(wrong_key)).status_code == 401

    header, payload, signature = pair["access"].split(".")
    tampered = ".".join(
        (header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature)
    )
    assert client.get(PROFILE, headers=bearer(tampered)).status_code == 401

    none_alg = jwt.encode(
        jwt.decode(pair["access"], options={"verify_signature": False}), None, algorithm="none"
    )
    assert client.get(PROFILE, headers=bearer(none_alg)).status_code == 401

    # A refresh token is not an access token, and the other way round.
    assert client.get(PROFILE, headers=bearer(pair["refresh"])).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh": pair["access"]}).status_code == 401

    # A token naming another user's session.
    other_sid = _forge(merchant, sid=sid, sub=str(merchant.id + 1000))
    assert client.get(PROFILE, headers=bearer(other_sid)).status_code == 401


def test_api_key_create_use_list_revoke(
    client: TestClient, merchant: User, db: TestDatabase
) -> None:
    pair = login(client, merchant.email)
    created = client.post(
        "/api/v1/api-keys", json={"name": "server"}, headers=bearer(pair["access"])
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["secret"].startswith("sk_live_") and len(key["secret"]) > 40
    assert key["redacted"] == "sk_live_…" + key["secret"][-4:]
    assert key["last_used_at"] is None

    with db.session() as session:
        stored = session.get(ApiKey, key["id"])
        assert key["secret"] not in (stored.key_hash, stored.name)
        assert len(stored.key_hash) == 64

    assert client.get(PROFILE, headers=bearer(key["secret"])).status_code == 200
    listed = client.get("/api/v1/api-keys", headers=bearer(pair["access"])).json()
    assert [k["id"] for k in listed["data"]] == [key["id"]]
    assert "secret" not in listed["data"][0]
    assert listed["data"][0]["last_used_at"] is not None

    # An API key may not mint or revoke keys.
    forbidden = client.post("/api/v1/api-keys", json={}, headers=bearer(key["secret"]))
    assert forbidden.status_code == 403 and error_of(forbidden)["code"] == "forbidden"
    assert client.post("/api/v1/auth/logout", headers=bearer(key["secret"])).status_code == 400

    revoked = client.delete(f"/api/v1/api-keys/{key['id']}", headers=bearer(pair["access"]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    dead = client.get(PROFILE, headers=bearer(key["secret"]))
    assert dead.status_code == 401 and error_of(dead)["code"] == "invalid_token"
    assert client.get("/api/v1/api-keys", headers=bearer(pair["access"])).json()["data"] == []
    with_revoked = client.get(
        "/api/v1/api-keys?include_revoked=true", headers=bearer(pair["access"])
    ).json()
    assert len(with_revoked["data"]) == 1


def test_api_keys_of_another_merchant_are_not_found(
    client: TestClient, merchant: User, bob: Caller
) -> None:
    pair = login(client, merchant.email)
    bob_key_id = client.get("/api/v1/api-keys", headers=bob.headers).json()["data"][0]["id"]
    response = client.delete(f"/api/v1/api-keys/{bob_key_id}", headers=bearer(pair["access"]))
    assert response.status_code == 404
    assert client.get(PROFILE, headers=bob.headers).status_code == 200


def test_every_429_says_when_to_retry(
    client: TestClient, merchant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request rate limit answers 429 with Retry-After on REST and GraphQL alike, and so
    does the login throttle (the only login is REST's /auth/token; GraphQL has none)."""
    from tests.api.conftest import api_key_for

    key = bearer(api_key_for(merchant))
    monkeypatch.setenv("PAYBRIDGE_API_RATE_LIMIT", "1/60")
    assert client.get(PROFILE, headers=key).status_code == 200
    for response in (
        client.get(PROFILE, headers=key),
        client.post("/api/v1/graphql", json={"query": "{ me { email } }"}, headers=key),
    ):
        assert response.status_code == 429, response.text
        assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_credentials_are_remembered_and_forgotten_when_revoked(
    client: TestClient, alice: Caller, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known API key is answered from memory; revoking it drops it everywhere (here through
    Redis, as between instances) before the next request."""
    from paybridge.api.auth import credentials
    from paybridge.events import revocations
    from paybridge.services.api_keys import api_key_revoke
    from tests.ops.topology import wait_for

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    wait_for(revocations.live, 10, "the revocation watcher never subscribed")
    assert client.get("/api/v1/profile", headers=alice.headers).status_code == 200
    assert credentials.get(alice.token) is not None
    api_key_revoke(merchant_id=alice.user.id, key_id=_key_id(alice))
    wait_for(lambda: credentials.get(alice.token) is None, 5, "the revocation was not heard")
    assert client.get("/api/v1/profile", headers=alice.headers).status_code == 401


def test_nothing_is_remembered_while_revocations_cannot_be_heard(
    client: TestClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis unreachable a revocation elsewhere could not be heard, so every request asks
    the database: a key revoked behind the cache's back is refused at once."""
    from paybridge.api.auth import credentials
    from paybridge.db import write_session
    from tests.ops.proxy import closed_port

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    get_settings.cache_clear()
    assert client.get("/api/v1/profile", headers=alice.headers).status_code == 200
    assert credentials.get(alice.token) is None
    with write_session() as session:  # revoked without any announcement
        key = session.get(ApiKey, _key_id(alice))
        key.revoked_at = utcnow()
        session.add(key)
        session.commit()
    assert client.get("/api/v1/profile", headers=alice.headers).status_code == 401


def _key_id(caller: Caller) -> int:
    from sqlmodel import select

    from paybridge.db import read_session

    with read_session() as session:
        return session.exec(select(ApiKey.id).where(ApiKey.merchant_id == caller.user.id)).one()
