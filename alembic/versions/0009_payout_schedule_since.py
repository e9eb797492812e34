"""when a merchant's payout dates last changed

Revision ID: 0009_payout_schedule_since
Revises: 0008_rollup_grains
Create Date: 2026-12-05 23:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0009_payout_schedule_since'
down_revision: str | None = '0008_rollup_grains'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOT NULL from the start, with a constant default for the rows already there: SQLite can
    # add such a column in place, where making it NOT NULL afterwards rebuilds the users table,
    # which its foreign keys refuse once payments exist.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    epoch = "'1970-01-01 00:00:00.000000'" if sqlite else "'1970-01-01 00:00:00+00'"
    op.add_column(
        'users',
        sa.Column(
            'payout_schedule_since',
            sa.DateTime(timezone=True),
            server_default=sa.text(epoch),
            nullable=False,
        ),
    )
    # Existing schedules count from now: no date before this migration is caught up by surprise.
    now = datetime.now(UTC)
    if sqlite:
        now = now.replace(tzinfo=None)  # stored as naive UTC, as paybridge.db.UTCDateTime does
    op.execute(sa.text('UPDATE users SET payout_schedule_since = :now').bindparams(now=now))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('payout_schedule_since')
