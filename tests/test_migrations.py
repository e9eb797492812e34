"""Alembic migrations: from an empty database to head, idempotent, and equal to the models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from paybridge.db import utcnow
from paybridge.engine import is_sqlite, make_engine
from paybridge.migrations import alembic_config, migrate, schema_differences
from paybridge.models import Transaction, User
from tests.conftest import BACKENDS, TABLES, TestDatabase, fresh_database_url

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (not the shared test database) and an engine on it."""
    url = fresh_database_url(request.param, "migrations", tmp_path)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        from tests.conftest import postgres_drop_database

        postgres_drop_database(engine.url.database)


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def script_heads() -> set[str]:
    """Every head of the revision graph (parallel branches may exist before their merge)."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def database_heads(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def test_revision_graph_has_heads_and_one_base() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script_heads()
    assert len(script.get_bases()) == 1


def test_migrate_from_empty_is_idempotent_and_matches_models(fresh_engine: Engine) -> None:
    assert database_heads(fresh_engine) == set()
    assert not table_names(fresh_engine) & set(TABLES)

    migrate(fresh_engine)
    assert database_heads(fresh_engine) == script_heads()
    assert table_names(fresh_engine) >= set(TABLES) | {"alembic_version"}
    assert schema_differences(fresh_engine) == []

    migrate(fresh_engine)  # a second run is a no-op
    assert database_heads(fresh_engine) == script_heads()
    with fresh_engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()
    assert versions == len(script_heads())
    assert schema_differences(fresh_engine) == []


def test_downgrade_to_base_and_back(fresh_engine: Engine) -> None:
    migrate(fresh_engine)
    config = alembic_config()
    with fresh_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert not table_names(fresh_engine) & set(TABLES)
    assert database_heads(fresh_engine) == set()

    migrate(fresh_engine)
    assert database_heads(fresh_engine) == script_heads()
    assert schema_differences(fresh_engine) == []


def test_schema_differences_notices_a_drift(fresh_engine: Engine) -> None:
    """The comparison is not vacuous: an index missing from the database is reported."""
    migrate(fresh_engine)
    with fresh_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_transactions_merchant_created")
    differences = schema_differences(fresh_engine)
    assert any(
        diff[0] == "add_index" and diff[1].name == "ix_transactions_merchant_created"
        for diff in differences
        if isinstance(diff, tuple)
    ), differences


def test_shared_test_database_is_at_head(db: TestDatabase) -> None:
    migrate(db.engine)
    assert database_heads(db.engine) == script_heads()
    assert schema_differences(db.engine) == []


def test_database_constraints_hold_outside_the_services(db: TestDatabase, merchant: User) -> None:
    """Check constraints from the migration exist on the real schema."""
    insert = sa.text(
        "INSERT INTO transactions (merchant_id, reference, amount, currency, status, provider_id,"
        " customer_email, fee, net_amount, created_at, updated_at) VALUES (:m, :ref, :amount,"
        " 'USD', 'success', 1, 'a@example.com', :fee, :net, :now, :now)"
    )
    now = utcnow().replace(tzinfo=None) if db.is_sqlite else utcnow()
    bad_rows = [
        {"amount": 0, "fee": 0, "net": 0},  # amount_positive
        {"amount": 100, "fee": 101, "net": -1},  # fee_range
        {"amount": 100, "fee": 10, "net": 80},  # net
    ]
    for i, row in enumerate(bad_rows):
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(insert, {"m": merchant.id, "ref": f"bad_{i}", "now": now, **row})
    assert db.count(Transaction) == 0


def insert_user(engine: Engine, email: str) -> int:
    """A merchant row with the columns every revision since 0006 has (the User model has
    columns added since, so an ORM insert at an older revision names columns not there yet)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, company_name, account_type,"
                " kyc_status, timezone, payout_schedule, payout_weekday, payout_day_of_month,"
                " bank_name, bank_account_masked, created_at) VALUES (:email, '!', 'M', 'M',"
                " 'business', 'verified', 'UTC', 'weekly', 4, 1, '', '', :at)"
            ),
            {
                "email": email,
                "at": utcnow().replace(tzinfo=None) if is_sqlite(engine) else utcnow(),
            },
        )
        return conn.execute(
            sa.text("SELECT id FROM users WHERE email = :e"), {"e": email}
        ).scalar_one()


