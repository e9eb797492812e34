"""Who is calling: `Authorization: Bearer <token>` with either a JWT access token (naming an
API session, so logout and password changes kill it) or a secret API key (`sk_live_...`).

Access tokens live 15 minutes; refresh tokens live as long as their session (7 days from the
login). Both are HS256 JWTs signed with `settings.secret_key`, carrying `sub` (the merchant),
`sid` (the AuthSession id) and `typ` ("access" or "refresh").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from paybridge.api.errors import ApiError
from paybridge.api.ratelimit import check_rate_limit_async
from paybridge.api.web_auth import client_address
from paybridge.db import read_session, utcnow
from paybridge.events import revocations
from paybridge.models import SessionKind
from paybridge.permissions import Actor, Role
from paybridge.selectors.api_keys import api_key_get
from paybridge.selectors.auth_sessions import auth_session_alive, auth_session_get
from paybridge.selectors.team import membership_of
from paybridge.services.api_keys import api_key_authenticate, looks_like_api_key
from paybridge.services.auth import session_is_active
from paybridge.settings import get_settings

ACCESS_LIFETIME = timedelta(minutes=15)
ALGORITHM = "HS256"
ISSUER = "paybridge"
AUDIENCE = "paybridge-api"
SCOPE_KEY = "paybridge.principal"  # where the resolved principal is kept in the ASGI scope


@dataclass(frozen=True)
class Principal:
    """The authenticated merchant (the account), the credential used and, for an access
    token, the person and their role. `ip_address` is the caller's, set per request."""

    merchant_id: int
    kind: Literal["jwt", "api_key"]
    session_id: int | None = None
    api_key_id: int | None = None
    user_id: int | None = None
    role: Role | None = None
    ip_address: str = ""

    @property
    def rate_key(self) -> str:
        return f"key:{self.api_key_id}" if self.kind == "api_key" else f"user:{self.user_id}"

    @property
    def actor(self) -> Actor:
        """Who the services check and record: the person with their role, or the API key."""
        return Actor(
            merchant_id=self.merchant_id,
            role=self.role if self.kind == "jwt" else None,
            user_id=self.user_id,
            api_key_id=self.api_key_id,
            ip_address=self.ip_address,
        )


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_at: datetime
    refresh_expires_at: datetime


def signing_key() -> bytes:
    """A key for JWTs only, derived from `settings.secret_key` (32 bytes whatever its length,
    and different from what other uses of the secret derive)."""
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, b"paybridge-api-jwt-v1", hashlib.sha256).digest()


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, signing_key(), algorithm=ALGORITHM)


def issue_tokens(*, user_id: int, session_id: int) -> TokenPair:
    """A fresh access/refresh pair for an API session (refresh ends with the session)."""
    now = utcnow()
    with read_session() as session:
        auth = auth_session_get(session=session, session_id=session_id)
    if auth is None:
        raise ApiError("invalid_token", "This session no longer exists.")
    access_exp = min(now + ACCESS_LIFETIME, auth.expires_at)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "sid": session_id, "iat": now}
    access = _encode({**base, "typ": "access", "exp": access_exp, "jti": secrets.token_hex(8)})
    refresh = _encode(
        {**base, "typ": "refresh", "exp": auth.expires_at, "jti": secrets.token_hex(8)}
    )
    return TokenPair(access, refresh, access_exp, auth.expires_at)


def decode_token(token: str, *, typ: Literal["access", "refresh"]) -> tuple[int, int]:
    """Verify a JWT of type `typ`; return (user_id, session_id) of a still-active session."""
    user_id, session_id, _ = _verify(token, typ=typ)
    return user_id, session_id


def _verify(token: str, *, typ: Literal["access", "refresh"]) -> tuple[int, int, float]:
    """(user_id, session_id, expiry as a Unix time) of a valid token of a live session."""
    try:
        claims = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise ApiError("token_expired", f"This {typ} token has expired.") from None
    except jwt.PyJWTError:
        raise ApiError("invalid_token", f"This is not a valid {typ} token.") from None
    sid, sub = claims.get("sid"), claims.get("sub")
    if (
        claims.get("typ") != typ
        or not isinstance(sid, int)
        or isinstance(sid, bool)
        or not 0 < sid < 2**31
        or not isinstance(sub, str)
        or not sub.isdigit()
    ):
        raise ApiError("invalid_token", f"This is not a valid {typ} token.")
    with read_session() as session:  # one read answers both: alive, and this merchant's
        auth = auth_session_get(session=session, session_id=sid)
    if not auth_session_alive(auth):
        raise ApiError("invalid_token", "This session has ended; log in again.")
    if auth.user_id != int(sub) or auth.kind != SessionKind.API.value:
        raise ApiError("invalid_token", f"This is not a valid {typ} token.")
    return int(sub), sid, float(claims["exp"])


