"""GraphQL types, derived from the REST response models (same fields, camelCase names).
Amounts and 64-bit ids use the `BigInt` scalar: GraphQL's Int is 32-bit."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.scalars import JSON

from paybridge.api import schemas


def _parse_big_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("BigInt must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) <= 19:
        return int(value)
    raise ValueError("BigInt must be an integer")


BigInt = NewType("BigInt", int)
BIG_INT_SCALAR = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=_parse_big_int,
    description="A 64-bit integer: amounts in minor units, event and log ids.",
)


@pydantic_type(model=schemas.ProfileOut, all_fields=True, name="Merchant")
class Merchant:
    pass


@pydantic_type(model=schemas.MoneyOut, name="Money")
class Money:
    amount: BigInt
    currency: strawberry.auto


@pydantic_type(model=schemas.BalanceOut, all_fields=True, name="Balance")
class Balance:
    pass


@pydantic_type(model=schemas.HeadlineOut, name="Headline")
class Headline:
    total_transactions: strawberry.auto
    total_volume: BigInt
    success_rate_bp: strawberry.auto
    average_transaction: BigInt


@pydantic_type(model=schemas.DailyPointOut, name="DailyPoint")
class DailyPoint:
    day: strawberry.auto
    volume: BigInt
    count: strawberry.auto


@pydantic_type(model=schemas.ProviderStatsOut, name="ProviderStats")
class ProviderStats:
    code: strawberry.auto
    name: strawberry.auto
    count: strawberry.auto
    volume: BigInt
    success_rate_bp: strawberry.auto
    health: strawberry.auto


@pydantic_type(model=schemas.StatusShareOut, all_fields=True, name="StatusShare")
class StatusShare:
    pass


@pydantic_type(model=schemas.ChangeOut, all_fields=True, name="Change")
class Change:
    pass


@pydantic_type(model=schemas.AnalyticsOut, all_fields=True, name="Analytics")
class Analytics:
    pass


@pydantic_type(model=schemas.TransactionOut, name="Transaction")
class Transaction:
    reference: strawberry.auto
    amount: BigInt
    currency: strawberry.auto
    status: strawberry.auto
    provider: strawberry.auto
    provider_name: strawberry.auto
    customer_email: strawberry.auto
    fee: BigInt
    net_amount: BigInt
    refunded_amount: BigInt
    created_at: strawberry.auto
    updated_at: strawberry.auto


@pydantic_type(model=schemas.SettlementOut, name="Settlement")
class Settlement:
    reference: strawberry.auto
    amount: BigInt
    currency: strawberry.auto
    status: strawberry.auto
    bank_account: strawberry.auto
    failure_reason: strawberry.auto
    created_at: strawberry.auto
    completed_at: strawberry.auto


@pydantic_type(model=schemas.WebhookOut, all_fields=True, name="Webhook")
class Webhook:
    pass


@pydantic_type(model=schemas.WebhookCreated, all_fields=True, name="CreatedWebhook")
class CreatedWebhook:
    pass


@pydantic_type(model=schemas.ApiLogOut, name="ApiLog")
class ApiLog:
    id: BigInt
    endpoint: strawberry.auto
    method: strawberry.auto
    status_code: strawberry.auto
    response_time_ms: strawberry.auto
    created_at: strawberry.auto


@pydantic_type(model=schemas.EventOut, name="Event")
class Event:
    id: BigInt
    type: strawberry.auto
    payload: JSON
    created_at: strawberry.auto


@pydantic_type(model=schemas.Deleted, all_fields=True, name="DeletedWebhook")
class DeletedWebhook:
    pass


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class TransactionEdge:
    cursor: str
    node: Transaction


@strawberry.type
class TransactionConnection:
    """Newest first: "next" pages are older payments. Cursors are payment references."""

    edges: list[TransactionEdge]
    page_info: PageInfo


@strawberry.type
class SettlementList:
    data: list[Settlement]
    has_more: bool


@strawberry.type
class WebhookList:
    data: list[Webhook]
    has_more: bool


@strawberry.type
class ApiLogList:
    data: list[ApiLog]
    has_more: bool


@pydantic_type(model=schemas.MemberOut, all_fields=True, name="TeamMember")
class TeamMember:
    pass


@pydantic_type(model=schemas.InvitationOut, all_fields=True, name="TeamInvitation")
class TeamInvitation:
    pass


@pydantic_type(model=schemas.InvitationCreated, all_fields=True, name="CreatedTeamInvitation")
class CreatedTeamInvitation:
    pass


@pydantic_type(model=schemas.MemberRemoved, all_fields=True, name="RemovedTeamMember")
class RemovedTeamMember:
    pass


@pydantic_type(model=schemas.AccountClosed, all_fields=True, name="ClosedAccount")
class ClosedAccount:
    pass


@pydantic_type(model=schemas.AuditEntryOut, name="AuditEntry")
class AuditEntry:
    id: BigInt
    action: strawberry.auto
    actor_user_id: strawberry.auto
    actor_api_key_id: strawberry.auto
    actor_email: strawberry.auto
    target: strawberry.auto
    details: JSON
    ip_address: strawberry.auto
    created_at: strawberry.auto


@strawberry.type
class AuditEntryList:
    data: list[AuditEntry]
    has_more: bool
