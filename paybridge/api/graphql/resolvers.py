"""Queries and mutations. Every resolver calls the function of `paybridge.api.resources` that
the matching REST route calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from paybridge.api import resources
from paybridge.api.errors import unavailable_error
from paybridge.api.graphql import types as t
from paybridge.api.graphql.calls import _call, _money_call, _principal
from paybridge.api.schemas import ListOut
from paybridge.errors import DomainError
from paybridge.models import SettlementStatus, TransactionStatus
from paybridge.selectors.api_logs import ApiLogFilters
from paybridge.selectors.pagination import DEFAULT_LIMIT, PageRequest
from paybridge.selectors.settlement_history import SettlementFilters
from paybridge.selectors.transactions import TransactionFilters

# GraphQL enums of the models' own: strawberry.enum marks the class and returns it, so the
# arguments below are annotated with the classes themselves.
strawberry.enum(TransactionStatus, name="TransactionStatus")
strawberry.enum(SettlementStatus, name="SettlementStatus")


def _page(limit: int | None, starting_after: str | None, ending_before: str | None) -> PageRequest:
    return PageRequest(
        limit=DEFAULT_LIMIT if limit is None else limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def _list(result: ListOut[Any], item: Any, container: Any) -> Any:
    return container(data=[item.from_pydantic(x) for x in result.data], has_more=result.has_more)


@strawberry.type
class Query:
    @strawberry.field(description="The authenticated merchant.")
    async def me(self, info: Info) -> t.Merchant:
        return t.Merchant.from_pydantic(await _call(resources.profile, _principal(info)))

    @strawberry.field(description="Dashboard numbers for whole local days from..to.")
    async def analytics(
        self,
        info: Info,
        from_date: date | None = None,
        to_date: date | None = None,
        currency: str | None = None,
    ) -> t.Analytics:
        result = await _call(
            resources.analytics,
            _principal(info),
            from_date=from_date,
            to_date=to_date,
            currency=currency,
        )
        return t.Analytics.from_pydantic(result)

    @strawberry.field(description="Available and pending balance per currency.")
    async def balance(self, info: Info) -> t.Balance:
        return t.Balance.from_pydantic(await _call(resources.balance, _principal(info)))

    @strawberry.field(description="Payments, newest first (Relay-style cursors).")
    async def transactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        status: TransactionStatus | None = None,
        provider: str | None = None,
        currency: str | None = None,
        customer_email: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> t.TransactionConnection:
        if first is not None and last is not None:
            raise DomainError("invalid_request", "Use first or last, not both.", param="last")
        backwards = last is not None or before is not None
        page = _page(last if backwards else first, after, before)
        filters = TransactionFilters(
            status=status.value if status else None,
            provider=provider,
            currency=currency,
            customer_email=customer_email,
            created_gte=created_gte,
            created_lt=created_lt,
        )
        result = await _call(resources.transactions_list, _principal(info), page, filters)
        edges = [
            t.TransactionEdge(cursor=tx.reference, node=t.Transaction.from_pydantic(tx))
            for tx in result.data
        ]
        return t.TransactionConnection(
            edges=edges,
            page_info=t.PageInfo(
                has_next_page=result.has_more if not backwards else before is not None,
                has_previous_page=result.has_more if backwards else after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @strawberry.field(description="One payment by reference; null if there is none.")
    async def transaction(self, info: Info, reference: str) -> t.Transaction | None:
        try:
            result = await _call(resources.transaction_get, _principal(info), reference)
        except DomainError as error:
            if error.code == "not_found":
                return None
            raise
        return t.Transaction.from_pydantic(result)

    @strawberry.field(description="Payouts, newest first.")
    async def settlements(
        self,
        info: Info,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        status: SettlementStatus | None = None,
        currency: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> t.SettlementList:
        filters = SettlementFilters(
            status=status.value if status else None,
            currency=currency,
            created_gte=created_gte,
            created_lt=created_lt,
        )
        result = await _call(
            resources.settlements_list,
            _principal(info),
            _page(limit, starting_after, ending_before),
            filters,
        )
        return _list(result, t.Settlement, t.SettlementList)

    @strawberry.field(description="Webhook endpoints, newest first.")
    async def webhooks(
        self,
        info: Info,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> t.WebhookList:
        result = await _call(
            resources.webhooks_list, _principal(info), _page(limit, starting_after, ending_before)
        )
        return _list(result, t.Webhook, t.WebhookList)

    @strawberry.field(description="This merchant's API requests, newest first.")
    async def api_logs(
        self,
        info: Info,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        method: str | None = None,
        status_code: int | None = None,
    ) -> t.ApiLogList:
        result = await _call(
            resources.api_logs_list,
            _principal(info),
            _page(limit, starting_after, ending_before),
            ApiLogFilters(method=method, status_code=status_code),
        )
        return _list(result, t.ApiLog, t.ApiLogList)

    @strawberry.field(description="The account's people, in the order they joined.")
    async def team_members(self, info: Info) -> list[t.TeamMember]:
        result = await _call(resources.members_list, _principal(info))
        return [t.TeamMember.from_pydantic(m) for m in result.data]

    @strawberry.field(description="Open invitations (owners and admins).")
    async def team_invitations(self, info: Info) -> list[t.TeamInvitation]:
        result = await _call(resources.invitations_list, _principal(info))
        return [t.TeamInvitation.from_pydantic(i) for i in result.data]

    @strawberry.field(description="Who did what, newest first (owners and admins).")
    async def audit_log(
        self,
        info: Info,
        limit: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
    ) -> t.AuditEntryList:
        result = await _call(
            resources.audit_log_list, _principal(info), _page(limit, starting_after, ending_before)
        )
        return _list(result, t.AuditEntry, t.AuditEntryList)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Pay out part of the available balance.")
    async def withdraw(
        self, info: Info, amount: t.BigInt, currency: str, idempotency_key: str | None = None
    ) -> t.Settlement:
        result = await _money_call(
            resources.withdraw,
            _principal(info),
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
        )
        return t.Settlement.from_pydantic(result)

    @strawberry.mutation(
        description="Refund a successful payment: `amount` minor units, or all that is left."
    )
    async def refund_transaction(
        self, info: Info, reference: str, amount: t.BigInt | None = None
    ) -> t.Transaction:
        result = await _money_call(
            resources.transaction_refund, _principal(info), reference, amount=amount
        )
        return t.Transaction.from_pydantic(result)

    @strawberry.mutation(description="Register a webhook endpoint; the secret is shown once.")
    async def create_webhook(
        self, info: Info, url: str, event_types: list[str]
    ) -> t.CreatedWebhook:
        result = await _call(
            resources.webhook_create, _principal(info), url=url, event_types=event_types
        )
        return t.CreatedWebhook.from_pydantic(result)

    @strawberry.mutation(description="Change a webhook endpoint; omitted fields stay.")
    async def update_webhook(
        self,
        info: Info,
        id: int,
        url: str | None = None,
        event_types: list[str] | None = None,
        is_active: bool | None = None,
    ) -> t.Webhook:
        result = await _call(
            resources.webhook_update,
            _principal(info),
            id,
            url=url,
            event_types=event_types,
            is_active=is_active,
        )
        return t.Webhook.from_pydantic(result)

    @strawberry.mutation(description="Remove a webhook endpoint.")
    async def delete_webhook(self, info: Info, id: int) -> t.DeletedWebhook:
        result = await _call(resources.webhook_delete, _principal(info), id)
        return t.DeletedWebhook.from_pydantic(result)

    @strawberry.mutation(description="Invite someone by email; the token is shown once.")
    async def invite_team_member(
        self, info: Info, email: str, role: str
    ) -> t.CreatedTeamInvitation:
        result = await _call(resources.invitation_create, _principal(info), email=email, role=role)
        return t.CreatedTeamInvitation.from_pydantic(result)

    @strawberry.mutation(description="Revoke an open invitation.")
    async def revoke_team_invitation(self, info: Info, id: int) -> t.TeamInvitation:
        result = await _call(resources.invitation_revoke, _principal(info), id)
        return t.TeamInvitation.from_pydantic(result)

    @strawberry.mutation(
        description="Accept an invitation with a name and password (no credential needed)."
    )
    async def accept_team_invitation(
        self, info: Info, token: str, password: str, full_name: str
    ) -> t.TeamMember:
        if info.context.get("unavailable"):
            raise unavailable_error()
        result = await _call(
            resources.invitation_accept, token=token, password=password, full_name=full_name
        )
        return t.TeamMember.from_pydantic(result)

    @strawberry.mutation(description="Give a member another role.")
    async def change_team_member_role(self, info: Info, id: int, role: str) -> t.TeamMember:
        result = await _call(resources.member_update, _principal(info), id, role=role)
        return t.TeamMember.from_pydantic(result)

    @strawberry.mutation(description="Remove a member; their sessions and tokens end at once.")
    async def remove_team_member(self, info: Info, id: int) -> t.RemovedTeamMember:
        result = await _call(resources.member_remove, _principal(info), id)
        return t.RemovedTeamMember.from_pydantic(result)

    @strawberry.mutation(
        description="Make a member the owner; you become an admin (owner only, with your password)."
    )
    async def transfer_ownership(self, info: Info, member_id: int, password: str) -> t.TeamMember:
        result = await _call(
            resources.ownership_transfer, _principal(info), member_id=member_id, password=password
        )
        return t.TeamMember.from_pydantic(result)

    @strawberry.mutation(
        description="Close the account (owner only, with your password): refused while money "
        "is in it; every session and API key ends; its records are kept."
    )
    async def close_account(self, info: Info, password: str) -> t.ClosedAccount:
        result = await _call(resources.account_close, _principal(info), password=password)
        return t.ClosedAccount.from_pydantic(result)