def principal_for_token(token: str) -> Principal:
    """Resolve a bearer token (JWT access token or API key) to a principal, or raise 401.
    A credential seen in the last minute is answered from memory (`credentials`)."""
    known = credentials.get(token)
    if known is not None:
        return known
    heard = revocations.epoch()
    if looks_like_api_key(token):
        key = api_key_authenticate(secret=token)
        if key is None:
            raise ApiError("invalid_token", "This API key is unknown or revoked.")
        principal = Principal(merchant_id=key.merchant_id, kind="api_key", api_key_id=key.id)
        expires = None
    else:
        user_id, session_id, expires = _verify(token, typ="access")
        with read_session() as session:
            membership = membership_of(session=session, user_id=user_id)
        if membership is None:
            raise ApiError("invalid_token", "This session has ended; log in again.")
        principal = Principal(
            merchant_id=membership.account_id,
            kind="jwt",
            session_id=session_id,
            user_id=user_id,
            role=Role(membership.role),
        )
    credentials.put(token, principal, expires=expires, heard=heard)
    return principal


class CredentialCache:
    """Who a bearer token belongs to, remembered for `TTL` seconds so that an API request costs
    no database query for its credential. Revoking a key, logging out or changing the password
    is announced to every process (`paybridge.events.revocations`) and drops the entry at once;
    nothing is served from here while those announcements might be missed (the watcher is not
    live), and nothing read before an announcement arrived is kept. Keys are SHA-256 of the
    token, so the cache holds no secret."""

    TTL = 60.0
    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._watching = False

    def get(self, token: str) -> Principal | None:
        self._watch()
        if not revocations.live():
            return None
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, token: str, principal: Principal, *, expires: float | None, heard: int) -> None:
        """Remember `principal` until `expires` (a Unix time) or TTL from now, unless a
        revocation was heard since `heard` (the epoch before the database was read)."""
        until = min(time.time() + self.TTL, expires or float("inf"))
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if revocations.epoch() != heard or not revocations.live():
                return
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (principal, until)

    def forget(self, revocation: revocations.Revocation | None) -> None:
        with self._lock:
            if revocation is None:
                self._entries.clear()
                return
            keys, sessions = set(revocation.api_key_ids), set(revocation.session_ids)
            users = set(revocation.user_ids)
            for digest, (p, _) in list(self._entries.items()):
                if (
                    p.api_key_id in keys
                    or p.session_id in sessions
                    or (p.kind == "jwt" and p.user_id in users)
                ):
                    del self._entries[digest]

    def _watch(self) -> None:
        if not self._watching:
            revocations.watch_revocations(self.forget)
            self._watching = True


credentials = CredentialCache()


def still_valid(principal: Principal) -> bool:
    """Is the credential behind a long-lived connection (a subscription) still good? Logout,
    a password change or revoking the key ends it."""
    if principal.kind == "jwt":
        return principal.session_id is not None and session_is_active(
            session_id=principal.session_id
        )
    with read_session() as session:
        key = api_key_get(session=session, key_id=principal.api_key_id)
    return key is not None and key.revoked_at is None


def bearer_token(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(
            "authentication_required",
            "Send `Authorization: Bearer <access token or API key>`.",
        )
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 4096:
        raise ApiError("invalid_token", "Use the Bearer scheme: `Authorization: Bearer <token>`.")
    return token.strip()


async def require_principal(connection: HTTPConnection) -> Principal:
    """FastAPI dependency: the caller of this request, resolved once per request, then rate
    limited. Only a credential that the database must answer goes to a thread; one known to
    `credentials` and the rate limit (Redis through an asyncio client) stay on the loop."""
    cached = connection.scope.get(SCOPE_KEY)
    if cached is not None:
        return cached
    token = bearer_token(connection.headers.get("authorization"))
    known = credentials.get(token)
    if known is None:
        known = await run_in_threadpool(principal_for_token, token)
    principal = _as_caller(connection, known)
    await check_rate_limit_async(principal.rate_key)
    return principal


def _as_caller(connection: HTTPConnection, principal: Principal) -> Principal:
    """`principal` with this request's address, kept in the scope (before it is counted)."""
    principal = replace(principal, ip_address=client_address(connection))
    connection.scope[SCOPE_KEY] = principal
    return principal
