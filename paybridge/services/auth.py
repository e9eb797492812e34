"""Logins: credential checks with throttling, server-side sessions, logout and password change.

Tokens are 256-bit random strings; only their SHA-256 hashes are stored. A web login creates a
session holding a one-time ticket (60 s) bound to the browser that logged in: its hash covers
the browser's login nonce (an HttpOnly cookie set before the login), so the backend route
`/auth/complete` swaps it for the session cookie only in that browser.

Throttling follows OWASP's device cookies: a browser or client that signed in to an account
before holds a signed device token for it, and its attempts count against that token's own
allowance, so the owner still gets in while strangers' guesses have locked the account's
allowance for unknown devices (and their address's).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict, TypeGuard

from sqlmodel import Session, col, select, update

from paybridge.db import read_session, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.models import (
    AuthSession,
    FailedLogin,
    LoginOutcome,
    Membership,
    SessionKind,
    User,
)
from paybridge.models.keys import key
from paybridge.permissions import Actor, Role
from paybridge.selectors.auth_sessions import auth_session_alive, auth_session_get
from paybridge.selectors.users import account_is_closed, user_by_email
from paybridge.services import throttle
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.devices import device_in_cookie
from paybridge.services.locks import row_lock
from paybridge.services.users import (
    BCRYPT_ROUNDS,
    check_password,
    clean_password,
    hash_password,
)
from paybridge.validation import clean_email

WEB_SESSION_LIFETIME = timedelta(days=14)
API_SESSION_LIFETIME = timedelta(days=7)
TICKET_LIFETIME = timedelta(seconds=60)
LAST_SEEN_GRANULARITY = timedelta(minutes=1)
# What a login for an unknown email checks its password against, so that it takes as long as
# one for a known email: a well-formed bcrypt hash of the same cost (checking costs the same
# whatever the salt), written out rather than computed, which cost every process 0.47 s of
# start-up (and every save under `make dev`).
_DUMMY_HASH = f"$2b${BCRYPT_ROUNDS:02d}${'.' * 53}"

INVALID_CREDENTIALS = "Email or password is incorrect."
ACCOUNT_CLOSED = "This account was closed by its owner: nobody can sign in to it any more."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """Who a valid session belongs to: the person, the account (merchant) they act in and
    their role there, read afresh on every check so a changed role applies at once."""

    user_id: int
    merchant_id: int
    role: Role
    session_id: int


class _Seen(TypedDict):
    """Where a sign-in attempt came from, as a failed one is kept."""

    ip_address: str
    user_agent: str
    known_device: bool


def authenticate(
    *,
    email: object,
    password: object,
    client: str,
    user_agent: str = "",
    device_cookie: str | None = None,
) -> User:
    """Check credentials. The attempt is counted before the password is: against the device
    token this browser holds for the account, or else against the account's allowance for
    unknown devices and the client address's. Failures never say which part was wrong or
    whether the email exists; failures on a real account are kept to show its owner."""
    typed = email.strip().lower() if isinstance(email, str) else "?"
    device = device_in_cookie(device_cookie, typed)
    hits: tuple[throttle.Hit, ...] = (
        ((throttle.LOGIN_DEVICE, device),)
        if device
        else ((throttle.LOGIN_ACCOUNT, typed), (throttle.LOGIN_ADDRESS, client))
    )
    seen: _Seen = {
        "ip_address": client,
        "user_agent": user_agent,
        "known_device": device is not None,
    }
    try:
        throttle.attempt(*hits)
    except throttle.TooManyAttempts as refused:
        account_rules = (throttle.LOGIN_ACCOUNT, throttle.LOGIN_DEVICE)
        if refused.first and any(rule in account_rules for rule in refused.refused):
            _note_failed_login(email=typed, outcome=LoginOutcome.LOCKED, **seen)
        raise
    user = None
    if isinstance(email, str) and isinstance(password, str) and len(password) <= 1024:
        try:
            address = clean_email(email)
        except DomainError:
            address = None
        closed = False
        if address is not None:
            with read_session() as session:
                user = user_by_email(session=session, email=address)
                closed = user is not None and account_is_closed(session=session, user_id=key(user))
        ok = check_password(password, user.password_hash if user else _DUMMY_HASH)
        if user is not None and ok:
            throttle.refund(*hits)
            if closed:  # said only to whoever knows the password
                raise DomainError("account_closed", ACCOUNT_CLOSED)
            return user
    if user is not None:
        _note_failed_login(user=user, outcome=LoginOutcome.WRONG_PASSWORD, **seen)
    raise DomainError("invalid_credentials", INVALID_CREDENTIALS)


def _note_failed_login(
    *,
    outcome: LoginOutcome,
    ip_address: str,
    user_agent: str,
    known_device: bool,
    user: User | None = None,
    email: str = "",
) -> None:
    if user is None:
        try:
            address = clean_email(email)
        except DomainError:
            return
        with read_session() as session:
            user = user_by_email(session=session, email=address)
        if user is None:
            return
    with write_session() as session:
        session.add(
            FailedLogin(
                user_id=key(user),
                outcome=outcome.value,
                known_device=known_device,
                ip_address=ip_address[:64],
                user_agent=user_agent[:255],
            )
        )
        session.commit()


def failed_logins_acknowledge(*, user_id: int) -> None:
    """The owner has seen the failed sign-ins shown to them: stop showing the notice."""
    with write_session() as session:
        session.exec(
            update(FailedLogin)
            .where(col(FailedLogin.user_id) == user_id, col(FailedLogin.acknowledged_at).is_(None))
            .values(acknowledged_at=utcnow())
        )
        session.commit()


# --- web sessions -------------------------------------------------------------------------


def web_session_start(
    *, user_id: int, browser_nonce: object, user_agent: str = "", ip_address: str = ""
) -> str:
    """Open a web session and return its one-time ticket, redeemable only together with
    `browser_nonce` (the login nonce cookie of the browser that logged in)."""
    if not _token_shaped(browser_nonce):
        raise DomainError("login_nonce_missing", "Reload the page and log in again.")
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session() as session:
        session.add(
            AuthSession(
                user_id=user_id,
                kind=SessionKind.WEB.value,
                ticket_hash=_ticket_hash(ticket, browser_nonce),
                ticket_expires_at=now + TICKET_LIFETIME,
                user_agent=user_agent[:255],
                ip_address=ip_address[:64],
                expires_at=now + WEB_SESSION_LIFETIME,
            )
        )
        _audit_sign_in(session, user_id, ip_address, kind=SessionKind.WEB)
        session.commit()
    return ticket


@dataclass(frozen=True)
class Redeemed:
    token: str
    expires_at: datetime
    email: str


def web_session_redeem(*, ticket: object, browser_nonce: object) -> Redeemed | None:
    """Swap a fresh, unused ticket for the session token; None when it is invalid or was
    issued to another browser."""
    if not _token_shaped(ticket) or not _token_shaped(browser_nonce):
        return None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session() as session:
        auth = session.exec(
            select(AuthSession)
            .where(col(AuthSession.ticket_hash) == _ticket_hash(ticket, browser_nonce))
            .with_for_update(key_share=True)
        ).first()
        if (
            auth is None
            or auth.revoked_at is not None
            or auth.ticket_expires_at is None  # never: a ticket is stored with its expiry
            or auth.ticket_expires_at < now
        ):
            return None
        auth.ticket_hash = None
        auth.ticket_expires_at = None
        auth.token_hash = hash_token(token)
        auth.last_seen_at = now
        session.add(auth)
        user = session.get(User, auth.user_id)
        session.commit()
        return Redeemed(token=token, expires_at=auth.expires_at, email=user.email if user else "")


def _ticket_hash(ticket: str, browser_nonce: str) -> str:
    return hash_token(f"{ticket}.{browser_nonce}")


def api_session_start(*, user_id: int, user_agent: str = "", ip_address: str = "") -> int:
    """Open an API session (the JWT pair names it) and return its id."""
    with write_session() as session:
        auth = AuthSession(
            user_id=user_id,
            kind=SessionKind.API.value,
            user_agent=user_agent[:255],
            ip_address=ip_address[:64],
            expires_at=utcnow() + API_SESSION_LIFETIME,
        )
        session.add(auth)
        _audit_sign_in(session, user_id, ip_address, kind=SessionKind.API)
        session.commit()
        return key(auth)


def _audit_sign_in(session: Session, user_id: int, ip_address: str, *, kind: SessionKind) -> None:
    membership = session.get(Membership, user_id)
    if membership is None:
        return
    actor = Actor(
        merchant_id=membership.account_id,
        role=Role(membership.role),
        user_id=user_id,
        ip_address=ip_address,
    )
    audit_record(session, actor=actor, action=AuditAction.SIGNED_IN, details={"via": kind.value})


def session_identity(*, token: object) -> Identity | None:
    """The user behind a web session token, or None if it is unknown, expired or revoked."""
    if not _token_shaped(token):
        return None
    with read_session() as session:
        found = session.exec(
            select(AuthSession, Membership)
            .join(Membership, col(Membership.user_id) == col(AuthSession.user_id))
            .where(col(AuthSession.token_hash) == hash_token(token))
        ).first()
    if found is None or not auth_session_alive(found[0]):
        return None
    auth, membership = found
    _touch([(key(auth), auth.last_seen_at)])
    return Identity(
        user_id=auth.user_id,
        merchant_id=membership.account_id,
        role=Role(membership.role),
        session_id=key(auth),
    )


def live_session_tokens(*, tokens: Collection[str]) -> set[str]:
    """Which of these web session tokens are still valid, in one query: live pages re-check
    every open tab's session together (paybridge/state/live.py). Counts as activity."""
    hashes = {hash_token(t): t for t in tokens if _token_shaped(t)}
    if not hashes:
        return set()
    now = utcnow()
    with read_session() as session:
        found = session.exec(
            select(
                col(AuthSession.id), col(AuthSession.token_hash), col(AuthSession.last_seen_at)
            ).where(
                col(AuthSession.token_hash).in_(list(hashes)),
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > now,
            )
        ).all()
    _touch((session_id, last_seen) for session_id, _, last_seen in found)
    return {hashes[token_hash] for _, token_hash, _ in found if token_hash is not None}


