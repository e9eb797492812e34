"""views.dashboard.apply_events: events laid over what a tab shows (its feed and recent table),
newest on top, each shown once, and only what can still be seen formatted; and which batch of
events counts as coming after a quiet spell."""

from __future__ import annotations

from typing import Any

from paybridge.state.dashboard_pace import REFRESH_INTERVAL, after_quiet, changes_panels, created
from paybridge.views.dashboard import FEED_ITEMS, RECENT_ROWS, apply_events

EMPTY = {"timezone": "Europe/Berlin", "feed": [], "_feed_ids": [], "recent": []}


def payment_event(event_id: int, reference: str, *, kind: str = "created", status: str = "pending"):
    return {
        "id": event_id,
        "merchant_id": 1,
        "type": f"transaction.{kind}",
        "created_at": "2026-11-30T12:00:00+00:00",
        "payload": {
            "reference": reference,
            "customer_email": f"{reference}@example.com",
            "amount": 1_250,
            "currency": "EUR",
            "provider": "card",
            "status": status,
            "created_at": "2026-11-30T12:00:00+00:00",
        },
    }


def shown_after(shown: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    return {**shown, **apply_events(shown, events)}


def test_new_payments_go_on_top_newest_first() -> None:
    shown = shown_after(EMPTY, [payment_event(1, "txn_a")])
    shown = shown_after(shown, [payment_event(3, "txn_c"), payment_event(2, "txn_b")])
    assert [row.reference for row in shown["recent"]] == ["txn_c", "txn_b", "txn_a"]
    assert shown["_feed_ids"] == [3, 2, 1]
    assert shown["recent"][0].amount == "€12.50"
    assert shown["recent"][0].time == "Nov 30, 13:00"  # in the merchant's timezone
    assert "txn_c@example.com" in shown["feed"][0].text


def test_an_event_already_shown_changes_nothing() -> None:
    shown = shown_after(EMPTY, [payment_event(1, "txn_a")])
    assert apply_events(shown, [payment_event(1, "txn_a", status="success")]) == {}


def test_a_visible_payment_takes_the_status_of_its_newest_event() -> None:
    shown = shown_after(EMPTY, [payment_event(1, "txn_a"), payment_event(2, "txn_b")])
    shown = shown_after(
        shown,
        [
            payment_event(5, "txn_a", kind="updated", status="refunded"),
            payment_event(4, "txn_a", kind="updated", status="success"),
            payment_event(3, "txn_z", kind="updated", status="failed"),  # not visible
        ],
    )
    assert [(row.reference, row.status) for row in shown["recent"]] == [
        ("txn_b", "pending"),
        ("txn_a", "refunded"),
    ]
    assert shown["_feed_ids"] == [5, 4, 3, 2, 1]


def test_a_flood_keeps_only_the_newest_lines_and_rows() -> None:
    events = [payment_event(i, f"txn_{i:04d}") for i in range(1, 401)]
    shown = shown_after(EMPTY, events[::-1])
    assert shown["_feed_ids"] == list(range(400, 400 - FEED_ITEMS, -1))
    assert len(shown["feed"]) == FEED_ITEMS
    assert [row.reference for row in shown["recent"]] == [
        f"txn_{i:04d}" for i in range(400, 400 - RECENT_ROWS, -1)
    ]


def test_an_unreadable_event_is_skipped_and_the_rest_applied() -> None:
    broken = payment_event(2, "txn_b")
    del broken["payload"]["amount"]
    shown = shown_after(
        EMPTY, [payment_event(1, "txn_a"), broken, {"id": "3"}, "junk", payment_event(4, "txn_d")]
    )
    assert [row.reference for row in shown["recent"]] == ["txn_d", "txn_a"]
    assert shown["_feed_ids"] == [4, 1]


def test_a_payment_after_a_quiet_spell_is_told_from_a_stream():
    """A batch whose first event was created more than REFRESH_INTERVAL after the event before
    sends its row before the numbers; within a stream (or with no readable time) it does not."""

    def at(seconds: float) -> dict:
        return {"id": 1, "created_at": f"2026-12-01T10:00:{seconds:06.3f}+00:00"}

    before = created(at(10.0))
    assert before is not None
    assert after_quiet([at(10.0 + REFRESH_INTERVAL + 0.01)], before)
    assert not after_quiet([at(10.0 + REFRESH_INTERVAL / 2), at(30.0)], before)
    assert after_quiet([at(10.0)], None)  # the first event since the tab subscribed
    assert not after_quiet([{"id": 2, "created_at": "not a time"}], before)
    assert not after_quiet([{"id": 3}], before)


def test_a_live_row_names_its_provider_as_a_reload_would() -> None:
    """The event payload carries the provider's code; the row shows its display name from the
    first moment, not "mobile_money" until the next reload."""
    event = payment_event(1, "txn_mm")
    event["payload"]["provider"] = "mobile_money"
    providers = {"mobile_money": (2, "Mobile Money"), "card": (1, "Card")}
    shown = shown_after({**EMPTY, "_providers": providers}, [event])
    assert shown["recent"][0].provider == "Mobile Money"
    unknown = payment_event(2, "txn_new")
    unknown["payload"]["provider"] = "new_rail"  # added since the tab's last reload
    shown = shown_after(shown, [unknown])
    assert shown["recent"][0].provider == "new_rail"


def test_a_delivered_webhook_is_not_a_feed_line_but_a_failed_one_is() -> None:
    delivered = {
        "id": 7,
        "merchant_id": 1,
        "type": "webhook.delivered",
        "created_at": "2026-11-30T12:00:00+00:00",
        "payload": {"url": "https://shop.example.com/hooks"},
    }
    assert apply_events(EMPTY, [delivered]) == {}
    failed = {**delivered, "id": 8, "type": "webhook.failed"}
    shown = shown_after(EMPTY, [failed, delivered])
    assert shown["_feed_ids"] == [8]
    assert "shop.example.com" in shown["feed"][0].text


def test_payments_and_settlements_leave_the_panels_a_webhook_event_does_not() -> None:
    """A live read after payments or settlements leaves out the health panel and the profile
    card; one after a webhook's event (the delivery rate) reads them too."""
    for kind in ("transaction.created", "transaction.updated", "settlement.created"):
        assert not changes_panels([{"type": kind}])
    for kind in ("webhook.delivered", "webhook.failed", "webhook.disabled"):
        assert changes_panels([{"type": "transaction.created"}, {"type": kind}])
