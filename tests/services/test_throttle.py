"""Attempt counters under concurrency, on the database (PostgreSQL, SQLite) and on Redis: however
many attempts arrive at once, exactly `limit` get past; the password check and the sign-up's
hash run only for those."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis as redis_lib

from paybridge.errors import DomainError
from paybridge.events.bus import bus_namespace
from paybridge.models import User
from paybridge.services import throttle
from paybridge.services.auth import authenticate
from paybridge.services.users import user_signup
from paybridge.settings import get_settings
from tests.conftest import MERCHANT_PASSWORD, TestDatabase

PARALLEL = 150


@pytest.fixture(params=["database", "redis"])
def store(
    request: pytest.FixtureRequest, db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Counters in the database, or in Redis (emptied of this run's counters first)."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        monkeypatch.setenv("REDIS_URL", url)
        get_settings.cache_clear()
        client = redis_lib.Redis.from_url(url)
        stale = list(client.scan_iter(f"paybridge:throttle:{bus_namespace()}:*", count=1000))
        if stale:
            client.delete(*stale)
    yield request.param
    get_settings.cache_clear()


def outcome(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
        return "ok"
    except throttle.TooManyAttempts:
        return "too_many_attempts"
    except DomainError as error:
        return error.code


def test_exactly_the_limit_gets_past_however_many_arrive_at_once(store: str) -> None:
    rule = throttle.Rule("test-burst", 10, timedelta(minutes=1))
    with ThreadPoolExecutor(32) as pool:
        results = list(
            pool.map(lambda _: outcome(lambda: throttle.attempt((rule, "k"))), range(PARALLEL))
        )
    assert Counter(results) == {"ok": 10, "too_many_attempts": PARALLEL - 10}


def test_a_refused_attempt_says_when_the_window_ends(store: str) -> None:
    rule = throttle.Rule("test-window", 2, timedelta(minutes=15))
    throttle.attempt((rule, "k"))
    throttle.attempt((rule, "k"))
    with pytest.raises(throttle.TooManyAttempts) as refused:
        throttle.attempt((rule, "k"))
    assert 14 * 60 <= refused.value.retry_after <= 15 * 60
    assert refused.value.first and refused.value.refused == (rule,)
    with pytest.raises(throttle.TooManyAttempts) as again:
        throttle.attempt((rule, "k"))
    assert not again.value.first  # reported once per window
    throttle.refund((rule, "k"))  # a refund below the limit does not reopen a flooded key
    with pytest.raises(throttle.TooManyAttempts):
        throttle.attempt((rule, "k"))
    throttle.attempt((rule, "other"))  # keys are separate


def test_an_ended_window_starts_again(store: str) -> None:
    rule = throttle.Rule("test-short", 1, timedelta(milliseconds=300))
    throttle.attempt((rule, "k"))
    with pytest.raises(throttle.TooManyAttempts):
        throttle.attempt((rule, "k"))
    import time

    time.sleep(1.1)
    throttle.attempt((rule, "k"))


def test_parallel_wrong_passwords_check_at_most_the_limit(store: str, merchant: User) -> None:
    """150 guesses at once for one account: ten are checked (401), the rest refused before
    any password check; the right password sent afterwards waits too."""

    def guess(n: int) -> str:
        return outcome(
            lambda: authenticate(
                email=merchant.email, password=f"wrong-password-{n}", client=f"10.0.0.{n % 200}"
            )
        )

    with ThreadPoolExecutor(32) as pool:
        results = Counter(pool.map(guess, range(PARALLEL)))
    assert results == {
        "invalid_credentials": throttle.LOGIN_ACCOUNT.limit,
        "too_many_attempts": PARALLEL - throttle.LOGIN_ACCOUNT.limit,
    }
    assert (
        outcome(lambda: authenticate(email=merchant.email, password=MERCHANT_PASSWORD, client="x"))
        == "too_many_attempts"
    )


def test_sign_ups_are_limited_per_address_and_in_total(
    store: str, providers, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sign_up(n: int, client: str, password: str = "long-enough-password") -> str:
        return outcome(
            lambda: user_signup(
                client=client,
                email=f"new{n}-{client}@example.com",
                password=password,
                full_name="New Merchant",
            )
        )

    # A form refused for its content gives its attempt back.
    assert [sign_up(n, "1.1.1.1", password="short") for n in range(8)] == ["weak_password"] * 8
    with ThreadPoolExecutor(8) as pool:
        results = Counter(pool.map(lambda n: sign_up(n, "1.1.1.1"), range(20)))
    assert results == {"ok": 5, "too_many_attempts": 15}
    # A taken email costs an attempt like a new one.
    assert sign_up(0, "2.2.2.2") == "ok"
    assert [sign_up(0, "2.2.2.2") for _ in range(5)] == ["email_taken"] * 4 + ["too_many_attempts"]

    total = throttle.Rule(throttle.SIGNUP_TOTAL.name, 12, throttle.SIGNUP_TOTAL.window)
    monkeypatch.setattr(throttle, "SIGNUP_TOTAL", total)
    with ThreadPoolExecutor(8) as pool:
        spread = Counter(pool.map(lambda n: sign_up(n, f"3.3.3.{n}"), range(20)))
    # 5 + 5 attempts were counted in total above; 2 more fit under 12.
    assert spread == {"ok": 2, "too_many_attempts": 18}
