"""Alembic environment: the database comes from PayBridge settings (DATABASE_URL), or from a
connection handed in by `paybridge.migrations` (tests, CLI)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import paybridge.models  # noqa: F401  (registers every table)
from paybridge.db import UTCDateTime
from paybridge.engine import make_engine
from paybridge.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Write our column types as plain SQLAlchemy types so revisions import nothing of ours."""
    import sqlmodel

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, sqlmodel.sql.sqltypes.AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = make_engine(get_settings().database_url)
    with engine.connect() as conn:
        run_migrations(conn)
    engine.dispose()
