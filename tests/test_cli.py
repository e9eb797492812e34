"""`python -m paybridge ...` run as a real subprocess against the test databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.engine import make_engine
from paybridge.migrations import migrate, schema_differences
from paybridge.models import Event, HourlyRollup, Settlement, Transaction, User
from paybridge.selectors.analytics import dashboard_metrics, merchant_currencies
from paybridge.selectors.balances import available_balance
from paybridge.selectors.periods import period_last_days
from paybridge.selectors.reference import dashboard_metrics_raw
from paybridge.services.demo import PAYOUT_HOUR
from paybridge.services.payouts import payouts_run_scheduled, scheduled_key
from paybridge.services.users import check_password
from tests.conftest import BACKENDS, TestDatabase, fresh_database_url, postgres_drop_database
from tests.money import money_problems
from tests.test_migrations import database_heads, script_heads

pytestmark = pytest.mark.timeout(180)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": "",
        "PAYBRIDGE_ENV": "test",
        "PAYBRIDGE_HOLD_DAYS": "7",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "paybridge", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_migrate_twice_succeeds(backend_name: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend_name, "cli", tmp_path)
    engine = make_engine(url)
    try:
        assert database_heads(engine) == set()
        for _ in range(2):
            result = run_cli("migrate", url=url)
            assert result.returncode == 0, result.stderr
            assert "latest migration" in result.stdout
        assert database_heads(engine) == script_heads()
        assert schema_differences(engine) == []
    finally:
        engine.dispose()
        if backend_name == "postgresql":
            postgres_drop_database(engine.url.database)


def test_seed_writes_the_requested_history(db: TestDatabase) -> None:
    result = run_cli("seed", "--days", "3", "--transactions", "500", url=db.url)
    assert result.returncode == 0, result.stderr
    assert "log in as demo@paybridge.dev" in result.stdout
    assert "seeding payments" in result.stderr  # the progress bar

    with read_session() as session:
        user = session.exec(select(User)).one()
        assert user.email == "demo@paybridge.dev"
        assert user.kyc_status == "verified"
        assert user.bank_account_masked.endswith("6789")
        assert db.count(Transaction) == 500
        assert db.count(Event) == 0  # history is not news: no outbox rows, no webhooks
        assert db.count(HourlyRollup) > 0

        period = period_last_days(4, user.timezone)  # three days back, plus today
        currencies = merchant_currencies(session=session, merchant_id=user.id)
        assert set(currencies) <= {"USD", "NGN", "EUR"} and "USD" in currencies
        total = 0
        for currency in currencies:
            fast = dashboard_metrics(
                session=session, merchant_id=user.id, currency=currency, period=period
            )
            slow = dashboard_metrics_raw(
                session=session, merchant_id=user.id, currency=currency, period=period
            )
            assert fast == slow, currency
            total += fast.current.total_transactions
        assert total == 500

    again = run_cli("seed", "--days", "3", "--transactions", "500", url=db.url)
    assert again.returncode == 0, again.stderr
    assert "already has payments" in again.stdout
    assert db.count(Transaction) == 500


def test_a_fresh_demo_has_payouts_behind_it_and_money_to_withdraw(db: TestDatabase) -> None:
    """The demo's headline action must work at once: past Fridays were paid out, this week's
    released money is available, and the worker's first pass pays nothing off-schedule."""
    result = run_cli("seed", "--days", "30", "--transactions", "2000", url=db.url)
    assert result.returncode == 0, result.stderr
    assert "past scheduled payouts" in result.stdout
    with read_session() as session:
        user = session.exec(select(User)).one()
        seeded = session.exec(select(Settlement)).all()
    zone = ZoneInfo(user.timezone)
    assert seeded and all(
        s.created_at.astimezone(zone).weekday() == user.payout_weekday == 4 for s in seeded
    )
    now = utcnow()
    today = now.astimezone(zone)
    made = payouts_run_scheduled(now=now)
    if today.weekday() == 4 and today.hour < PAYOUT_HOUR:
        # Friday before the seeded payout hour: today's payout is the worker's, on schedule.
        assert {s.idempotency_key for s in made} <= {
            scheduled_key(today.date(), c) for c in ("USD", "NGN", "EUR")
        }
    else:
        assert made == []
        with read_session() as session:
            usd = available_balance(session=session, merchant_id=user.id, currency="USD")
        assert usd > 0


def test_fast_simulation_writes_final_payments_in_batches_and_keeps_the_books(
    db: TestDatabase,
) -> None:
    """Above the batching rate every payment the simulator reports is recorded once, already
    final, with rollups and events that match the payments."""
    made = run_cli("createuser", "--email", "fast@example.com", "--password", "a-long-password-1",
                   "--kyc", "verified", url=db.url)  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = run_cli(
        "simulate", "--email", "fast@example.com", "--rate", "2000", "--count", "450", url=db.url
    )
    assert result.returncode == 0, result.stderr
    assert "in batches" in result.stdout and "simulated 450 payments" in result.stdout
    with read_session() as session:
        payments = session.exec(select(Transaction).order_by(Transaction.id)).all()
        created = session.exec(select(Event).where(Event.type == "transaction.created")).all()
        assert money_problems(session) == []
    assert len(payments) == 450
    assert {p.status for p in payments} <= {"success", "failed"}
    assert len({e.payload["reference"] for e in created} & {p.reference for p in payments}) == 450


def test_createuser_with_verified_kyc(db: TestDatabase) -> None:
    args = ("createuser", "--email", "Shop@Example.com", "--password", "a-long-password-1")
    result = run_cli(*args, "--company", "Shop Ltd", "--kyc", "verified", url=db.url)
    assert result.returncode == 0, result.stderr
    assert "created merchant #1 shop@example.com (KYC verified)" in result.stdout
    with read_session() as session:
        user = session.exec(select(User)).one()
    assert user.email == "shop@example.com"
    assert user.kyc_status == "verified"
    assert user.company_name == "Shop Ltd"
    assert user.bank_account_masked
    assert check_password("a-long-password-1", user.password_hash)
    assert not check_password("another-password", user.password_hash)

    duplicate = run_cli(*args, url=db.url)
    assert duplicate.returncode == 2
    assert "exists" in duplicate.stderr
    assert db.count(User) == 1


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required: command"),
        (("launch",), "invalid choice: 'launch'"),
        (("seed", "--days", "0"), "--days must be positive"),
        (("seed", "--days", "three"), "invalid int value: 'three'"),
        (("seed", "--transactions", "-5"), "--transactions not negative"),
        (("seed", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("createuser", "--password", "a-long-password-1"), "required: --email"),
        (
            (
                "createuser",
                "--email",
                "a@example.com",
                "--password",
                "a-long-password-1",
                "--kyc",
                "approved",
            ),
            "invalid choice: 'approved'",
        ),
        (("createuser", "--email", "nope", "--password", "a-long-password-1"), "valid email"),
        (("createuser", "--email", "a@example.com", "--password", "short"), "at least 12"),
        (("simulate", "--rate", "0"), "--rate must be positive"),
        (("simulate", "--email", "ghost@example.com", "--count", "1"), "no such merchant"),
        (("simulate", "--webhook-port", "3001"), "--webhook-port needs --api"),
    ],
    ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else None,
)
def test_bad_flags_exit_2_with_a_clear_message(
    migrated_sqlite: str, args: tuple[str, ...], message: str
) -> None:
    result = run_cli(*args, url=migrated_sqlite)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    engine = make_engine(migrated_sqlite)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0
    finally:
        engine.dispose()
