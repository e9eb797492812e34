"""Turning domain numbers into the strings states send to the browser (no floats on the wire)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

# CSV cells a spreadsheet would run as a formula get a leading apostrophe (OWASP CSV
# injection); the Python and the PostgreSQL export paths both apply it.
FORMULA_START = frozenset("=+-@\t\r")


def format_bp(bp: int | None) -> str:
    """Basis points as a percentage: 9791 -> '97.91%'; None -> '—'."""
    if bp is None:
        return "—"
    sign = "-" if bp < 0 else ""
    whole, frac = divmod(abs(bp), 100)
    return f"{sign}{whole}.{frac:02d}%"


def format_change(bp: int | None) -> str:
    """A period-over-period change: '+12.30%', '-4.00%', or 'no earlier data'."""
    if bp is None:
        return "no earlier data"
    return ("+" if bp >= 0 else "") + format_bp(bp)


def format_count(count: int) -> str:
    return f"{count:,}"


def format_local(moment: datetime, tz: str, *, seconds: bool = False) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime(
        "%b %d, %H:%M:%S" if seconds else "%b %d, %H:%M"
    )


def format_duration(seconds: int) -> str:
    """Uptime: '3d 4h', '2h 5m', '42s'."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