def test_rollup_grains_are_backfilled(fresh_engine: Engine) -> None:
    """0008 fills the daily grain and the totals from the hourly rollups and the quarter hours
    from the payments: the same rows `services.rollups` would have written."""
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from paybridge.models import (
        DailyRollup,
        HourlyRollup,
        Provider,
        QuarterRollup,
        RollupTotal,
    )

    config = alembic_config()
    with fresh_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007_login_security")
    user_id = insert_user(fresh_engine, "m@example.com")
    with Session(fresh_engine) as session:
        session.add(Provider(code="card", display_name="Card", fee_bps=0, fee_fixed=0))
        session.commit()
        provider_id = session.exec(select(Provider.id)).one()
        payments = [  # (created_at, amount, status, refunded)
            (datetime(2025, 3, 4, 18, 14, 59, tzinfo=UTC), 100, "success", 0),
            (datetime(2025, 3, 4, 18, 15, tzinfo=UTC), 200, "success", 50),
            (datetime(2025, 3, 4, 18, 59, 59, tzinfo=UTC), 300, "failed", 0),
            (datetime(2025, 3, 4, 23, 30, tzinfo=UTC), 400, "success", 0),
            (datetime(2025, 3, 5, 0, 0, tzinfo=UTC), 500, "refunded", 500),
        ]
        hourly: dict[tuple, list[int]] = {}
        for i, (at, amount, status, back) in enumerate(payments):
            session.add(
                Transaction(
                    merchant_id=user_id,
                    reference=f"p{i}",
                    amount=amount,
                    currency="USD",
                    status=status,
                    provider_id=provider_id,
                    customer_email="b@example.com",
                    fee=0,
                    net_amount=amount,
                    refunded_amount=back,
                    refunded_net=back,
                    created_at=at,
                    updated_at=at,
                )
            )
            sums = hourly.setdefault((at.replace(minute=0, second=0), status), [0] * 6)
            for n, value in enumerate((1, amount, 0, amount, back, back)):
                sums[n] += value
        for (hour, status), (c, g, f, n, r, rn) in hourly.items():
            session.add(
                HourlyRollup(
                    merchant_id=user_id,
                    hour=hour,
                    currency="USD",
                    provider_id=provider_id,
                    status=status,
                    count=c,
                    gross=g,
                    fees=f,
                    net=n,
                    refunded=r,
                    refunded_net=rn,
                )
            )
        session.commit()

    migrate(fresh_engine)
    with Session(fresh_engine) as session:
        quarters = {
            (r.quarter, r.status): (r.count, r.gross, r.refunded)
            for r in session.exec(select(QuarterRollup))
        }
        days = {(r.day, r.status): (r.count, r.gross) for r in session.exec(select(DailyRollup))}
        totals = {r.status: (r.count, r.gross, r.net) for r in session.exec(select(RollupTotal))}
    assert quarters == {
        (datetime(2025, 3, 4, 18, 0, tzinfo=UTC), "success"): (1, 100, 0),
        (datetime(2025, 3, 4, 18, 15, tzinfo=UTC), "success"): (1, 200, 50),
        (datetime(2025, 3, 4, 18, 45, tzinfo=UTC), "failed"): (1, 300, 0),
        (datetime(2025, 3, 4, 23, 30, tzinfo=UTC), "success"): (1, 400, 0),
        (datetime(2025, 3, 5, 0, 0, tzinfo=UTC), "refunded"): (1, 500, 500),
    }
    assert days == {
        (date(2025, 3, 4), "success"): (3, 700),
        (date(2025, 3, 4), "failed"): (1, 300),
        (date(2025, 3, 5), "refunded"): (1, 500),
    }
    assert totals == {"success": (3, 700, 700), "failed": (1, 300, 300), "refunded": (1, 500, 500)}
    assert schema_differences(fresh_engine) == []


