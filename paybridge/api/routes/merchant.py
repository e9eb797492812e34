"""Profile, analytics, balance and payouts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query

from paybridge.api import resources
from paybridge.api.idempotency import current_keyed_request, money_write
from paybridge.api.routes.common import (
    MONEY_WRITE_ERRORS,
    CurrentPrincipal,
    Paging,
    authenticated_router,
)
from paybridge.api.schemas import (
    AnalyticsOut,
    BalanceOut,
    ListOut,
    ProfileOut,
    SettlementOut,
    WithdrawRequest,
)
from paybridge.models import SettlementStatus
from paybridge.selectors.settlement_history import SettlementFilters

router = authenticated_router("merchant")
payouts = authenticated_router("settlements")


@router.get("/profile", response_model=ProfileOut, summary="The authenticated merchant")
def get_profile(principal: CurrentPrincipal) -> ProfileOut:
    return resources.profile(principal)


@router.get(
    "/analytics",
    response_model=AnalyticsOut,
    summary="Dashboard numbers and series for a period",
    description="Whole local days `from`..`to` (inclusive) in the merchant's timezone; by "
    "default the last 30 days and the merchant's most used currency. Rates are basis points.",
)
def get_analytics(
    principal: CurrentPrincipal,
    from_: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD")] = None,
    to: Annotated[date | None, Query(description="Last day, YYYY-MM-DD")] = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
) -> AnalyticsOut:
    return resources.analytics(principal, from_date=from_, to_date=to, currency=currency)


@router.get("/balance", response_model=BalanceOut, summary="Available and pending, per currency")
def get_balance(principal: CurrentPrincipal) -> BalanceOut:
    return resources.balance(principal)


@payouts.get("/settlements", response_model=ListOut[SettlementOut], summary="List payouts")
def list_settlements(
    principal: CurrentPrincipal,
    page: Paging,
    status: SettlementStatus | None = None,
    currency: str | None = Query(None, max_length=3),
    created_gte: datetime | None = None,
    created_lt: datetime | None = None,
) -> ListOut[SettlementOut]:
    filters = SettlementFilters(
        status=status.value if status else None,
        currency=currency,
        created_gte=created_gte,
        created_lt=created_lt,
    )
    return resources.settlements_list(principal, page, filters)


@payouts.post(
    "/settlements/withdraw",
    response_model=SettlementOut,
    status_code=201,
    responses=MONEY_WRITE_ERRORS,
    summary="Pay out part of the available balance",
)
@money_write
def withdraw(body: WithdrawRequest, principal: CurrentPrincipal) -> SettlementOut:
    keyed = current_keyed_request()
    return resources.withdraw(
        principal,
        amount=body.amount,
        currency=body.currency,
        idempotency_key=keyed.key if keyed is not None else None,
    )
