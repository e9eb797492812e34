"""The transactions list's display values: one `TransactionListRow` per payment, built from the
selector's `TransactionRecord`, the status and refund a live event changes in it, and the
counts above the list. Pure functions without Reflex."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from paybridge.display import format_count, format_local
from paybridge.errors import DomainError
from paybridge.models import TransactionRecord
from paybridge.money import format_money

ROUTE = "/transactions"


@dataclass(frozen=True)
class TransactionListRow:
    """One row of /transactions (its phone layout too), every value display-ready."""

    reference: str  # TransactionRecord.reference
    href: str  # the payment's detail page
    customer: str  # TransactionRecord.customer_email
    amount: str  # TransactionRecord.amount in its currency
    refunded: str  # "$5.00 refunded" while partly refunded, else ""
    provider: str  # TransactionRecord.provider_name
    status: str  # TransactionRecord.status
    created: str  # TransactionRecord.created_at in the user's timezone


def payment_href(reference: str) -> str:
    return f"{ROUTE}/{reference}"


def refunded_note(refunded_amount: int, currency: str, status: str) -> str:
    """What a partly refunded payment shows under its amount; nothing once refunded in full
    (its status says so) or never refunded."""
    if not refunded_amount or status == "refunded":
        return ""
    return f"{format_money(refunded_amount, currency)} refunded"


def transaction_list_row(record: TransactionRecord, tz: str) -> TransactionListRow:
    return TransactionListRow(
        reference=record.reference,
        href=payment_href(record.reference),
        customer=record.customer_email,
        amount=format_money(record.amount, record.currency),
        refunded=refunded_note(record.refunded_amount, record.currency, record.status),
        provider=record.provider_name,
        status=record.status,
        created=format_local(record.created_at, tz, seconds=True),
    )


def rows_with_events(
    rows: list[TransactionListRow], messages: list[dict[str, Any]]
) -> list[TransactionListRow] | None:
    """The visible rows with the status and refund of their newest event in `messages`
    (`events.payloads.transaction_payload`); no row is added or moved. None when no row
    changed. A payload this code cannot read leaves its row as it was (the recount that follows
    reads the database)."""
    latest = {
        m["payload"].get("reference"): m["payload"]
        for m in messages
        if isinstance(m.get("payload"), dict)
    }
    changed, out = False, []
    for row in rows:
        data = latest.get(row.reference)
        if data is not None and "status" in data:
            try:
                status = str(data["status"])
                note = refunded_note(data.get("refunded_amount", 0), data.get("currency"), status)
            except (DomainError, TypeError, ValueError):
                pass
            else:
                if (status, note) != (row.status, row.refunded):
                    row, changed = replace(row, status=status, refunded=note), True
        out.append(row)
    return out if changed else None


def total_label(total: int) -> str:
    """ "1,234 payments" above the list: every payment matching the filters."""
    return f"{format_count(total)} payment{'' if total == 1 else 's'}"


def new_label(count: int, cap: int) -> str:
    """The banner's "12 new payments" ("1,000+" from `cap` on); "" when there are none."""
    if not count:
        return ""
    shown = f"{format_count(count)}{'+' if count >= cap else ''}"
    return f"{shown} new payment{'' if count == 1 else 's'}"
