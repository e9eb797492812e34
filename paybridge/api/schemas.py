"""Request and response bodies of the public API. Amounts are integer minor units with their
ISO 4217 `currency` (1050 USD = $10.50); times are ISO 8601 in UTC. The GraphQL types are
derived from the response models here, so both APIs show the same fields.

As in Stripe's API, every object carries `object` (its type: "transaction", "payout", ...)
and its `id`. These are computed fields: REST and OpenAPI show them; GraphQL has `__typename`
and leaves them out."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, computed_field

from paybridge.models import TransactionRecord

T = TypeVar("T")


def api_object(name: str) -> type[BaseModel]:
    """The base of a response model whose JSON says what it is: `"object": name`."""

    def object_(_self: BaseModel) -> str:
        return name

    field = computed_field(
        property(object_), return_type=Literal[name], description=f'Always "{name}".'
    )
    return type(f"ApiObject_{name}", (BaseModel,), {"object": field})


class Input(BaseModel):
    """Unknown fields are refused (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


# --- auth -----------------------------------------------------------------------------------


class TokenRequest(Input):
    email: StrictStr = Field(max_length=320)
    password: StrictStr = Field(max_length=1024)


class RefreshRequest(Input):
    refresh: StrictStr = Field(max_length=4096)


class TokenPairOut(BaseModel):
    access: str
    refresh: str
    token_type: Literal["Bearer"] = "Bearer"
    access_expires_at: datetime
    refresh_expires_at: datetime


class LoggedOut(BaseModel):
    logged_out: bool = True


class ApiKeyCreate(Input):
    name: StrictStr = Field(default="", max_length=80)


class ApiKeyOut(api_object("api_key")):
    id: int
    name: str
    redacted: str = Field(description='"sk_live_…" and the last four characters.')
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="The key itself. Shown in this response only.")


# --- merchant ---------------------------------------------------------------------------------


class ProfileOut(api_object("merchant")):
    id: int
    email: str
    full_name: str
    company_name: str
    initials: str
    account_type: str
    kyc_status: str
    timezone: str
    created_at: str


class MoneyOut(BaseModel):
    amount: int
    currency: str


class BalanceOut(api_object("balance")):
    available: list[MoneyOut]
    pending: list[MoneyOut]


class HeadlineOut(BaseModel):
    total_transactions: int
    total_volume: int
    success_rate_bp: int | None = Field(description="Basis points: 9750 = 97.50 %.")
    average_transaction: int


class DailyPointOut(BaseModel):
    day: date
    volume: int
    count: int


class ProviderStatsOut(BaseModel):
    code: str
    name: str
    count: int
    volume: int
    success_rate_bp: int | None
    health: str


class StatusShareOut(BaseModel):
    status: str
    count: int
    share_bp: int


class ChangeOut(BaseModel):
    """Relative change against the previous period of the same length, in basis points."""

    total_transactions_bp: int | None
    total_volume_bp: int | None
    average_transaction_bp: int | None
    success_rate_points_bp: int | None = Field(description="Difference of the two rates.")


class AnalyticsOut(api_object("analytics")):
    currency: str
    from_date: date
    to_date: date
    timezone: str
    current: HeadlineOut
    previous: HeadlineOut
    change: ChangeOut
    daily: list[DailyPointOut]
    providers: list[ProviderStatsOut]
    statuses: list[StatusShareOut]
    currencies: list[str] = Field(description="Currencies the merchant has taken payments in.")


# --- payments and payouts -------------------------------------------------------------------


class TransactionCreate(Input):
    amount: StrictInt = Field(description="Minor units, e.g. 1050 for 10.50 USD.")
    currency: StrictStr = Field(max_length=3)
    provider: StrictStr = Field(max_length=40)
    customer_email: StrictStr = Field(max_length=320)
    reference: StrictStr | None = Field(default=None, max_length=64)
    status: Literal["pending", "success", "failed"] = "pending"


