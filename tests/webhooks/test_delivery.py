"""Webhook delivery against real HTTP receivers on 127.0.0.1, with a worker loop running in
this process: retries with backoff, signatures, a receiver that is down and comes back,
redirects, timeouts, giving up, disabling an endpoint, resend and test events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paybridge.db import read_session, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.models import User, Webhook, WebhookDelivery, WebhookEndpointState
from paybridge.services.deliveries import (
    DeliveryPolicy,
    webhook_delivery_resend,
    webhook_send_test,
)
from paybridge.services.transactions import transaction_create, transaction_update_status
from paybridge.webhook_signature import verify_signature
from tests.conftest import TestDatabase, create_merchant
from tests.ports import free_port
from tests.webhooks.conftest import (
    FAST_POLICY,
    all_finished,
    always,
    attempts,
    deliveries,
    events_of_type,
    make_endpoint,
    running_worker,
    sequence,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)


def pay(merchant_id: int, count: int = 1, *, amount: int = 1_000) -> list[str]:
    return [
        transaction_create(
            merchant_id=merchant_id,
            amount=amount + i,
            currency="USD",
            provider="card",
            customer_email="payer@example.com",
        ).reference
        for i in range(count)
    ]


def test_failing_three_times_then_succeeding_gets_the_event_after_each_failure(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers(sequence(500, 502, 503))
    hook = make_endpoint(merchant.id, receiver.url, ["transaction.created"])
    [reference] = pay(merchant.id)

    with running_worker():
        wait_until(lambda: all_finished(hook.id))

    got = receiver.snapshot()
    assert len(got) == 4
    assert [r.attempt for r in got] == [1, 2, 3, 4]
    assert len({r.event_id for r in got}) == 1
    body = got[0].json
    assert body["type"] == "transaction.created"
    assert body["data"]["reference"] == reference
    assert set(body) == {"id", "object", "type", "created", "data"}
    assert body["object"] == "event"
    for request in got:
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert verify_signature(request.body, request.headers["paybridge-signature"], hook.secret)
        assert not verify_signature(request.body, request.headers["paybridge-signature"], "x")
    # Exponential backoff: each retry waited at least the policy's delay.
    for n in (1, 2, 3):
        waited = got[n].at - got[n - 1].at
        assert waited >= FAST_POLICY.retry_delay(n) * 0.9, (n, waited)

    [delivery] = deliveries(hook.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 4)
    assert delivery.finished_at is not None and delivery.next_attempt_at is None
    tries = attempts(delivery.id)
    assert [(a.attempt_number, a.status_code, a.succeeded) for a in tries] == [
        (1, 500, False),
        (2, 502, False),
        (3, 503, False),
        (4, 200, True),
    ]
    assert tries[0].error == "HTTP 500"
    assert tries[3].error is None and tries[3].response_excerpt == "answer 3"
    assert all(a.duration_ms >= 0 for a in tries)
    delivered = events_of_type("webhook.delivered")
    assert [e.payload["delivery_id"] for e in delivered] == [delivery.id]
    assert delivered[0].payload["attempts"] == 4
    # Events about delivery are never delivered themselves.
    assert {d.event_type for d in deliveries()} == {"transaction.created"}


def all_attempted(webhook_id: int, count: int, *, times: int) -> bool:
    rows = deliveries(webhook_id)
    return len(rows) == count and all(d.attempt_count >= times for d in rows)


def test_receiver_down_for_a_while_then_up_gets_every_event(
    db: TestDatabase, merchant: User, receivers
) -> None:
    port = free_port()
    receiver = receivers(always(200), port=port, start=False)
    hook = make_endpoint(merchant.id, f"http://127.0.0.1:{port}/hook")
    policy = DeliveryPolicy(**{**FAST_POLICY.__dict__, "retry_max_delay": 0.3})
    references = pay(merchant.id, 12)

    with running_worker(policy):
        wait_until(lambda: all_attempted(hook.id, 12, times=2))
        references += pay(merchant.id, 3)  # more while it is down
        wait_until(lambda: len(deliveries(hook.id)) == 15)
        receiver.start()
        wait_until(lambda: all_finished(hook.id, expected=15), timeout=20)

    got = receiver.snapshot()
    assert {r.json["data"]["reference"] for r in got} == set(references)
    rows = deliveries(hook.id)
    assert {d.status for d in rows} == {"succeeded"}
    first = attempts(rows[0].id)
    assert first[0].status_code is None
    assert "Connect" in (first[0].error or "")


def test_only_active_subscribed_endpoints_of_the_merchant_get_an_event(
    db: TestDatabase, merchant: User, receivers
) -> None:
    created_only = receivers()
    everything = receivers()
    inactive = receivers()
    theirs = receivers()
    make_endpoint(merchant.id, created_only.url, ["transaction.created"])
    make_endpoint(merchant.id, everything.url, ["*"])
    make_endpoint(merchant.id, inactive.url, ["*"], active=False)
    other = create_merchant("other@example.com")
    make_endpoint(other.id, theirs.url, ["*"])

    [reference] = pay(merchant.id)
    transaction_update_status(merchant_id=merchant.id, reference=reference, status="success")
    with running_worker():
        wait_until(lambda: all_finished(expected=3))

    assert [r.json["type"] for r in created_only.snapshot()] == ["transaction.created"]
    assert sorted(r.json["type"] for r in everything.snapshot()) == [
        "transaction.created",
        "transaction.updated",
    ]
    assert inactive.snapshot() == [] and theirs.snapshot() == []
    assert len(events_of_type("webhook.delivered")) == 3


def test_redirects_are_not_followed_and_count_as_failures(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers(sequence(302))
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    assert [r.path for r in receiver.snapshot()] == ["/hook", "/hook"]
    [delivery] = deliveries(hook.id)
    first, second = attempts(delivery.id)
    assert (first.status_code, first.succeeded) == (302, False)
    assert "redirect" in first.error
    assert second.succeeded


def test_a_slow_receiver_times_out_and_is_retried(
    db: TestDatabase, merchant: User, receivers
) -> None:
    import time

    def slow_first(_request, n: int) -> tuple[int, bytes]:
        if n == 0:
            time.sleep(1.5)
        return 200, b"ok"

    receiver = receivers(slow_first)
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    policy = DeliveryPolicy(**{**FAST_POLICY.__dict__, "timeout": 0.5, "lease": 3.0})
    with running_worker(policy):
        wait_until(lambda: all_finished(hook.id))
    [delivery] = deliveries(hook.id)
    first, second = attempts(delivery.id)
    assert first.error == "timed out after 0.5 s" and first.status_code is None
    assert 400 <= first.duration_ms < 1400
    assert second.succeeded
    assert len(receiver.snapshot()) == 2


def test_a_delivery_gives_up_after_its_retry_window(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers(always(500))
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    policy = DeliveryPolicy(**{**FAST_POLICY.__dict__, "retry_window": 0.5})
    with running_worker(policy):
        wait_until(lambda: all_finished(hook.id))
    [delivery] = deliveries(hook.id)
    assert delivery.status == "failed" and delivery.finished_at is not None
    expected = len(policy.schedule())
    assert delivery.attempt_count == len(receiver.snapshot())
    assert expected - 1 <= delivery.attempt_count <= expected
    [failed] = events_of_type("webhook.failed")
    assert failed.payload["delivery_id"] == delivery.id
    assert failed.payload["status_code"] == 500
    with read_session() as session:
        assert session.get(Webhook, hook.id).is_active  # one delivery failing is not enough


def test_an_endpoint_failing_for_the_disable_period_is_disabled_with_an_event(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers(always(500))
    hook = make_endpoint(merchant.id, receiver.url)
    healthy = receivers()
    other_hook = make_endpoint(merchant.id, healthy.url)
    policy = DeliveryPolicy(
        **{**FAST_POLICY.__dict__, "disable_after": 0.6, "retry_max_delay": 0.2}
    )
    pay(merchant.id, 3)
    with running_worker(policy):
        wait_until(lambda: events_of_type("webhook.disabled"))
        wait_until(lambda: all_finished(hook.id, expected=3))
        wait_until(lambda: all_finished(other_hook.id, expected=3))
    [disabled] = events_of_type("webhook.disabled")
    assert disabled.payload["webhook_id"] == hook.id
    assert "HTTP 500" in disabled.payload["reason"]
    with read_session() as session:
        assert not session.get(Webhook, hook.id).is_active
        state = session.get(WebhookEndpointState, hook.id)
    assert state.disabled_at is not None and state.failing_since is None
    assert {d.status for d in deliveries(hook.id)} == {"failed"}
    assert {d.status for d in deliveries(other_hook.id)} == {"succeeded"}
    # Disabled: new events are not delivered to it any more.
    count = len(receiver.snapshot())
    pay(merchant.id)
    with running_worker(policy):
        wait_until(lambda: all_finished(other_hook.id, expected=4))
    assert len(receiver.snapshot()) == count
    assert len(deliveries(hook.id)) == 3


def test_a_success_ends_the_failing_streak(db: TestDatabase, merchant: User, receivers) -> None:
    receiver = receivers(sequence(500))
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    with read_session() as session:
        state = session.get(WebhookEndpointState, hook.id)
    assert state is not None and state.failing_since is None and state.disabled_at is None


def test_manual_resend_sends_once_more(db: TestDatabase, merchant: User, receivers) -> None:
    receiver = receivers(sequence(200, 500))
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    with running_worker() as worker:
        wait_until(lambda: all_finished(hook.id))
        [delivery] = deliveries(hook.id)
        resent = webhook_delivery_resend(merchant_id=merchant.id, delivery_id=delivery.id)
        assert resent.status == "pending"
        wait_until(lambda: all_finished(hook.id))
        assert worker.attempts == 2
    [delivery] = deliveries(hook.id)
    # The resend got a 500: a finished delivery gets exactly one more attempt, no retries.
    assert (delivery.status, delivery.attempt_count) == ("failed", 2)
    assert len(receiver.snapshot()) == 2
    assert receiver.snapshot()[0].event_id == receiver.snapshot()[1].event_id


def test_resend_is_scoped_to_the_merchant_and_refused_for_disabled_endpoints(
    db: TestDatabase, merchant: User, receivers
) -> None:
    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    [delivery] = deliveries(hook.id)
    other = create_merchant("other@example.com")
    with pytest.raises(DomainError) as info:
        webhook_delivery_resend(merchant_id=other.id, delivery_id=delivery.id)
    assert info.value.code == "not_found"
    with pytest.raises(DomainError) as info:
        webhook_delivery_resend(merchant_id=merchant.id, delivery_id="1")  # type: ignore[arg-type]
    assert info.value.code == "invalid_request"
    with write_session() as session:
        session.get(Webhook, hook.id).is_active = False
        session.commit()
    with pytest.raises(DomainError) as info:
        webhook_delivery_resend(merchant_id=merchant.id, delivery_id=delivery.id)
    assert info.value.code == "webhook_disabled"
    assert deliveries(hook.id)[0].status == "succeeded"


def test_resend_is_refused_while_an_attempt_is_in_flight(
    db: TestDatabase, merchant: User, receivers
) -> None:
    from paybridge.services.deliveries import deliveries_claim, deliveries_fan_out

    hook = make_endpoint(merchant.id, receivers().url)
    pay(merchant.id)
    deliveries_fan_out(policy=FAST_POLICY)
    [claim] = deliveries_claim(limit=10, policy=FAST_POLICY)
    with pytest.raises(DomainError) as info:
        webhook_delivery_resend(merchant_id=merchant.id, delivery_id=claim.delivery_id)
    assert info.value.code == "delivery_in_progress"
    assert deliveries(hook.id)[0].claim_token == claim.token


def test_send_test_event_reaches_only_that_endpoint(
    db: TestDatabase, merchant: User, receivers
) -> None:
    tested = receivers()
    other = receivers()
    hook = make_endpoint(merchant.id, tested.url, ["transaction.created"])
    make_endpoint(merchant.id, other.url, ["*"])
    delivery = webhook_send_test(merchant_id=merchant.id, webhook_id=hook.id)
    assert isinstance(delivery, WebhookDelivery) and delivery.event_type == "webhook.test"
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    [request] = tested.snapshot()
    assert request.json["type"] == "webhook.test"
    assert request.json["data"]["webhook_id"] == hook.id
    assert verify_signature(request.body, request.headers["paybridge-signature"], hook.secret)
    assert other.snapshot() == []
    assert len(events_of_type("webhook.test")) == 1

    stranger = create_merchant("stranger@example.com")
    with pytest.raises(DomainError) as info:
        webhook_send_test(merchant_id=stranger.id, webhook_id=hook.id)
    assert info.value.code == "not_found"


def test_an_endpoint_only_gets_events_created_after_it(
    db: TestDatabase, merchant: User, receivers
) -> None:
    pay(merchant.id, 2)
    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    [later] = pay(merchant.id)
    with running_worker():
        wait_until(lambda: all_finished(hook.id))
    assert [r.json["data"]["reference"] for r in receiver.snapshot()] == [later]


def test_a_claim_that_lost_its_lease_records_nothing(
    db: TestDatabase, merchant: User, receivers
) -> None:
    """Worker A claims, stalls past its lease; worker B claims the same attempt and records
    it; A's late result is dropped, so one attempt number is recorded once."""
    from paybridge.services.deliveries import (
        attempt_record,
        deliveries_claim,
        deliveries_fan_out,
        make_client,
        send_attempt,
    )

    hook = make_endpoint(merchant.id, receivers().url)
    pay(merchant.id)
    deliveries_fan_out(policy=FAST_POLICY)
    [stale] = deliveries_claim(limit=1, policy=FAST_POLICY)
    assert deliveries_claim(limit=1, policy=FAST_POLICY) == []  # leased: not due
    later = utcnow() + timedelta(seconds=FAST_POLICY.lease + 1)
    [fresh] = deliveries_claim(limit=1, policy=FAST_POLICY, now=later)
    assert (fresh.delivery_id, fresh.attempt_number) == (stale.delivery_id, 1)
    with make_client(FAST_POLICY) as client:
        assert attempt_record(fresh, send_attempt(fresh, client=client, policy=FAST_POLICY))
        assert not attempt_record(stale, send_attempt(stale, client=client, policy=FAST_POLICY))
    [delivery] = deliveries(hook.id)
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 1)
    assert len(attempts(delivery.id)) == 1


