"""views.dashboard.metric_views: the headline cards (`MetricCard`) and status cards the
dashboard shows, from a selector's DashboardMetrics; every number is the selector's, the view
only formats it."""

from __future__ import annotations

from paybridge.selectors.analytics import DashboardMetrics, Headline, StatusShare
from paybridge.selectors.periods import period_last_days
from paybridge.views.dashboard import MetricCard, StatusCard, metric_views

NOW = Headline(
    total_transactions=1_500,
    total_volume=3_000_000,
    success_rate_bp=9_800,
    average_transaction=2_000,
)
BEFORE = Headline(
    total_transactions=1_000,
    total_volume=4_000_000,
    success_rate_bp=9_750,
    average_transaction=4_000,
)


def _cards(current: Headline, previous: Headline) -> dict[str, MetricCard]:
    metrics = DashboardMetrics(
        currency="USD",
        current=current,
        previous=previous,
        statuses=[StatusShare(status="success", count=1_470, share_bp=9_800)],
    )
    view = metric_views(metrics, period_last_days(7, "Africa/Lagos"))
    assert view["statuses"] == [
        StatusCard(status="success", count="1,470", share="98.00%", color="green")
    ]
    return {card.id: card for card in view["cards"]}


def test_cards_show_the_selectors_numbers_and_changes() -> None:
    cards = _cards(NOW, BEFORE)
    assert list(cards) == [
        "total-transactions",
        "total-volume",
        "success-rate",
        "average-transaction",
    ]
    assert (cards["total-transactions"].value, cards["total-transactions"].change) == (
        "1,500",
        "+50.00%",
    )
    assert cards["total-transactions"].trend == "up"
    assert cards["total-volume"].value == "$30,000.00"
    assert (cards["total-volume"].change, cards["total-volume"].trend) == ("-25.00%", "down")
    # A rate changes by points, not by a percentage of itself.
    assert (cards["success-rate"].value, cards["success-rate"].change) == (
        "98.00%",
        "+0.50 pts",
    )
    assert cards["average-transaction"].value == "$20.00"
    assert {card.versus for card in cards.values()} == {"vs previous 7 days"}


def test_no_earlier_data() -> None:
    empty = Headline(
        total_transactions=0, total_volume=0, success_rate_bp=None, average_transaction=0
    )
    cards = _cards(NOW, empty)
    assert {card.change for card in cards.values()} == {"no earlier data"}
    assert {card.trend for card in cards.values()} == {"none"}
    assert _cards(empty, empty)["success-rate"].value == "—"