def session_is_active(*, session_id: int) -> bool:
    """For JWTs: is the API session they name still valid?"""
    with read_session() as session:
        return auth_session_alive(auth_session_get(session=session, session_id=session_id))


def session_revoke(*, session_id: int) -> None:
    with write_session() as session:
        session.exec(
            update(AuthSession)
            .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        )
        session.commit()
    announce_revocation(Revocation(session_ids=(session_id,)))


def password_change(
    *, user_id: int, current_password: object, new_password: object, keep_session_id: int | None
) -> None:
    """Change the password and revoke every other session (web and API) of the user."""
    new = clean_password(new_password, param="new_password")
    with write_session() as session:
        user = session.exec(row_lock(select(User).where(col(User.id) == user_id))).first()
        if user is None:
            raise DomainError("not_found", "No such merchant.")
        if not isinstance(current_password, str) or not check_password(
            current_password, user.password_hash
        ):
            raise DomainError(
                "invalid_credentials", "Current password is incorrect.", param="current_password"
            )
        user.password_hash = hash_password(new)
        session.add(user)
        _revoke_all(session, user_id, except_id=keep_session_id)
        session.commit()
    announce_revocation(Revocation(user_ids=(user_id,)))


def _revoke_all(session: Session, user_id: int, *, except_id: int | None) -> None:
    query = update(AuthSession).where(
        col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None)
    )
    if except_id is not None:
        query = query.where(col(AuthSession.id) != except_id)
    session.exec(query.values(revoked_at=utcnow()))


def _touch(sessions: Iterable[tuple[int | None, datetime]]) -> None:
    """Record activity at most once a minute per session (id, last seen), so page loads and
    live tabs do not each cost a write."""
    now = utcnow()
    stale = [sid for sid, seen in sessions if now - seen >= LAST_SEEN_GRANULARITY]
    if not stale:
        return
    with write_session() as session:
        session.exec(
            update(AuthSession).where(col(AuthSession.id).in_(stale)).values(last_seen_at=now)
        )
        session.commit()


def _token_shaped(value: object) -> TypeGuard[str]:
    """Tokens and tickets are 43-character strings; anything far off is refused unhashed."""
    return isinstance(value, str) and 20 <= len(value) <= 100
