"""Every share, rate and change is computed once, in the selectors, in integer basis points:
selectors.ratios, the headline change of the dashboard metrics, and the API error share."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paybridge.selectors.analytics import Headline, headline_change
from paybridge.selectors.health import ApiStats
from paybridge.selectors.ratios import change_bp, points_change_bp, ratio_bp


@pytest.mark.parametrize(
    ("part", "whole", "bp"),
    [(1, 3, 3333), (2, 3, 6667), (1, 8, 1250), (1, 20_000, 1), (1, 20_001, 0), (5, 5, 10_000)],
)
def test_ratio_rounds_half_up(part: int, whole: int, bp: int) -> None:
    assert ratio_bp(part, whole) == bp


def test_nothing_to_divide_is_no_ratio() -> None:
    assert ratio_bp(0, 0) is None
    assert change_bp(5, 0) is None
    assert points_change_bp(9_000, None) is None and points_change_bp(None, 9_000) is None


@given(st.integers(0, 10**15), st.integers(1, 10**15))
def test_ratio_is_the_nearest_basis_point(part: int, whole: int) -> None:
    exact = Fraction(part * 10_000, whole)
    bp = ratio_bp(part, whole)
    assert bp is not None and abs(bp - exact) <= Fraction(1, 2)
    assert exact - bp != Fraction(1, 2)  # a tie goes up


@given(st.integers(0, 10**12), st.integers(1, 10**12))
def test_a_fall_is_the_mirror_of_a_rise(current: int, previous: int) -> None:
    """Rounding away from zero on both sides: -x% and +x% of the same gap are equal in size."""
    change = change_bp(current, previous)
    gap = ratio_bp(abs(current - previous), previous)
    assert change == (gap if current >= previous else -gap)


def test_headline_change_against_the_previous_period() -> None:
    now = Headline(
        total_transactions=150, total_volume=30_000, success_rate_bp=9_800, average_transaction=200
    )
    before = Headline(
        total_transactions=100, total_volume=40_000, success_rate_bp=9_750, average_transaction=400
    )
    change = headline_change(now, before)
    assert change.total_transactions_bp == 5_000  # +50 %
    assert change.total_volume_bp == -2_500  # -25 %
    assert change.average_transaction_bp == -5_000
    assert change.success_rate_points_bp == 50  # +0.50 points, not +0.51 %
    empty = Headline(
        total_transactions=0, total_volume=0, success_rate_bp=None, average_transaction=0
    )
    assert headline_change(now, empty).success_rate_points_bp is None
    assert headline_change(now, empty).total_volume_bp is None


def test_api_error_share() -> None:
    stats = ApiStats(requests=3, errors=1, client_errors=2, p50_ms=5, p95_ms=9)
    assert stats.error_share_bp == 3_333  # 5xx only: 4xx are the caller's mistakes
    assert ApiStats(0, 0, 0, None, None).error_share_bp is None
