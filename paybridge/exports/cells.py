"""One CSV line of a payment, formatted by Python (SQLite; PostgreSQL writes the same bytes
itself, see selectors/transaction_csv.py): the header, exact major units, and the formula guard."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from paybridge.display import FORMULA_START


def csv_header(tz: str) -> list[str]:
    return [
        "reference",
        f"created_at ({tz})",
        f"updated_at ({tz})",
        "status",
        "currency",
        "amount",
        "fee",
        "net",
        "refunded",
        "provider",
        "customer_email",
    ]


def major_units(minor: int, exp: int) -> str:
    """Exact major units without grouping: (123456, 2) -> '1234.56', (-5, 2) -> '-0.05'."""
    sign = "-" if minor < 0 else ""
    if exp == 0:
        return f"{minor}"
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def safe_cell(text: str) -> str:
    return "'" + text if text[:1] in FORMULA_START else text


def _formatter(exp: int) -> Callable[[int], str]:
    """A fast major_units for amounts (never negative) of one exponent."""
    if exp == 0:
        return str
    if exp == 2:
        cents = [f"{i:02d}" for i in range(100)]
        return lambda minor: f"{minor // 100}.{cents[minor % 100]}"
    return lambda minor: major_units(minor, exp)


def _csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()
