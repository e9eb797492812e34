"""Shared fixtures: a real, migrated database per backend, providers, a merchant, Redis.

Backends come from PAYBRIDGE_TEST_DATABASES ("postgresql,sqlite" by default). PostgreSQL gets
a dedicated database (created through an autocommit connection to PAYBRIDGE_TEST_POSTGRES_URL;
`paybridge_test`, or `paybridge_test_1`, ... while other sessions hold the first ones) migrated
once per session; SQLite gets a temporary file, migrated once per session. Before every test
all rows are deleted and id sequences restart, so ids begin at 1 again.

The application reads its database from `DATABASE_URL` through `get_settings()` and
`get_engine()` (both lru-cached); the `db` fixture points them at the test database and clears
the caches (disposing the previous engine) whenever the backend changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, select

from paybridge.db import utcnow
from paybridge.engine import get_engine, make_engine
from paybridge.events.bus import reset_bus
from paybridge.migrations import migrate
from paybridge.models import Event, HourlyRollup, Provider, Settlement, Transaction, User
from paybridge.settings import get_settings

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
KNOWN_BACKENDS = ("postgresql", "sqlite")
MERCHANT_PASSWORD = "correct-horse-battery"


def model_tables() -> tuple[str, ...]:
    """Every table of the models, children first, so DELETEs never trip a foreign key."""
    return tuple(table.name for table in reversed(SQLModel.metadata.sorted_tables))


TABLES = model_tables()


def _backends() -> list[str]:
    raw = os.environ.get("PAYBRIDGE_TEST_DATABASES", ",".join(KNOWN_BACKENDS))
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(names) - set(KNOWN_BACKENDS))
    if unknown or not names:
        raise pytest.UsageError(
            f"PAYBRIDGE_TEST_DATABASES must list some of {KNOWN_BACKENDS}, got {raw!r}"
        )
    return list(dict.fromkeys(names))


BACKENDS = _backends()


def postgres_admin_url() -> str:
    url = os.environ.get("PAYBRIDGE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


def redis_test_url() -> str:
    return os.environ.get("PAYBRIDGE_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def worker_suffix() -> str:
    """ "_gw0" etc. under pytest-xdist, "" otherwise."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


_slot: tuple[str, sa.Connection] | None = None


def postgres_test_database_name(purpose: str = "") -> str:
    """This session's own PostgreSQL database name (plus `_purpose` for extra databases).

    The base is `paybridge_test` (PAYBRIDGE_TEST_POSTGRES_DB overrides it). Sessions running at
    the same time (xdist workers, CI next to a developer) must not empty each other's tables,
    so each one claims a slot with a session-long advisory lock: the first session gets
    `paybridge_test`, a concurrent one `paybridge_test_1`, and so on. A crashed session's lock
    goes with its connection.
    """
    global _slot
    if _slot is None:
        base = os.environ.get("PAYBRIDGE_TEST_POSTGRES_DB", "paybridge_test")
        engine = sa.create_engine(
            postgres_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        try:
            conn = engine.connect()
        except sa.exc.OperationalError as error:
            pytest.fail(f"PostgreSQL is not reachable at {engine.url}: {error}", pytrace=False)
        for n in range(64):
            name = base if n == 0 else f"{base}_{n}"
            claimed = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(hashtext(:key))"),
                {"key": f"paybridge-tests:{name}"},
            ).scalar()
            if claimed:
                _slot = (name, conn)
                break
        else:
            conn.close()
            pytest.fail("64 test sessions hold every PostgreSQL test database slot")
    return "_".join(part for part in (_slot[0], purpose) if part)


def pytest_sessionfinish(session: pytest.Session) -> None:
    global _slot
    if _slot is not None:
        _slot[1].close()  # releases the advisory lock
        _slot = None


def postgres_create_database(name: str, *, drop_first: bool = False) -> str:
    """Create database `name` next to the admin database (if missing); return its URL."""
    admin_url = postgres_admin_url()
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if drop_first:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {admin_url}: {error}", pytrace=False)
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def postgres_drop_database(name: str) -> None:
    admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def fresh_database_url(backend: str, purpose: str, tmp_dir: Path) -> str:
    """An empty, unmigrated database (for migration and CLI tests)."""
    if backend == "postgresql":
        return postgres_create_database(postgres_test_database_name(purpose), drop_first=True)
    return f"sqlite:///{tmp_dir / (purpose + '.db')}"


def use_database(url: str) -> Engine:
    """Point settings and the shared engine at `url`; dispose the old engine if it changes."""
    get_settings.cache_clear()
    reset_bus()
    if get_engine.cache_info().currsize:
        engine = get_engine()
        if engine.url.render_as_string(hide_password=False) == url:
            return engine
        engine.dispose()
        get_engine.cache_clear()
    return get_engine()


def forget_database() -> None:
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_settings.cache_clear()
    reset_bus()


def empty_tables(engine: Engine) -> None:
    """Delete every row and restart id sequences: on PostgreSQL this is what
    `TRUNCATE ... RESTART IDENTITY CASCADE` does, about 15x faster on tables this small.
    A background writer of an earlier test (the API's batched request log) may insert a row
    between two DELETEs; then the foreign keys refuse and the whole emptying is retried."""
    for attempt in range(5):
        try:
            _empty_tables_once(engine)
            return
        except sa.exc.IntegrityError:
            if attempt == 4:
                raise
            time.sleep(0.2)


