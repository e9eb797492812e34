"""Queries, mutations and the live `events` subscription. Every resolver calls the function
of `paybridge.api.resources` that the matching REST route calls."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, Callable
from datetime import date, datetime
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info
from strawberry.types.unset import UNSET

from paybridge.api import resources
from paybridge.api.auth import (
    Principal,
    bearer_token,
    principal_for_token,
    require_principal,
    still_valid,
)
from paybridge.api.errors import (
    retry_after,
    status_for,
    unavailable_error,
    unavailable_errors,
)
from paybridge.api.graphql import types as t
from paybridge.api.graphql.limits import cost_limit_rule
from paybridge.api.ratelimit import check_rate_limit
from paybridge.api.schemas import ListOut
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.events import event_message
from paybridge.events.relay import outbox_relay
from paybridge.models import SettlementStatus, TransactionStatus
from paybridge.selectors.api_logs import ApiLogFilters
from paybridge.selectors.event_feed import events_after
from paybridge.selectors.pagination import DEFAULT_LIMIT, PageRequest
from paybridge.selectors.settlement_history import SettlementFilters
from paybridge.selectors.transactions import TransactionFilters
from paybridge.validation import refuse_control_characters

MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_COST = 2000
CREDENTIAL_CHECK_SECONDS = 2.0  # how often a subscription asks whether its credential holds
OUTBOX_BATCH = 500  # events replayed from the outbox at a time
SUBSCRIBER_BACKLOG = 10_000  # events waiting for a slow subscriber before its stream ends

R = TypeVar("R")
log = logging.getLogger(__name__)

TransactionStatusEnum = strawberry.enum(TransactionStatus, name="TransactionStatus")
SettlementStatusEnum = strawberry.enum(SettlementStatus, name="SettlementStatus")


def _principal(info: Info) -> Principal:
    if info.context.get("unavailable"):
        raise unavailable_error()
    principal = info.context.get("principal")
    if principal is None:
        raise DomainError(
            "authentication_required", "Send `Authorization: Bearer <access token or API key>`."
        )
    return principal


async def _call(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Resources are synchronous (database calls): run them off the event loop. The database
    or Redis being unreachable becomes `service_unavailable` (HTTP 503, as in REST)."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except unavailable_errors() as error:
        log.warning("dependency unavailable in GraphQL: %s", type(error).__name__)
        raise unavailable_error() from error


def _page(limit: int | None, starting_after: str | None, ending_before: str | None) -> PageRequest:
    return PageRequest(
        limit=DEFAULT_LIMIT if limit is None else limit,
        starting_after=starting_after,
        ending_before=ending_before,
    )


def _list(result: ListOut, item: Any, container: Any) -> Any:  # type: ignore[type-arg]
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
        status: TransactionStatusEnum | None = None,  # type: ignore[valid-type]
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
        status: SettlementStatusEnum | None = None,  # type: ignore[valid-type]
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


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Pay out part of the available balance.")
    async def withdraw(
        self, info: Info, amount: t.BigInt, currency: str, idempotency_key: str | None = None
    ) -> t.Settlement:
        result = await _call(
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
        result = await _call(
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


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The merchant's events as they commit, each once. With `afterId`, the "
        "committed events after that id are replayed first, in id order (to resume after a "
        "reconnect, pass the highest id received). An event whose transaction committed late "
        "can arrive after one with a higher id."
    )
    async def events(
        self, info: Info, after_id: t.BigInt | None = None
    ) -> AsyncGenerator[t.Event, None]:
        principal = _principal(info)
        stream = merchant_events(
            principal.merchant_id, after_id, still_valid=lambda: still_valid(principal)
        )
        try:
            async for message in stream:
                yield t.Event(
                    id=message["id"],
                    type=message["type"],
                    payload=message["payload"],
                    created_at=datetime.fromisoformat(message["created_at"]),
                )
        except DomainError as error:  # errors of a running stream bypass the extensions
            raise GraphQLError(error.message, extensions=error_extensions(error)) from error


async def merchant_events(
    merchant_id: int,
    after_id: int | None,
    *,
    still_valid: Callable[[], bool] | None = None,
    check_seconds: float | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """The merchant's outbox events as they commit, each once: with `after_id`, first those
    after it already committed, in id order; then each new one as the process's outbox relay
    finds it. An event whose transaction committed after one with a higher id comes after it.

    Nothing is taken from a bus message: the bus may lose one, and its channel can carry
    messages this deployment never committed (another deployment or test run on the same
    Redis publishes for its own merchant with the same id). Every `check_seconds`,
    `still_valid` is asked whether the subscriber's credential still holds."""
    check = CREDENTIAL_CHECK_SECONDS if check_seconds is None else check_seconds
    arrived: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
    fell_behind = False

    def deliver(message: dict[str, Any]) -> None:
        nonlocal fell_behind
        try:
            arrived.put_nowait(message)
        except asyncio.QueueFull:
            fell_behind = True

    async with outbox_relay().listen(merchant_id, deliver) as position:
        replayed: set[int] = set()
        if after_id is not None:
            async for message in _committed_between(merchant_id, after_id, position):
                replayed.add(message["id"])
                yield message
        checked = time.monotonic()
        while True:
            if fell_behind:
                raise DomainError(
                    "subscriber_behind",
                    f"More than {SUBSCRIBER_BACKLOG} events waited for this subscriber; "
                    "subscribe again with afterId set to the highest id received.",
                )
            message = None
            with contextlib.suppress(TimeoutError):
                message = await asyncio.wait_for(arrived.get(), timeout=check)
            if still_valid is not None and time.monotonic() - checked >= check:
                checked = time.monotonic()
                if not await run_in_threadpool(still_valid):
                    raise DomainError("invalid_token", "This credential was revoked; reconnect.")
            if message is not None and message["id"] not in replayed:
                yield message


