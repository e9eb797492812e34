"""request ids on api_logs and events

The X-Request-Id of an API request is stored on its request log row and on the outbox events it
wrote, so one id finds the request, its log lines and its events. Both columns are nullable
(older rows and events written outside API requests have none); adding them is instant on
PostgreSQL (no rewrite) and needs no downtime.

Revision ID: 0005_request_id
Revises: 0004_explorer
Create Date: 2026-11-25 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_request_id"
down_revision: str | Sequence[str] | None = "0004_explorer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_logs", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not batch mode: recreating `events` on
    # SQLite would lose its expression index, which alembic cannot reflect.
    op.drop_column("events", "request_id")
    op.drop_column("api_logs", "request_id")
