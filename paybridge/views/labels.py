"""Display constants the pages render: the choices of a select, the event types of a checkbox
list, the hints next to a number. Pages take them from here rather than from services or models,
so a page imports only components, states and views."""

from __future__ import annotations

from paybridge.models import PayoutSchedule, SettlementStatus
from paybridge.models.transaction import TransactionStatus
from paybridge.services.webhooks import EVENT_TYPES
from paybridge.validation import MIN_PASSWORD_LENGTH

# A payment status's colour wherever it shows: badges, the dashboard's status cards, feed lines.
STATUS_COLORS = {"success": "green", "pending": "amber", "failed": "red", "refunded": "gray"}
# A webhook delivery's and a payout's status colour (any other status is gray).
DELIVERY_COLORS = {"succeeded": "green", "pending": "amber", "failed": "red"}
PAYOUT_COLORS = {"pending": "amber", "processing": "blue", "completed": "green", "failed": "red"}
TRANSACTION_STATUSES: tuple[str, ...] = tuple(s.value for s in TransactionStatus)
SETTLEMENT_STATUSES: tuple[str, ...] = tuple(s.value for s in SettlementStatus)
PAYOUT_SCHEDULES: tuple[str, ...] = tuple(s.value for s in PayoutSchedule)
WEBHOOK_EVENT_TYPES: tuple[str, ...] = EVENT_TYPES
PASSWORD_HINT = f"At least {MIN_PASSWORD_LENGTH} characters."

AVAILABLE_HINT = (
    "Available: net of successful payments older than your hold period, minus payouts that "
    "have not failed. You can withdraw it now."
)
PENDING_HINT = (
    "Pending: net of successful payments still inside the hold period. It becomes available "
    "when the hold ends."
)