def test_delivery_log_and_rate_selectors(db: TestDatabase, merchant: User, receivers) -> None:
    from paybridge.selectors.deliveries import (
        delivery_detail,
        delivery_log,
        delivery_rate_bp,
        endpoint_states,
        webhook_delivery_rate,
    )

    good = receivers(sequence(500))
    bad = receivers(always(500))
    good_hook = make_endpoint(merchant.id, good.url)
    bad_hook = make_endpoint(merchant.id, bad.url)
    pay(merchant.id, 2)
    policy = DeliveryPolicy(**{**FAST_POLICY.__dict__, "retry_window": 0.3})
    with running_worker(policy):
        wait_until(lambda: all_finished(expected=4))

    with read_session() as session:
        log = delivery_log(session=session, merchant_id=merchant.id)
        assert [row.id for row in log] == sorted((d.id for d in deliveries()), reverse=True)
        ok_rows = [row for row in log if row.webhook_id == good_hook.id]
        assert {row.status for row in ok_rows} == {"succeeded"}
        assert {row.url for row in ok_rows} == {good.url}
        assert sorted(len(row.attempts) for row in ok_rows) == [1, 2]  # one got the 500
        retried = next(row for row in ok_rows if len(row.attempts) == 2)
        assert [a.succeeded for a in retried.attempts] == [False, True]
        assert [a.attempt_number for a in retried.attempts] == [1, 2]
        assert retried.attempts[0].status_code == 500
        only_bad = delivery_log(session=session, merchant_id=merchant.id, webhook_id=bad_hook.id)
        assert {row.status for row in only_bad} == {"failed"} and len(only_bad) == 2
        page = delivery_log(session=session, merchant_id=merchant.id, limit=1, before_id=log[0].id)
        assert [row.id for row in page] == [log[1].id]

        detail = delivery_detail(session=session, merchant_id=merchant.id, delivery_id=log[0].id)
        assert detail is not None and '"type": "transaction.created"' in detail.body
        assert delivery_detail(session=session, merchant_id=999, delivery_id=log[0].id) is None

        rate = webhook_delivery_rate(session=session, merchant_id=merchant.id)
        assert (rate.succeeded, rate.failed, rate.finished, rate.retrying) == (2, 2, 4, 0)
        assert rate.rate == 0.5
        assert delivery_rate_bp(session=session, merchant_id=merchant.id) == 5_000
        assert delivery_rate_bp(session=session, merchant_id=999) is None
        tomorrow = utcnow() + timedelta(hours=25)
        later = webhook_delivery_rate(session=session, merchant_id=merchant.id, now=tomorrow)
        assert (later.finished, later.rate) == (0, None)
        assert webhook_delivery_rate(session=session, merchant_id=999).rate is None
        assert delivery_log(session=session, merchant_id=999) == []

        states = endpoint_states(session=session, merchant_id=merchant.id)
        assert states[bad_hook.id].failing_since is not None
        assert states[good_hook.id].failing_since is None
        assert states[bad_hook.id].pending == 0 and states[bad_hook.id].is_active


def test_the_worker_loop_survives_a_database_error_and_carries_on(
    db: TestDatabase, merchant: User, receivers, caplog: pytest.LogCaptureFixture
) -> None:
    """A real failure, not a mock: the deliveries table disappears for a moment (PostgreSQL
    DDL), the loop logs the error, pauses and starts again."""
    if db.is_sqlite:
        pytest.skip("renaming a table under a running worker is shown on PostgreSQL")
    import time

    receiver = receivers()
    hook = make_endpoint(merchant.id, receiver.url)
    away = False

    def rename(source: str, target: str) -> None:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {source} RENAME TO {target}")

    try:
        with running_worker() as worker, caplog.at_level("ERROR", logger="paybridge.worker"):
            rename("webhook_deliveries", "webhook_deliveries_away")
            away = True
            pay(merchant.id)
            wait_until(lambda: "worker loop failed" in caplog.text)
            time.sleep(0.3)
            rename("webhook_deliveries_away", "webhook_deliveries")
            away = False
            wait_until(lambda: all_finished(hook.id))
            assert not worker.stopping
    finally:
        if away:
            rename("webhook_deliveries_away", "webhook_deliveries")
    assert len(receiver.snapshot()) == 1
