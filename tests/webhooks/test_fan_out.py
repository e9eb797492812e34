"""Outbox fan-out: events committed out of id order are not missed, gaps from rolled-back
transactions are given up on, and reading an event twice never makes two deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, delete

from paybridge.db import read_session, utcnow, write_session
from paybridge.engine import get_engine
from paybridge.events import EventType, record_event
from paybridge.models import Event, OutboxCursor, User
from paybridge.services.deliveries import FAN_OUT_CURSOR, deliveries_fan_out
from tests.conftest import TestDatabase
from tests.webhooks.conftest import FAST_POLICY, deliveries, make_endpoint

pytestmark = pytest.mark.timeout(60)


def add_event(session: Session, merchant_id: int, type: EventType, n: int) -> Event:
    event = record_event(session, merchant_id=merchant_id, type=type, payload={"n": n})
    session.flush()
    return event


def commit_event(merchant_id: int, n: int, type: EventType = EventType.TRANSACTION_CREATED) -> int:
    with write_session() as session:
        event = add_event(session, merchant_id, type, n)
        session.commit()
        return event.id


def cursor() -> OutboxCursor:
    with read_session() as session:
        return session.get(OutboxCursor, FAN_OUT_CURSOR)


def delivered_event_ids() -> list[int]:
    return sorted(d.event_id for d in deliveries())


def test_an_event_committed_after_a_later_id_is_still_delivered(
    db: TestDatabase, merchant: User
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: ids are committed in order")
    make_endpoint(merchant.id, "https://example.com/hook")
    slow = Session(get_engine(), expire_on_commit=False)
    try:
        early = add_event(slow, merchant.id, EventType.TRANSACTION_CREATED, 1)  # not committed
        late_id = commit_event(merchant.id, 2)
        assert late_id > early.id

        result = deliveries_fan_out(policy=FAST_POLICY)
        assert (result.events, result.deliveries) == (1, 1)
        assert delivered_event_ids() == [late_id]
        assert cursor().position == late_id
        assert set(cursor().gaps) == {str(early.id)}

        slow.commit()  # lands after the cursor passed its id
        result = deliveries_fan_out(policy=FAST_POLICY)
        assert result.deliveries == 1
        assert delivered_event_ids() == [early.id, late_id]
        assert cursor().gaps == {}
    finally:
        slow.close()


def test_a_gap_from_a_rolled_back_event_is_given_up_after_the_timeout(
    db: TestDatabase, merchant: User
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite reuses rolled-back ids: there are no gaps")
    make_endpoint(merchant.id, "https://example.com/hook")
    with write_session() as session:
        lost = add_event(session, merchant.id, EventType.TRANSACTION_CREATED, 1)
        session.rollback()
    kept = commit_event(merchant.id, 2)
    deliveries_fan_out(policy=FAST_POLICY)
    assert set(cursor().gaps) == {str(lost.id)}
    deliveries_fan_out(policy=FAST_POLICY)  # still waiting for it
    assert set(cursor().gaps) == {str(lost.id)}
    later = utcnow() + timedelta(seconds=FAST_POLICY.gap_timeout + 1)
    deliveries_fan_out(policy=FAST_POLICY, now=later)
    assert cursor().gaps == {}
    assert delivered_event_ids() == [kept]


def test_reading_the_outbox_again_makes_no_second_delivery(
    db: TestDatabase, merchant: User
) -> None:
    make_endpoint(merchant.id, "https://example.com/a", ["transaction.created"])
    make_endpoint(merchant.id, "https://example.com/b", ["*"])
    ids = [commit_event(merchant.id, n) for n in range(5)]
    first = deliveries_fan_out(policy=FAST_POLICY)
    assert (first.events, first.deliveries) == (5, 10)
    with write_session() as session:  # a lost cursor: start over from the beginning
        session.exec(delete(OutboxCursor))
        session.commit()
    again = deliveries_fan_out(policy=FAST_POLICY)
    assert (again.events, again.deliveries) == (5, 0)
    assert sorted(delivered_event_ids()) == sorted(ids * 2)


def test_batches_continue_where_the_last_one_stopped(db: TestDatabase, merchant: User) -> None:
    make_endpoint(merchant.id, "https://example.com/hook")
    ids = [commit_event(merchant.id, n) for n in range(7)]
    results = []
    while True:
        results.append(deliveries_fan_out(policy=FAST_POLICY, batch=3))
        if not results[-1].more:
            break
    assert [r.events for r in results] == [3, 3, 1]
    assert delivered_event_ids() == ids
    assert cursor().position == ids[-1]


def test_webhook_events_are_never_delivered(db: TestDatabase, merchant: User) -> None:
    make_endpoint(merchant.id, "https://example.com/hook", ["*", "webhook.delivered"])
    commit_event(merchant.id, 1, EventType.WEBHOOK_DELIVERED)
    commit_event(merchant.id, 2, EventType.WEBHOOK_FAILED)
    wanted = commit_event(merchant.id, 3, EventType.SETTLEMENT_UPDATED)
    deliveries_fan_out(policy=FAST_POLICY)
    assert delivered_event_ids() == [wanted]
