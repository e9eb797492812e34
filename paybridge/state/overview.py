"""The first page: the merchant's headline numbers (the full dashboard comes later)."""

from __future__ import annotations

import reflex as rx

from paybridge.db import read_session
from paybridge.display import format_bp, format_change, format_count, format_local
from paybridge.models import User
from paybridge.money import format_money
from paybridge.selectors.activity import recent_transactions
from paybridge.selectors.analytics import change_bp, dashboard_metrics, merchant_currencies
from paybridge.selectors.balances import balances
from paybridge.selectors.periods import period_last_days
from paybridge.state.session import SessionState


class OverviewState(SessionState):
    merchant_name: str = ""
    currency: str = ""
    cards: list[dict[str, str]] = []
    balance_available: str = "—"
    balance_pending: str = "—"
    recent: list[dict[str, str]] = []
    loaded: bool = False

    @rx.event
    def load(self) -> None:
        found = self.identity()
        if found is None:
            return
        with read_session() as session:
            user = session.get(User, found.user_id)
            if user is None:
                return
            currencies = merchant_currencies(session=session, merchant_id=user.id)
            currency = currencies[0] if currencies else "USD"
            metrics = dashboard_metrics(
                session=session,
                merchant_id=user.id,
                currency=currency,
                period=period_last_days(30, user.timezone),
            )
            money_balances = {b.currency: b for b in balances(session=session, merchant_id=user.id)}
            rows = recent_transactions(session=session, merchant_id=user.id, limit=8)
        now, before = metrics.current, metrics.previous
        self.merchant_name = user.company_name or user.full_name
        self.currency = currency
        self.cards = [
            {
                "label": "Total transactions",
                "value": format_count(now.total_transactions),
                "change": format_change(
                    change_bp(now.total_transactions, before.total_transactions)
                ),
            },
            {
                "label": "Total volume",
                "value": format_money(now.total_volume, currency),
                "change": format_change(change_bp(now.total_volume, before.total_volume)),
            },
            {
                "label": "Success rate",
                "value": format_bp(now.success_rate_bp),
                "change": format_change(
                    None
                    if now.success_rate_bp is None or before.success_rate_bp is None
                    else now.success_rate_bp - before.success_rate_bp
                ),
            },
            {
                "label": "Average transaction",
                "value": format_money(now.average_transaction, currency),
                "change": format_change(
                    change_bp(now.average_transaction, before.average_transaction)
                ),
            },
        ]
        balance = money_balances.get(currency)
        self.balance_available = format_money(balance.available if balance else 0, currency)
        self.balance_pending = format_money(balance.pending if balance else 0, currency)
        self.recent = [
            {
                "reference": row.reference,
                "customer": row.customer_email,
                "amount": format_money(row.amount, row.currency),
                "provider": row.provider_name,
                "status": row.status,
                "time": format_local(row.created_at, user.timezone),
            }
            for row in rows
        ]
        self.loaded = True
