"""The people of an account: invitations, roles and removal.

Rules beyond the role table: only an owner makes, changes or removes an owner; nobody changes
or removes themselves (an account is never left without the person who could undo it); the
account holder (the person whose row is the account) stays in it, with the role it has: owner
until it hands the ownership on (`services.account.ownership_transfer`). A removed member's row,
sessions and tokens are deleted at once, so open tabs go to the login page and API tokens are
refused. Both a removal and a role change are announced as revocations naming the person, so
cached credentials are dropped and their open tabs, on any worker, read their role again at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from paybridge.db import utcnow, write_session
from paybridge.errors import DomainError
from paybridge.events.revocations import Revocation, announce_revocation
from paybridge.models import AuthSession, FailedLogin, Invitation, Membership, User
from paybridge.models.keys import key
from paybridge.permissions import Action, Actor, Role, authorize
from paybridge.services.audit import AuditAction, audit_record
from paybridge.services.locks import row_lock
from paybridge.services.users import clean_password, hash_password
from paybridge.validation import clean_choice, clean_email, clean_text, is_row_id

INVITATION_LIFETIME = timedelta(days=7)
MAX_OPEN_INVITATIONS = 50


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _may_grant(actor: Actor, role: str) -> None:
    authorize(actor, Action.TEAM, merchant_id=actor.merchant_id)
    if role == Role.OWNER:
        authorize(actor, Action.TEAM_OWNERS, merchant_id=actor.merchant_id)


def invitation_create(*, actor: Actor, email: object, role: object) -> tuple[Invitation, str]:
    """Invite someone by email with a role; return the invitation and its token, which is
    never available again (the link a real deployment would mail)."""
    authorize(actor, Action.TEAM, merchant_id=actor.merchant_id)
    address = clean_email(email)
    chosen = clean_choice(role, Role, param="role")
    _may_grant(actor, chosen)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_session() as session:
        taken = session.exec(select(col(User.id)).where(col(User.email) == address)).first()
        if taken is not None:
            raise DomainError(
                "email_taken", "Someone with this email already has an account.", param="email"
            )
        open_count = len(
            session.exec(
                select(col(Invitation.id)).where(
                    col(Invitation.account_id) == actor.merchant_id,
                    col(Invitation.accepted_at).is_(None),
                    col(Invitation.revoked_at).is_(None),
                    col(Invitation.expires_at) > now,
                )
            ).all()
        )
        if open_count >= MAX_OPEN_INVITATIONS:
            raise DomainError(
                "too_many_invitations",
                f"At most {MAX_OPEN_INVITATIONS} invitations can be open; revoke some first.",
            )
        invitation = Invitation(
            account_id=actor.merchant_id,
            email=address,
            role=chosen,
            token_hash=_token_hash(token),
            invited_by=actor.user_id,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )
        session.add(invitation)
        audit_record(
            session,
            actor=actor,
            action=AuditAction.MEMBER_INVITED,
            target=address,
            details={"role": chosen},
        )
        session.commit()
        return invitation, token


def invitation_revoke(*, actor: Actor, invitation_id: object) -> Invitation:
    """Withdraw an open invitation; its link stops working at once. Idempotent."""
    authorize(actor, Action.TEAM, merchant_id=actor.merchant_id)
    if not is_row_id(invitation_id):
        raise DomainError("not_found", "No such invitation.", param="id")
    with write_session() as session:
        invitation = session.exec(
            row_lock(
                select(Invitation).where(
                    col(Invitation.id) == invitation_id,
                    col(Invitation.account_id) == actor.merchant_id,
                )
            )
        ).first()
        if invitation is None:
            raise DomainError("not_found", "No such invitation.", param="id")
        if invitation.role == Role.OWNER:
            authorize(actor, Action.TEAM_OWNERS, merchant_id=actor.merchant_id)
        if invitation.accepted_at is not None:
            raise DomainError(
                "invitation_accepted", "This invitation was accepted already.", param="id"
            )
        if invitation.revoked_at is None:
            invitation.revoked_at = utcnow()
            session.add(invitation)
            audit_record(
                session,
                actor=actor,
                action=AuditAction.INVITATION_REVOKED,
                target=invitation.email,
                details={"role": invitation.role},
            )
            session.commit()
        return invitation


def invitation_accept(
    *, token: object, password: object, full_name: object, ip_address: str = ""
) -> User:
    """Join the account the invitation is for, as a new person with its email and role. The
    invitation is claimed by one conditional UPDATE before anything else is written: of many
    accepting at once, one wins and the others find it used."""
    name = clean_text(full_name, param="full_name", max_length=120)
    secret = clean_password(password)
    invalid = DomainError(
        "invalid_invitation", "This invitation link is invalid, used, revoked or expired.",
        param="token",
    )  # fmt: skip
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise invalid
    password_hash = hash_password(secret)
    now = utcnow()
    with write_session() as session:
        claimed = session.exec(
            update(Invitation)
            .where(
                col(Invitation.token_hash) == _token_hash(token),
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                col(Invitation.expires_at) > now,
            )
            .values(accepted_at=now)
        )
        if claimed.rowcount != 1:
            session.rollback()
            raise invalid
        invitation = session.exec(
            select(Invitation).where(col(Invitation.token_hash) == _token_hash(token))
        ).one()
        person = User(email=invitation.email, password_hash=password_hash, full_name=name)
        session.add(person)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise DomainError(
                "email_taken", "Someone with this email already has an account.", param="email"
            ) from None
        session.add(
            Membership(user_id=key(person), account_id=invitation.account_id, role=invitation.role)
        )
        invitation.accepted_user_id = person.id
        session.add(invitation)
        audit_record(
            session,
            actor=Actor(
                merchant_id=invitation.account_id,
                role=Role(invitation.role),
                user_id=person.id,
                email=person.email,
                ip_address=ip_address,
            ),
            action=AuditAction.MEMBER_JOINED,
            target=person.email,
            details={"role": invitation.role, "invited_by": invitation.invited_by},
        )
        session.commit()
        return person


def _member(session: Session, actor: Actor, user_id: object) -> tuple[Membership, User]:
    if not is_row_id(user_id):
        raise DomainError("not_found", "No such member.", param="id")
    membership = session.exec(
        row_lock(
            select(Membership).where(
                col(Membership.user_id) == user_id, col(Membership.account_id) == actor.merchant_id
            )
        )
    ).first()
    if membership is None:
        raise DomainError("not_found", "No such member.", param="id")
    if user_id == actor.user_id:
        raise DomainError(
            "cannot_change_yourself", "Ask another owner or admin to do this.", param="id"
        )
    if membership.role == Role.OWNER:
        authorize(actor, Action.TEAM_OWNERS, merchant_id=actor.merchant_id)
    if user_id == actor.merchant_id:
        raise DomainError(
            "account_holder",
            "The account holder stays in the account; only a transfer of the ownership changes "
            "its role.",
            param="id",
        )
    return membership, session.get_one(User, user_id)  # the membership's person


def member_change_role(*, actor: Actor, user_id: object, role: object) -> Membership:
    """Give a member another role. Their API tokens act with it from the next request (cached
    credentials are dropped) and their open tabs show its controls at once."""
    authorize(actor, Action.TEAM, merchant_id=actor.merchant_id)
    chosen = clean_choice(role, Role, param="role")
    _may_grant(actor, chosen)
    with write_session() as session:
        membership, person = _member(session, actor, user_id)
        before = membership.role
        if before != chosen:
            membership.role = chosen
            session.add(membership)
            audit_record(
                session,
                actor=actor,
                action=AuditAction.MEMBER_ROLE_CHANGED,
                target=person.email,
                details={"from": before, "to": chosen},
            )
            session.commit()
            announce_revocation(Revocation(user_ids=(membership.user_id,)))
        return membership


def member_remove(*, actor: Actor, user_id: object) -> None:
    """Remove a member: their person, sessions and failed sign-ins are deleted, so every open
    tab goes to the login page and every token is refused at once."""
    authorize(actor, Action.TEAM, merchant_id=actor.merchant_id)
    with write_session() as session:
        membership, person = _member(session, actor, user_id)
        uid = membership.user_id
        session.exec(delete(AuthSession).where(col(AuthSession.user_id) == uid))
        session.exec(delete(FailedLogin).where(col(FailedLogin.user_id) == uid))
        session.delete(membership)
        session.flush()
        audit_record(
            session,
            actor=actor,
            action=AuditAction.MEMBER_REMOVED,
            target=person.email,
            details={"role": membership.role},
        )
        session.delete(person)
        session.commit()
    announce_revocation(Revocation(user_ids=(uid,)))
