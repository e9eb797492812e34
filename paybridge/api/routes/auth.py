"""JWT login, refresh and logout, and API key management."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from paybridge.api import resources
from paybridge.api.auth import decode_token, issue_tokens, require_principal
from paybridge.api.errors import ApiError
from paybridge.api.routes.common import (
    ERRORS,
    WRITE_ERRORS,
    CurrentPrincipal,
    Paging,
    Responses,
    authenticated_router,
)
from paybridge.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ListOut,
    LoggedOut,
    RefreshRequest,
    TokenPairOut,
    TokenRequest,
)
from paybridge.api.web_auth import DEVICE_COOKIE, client_address, set_device_cookie
from paybridge.models.keys import key
from paybridge.services.auth import api_session_start, authenticate, session_revoke

NOT_STORED = (
    "An `Idempotency-Key` is not honoured here: the response is a credential, and credentials "
    "are never stored. Retrying is harmless (it makes another one)."
)
FORBIDDEN: Responses = {403: ERRORS[401] | {"description": "Not allowed with an API key"}}

router = APIRouter(tags=["auth"], responses=ERRORS)
# Creating a key returns its secret, which must not sit in the idempotency store either.
secret_routes = APIRouter(
    tags=["api keys"], dependencies=[Depends(require_principal)], responses=ERRORS
)
keys = authenticated_router("api keys")


def _pair(user_id: int, session_id: int) -> TokenPairOut:
    tokens = issue_tokens(user_id=user_id, session_id=session_id)
    return TokenPairOut(
        access=tokens.access,
        refresh=tokens.refresh,
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )


@router.post(
    "/auth/token",
    response_model=TokenPairOut,
    summary="Log in with email and password",
    description="Opens an API session. The access token lives 15 minutes, the refresh token "
    "until the session ends (7 days). Attempts are counted before the password is checked: at "
    "most 10 failures per account in 15 minutes from clients that have not logged in to it "
    "before, and 50 per client address; then 429 `too_many_attempts`, with `Retry-After` (the "
    "seconds until the window ends). A successful login also answers a `pb_device` cookie: a "
    "client that sends it back has an allowance of its own for that account, so it still gets "
    "in while others' guesses have used up the account's. " + NOT_STORED,
)
def create_token(body: TokenRequest, request: Request, response: Response) -> TokenPairOut:
    client = client_address(request)
    user_agent = request.headers.get("user-agent", "")
    user = authenticate(
        email=body.email,
        password=body.password,
        client=client,
        user_agent=user_agent,
        device_cookie=request.cookies.get(DEVICE_COOKIE),
    )
    session_id = api_session_start(user_id=key(user), user_agent=user_agent, ip_address=client)
    set_device_cookie(response, request, user.email)
    return _pair(key(user), session_id)


@router.post(
    "/auth/refresh",
    response_model=TokenPairOut,
    summary="Exchange a refresh token for a new pair",
    description="The session stays the same, so logout still ends every token of it. " + NOT_STORED,
)
def refresh_token(body: RefreshRequest) -> TokenPairOut:
    user_id, session_id = decode_token(body.refresh, typ="refresh")
    return _pair(user_id, session_id)


@router.post(
    "/auth/logout",
    response_model=LoggedOut,
    summary="End the session of this access token",
    description="Revokes the API session: its access and refresh tokens stop working at once.",
)
def log_out(principal: CurrentPrincipal) -> LoggedOut:
    if principal.session_id is None:
        raise ApiError(
            "invalid_request", "API keys do not log out; revoke the key with DELETE /api-keys/{id}."
        )
    session_revoke(session_id=principal.session_id)
    return LoggedOut()


@keys.get("/api-keys", response_model=ListOut[ApiKeyOut], summary="List API keys")
def list_api_keys(
    principal: CurrentPrincipal, page: Paging, include_revoked: bool = False
) -> ListOut[ApiKeyOut]:
    return resources.api_keys_list(principal, page, include_revoked=include_revoked)


@secret_routes.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    responses={**WRITE_ERRORS, **FORBIDDEN},
    summary="Create an API key (its secret is in this response only)",
    description="Needs an access token: an API key cannot make more keys. " + NOT_STORED,
)
def create_api_key(body: ApiKeyCreate, principal: CurrentPrincipal) -> ApiKeyCreated:
    return resources.api_key_create(principal, name=body.name)


@keys.delete(
    "/api-keys/{key_id}", response_model=ApiKeyOut, responses=FORBIDDEN, summary="Revoke an API key"
)
def revoke_api_key(key_id: int, principal: CurrentPrincipal) -> ApiKeyOut:
    return resources.api_key_revoke(principal, key_id)
