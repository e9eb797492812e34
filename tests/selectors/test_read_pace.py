"""state.dashboard_pace.ReadPace: a worker whose dashboard reads take more than their share of a
core reads every stream's numbers less often, in proportion, and goes back to the full pace when
the load goes; the reconcile slows with it."""

from __future__ import annotations

import pytest

from paybridge.state import dashboard_pace
from paybridge.state.dashboard_pace import (
    PACE_WINDOW,
    READ_SHARE,
    RECONCILE_INTERVAL,
    REFRESH_INTERVAL,
    SLOWEST_REFRESH,
    ReadPace,
    reconcile_interval,
)


def window(pace: ReadPace, start: float, share: float) -> float:
    """Reads taking `share` of a core over one window from `start`; returns its end."""
    end = start + PACE_WINDOW
    pace.spent(share * PACE_WINDOW / 2, now=start + PACE_WINDOW / 2)
    pace.spent(share * PACE_WINDOW / 2, now=end)
    return end


def test_reads_within_their_share_keep_the_full_pace() -> None:
    pace = ReadPace(now=0.0)
    window(pace, 0.0, READ_SHARE * 0.9)
    assert pace.refresh == REFRESH_INTERVAL
    assert pace.slowed() == 1.0


def test_reads_over_their_share_slow_the_pace_in_proportion_to_the_slowest() -> None:
    pace = ReadPace(now=0.0)
    at = window(pace, 0.0, READ_SHARE * 2)  # twice the share: half as many reads wanted
    assert pace.refresh == pytest.approx(REFRESH_INTERVAL * 2)
    for _ in range(40):  # the load does not give way (streams quieter than the pace)
        at = window(pace, at, 1.0)
    assert pace.refresh == SLOWEST_REFRESH
    assert pace.slowed() == SLOWEST_REFRESH / REFRESH_INTERVAL


def test_the_pace_comes_back_when_the_load_goes() -> None:
    pace = ReadPace(now=0.0)
    at = 0.0
    for _ in range(40):
        at = window(pace, at, 1.0)
    assert pace.refresh == SLOWEST_REFRESH
    pace.spent(0.005, now=at + 5.0)  # the next read, after a quiet spell
    assert pace.refresh == REFRESH_INTERVAL


def test_the_reconcile_slows_with_the_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    pace = ReadPace(now=0.0)
    monkeypatch.setattr(dashboard_pace, "PACE", pace)
    assert reconcile_interval() == RECONCILE_INTERVAL
    window(pace, 0.0, READ_SHARE * 3)
    assert reconcile_interval() == pytest.approx(RECONCILE_INTERVAL * 3)
