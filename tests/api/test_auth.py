"""Credentials: JWT pairs (login, refresh, logout, password change), API keys, and every way a
credential can be missing or wrong."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest
from fastapi.testclient import TestClient

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


def test_repeated_failed_logins_are_throttled(client: TestClient, merchant: User) -> None:
    statuses = [
        client.post(
            "/api/v1/auth/token", json={"email": merchant.email, "password": "nope-nope-nope"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses
    response = client.post(
        "/api/v1/auth/token", json={"email": merchant.email, "password": MERCHANT_PASSWORD}
    )
    assert response.status_code == 429
    assert error_of(response)["code"] == "too_many_attempts"


def test_throttled_login_says_when_to_retry(client: TestClient, merchant: User) -> None:
    """The 429 carries Retry-After: the seconds until the throttle lets the key try again."""
    token = "/api/v1/auth/token"
    wrong = {"email": merchant.email, "password": "nope-nope-nope"}
    for _ in range(3):  # from the 3rd failure on, the next attempt waits 1 s, then 2, 4, ...
        assert client.post(token, json=wrong).status_code == 401
    refused = client.post(token, json=wrong)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert wait == 1
    assert f"Try again in {wait} second" in error_of(refused)["message"]
    time.sleep(wait)  # honouring it is enough: the right password gets in
    right = {"email": merchant.email, "password": MERCHANT_PASSWORD}
    assert client.post(token, json=right).status_code == 200


def test_locked_out_login_retry_after_is_the_rest_of_the_lockout(
    client: TestClient, merchant: User, db: TestDatabase
) -> None:
    from paybridge.models import LoginFailure
    from paybridge.services.auth import throttle_key

    with db.session() as session:  # ten failures a minute ago lock the email for 15 minutes
        session.add(
            LoginFailure(
                key=throttle_key("email", merchant.email),
                failures=10,
                last_failure_at=utcnow() - timedelta(minutes=1),
            )
        )
        session.commit()
    response = client.post(
        "/api/v1/auth/token", json={"email": merchant.email, "password": MERCHANT_PASSWORD}
    )
    assert response.status_code == 429
    assert 14 * 60 - 5 <= int(response.headers["Retry-After"]) <= 14 * 60
    assert "Try again in 14 minutes" in error_of(response)["message"]


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
