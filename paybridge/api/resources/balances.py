"""Money held for the merchant: balances, settlements and withdrawals."""

from __future__ import annotations

from dataclasses import replace

from paybridge.api.auth import Principal
from paybridge.api.resources.common import filtered_list
from paybridge.api.schemas import BalanceOut, ListOut, MoneyOut, SettlementOut
from paybridge.db import read_session
from paybridge.models import Settlement
from paybridge.money import normalize_currency
from paybridge.selectors.balances import balances
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.settlement_history import SettlementFilters, settlements_page
from paybridge.services import settlements as settlement_service


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


def balance(principal: Principal) -> BalanceOut:
    with read_session() as session:
        rows = balances(session=session, merchant_id=principal.merchant_id)
    return BalanceOut(
        available=[MoneyOut(amount=b.available, currency=b.currency) for b in rows],
        pending=[MoneyOut(amount=b.pending, currency=b.currency) for b in rows],
    )


def settlements_list(
    principal: Principal, page: PageRequest, filters: SettlementFilters
) -> ListOut[SettlementOut]:
    if filters.currency is not None:
        filters = replace(filters, currency=normalize_currency(filters.currency))
    return filtered_list(principal, page, filters, settlements_page, settlement_out)


def withdraw(
    principal: Principal, *, amount: int, currency: str, idempotency_key: str | None = None
) -> SettlementOut:
    return settlement_out(
        settlement_service.settlement_withdraw(
            actor=principal.actor,
            merchant_id=principal.merchant_id,
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
        )
    )
