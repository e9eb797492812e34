"""Signatures merchants verify, the 24-hour secret roll, and the private-address filter."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from paybridge.db import read_session, utcnow
from paybridge.errors import DomainError
from paybridge.models import User, Webhook
from paybridge.outbound import AddressRefused, is_forbidden_address
from paybridge.services.deliveries import resolve_target, webhook_roll_secret
from paybridge.services.transactions import transaction_create
from paybridge.webhook_signature import compute_signature, parse_header, sign, verify_signature
from tests.conftest import TestDatabase, create_merchant
from tests.webhooks.conftest import (
    all_finished,
    attempts,
    deliveries,
    make_endpoint,
    running_worker,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

BODY = b'{"id":"evt_1","type":"transaction.created","created":1767225600,"data":{"amount":1000}}'


# --- the merchant-side helper (no database) -------------------------------------------------


def test_sign_and_verify_round_trip() -> None:
    header = sign(BODY, "whsec_abc", timestamp=1_767_225_600)
    timestamp, signatures = parse_header(header)
    assert timestamp == 1_767_225_600
    assert signatures == [compute_signature(BODY, "whsec_abc", 1_767_225_600)]
    assert header == f"t=1767225600,v1={signatures[0]}"
    assert len(signatures[0]) == 64
    assert verify_signature(BODY, header, "whsec_abc", now=1_767_225_600 + 299)
    assert verify_signature(BODY.decode(), header, "whsec_abc", now=1_767_225_600)


@pytest.mark.parametrize(
    ("body", "header_secret", "check_secret", "age"),
    [
        (BODY + b" ", "whsec_abc", "whsec_abc", 0),  # body changed
        (BODY, "whsec_abc", "whsec_xyz", 0),  # another secret
        (BODY, "whsec_abc", "whsec_abc", 301),  # too old: a replay
        (BODY, "whsec_abc", "whsec_abc", -301),  # from the future
        (BODY, "whsec_abc", "", 0),  # no secret
    ],
)
def test_verify_refuses(body: bytes, header_secret: str, check_secret: str, age: int) -> None:
    header = sign(BODY, header_secret, timestamp=1_000_000)
    assert not verify_signature(body, header, check_secret, now=1_000_000 + age)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", "v1=00", "t=1000000", "t=1000000,v1=", "t=,v1=ab", ",,,"],
)
def test_verify_refuses_malformed_headers_without_raising(header: str) -> None:
    assert not verify_signature(BODY, header, "whsec_abc", now=1_000_000)


def test_verify_accepts_any_of_several_v1_and_ignores_unknown_schemes() -> None:
    header = sign(BODY, ["whsec_new", "whsec_old"], timestamp=1_000_000)
    assert header.count("v1=") == 2
    assert verify_signature(BODY, header, "whsec_new", now=1_000_000)
    assert verify_signature(BODY, header, "whsec_old", now=1_000_000)
    assert not verify_signature(BODY, header, "whsec_other", now=1_000_000)
    assert verify_signature(BODY, "v0=zz," + header + ",x=1", "whsec_old", now=1_000_000)


def test_tolerance_zero_skips_the_age_check_and_default_uses_the_clock() -> None:
    old = sign(BODY, "s", timestamp=1_000)
    assert verify_signature(BODY, old, "s", tolerance=0)
    assert not verify_signature(BODY, old, "s")
    assert verify_signature(BODY, sign(BODY, "s"), "s")
    with pytest.raises(ValueError):
        sign(BODY, [])


def test_the_module_is_standalone() -> None:
    """Merchants copy webhook_signature.py: it must import only the standard library."""
    import ast
    import sys
    from pathlib import Path

    import paybridge.webhook_signature as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


# --- secret roll ---------------------------------------------------------------------------


def pay(merchant_id: int) -> None:
    transaction_create(
        merchant_id=merchant_id,
        amount=1_000,
        currency="USD",
        provider="card",
        customer_email="payer@example.com",
    )


def test_a_rolled_secret_signs_with_both_secrets_for_24_hours(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    old_secret = hook.secret
    # Rolled 23 hours ago: the old secret is still inside its 24 hours.
    rolled, new_secret = webhook_roll_secret(
        merchant_id=merchant.id, webhook_id=hook.id, now=utcnow() - timedelta(hours=23)
    )
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert rolled.secret == new_secret
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    [request] = receiver.snapshot()
    header = request.headers["paybridge-signature"]
    assert header.count("v1=") == 2
    assert verify_signature(request.body, header, new_secret)
    assert verify_signature(request.body, header, old_secret)

    # Rolled 25 hours ago: only the new secret signs.
    _, newest = webhook_roll_secret(
        merchant_id=merchant.id, webhook_id=hook.id, now=utcnow() - timedelta(hours=25)
    )
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id, expected=2))
    request = receiver.snapshot()[1]
    header = request.headers["paybridge-signature"]
    assert header.count("v1=") == 1
    assert verify_signature(request.body, header, newest)
    assert not verify_signature(request.body, header, new_secret)


def test_rolling_again_keeps_only_the_latest_previous_secret(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    first = hook.secret
    _, second = webhook_roll_secret(merchant_id=merchant.id, webhook_id=hook.id)
    _, third = webhook_roll_secret(merchant_id=merchant.id, webhook_id=hook.id)
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    [request] = receiver.snapshot()
    header = request.headers["paybridge-signature"]
    assert [verify_signature(request.body, header, s) for s in (first, second, third)] == [
        False,
        True,
        True,
    ]
    with read_session() as session:
        assert session.get(Webhook, hook.id).secret == third


def test_roll_is_scoped_to_the_merchant(db: TestDatabase, merchant: User) -> None:
    hook = make_endpoint(merchant.id, "https://example.com/hook")
    other = create_merchant("other@example.com")
    for merchant_id, webhook_id, code in [
        (other.id, hook.id, "not_found"),
        (merchant.id, 999_999, "not_found"),
        (merchant.id, "1", "invalid_request"),
    ]:
        with pytest.raises(DomainError) as info:
            webhook_roll_secret(merchant_id=merchant_id, webhook_id=webhook_id)
        assert info.value.code == code
    with read_session() as session:
        assert session.get(Webhook, hook.id).secret == hook.secret


# --- private addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.8.8",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "192.0.0.8",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
    ],
)
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.com/hook",
        "http:///nohost",
    ],
)
def test_resolve_target_refuses(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    with pytest.raises(AddressRefused):
        resolve_target(url)


def test_resolve_target_keeps_public_literals_and_the_switch_allows_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    assert resolve_target("https://93.184.216.34/hook").url == "https://93.184.216.34/hook"
    monkeypatch.setenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", "1")
    assert resolve_target("http://127.0.0.1:9/hook").url == "http://127.0.0.1:9/hook"
    monkeypatch.setenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", "yes")  # only "1" switches it on
    with pytest.raises(AddressRefused):
        resolve_target("http://127.0.0.1:9/hook")


def test_a_loopback_receiver_is_refused_unless_allowed(
    db: TestDatabase, merchant: User, receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", raising=False)
    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: deliveries(hook.id) and deliveries(hook.id)[0].attempt_count >= 2)
    time.sleep(0.1)
    assert receiver.snapshot() == []
    first = attempts(deliveries(hook.id)[0].id)[0]
    assert first.status_code is None and not first.succeeded
    assert "private" in first.error and "127.0.0.1" in first.error

    monkeypatch.setenv("PAYBRIDGE_WEBHOOKS_ALLOW_PRIVATE", "1")
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    assert len(receiver.snapshot()) == 1
    assert deliveries(hook.id)[0].status == "succeeded"