class TransactionOut(api_object("transaction")):
    @computed_field(description="The payment's id: its `reference`.")
    @property
    def id(self) -> str:
        return self.reference

    reference: str
    amount: int
    currency: str
    status: str
    provider: str
    provider_name: str
    customer_email: str
    fee: int
    net_amount: int
    refunded_amount: int = Field(description="Minor units given back so far (partial refunds).")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, record: TransactionRecord) -> TransactionOut:
        return cls(
            reference=record.reference,
            amount=record.amount,
            currency=record.currency,
            status=record.status,
            provider=record.provider_code,
            provider_name=record.provider_name,
            customer_email=record.customer_email,
            fee=record.fee,
            net_amount=record.net_amount,
            refunded_amount=record.refunded_amount,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class RefundRequest(Input):
    amount: StrictInt | None = Field(
        default=None, description="Minor units to give back; omit to refund all that is left."
    )


class WithdrawRequest(Input):
    amount: StrictInt = Field(description="Minor units.")
    currency: StrictStr = Field(max_length=3)


class SettlementOut(api_object("payout")):
    @computed_field(description="The payout's id: its `reference`.")
    @property
    def id(self) -> str:
        return self.reference

    reference: str
    amount: int
    currency: str
    status: str
    bank_account: str
    failure_reason: str | None
    created_at: datetime
    completed_at: datetime | None


# --- webhooks, logs, events -------------------------------------------------------------------


class WebhookCreate(Input):
    url: StrictStr = Field(max_length=2048)
    event_types: list[StrictStr] = Field(max_length=16)


class WebhookUpdate(Input):
    url: StrictStr | None = Field(default=None, max_length=2048)
    event_types: list[StrictStr] | None = Field(default=None, max_length=16)
    is_active: StrictBool | None = None


class WebhookOut(api_object("webhook_endpoint")):
    id: int
    url: str
    event_types: list[str]
    is_active: bool
    last_triggered_at: datetime | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_...). Shown in this response only.")


class Deleted(api_object("webhook_endpoint")):
    id: int
    deleted: bool = True


class ApiLogOut(api_object("api_log")):
    id: int
    endpoint: str
    method: str
    status_code: int
    response_time_ms: int
    created_at: datetime


class EventOut(api_object("event")):
    id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime


# --- lists and errors -------------------------------------------------------------------------


class ListOut(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool


class ErrorDetail(BaseModel):
    code: str
    message: str
    param: str | None


class ErrorOut(BaseModel):
    error: ErrorDetail


# --- team -----------------------------------------------------------------------------------


class MemberOut(api_object("team_member")):
    id: int
    email: str
    full_name: str
    role: str
    joined_at: datetime


class MemberUpdate(Input):
    role: StrictStr = Field(max_length=16, description="owner, admin, developer or analyst")


class InvitationCreate(Input):
    email: StrictStr = Field(max_length=320)
    role: StrictStr = Field(max_length=16, description="owner, admin, developer or analyst")


class InvitationOut(api_object("team_invitation")):
    id: int
    email: str
    role: str
    created_at: datetime
    expires_at: datetime


class InvitationCreated(InvitationOut):
    token: str = Field(description="Accepts the invitation. Shown in this response only.")


class InvitationAccept(Input):
    token: StrictStr = Field(max_length=200)
    password: StrictStr = Field(max_length=1024)
    full_name: StrictStr = Field(max_length=120)


class MemberRemoved(api_object("team_member")):
    id: int
    deleted: bool = True


class OwnershipTransfer(Input):
    member_id: StrictInt = Field(description="The member who becomes the owner")
    password: StrictStr = Field(max_length=1024, description="Your password, to confirm")


class AccountClose(Input):
    password: StrictStr = Field(max_length=1024, description="Your password, to confirm")


class AccountClosed(api_object("account")):
    id: int
    closed_at: datetime


class AuditEntryOut(api_object("audit_entry")):
    id: int
    action: str
    actor_user_id: int | None
    actor_api_key_id: int | None
    actor_email: str
    target: str
    details: dict[str, Any]
    ip_address: str
    created_at: datetime
