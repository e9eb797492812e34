"""rollup grains: per quarter hour, per UTC day and all-time totals beside the hourly rollups

`services.rollups` keeps all four grains in the same statement. The daily grain and the totals
are backfilled from the hourly rollups (they are sums of them); the quarter-hour grain cannot
be, so it is summed from the payments themselves, the way `rollup_apply` would have written it.
The backfill runs inside the migration's transaction while payments are not being written
(migrate before starting the new app): the tables are new, so nothing reads them before.

Revision ID: 0008_rollup_grains
Revises: 0007_login_security
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_rollup_grains"
down_revision: str | Sequence[str] | None = "0007_login_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUMS = ("count", "gross", "fees", "net", "refunded", "refunded_net")


def _grain(name: str, time_column: sa.Column | None) -> None:
    key = ["merchant_id", "currency", *([time_column.name] if time_column is not None else [])]
    key += ["provider_id", "status"]
    op.create_table(
        name,
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *([time_column] if time_column is not None else []),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *(sa.Column(s, sa.BigInteger(), nullable=False) for s in SUMS),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["users.id"], name=op.f(f"fk_{name}_merchant_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f(f"fk_{name}_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    _grain("quarter_rollups", sa.Column("quarter", sa.DateTime(timezone=True), nullable=False))
    _grain("daily_rollups", sa.Column("day", sa.Date(), nullable=False))
    _grain("rollup_totals", None)
    op.create_index(
        "ix_daily_rollups_merchant_status_day",
        "daily_rollups",
        ["merchant_id", "status", "day"],
        unique=False,
    )

    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        day = "(hour AT TIME ZONE 'UTC')::date"
        quarter = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    else:
        # SQLite keeps UTC as text, 'YYYY-MM-DD HH:MM:SS.ffffff': cut the minutes down to 15s.
        day = "substr(hour, 1, 10)"
        quarter = (
            "substr(created_at, 1, 14) || printf('%02d', CAST(substr(created_at, 15, 2) AS "
            "INTEGER) / 15 * 15) || '\\:00.000000'"  # \\: is a colon, not a bind parameter
        )
    sums = ", ".join(SUMS)
    summed = ", ".join(f"sum({s})" for s in SUMS)
    op.execute(
        f"INSERT INTO daily_rollups (merchant_id, currency, day, provider_id, status, {sums}) "
        f"SELECT merchant_id, currency, {day}, provider_id, status, {summed} "
        f"FROM hourly_rollups GROUP BY merchant_id, currency, {day}, provider_id, status"
    )
    op.execute(
        f"INSERT INTO rollup_totals (merchant_id, currency, provider_id, status, {sums}) "
        f"SELECT merchant_id, currency, provider_id, status, {summed} "
        "FROM hourly_rollups GROUP BY merchant_id, currency, provider_id, status"
    )
    op.execute(
        f"INSERT INTO quarter_rollups (merchant_id, currency, quarter, provider_id, status, {sums}) "
        f"SELECT merchant_id, currency, {quarter}, provider_id, status, count(*), sum(amount), "
        "sum(fee), sum(net_amount), sum(refunded_amount), sum(refunded_net) "
        f"FROM transactions GROUP BY merchant_id, currency, {quarter}, provider_id, status"
    )


def downgrade() -> None:
    op.drop_index("ix_daily_rollups_merchant_status_day", table_name="daily_rollups")
    op.drop_table("rollup_totals")
    op.drop_table("daily_rollups")
    op.drop_table("quarter_rollups")
