"""SQLModel tables, one module per aggregate. Importing this package registers every table."""

from paybridge.models.api_key import ApiKey
from paybridge.models.api_log import ApiLog
from paybridge.models.auth import (
    AuthSession,
    FailedLogin,
    LoginOutcome,
    SessionKind,
    ThrottleCounter,
)
from paybridge.models.delivery import (
    DeliveryStatus,
    OutboxCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpointState,
)
from paybridge.models.event import Event
from paybridge.models.idempotency import IdempotencyRecord
from paybridge.models.provider import Provider
from paybridge.models.refund import Refund
from paybridge.models.rollup import DailyRollup, HourlyRollup, QuarterRollup, RollupTotal
from paybridge.models.saved_view import SavedView
from paybridge.models.settlement import Settlement, SettlementStatus
from paybridge.models.team import AuditEntry, Invitation, Membership
from paybridge.models.transaction import Transaction, TransactionRecord, TransactionStatus
from paybridge.models.user import AccountType, KycStatus, PayoutSchedule, User
from paybridge.models.webhook import Webhook

__all__ = [
    "AccountType",
    "ApiKey",
    "ApiLog",
    "AuditEntry",
    "AuthSession",
    "DailyRollup",
    "DeliveryStatus",
    "Event",
    "FailedLogin",
    "HourlyRollup",
    "IdempotencyRecord",
    "Invitation",
    "KycStatus",
    "LoginOutcome",
    "Membership",
    "OutboxCursor",
    "PayoutSchedule",
    "Provider",
    "QuarterRollup",
    "Refund",
    "RollupTotal",
    "SavedView",
    "SessionKind",
    "Settlement",
    "SettlementStatus",
    "ThrottleCounter",
    "Transaction",
    "TransactionRecord",
    "TransactionStatus",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpointState",
]