async def _committed_between(
    merchant_id: int, after_id: int, up_to: int
) -> AsyncGenerator[dict[str, Any], None]:
    while after_id < up_to:
        messages = await run_in_threadpool(_outbox_between, merchant_id, after_id, up_to)
        for message in messages:
            yield message
        if len(messages) < OUTBOX_BATCH:
            return
        after_id = messages[-1]["id"]


def _outbox_between(merchant_id: int, after_id: int, up_to: int) -> list[dict[str, Any]]:
    with read_session() as session:
        rows = events_after(
            session=session,
            merchant_id=merchant_id,
            after_id=after_id,
            up_to=up_to,
            limit=OUTBOX_BATCH,
        )
        return [event_message(row) for row in rows]


def error_extensions(error: DomainError) -> dict[str, Any]:
    extensions = {"code": error.code, "param": error.param, "status": status_for(error)}
    wait = retry_after(error)
    if wait is not None:
        extensions["retry_after"] = wait
    return extensions


class DomainErrorCodes(SchemaExtension):
    """Give refused operations their machine-readable code, as REST does."""

    def on_operation(self):  # type: ignore[no-untyped-def]
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            original = error.original_error
            if isinstance(original, DomainError):
                error.extensions = error_extensions(original)


class PlainStringArguments(SchemaExtension):
    """A field argument holding a control character is refused before its resolver runs, as
    REST refuses such a query parameter: filters went to PostgreSQL as they came, and a NUL
    byte came back as a masked internal error."""

    def resolve(self, _next, root, info, *args, **kwargs):  # type: ignore[no-untyped-def]
        for name, value in kwargs.items():
            for text in _strings(value):
                refuse_control_characters(text, param=name)
        return _next(root, info, *args, **kwargs)


def _strings(value: object) -> list[str]:
    """The strings in an argument: itself, a list's items, an input object's fields."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            text for f in dataclasses.fields(value) for text in _strings(getattr(value, f.name))
        ]
    return []


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(
        original, DomainError | GraphQLError | ValueError | TypeError
    )


class PerEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core 3.3 runs each subscription event on a shallow copy of the subscription's
    executor, so every event adds entries to one shared subfield cache (keyed by the identity
    of lists built per event) that lives as long as the subscription: ~1 KiB per event and
    subscriber, the worker growth bench/soak.py measured. Each event gets its own cache."""

    def build_per_event_executor(self, payload: Any) -> PerEventExecutor:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map={t.BigInt: t.BIG_INT_SCALAR}),
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: AddValidationRules([cost_limit_rule(MAX_COST)]),
        PlainStringArguments,
        DomainErrorCodes,
        lambda: MaskErrors(should_mask_error=_should_mask),
    ],
    execution_context_class=PerEventExecutor,
)


async def get_context(connection: HTTPConnection) -> dict[str, Any]:
    """HTTP: a present but bad credential is a 401 like REST; a missing one lets the GraphiQL
    page load and makes each field fail with `authentication_required`. WebSocket: the
    credential comes with the handshake or in `connection_init` (see `on_ws_connect`)."""
    if not connection.headers.get("authorization"):
        return {"principal": None}
    if connection.scope["type"] == "websocket":
        try:
            principal = await run_in_threadpool(
                principal_for_token, bearer_token(connection.headers.get("authorization"))
            )
        except DomainError:
            principal = None
        return {"principal": principal}
    try:
        return {"principal": await require_principal(connection)}
    except unavailable_errors() as error:
        # The credential cannot be checked: every field answers service_unavailable (503).
        log.warning("dependency unavailable in GraphQL: %s", type(error).__name__)
        return {"principal": None, "unavailable": True}


def _error_extensions(response_data: Any) -> list[dict[str, Any]]:
    results = response_data if isinstance(response_data, list) else [response_data]
    return [
        error.get("extensions") or {}
        for result in results
        if isinstance(result, dict)
        for error in result.get("errors") or ()
    ]


class PayBridgeGraphQLRouter(GraphQLRouter):
    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """HTTP 503, as REST answers, when the database or Redis could not be reached for some
        field (the body keeps GraphQL's shape: data and errors), and `Retry-After` whenever an
        error says how long to wait."""
        response = super().create_response(response_data, sub_response)
        extensions = _error_extensions(response_data)
        if any(e.get("code") == "service_unavailable" for e in extensions):
            response.status_code = 503
        waits = [e["retry_after"] for e in extensions if isinstance(e.get("retry_after"), int)]
        if waits:
            response.headers["Retry-After"] = str(max(waits))
        return response

    async def on_ws_connect(self, context: dict[str, Any]) -> Any:
        principal = context.get("principal")
        if principal is None:
            params = context.get("connection_params") or {}
            value = params.get("Authorization") or params.get("authorization")
            try:
                principal = await run_in_threadpool(principal_for_token, bearer_token(value))
                await run_in_threadpool(check_rate_limit, principal.rate_key)
            except DomainError as error:
                raise ConnectionRejectionError({"code": error.code}) from None
            context["principal"] = principal
        return UNSET


def graphql_router() -> GraphQLRouter:
    return PayBridgeGraphQLRouter(schema, path="/graphql", context_getter=get_context)
