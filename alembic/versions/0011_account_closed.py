"""when an account was closed by its owner

A closed account keeps every row (payments are financial records); `closed_at` is what refuses
its sign-ins.

Revision ID: 0011_account_closed
Revises: 0010_teams
Create Date: 2026-12-06 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_account_closed'
down_revision: str | None = '0010_teams'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: SQLite adds such a column in place, without rebuilding `users`.
    op.add_column('users', sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+ has it): batch mode would rebuild `users`, which its
    # foreign keys refuse once payments exist.
    op.drop_column('users', 'closed_at')