def _empty_tables_once(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in model_tables():
            conn.exec_driver_sql(f"DELETE FROM {table}")
        if engine.dialect.name == "postgresql":
            used = conn.exec_driver_sql(
                "SELECT sequencename FROM pg_sequences"
                " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            ).scalars()
            for sequence in list(used):
                conn.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')
        elif conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
        ).first():
            conn.exec_driver_sql("DELETE FROM sqlite_sequence")


@dataclass(frozen=True)
class TestDatabase:
    backend: str
    url: str

    __test__ = False  # not a test class

    @property
    def engine(self) -> Engine:
        return get_engine()

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def session(self) -> Session:
        return Session(get_engine(), expire_on_commit=False)

    def count(self, model: type) -> int:
        with self.session() as session:
            return session.exec(select(sa.func.count()).select_from(model)).one()

    def counts(self) -> dict[str, int]:
        """Rows per table that a payment or payout writes to."""
        return {
            m.__tablename__: self.count(m) for m in (Transaction, HourlyRollup, Event, Settlement)
        }

    def empty_business_data(self) -> None:
        """Delete every row except people, their places in accounts, and providers (payments,
        rollups, events, payouts...)."""
        with get_engine().begin() as conn:
            for table in model_tables():
                if table not in ("users", "memberships", "providers"):
                    conn.exec_driver_sql(f"DELETE FROM {table}")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """A migrated database for one backend, created (if missing) and migrated once per session."""
    name = request.param
    if name == "postgresql":
        db_name = postgres_test_database_name()
        url = postgres_create_database(db_name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'paybridge_test.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
    except CommandError:  # left at a revision that no longer exists: start afresh
        engine.dispose()
        if name != "postgresql":
            raise
        postgres_create_database(db_name, drop_first=True)
        migrate(engine)
    finally:
        engine.dispose()
    yield TestDatabase(backend=name, url=url)
    forget_database()


@pytest.fixture
def db(backend: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestDatabase]:
    """The application pointed at an empty, migrated database of each backend."""
    monkeypatch.setenv("DATABASE_URL", backend.url)
    monkeypatch.setenv("REDIS_URL", "")  # memory bus unless a test opts into Redis
    monkeypatch.setenv("PAYBRIDGE_ENV", "test")
    monkeypatch.setenv("PAYBRIDGE_HOLD_DAYS", "7")
    empty_tables(use_database(backend.url))
    yield backend
    get_settings.cache_clear()
    reset_bus()


@pytest.fixture
def providers(db: TestDatabase) -> dict[str, Provider]:
    from paybridge.services.providers import providers_ensure_defaults

    return {p.code: p for p in providers_ensure_defaults()}


def create_merchant(
    email: str = "merchant@example.com", *, timezone: str = "UTC", bank: bool = True
) -> User:
    from paybridge.services.users import user_create, user_update_payout_settings

    user = user_create(
        email=email,
        password=MERCHANT_PASSWORD,
        full_name="Test Merchant",
        company_name="Test Store Ltd",
        kyc_status="verified",
        timezone=timezone,
    )
    if bank:
        user = user_update_payout_settings(
            user_id=user.id,
            schedule="weekly",
            weekday=4,
            bank_name="Test Bank",
            bank_account_number="0123456789",
        )
    return user


def web_session_token(user_id: int) -> str:
    """A signed-in browser's session cookie value, minted the way the login does it (a ticket
    bound to a browser nonce, redeemed with that nonce)."""
    import secrets

    from paybridge.services.auth import web_session_redeem, web_session_start

    nonce = secrets.token_urlsafe(32)
    ticket = web_session_start(user_id=user_id, browser_nonce=nonce)
    redeemed = web_session_redeem(ticket=ticket, browser_nonce=nonce)
    assert redeemed is not None
    return redeemed.token


@pytest.fixture
def merchant(providers: dict[str, Provider]) -> User:
    """A verified merchant with a bank account (and the default providers)."""
    return create_merchant()


def net_amount_for(provider: Provider, net: int) -> int:
    """The smallest gross amount whose net after `provider`'s fee is exactly `net`."""
    from paybridge.services.providers import provider_fee

    for amount in range(net, 2 * net + provider.fee_fixed + 1):
        if amount - provider_fee(provider, amount) == net:
            return amount
    raise AssertionError(f"no amount nets exactly {net} with {provider.code}")


def seed_available(
    merchant_id: int, provider: Provider, net: int, *, currency: str = "USD", days_ago: int = 10
) -> datetime:
    """A successful payment old enough to be past the hold, netting exactly `net`."""
    from paybridge.services.transactions import transaction_create

    moment = utcnow() - timedelta(days=days_ago)
    transaction_create(
        merchant_id=merchant_id,
        amount=net_amount_for(provider, net),
        currency=currency,
        provider=provider.code,
        customer_email="payer@example.com",
        status="success",
        created_at=moment,
    )
    return moment


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis: missing Redis fails the test unless PAYBRIDGE_TEST_ALLOW_SKIP_REDIS=1."""
    import redis

    url = redis_test_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis is not reachable at {url}: {error}"
        if os.environ.get("PAYBRIDGE_TEST_ALLOW_SKIP_REDIS") == "1":
            pytest.skip(message)
        pytest.fail(message + " (set PAYBRIDGE_TEST_ALLOW_SKIP_REDIS=1 to skip)", pytrace=False)
    finally:
        client.close()
    return url
