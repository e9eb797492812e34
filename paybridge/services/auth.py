"""Logins: credential checks with throttling, server-side sessions, logout and password change.

Tokens are 256-bit random strings; only their SHA-256 hashes are stored. A web login creates a
session holding a one-time ticket (60 s); the backend route `/auth/complete` swaps the ticket for
the session token and sets it as an HttpOnly cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Row
from sqlmodel import Session, select, update

from paybridge.db import read_session, utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.models import AuthSession, SessionKind, User
from paybridge.selectors.users import user_by_email
from paybridge.services import throttle
from paybridge.services.locks import row_lock
from paybridge.services.users import check_password, clean_password, hash_password
from paybridge.validation import clean_email

WEB_SESSION_LIFETIME = timedelta(days=14)
API_SESSION_LIFETIME = timedelta(days=7)
TICKET_LIFETIME = timedelta(seconds=60)
LAST_SEEN_GRANULARITY = timedelta(minutes=1)
# Verifying against a real hash keeps the response time the same whether the email exists.
_DUMMY_HASH = hash_password("not-a-real-password-0000")

INVALID_CREDENTIALS = "Email or password is incorrect."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def throttle_key(kind: str, value: str) -> str:
    """Counters are keyed by a hash: any input (NUL bytes included) makes a safe key, and the
    throttle table holds no email addresses."""
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:40]}"


@dataclass(frozen=True)
class Identity:
    """Who a valid session belongs to."""

    user_id: int
    session_id: int


def authenticate(*, email: object, password: object, client: str) -> User:
    """Check credentials, throttled per email and per client. Failures never say which part was
    wrong or whether the email exists."""
    email_key = throttle_key("email", email.strip().lower() if isinstance(email, str) else "?")
    client_key = throttle_key("client", client)
    throttle.check(email_key, client_key)
    user = None
    if isinstance(email, str) and isinstance(password, str) and len(password) <= 1024:
        try:
            address = clean_email(email)
        except DomainError:
            address = None
        if address is not None:
            with read_session() as session:
                user = user_by_email(session=session, email=address)
        ok = check_password(password, user.password_hash if user else _DUMMY_HASH)
        if user is not None and ok:
            throttle.reset(email_key)
            return user
    throttle.record_failure(email_key, client_key)
    raise DomainError("invalid_credentials", INVALID_CREDENTIALS)


def web_session_start(*, user_id: int, user_agent: str = "", ip_address: str = "") -> str:
    """Open a web session and return its one-time ticket (to be swapped for the cookie)."""
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session() as session:
        session.add(
            AuthSession(
                user_id=user_id,
                kind=SessionKind.WEB.value,
                ticket_hash=hash_token(ticket),
                ticket_expires_at=now + TICKET_LIFETIME,
                user_agent=user_agent[:255],
                ip_address=ip_address[:64],
                expires_at=now + WEB_SESSION_LIFETIME,
            )
        )
        session.commit()
    return ticket


def web_session_redeem(*, ticket: object) -> tuple[str, datetime] | None:
    """Swap a fresh, unused ticket for the session token; None when it is invalid."""
    if not _token_shaped(ticket):
        return None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session() as session:
        auth = session.exec(
            select(AuthSession)
            .where(AuthSession.ticket_hash == hash_token(ticket))
            .with_for_update(key_share=True)
        ).first()
        if auth is None or auth.revoked_at is not None or auth.ticket_expires_at < now:
            return None
        auth.ticket_hash = None
        auth.ticket_expires_at = None
        auth.token_hash = hash_token(token)
        auth.last_seen_at = now
        session.add(auth)
        session.commit()
        return token, auth.expires_at


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
        session.commit()
        return auth.id


def session_identity(*, token: object) -> Identity | None:
    """The user behind a web session token, or None if it is unknown, expired or revoked."""
    if not _token_shaped(token):
        return None
    with read_session() as session:
        auth = session.exec(
            select(AuthSession).where(AuthSession.token_hash == hash_token(token))
        ).first()
    if not _alive(auth):
        return None
    _touch([auth])
    return Identity(user_id=auth.user_id, session_id=auth.id)


def live_session_tokens(*, tokens: Collection[str]) -> set[str]:
    """Which of these web session tokens are still valid, in one query: live pages re-check
    every open tab's session together (paybridge/state/live.py). Counts as activity."""
    hashes = {hash_token(t): t for t in tokens if _token_shaped(t)}
    if not hashes:
        return set()
    now = utcnow()
    with read_session() as session:
        found = session.exec(
            select(AuthSession.id, AuthSession.token_hash, AuthSession.last_seen_at).where(
                AuthSession.token_hash.in_(list(hashes)),
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
            )
        ).all()
    _touch(found)
    return {hashes[row.token_hash] for row in found}


def session_is_active(*, session_id: int) -> bool:
    """For JWTs: is the API session they name still valid?"""
    with read_session() as session:
        return _alive(session.get(AuthSession, session_id))


def session_revoke(*, session_id: int) -> None:
    with write_session() as session:
        session.exec(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
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
        user = session.exec(row_lock(select(User).where(User.id == user_id))).first()
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
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if except_id is not None:
        query = query.where(AuthSession.id != except_id)
    session.exec(query.values(revoked_at=utcnow()))


def _alive(auth: AuthSession | None) -> bool:
    return auth is not None and auth.revoked_at is None and auth.expires_at > utcnow()


def _touch(sessions: Iterable[AuthSession | Row]) -> None:
    """Record activity at most once a minute per session, so page loads and live tabs do not
    each cost a write."""
    now = utcnow()
    stale = [auth.id for auth in sessions if now - auth.last_seen_at >= LAST_SEEN_GRANULARITY]
    if not stale:
        return
    with write_session() as session:
        session.exec(update(AuthSession).where(AuthSession.id.in_(stale)).values(last_seen_at=now))
        session.commit()


def _token_shaped(value: object) -> bool:
    """Tokens and tickets are 43-character strings; anything far off is refused unhashed."""
    return isinstance(value, str) and 20 <= len(value) <= 100