def test_existing_payout_schedules_count_from_the_migration(fresh_engine: Engine) -> None:
    """0009 gives merchants that exist already a schedule in force from the upgrade on: no
    payout date before it is caught up by surprise (services/payouts.py). The merchant has a
    payment: on SQLite the users table must not be rebuilt under it (its foreign keys)."""
    migrate(fresh_engine, "0008_rollup_grains")
    user_id = insert_user(fresh_engine, "old@example.com")
    now = utcnow().replace(tzinfo=None) if is_sqlite(fresh_engine) else utcnow()
    with fresh_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO providers (code, display_name, fee_bps, fee_fixed, is_active)"
                " VALUES ('card', 'Card', 0, 0, true)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO transactions (merchant_id, reference, amount, currency, status,"
                " provider_id, customer_email, fee, net_amount, created_at, updated_at)"
                " VALUES (:m, 'p1', 100, 'USD', 'success', 1, 'a@example.com', 0, 100, :t, :t)"
            ),
            {"m": user_id, "t": now},
        )
    before = utcnow()
    migrate(fresh_engine)
    with fresh_engine.connect() as conn:
        since = conn.execute(sa.select(User.payout_schedule_since)).scalar_one()
    assert before - timedelta(seconds=1) <= since <= utcnow()
    assert schema_differences(fresh_engine) == []


def test_teams_migration_makes_every_user_the_owner_of_its_account(fresh_engine: Engine) -> None:
    """0010: each existing user becomes the owner of the account it is, keeping its id, its
    password and every row that points at it; downgrading removes the invited people only."""
    from sqlmodel import Session, select

    from paybridge.models import Membership, Provider

    config = alembic_config()
    with fresh_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009_payout_schedule_since")
    ids = [insert_user(fresh_engine, f"m{n}@example.com") for n in range(3)]
    with Session(fresh_engine) as session:
        session.add(Provider(code="card", display_name="Card", fee_bps=0, fee_fixed=0))
        session.commit()
        provider_id = session.exec(select(Provider.id)).one()
        for n, user_id in enumerate(ids):
            session.add(
                Transaction(merchant_id=user_id, reference=f"p{n}", amount=100 + n,
                            currency="USD", status="success", provider_id=provider_id,
                            customer_email="b@example.com", fee=0, net_amount=100 + n)
            )  # fmt: skip
        session.commit()
    with fresh_engine.connect() as conn:
        users_before = conn.execute(sa.text("SELECT * FROM users ORDER BY id")).all()
        payments_before = conn.execute(sa.text("SELECT * FROM transactions ORDER BY id")).all()

    migrate(fresh_engine)
    assert schema_differences(fresh_engine) == []
    with fresh_engine.connect() as conn:
        users_after = conn.execute(sa.text("SELECT * FROM users ORDER BY id")).all()
        closed = conn.execute(sa.text("SELECT closed_at FROM users")).scalars().all()
        assert (
            conn.execute(sa.text("SELECT * FROM transactions ORDER BY id")).all() == payments_before
        )
    # Unchanged, but for the columns later migrations add at the end: 0011's accounts are open.
    assert [tuple(row)[: len(users_before[0])] for row in users_after] == [
        tuple(row) for row in users_before
    ]
    assert closed == [None, None, None]
    with Session(fresh_engine) as session:
        memberships = session.exec(select(Membership).order_by(Membership.user_id)).all()
        assert [(m.user_id, m.account_id, m.role) for m in memberships] == [
            (user_id, user_id, "owner") for user_id in ids
        ]
        # An invited person, then down: the accounts stay, the invited person goes.
        session.execute(
            sa.text(
                "INSERT INTO users (email, password_hash, full_name, company_name, account_type,"
                " kyc_status, timezone, payout_schedule, payout_weekday, payout_day_of_month,"
                " bank_name, bank_account_masked, created_at, payout_schedule_since) VALUES"
                " ('inv@example.com', '!', 'I', '', 'business', 'pending', 'UTC', 'manual', 0, 1,"
                " '', '', :at, :at)"
            ),
            {"at": utcnow().replace(tzinfo=None) if is_sqlite(fresh_engine) else utcnow()},
        )
        invited = session.execute(
            sa.text("SELECT id FROM users WHERE email = 'inv@example.com'")
        ).scalar_one()
        session.add(Membership(user_id=invited, account_id=ids[0], role="analyst"))
        session.commit()
    with fresh_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009_payout_schedule_since")
    with fresh_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM users ORDER BY id")).all() == users_before
        assert "memberships" not in table_names(fresh_engine)
