"""What the public API can do, once: REST routes and GraphQL resolvers both call these
functions, which call the selectors and services the dashboard uses. Each takes the
authenticated principal and reads or writes that merchant's data only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from paybridge.api.auth import Principal
from paybridge.api.errors import ApiError
from paybridge.api.schemas import (
    AnalyticsOut,
    ApiKeyCreated,
    ApiKeyOut,
    ApiLogOut,
    BalanceOut,
    ChangeOut,
    DailyPointOut,
    Deleted,
    EventOut,
    HeadlineOut,
    ListOut,
    MoneyOut,
    ProfileOut,
    ProviderStatsOut,
    SettlementOut,
    StatusShareOut,
    TransactionCreate,
    TransactionOut,
    WebhookCreated,
    WebhookOut,
)
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import (
    ApiKey,
    ApiLog,
    Event,
    Settlement,
    Transaction,
    TransactionStatus,
    User,
    Webhook,
)
from paybridge.money import normalize_currency
from paybridge.selectors.analytics import dashboard_numbers
from paybridge.selectors.api_keys import api_keys_page
from paybridge.selectors.api_logs import ApiLogFilters, api_logs_page
from paybridge.selectors.balances import balances
from paybridge.selectors.event_feed import EventFilters, events_page
from paybridge.selectors.pagination import Page, PageRequest
from paybridge.selectors.periods import period_for_days
from paybridge.selectors.settlement_history import SettlementFilters, settlements_page
from paybridge.selectors.transactions import (
    TransactionFilters,
    transaction_record,
    transactions_page,
)
from paybridge.selectors.transactions import transaction_get as select_transaction
from paybridge.selectors.users import user_summary
from paybridge.selectors.webhooks import webhook_get, webhooks_page
from paybridge.services import api_keys as api_key_service
from paybridge.services import settlements as settlement_service
from paybridge.services import transactions as transaction_service
from paybridge.services import webhooks as webhook_service
from paybridge.services.transactions import NewPayment
from paybridge.validation import clean_choice, clean_reference

DEFAULT_ANALYTICS_DAYS = 30
MAX_ANALYTICS_DAYS = 366
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)


# --- conversions ------------------------------------------------------------------------------


def settlement_out(row: Settlement) -> SettlementOut:
    return SettlementOut(
        reference=row.reference,
        amount=row.amount,
        currency=row.currency,
        status=row.status,
        bank_account=row.bank_account,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


def webhook_out(row: Webhook) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        event_types=list(row.event_types),
        is_active=row.is_active,
        last_triggered_at=row.last_triggered_at,
        created_at=row.created_at,
    )


def api_key_out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        redacted=f"{api_key_service.PREFIX}…{row.last4}",
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def api_log_out(row: ApiLog) -> ApiLogOut:
    return ApiLogOut(
        id=row.id,
        endpoint=row.endpoint,
        method=row.method,
        status_code=row.status_code,
        response_time_ms=row.response_time_ms,
        created_at=row.created_at,
    )


def event_out(row: Event) -> EventOut:
    return EventOut(id=row.id, type=row.type, payload=row.payload, created_at=row.created_at)


def _list(page: Page, convert) -> ListOut:  # type: ignore[no-untyped-def,type-arg]
    return ListOut(data=[convert(item) for item in page.data], has_more=page.has_more)


def aware(moment: datetime | None, *, param: str) -> datetime | None:
    """Naive datetimes are taken as UTC; out-of-range ones are refused."""
    if moment is None:
        return None
    try:
        value = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise DomainError("invalid_request", f"{param} is out of range.", param=param) from None


def clean_created_range(
    created_gte: datetime | None, created_lt: datetime | None
) -> tuple[datetime | None, datetime | None]:
    return aware(created_gte, param="created_gte"), aware(created_lt, param="created_lt")


# --- merchant ---------------------------------------------------------------------------------


def profile(principal: Principal) -> ProfileOut:
    with read_session() as session:
        summary = user_summary(session=session, merchant_id=principal.merchant_id)
    if summary is None:
        raise DomainError("not_found", "No such merchant.")
    return ProfileOut(**summary.__dict__)


def balance(principal: Principal) -> BalanceOut:
    with read_session() as session:
        rows = balances(session=session, merchant_id=principal.merchant_id)
    return BalanceOut(
        available=[MoneyOut(amount=b.available, currency=b.currency) for b in rows],
        pending=[MoneyOut(amount=b.pending, currency=b.currency) for b in rows],
    )


def analytics(
    principal: Principal,
    *,
    from_date: date | None = None,
    to_date: date | None = None,
    currency: str | None = None,
) -> AnalyticsOut:
    """The dashboard's numbers for whole local days [from, to] in the merchant's timezone."""
    with read_session() as session:
        user = session.get(User, principal.merchant_id)
        if user is None:
            raise DomainError("not_found", "No such merchant.")
        code = normalize_currency(currency) if currency is not None else None
        today = datetime.now(UTC).astimezone(ZoneInfo(user.timezone)).date()
        for value, param in ((from_date, "from"), (to_date, "to")):
            if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
                raise DomainError(  # before any date arithmetic: 0001-01-01 minus a day fails
                    "invalid_request", f"{param} must be between 2000 and 2100.", param=param
                )
        last = to_date or today
        first = from_date or last - timedelta(days=DEFAULT_ANALYTICS_DAYS - 1)
        if first > last:
            raise DomainError("invalid_request", "from is after to.", param="from")
        if (last - first).days + 1 > MAX_ANALYTICS_DAYS:
            raise DomainError(
                "invalid_request", f"A period is at most {MAX_ANALYTICS_DAYS} days.", param="from"
            )
        period = period_for_days(first, last, user.timezone)
        numbers = dashboard_numbers(
            session=session,
            merchant_id=principal.merchant_id,
            period=period,
            currency=code,
            with_balances=False,
        )
    metrics = numbers.metrics
    cur, prev = metrics.current, metrics.previous
    return AnalyticsOut(
        currency=numbers.currency,
        from_date=first,
        to_date=last,
        timezone=user.timezone,
        current=HeadlineOut(**cur.__dict__),
        previous=HeadlineOut(**prev.__dict__),
        change=ChangeOut(**metrics.change.__dict__),
        daily=[DailyPointOut(**p.__dict__) for p in metrics.daily],
        providers=[ProviderStatsOut(**p.__dict__) for p in metrics.providers],
        statuses=[StatusShareOut(**s.__dict__) for s in metrics.statuses],
        currencies=numbers.currencies,
    )


# --- transactions -----------------------------------------------------------------------------


def transactions_list(
    principal: Principal, page: PageRequest, filters: TransactionFilters
) -> ListOut[TransactionOut]:
    if filters.status is not None:
        clean_choice(filters.status, TransactionStatus, param="status")
    if filters.currency is not None:
        filters = replace(filters, currency=normalize_currency(filters.currency))
    gte, lt = clean_created_range(filters.created_gte, filters.created_lt)
    filters = replace(filters, created_gte=gte, created_lt=lt)
    with read_session() as session:
        result = transactions_page(
            session=session, merchant_id=principal.merchant_id, page=page, filters=filters
        )
    return _list(result, TransactionOut.from_record)


def transaction_get(principal: Principal, reference: str) -> TransactionOut:
    reference = _reference(reference)
    with read_session() as session:
        record = select_transaction(
            session=session, merchant_id=principal.merchant_id, reference=reference
        )
    if record is None:
        raise DomainError("not_found", "No such payment.", param="reference")
    return TransactionOut.from_record(record)


def new_payment(
    principal: Principal, body: TransactionCreate, *, request_id: str | None
) -> NewPayment:
    """A payment to ingest for the caller, checked (raises DomainError)."""
    return transaction_service.new_payment(
        merchant_id=principal.merchant_id,
        amount=body.amount,
        currency=body.currency,
        provider=body.provider,
        customer_email=body.customer_email,
        reference=body.reference,
        status=body.status,
        request_id=request_id,
    )


def payment_json(tx: Transaction, payment: NewPayment) -> bytes:
    """The 201 answer to an ingested payment, rendered as FastAPI renders `TransactionOut`."""
    out = TransactionOut.from_record(
        transaction_record(
            tx, provider_code=payment.route.code, provider_name=payment.route.display_name
        )
    )
    return TransactionOut.__pydantic_serializer__.to_json(out, by_alias=True)


def transaction_refund(
    principal: Principal, reference: str, amount: int | None = None
) -> TransactionOut:
    """Refund a successful payment: `amount` minor units, or all that is left."""
    reference = _reference(reference)
    transaction_service.transaction_refund(
        merchant_id=principal.merchant_id, reference=reference, amount=amount
    )
    return transaction_get(principal, reference)


def _reference(value: str) -> str:
    try:
        return clean_reference(value)
    except DomainError:  # a malformed reference names no payment
        raise DomainError("not_found", "No such payment.", param="reference") from None


# --- settlements ------------------------------------------------------------------------------


def settlements_list(
    principal: Principal, page: PageRequest, filters: SettlementFilters
) -> ListOut[SettlementOut]:
    if filters.currency is not None:
        filters = replace(filters, currency=normalize_currency(filters.currency))
    gte, lt = clean_created_range(filters.created_gte, filters.created_lt)
    filters = replace(filters, created_gte=gte, created_lt=lt)
    with read_session() as session:
        result = settlements_page(
            session=session, merchant_id=principal.merchant_id, page=page, filters=filters
        )
    return _list(result, settlement_out)


def withdraw(
    principal: Principal, *, amount: int, currency: str, idempotency_key: str | None = None
) -> SettlementOut:
    return settlement_out(
        settlement_service.settlement_withdraw(
            merchant_id=principal.merchant_id,
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
        )
    )


# --- webhooks ---------------------------------------------------------------------------------


def webhooks_list(principal: Principal, page: PageRequest) -> ListOut[WebhookOut]:
    with read_session() as session:
        result = webhooks_page(session=session, merchant_id=principal.merchant_id, page=page)
    return _list(result, webhook_out)


def webhook_detail(principal: Principal, webhook_id: int) -> WebhookOut:
    with read_session() as session:
        row = webhook_get(session=session, merchant_id=principal.merchant_id, webhook_id=webhook_id)
    if row is None:
        raise DomainError("not_found", "No such webhook.", param="id")
    return webhook_out(row)


def webhook_create(principal: Principal, *, url: str, event_types: list[str]) -> WebhookCreated:
    row, secret = webhook_service.webhook_create(
        merchant_id=principal.merchant_id, url=url, event_types=event_types
    )
    return WebhookCreated(**webhook_out(row).model_dump(), secret=secret)


def webhook_update(
    principal: Principal,
    webhook_id: int,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    is_active: bool | None = None,
) -> WebhookOut:
    row = webhook_service.webhook_update(
        merchant_id=principal.merchant_id,
        webhook_id=webhook_id,
        url=url,
        event_types=event_types,
        is_active=is_active,
    )
    return webhook_out(row)


def webhook_delete(principal: Principal, webhook_id: int) -> Deleted:
    webhook_service.webhook_delete(merchant_id=principal.merchant_id, webhook_id=webhook_id)
    return Deleted(id=webhook_id)


# --- API keys, logs, events -------------------------------------------------------------------


def _require_login(principal: Principal) -> None:
    if principal.kind != "jwt":
        raise ApiError(
            "forbidden",
            "API keys cannot manage API keys; use an access token from /auth/token.",
        )


def api_keys_list(
    principal: Principal, page: PageRequest, *, include_revoked: bool = False
) -> ListOut[ApiKeyOut]:
    with read_session() as session:
        result = api_keys_page(
            session=session,
            merchant_id=principal.merchant_id,
            page=page,
            include_revoked=include_revoked,
        )
    return _list(result, api_key_out)


def api_key_create(principal: Principal, *, name: str = "") -> ApiKeyCreated:
    _require_login(principal)
    row, secret = api_key_service.api_key_create(merchant_id=principal.merchant_id, name=name)
    return ApiKeyCreated(**api_key_out(row).model_dump(), secret=secret)


def api_key_revoke(principal: Principal, key_id: int) -> ApiKeyOut:
    _require_login(principal)
    return api_key_out(
        api_key_service.api_key_revoke(merchant_id=principal.merchant_id, key_id=key_id)
    )


def api_logs_list(
    principal: Principal, page: PageRequest, filters: ApiLogFilters
) -> ListOut[ApiLogOut]:
    gte, lt = clean_created_range(filters.created_gte, filters.created_lt)
    filters = replace(filters, created_gte=gte, created_lt=lt)
    with read_session() as session:
        result = api_logs_page(
            session=session, merchant_id=principal.merchant_id, page=page, filters=filters
        )
    return _list(result, api_log_out)


def events_list(
    principal: Principal, page: PageRequest, filters: EventFilters
) -> ListOut[EventOut]:
    gte, lt = clean_created_range(filters.created_gte, filters.created_lt)
    filters = replace(filters, created_gte=gte, created_lt=lt)
    with read_session() as session:
        result = events_page(
            session=session, merchant_id=principal.merchant_id, page=page, filters=filters
        )
    return _list(result, event_out)
