"""Shares and changes in basis points (10000 = 100 %), in integers: every rate, share and
change the dashboard, the API and GraphQL show is computed with these, so they all round the
same way."""

from __future__ import annotations


def ratio_bp(part: int, whole: int) -> int | None:
    """part/whole in basis points, rounded half up; None when there is nothing to divide."""
    return None if whole == 0 else _bp(part, whole)


def _bp(part: int, whole: int) -> int:
    """part/whole (whole not 0) in basis points, rounded half up."""
    return (part * 20000 + whole) // (2 * whole)


def change_bp(current: int, previous: int) -> int | None:
    """Relative change in basis points; None when the previous period had nothing."""
    return (
        None
        if previous == 0
        else _bp(current - previous, previous)
        if current >= previous
        else -_bp(previous - current, previous)
    )


def points_change_bp(current_bp: int | None, previous_bp: int | None) -> int | None:
    """The difference of two rates, in basis points of a percentage point (a rate going from
    97.50 % to 98.00 % is +50, shown as '+0.50 pts'); None when either rate is unknown."""
    return None if current_bp is None or previous_bp is None else current_bp - previous_bp
