"""The GraphQL schema (queries and mutations: resolvers.py; the `events` subscription:
subscriptions.py), its limits and error handling, and the router that serves it with the
caller's credential."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLResolveInfo
from graphql.execution import Executor
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
from strawberry.types.unset import UNSET

from paybridge.api.auth import (
    Principal,
    bearer_token,
    principal_for_token,
    require_principal,
)
from paybridge.api.errors import unavailable_errors
from paybridge.api.graphql import types as t
from paybridge.api.graphql.calls import error_extensions, log
from paybridge.api.graphql.limits import cost_limit_rule
from paybridge.api.graphql.resolvers import Mutation, Query
from paybridge.api.graphql.subscriptions import Subscription
from paybridge.api.ratelimit import check_rate_limit_async
from paybridge.errors import DomainError
from paybridge.validation import refuse_control_characters

MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_TOKENS = 2000
MAX_COST = 2000


class DomainErrorCodes(SchemaExtension):
    """Give refused operations their machine-readable code, as REST does."""

    def on_operation(self) -> Iterator[None]:
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

    def resolve(
        self,
        _next: Callable[..., object],
        root: object,
        info: GraphQLResolveInfo,
        *args: str,
        **kwargs: object,
    ) -> object:
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

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
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


class PayBridgeGraphQLRouter(GraphQLRouter[dict[str, Any], None]):
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
        principal: Principal | None = context.get("principal")
        if principal is None:
            params = context.get("connection_params") or {}
            value = params.get("Authorization") or params.get("authorization")
            try:
                principal = await run_in_threadpool(principal_for_token, bearer_token(value))
                await check_rate_limit_async(principal.rate_key)
            except DomainError as error:
                raise ConnectionRejectionError({"code": error.code}) from None
            context["principal"] = principal
        return UNSET


PATH = "/graphql"  # under the API prefix


def graphql_router() -> PayBridgeGraphQLRouter:
    return PayBridgeGraphQLRouter(schema, path=PATH, context_getter=get_context)
