"""Live pages stop when their session ends: services.auth.live_session_tokens and the shared
re-check in state/live.py (one query for every open tab of a process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from paybridge.db import read_session, utcnow, write_session
from paybridge.engine import get_engine
from paybridge.models import AuthSession, User
from paybridge.services.auth import (
    hash_token,
    live_session_tokens,
    session_revoke,
)
from paybridge.state import live
from tests.conftest import TestDatabase, web_session_token


def signed_in(merchant: User) -> tuple[str, int]:
    """A web session's cookie token and id."""
    token = web_session_token(merchant.id)
    with read_session() as session:
        auth = session.exec(
            select(AuthSession).where(AuthSession.token_hash == hash_token(token))
        ).one()
    return token, auth.id


@contextlib.contextmanager
def session_queries() -> Iterator[list[str]]:
    """SELECTs on auth_sessions while entered (appended as they run)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "auth_sessions" in statement:
            seen.append(statement)

    sa.event.listen(get_engine(), "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", record)


def test_live_session_tokens_keeps_only_valid_sessions(db: TestDatabase, merchant: User) -> None:
    valid, _ = signed_in(merchant)
    revoked, revoked_id = signed_in(merchant)
    expired, expired_id = signed_in(merchant)
    session_revoke(session_id=revoked_id)
    long_ago = utcnow() - timedelta(hours=1)
    with write_session() as session:
        session.exec(
            sa.update(AuthSession)
            .where(AuthSession.id == expired_id)
            .values(expires_at=long_ago, last_seen_at=long_ago)
        )
        session.commit()
    unknown = "x" * 43
    found = live_session_tokens(tokens=[valid, revoked, expired, unknown, "short", ""])
    assert found == {valid}
    assert live_session_tokens(tokens=[]) == set()


def test_live_session_tokens_records_activity(db: TestDatabase, merchant: User) -> None:
    token, session_id = signed_in(merchant)
    long_ago = utcnow() - timedelta(minutes=10)
    with write_session() as session:
        session.exec(
            sa.update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=long_ago)
        )
        session.commit()
    assert live_session_tokens(tokens=[token]) == {token}
    with read_session() as session:
        seen = session.get(AuthSession, session_id).last_seen_at
    assert seen > long_ago + timedelta(minutes=9)


def test_every_open_tab_is_rechecked_in_one_query(
    db: TestDatabase, merchant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "AUTH_RECHECK", 0.3)
    tokens = [signed_in(merchant) for _ in range(20)]
    revoked_token, revoked_id = tokens[7]

    async def tabs() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for token, _ in tokens:
                await stack.enter_async_context(live.watching_session(token))
            queries = stack.enter_context(session_queries())
            answers = await asyncio.gather(*(live.still_signed_in(t) for t, _ in tokens))
            assert answers == [True] * 20
            assert len(queries) == 1  # one check answered all twenty tabs

            session_revoke(session_id=revoked_id)
            assert await live.still_signed_in(revoked_token)  # confirmed less than 0.3 s ago
            await asyncio.sleep(0.35)
            assert not await live.still_signed_in(revoked_token)
            answers = [await live.still_signed_in(t) for t, _ in tokens if t != revoked_token]
            assert answers == [True] * 19
            assert len(queries) == 2  # the revoked tab's check re-checked the other nineteen
        assert not live._watched and not live._confirmed  # nothing kept for closed tabs

    asyncio.run(tabs())
