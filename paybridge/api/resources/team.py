"""The team: members, invitations and the audit log. The services check the role; reads of
invitations and the audit log are checked here against the same table."""

from __future__ import annotations

from paybridge.api.auth import Principal
from paybridge.api.resources.common import list_out
from paybridge.api.schemas import (
    AccountClosed,
    AuditEntryOut,
    InvitationCreated,
    InvitationOut,
    ListOut,
    MemberOut,
    MemberRemoved,
)
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import AuditEntry, Invitation
from paybridge.models.keys import key
from paybridge.permissions import Action, authorize
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.team import (
    Member,
    audit_page,
    members,
    membership_of,
    open_invitations,
)
from paybridge.services import account as account_service
from paybridge.services import team as team_service


def member_out(row: Member) -> MemberOut:
    return MemberOut(
        id=row.id, email=row.email, full_name=row.full_name, role=row.role, joined_at=row.joined_at
    )


def invitation_out(row: Invitation) -> InvitationOut:
    return InvitationOut(
        id=row.id,
        email=row.email,
        role=row.role,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def audit_entry_out(row: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.id,
        action=row.action,
        actor_user_id=row.actor_user_id,
        actor_api_key_id=row.actor_api_key_id,
        actor_email=row.actor_email,
        target=row.target,
        details=row.details,
        ip_address=row.ip_address,
        created_at=row.created_at,
    )


def members_list(principal: Principal) -> ListOut[MemberOut]:
    with read_session() as session:
        rows = members(session=session, merchant_id=principal.merchant_id)
    return ListOut(data=[member_out(m) for m in rows], has_more=False)


def invitations_list(principal: Principal) -> ListOut[InvitationOut]:
    authorize(principal.actor, Action.TEAM, merchant_id=principal.merchant_id)
    with read_session() as session:
        rows = open_invitations(session=session, merchant_id=principal.merchant_id)
    return ListOut(data=[invitation_out(i) for i in rows], has_more=False)


def invitation_create(principal: Principal, *, email: str, role: str) -> InvitationCreated:
    row, token = team_service.invitation_create(actor=principal.actor, email=email, role=role)
    return InvitationCreated(**invitation_out(row).model_dump(), token=token)


def invitation_revoke(principal: Principal, invitation_id: int) -> InvitationOut:
    return invitation_out(
        team_service.invitation_revoke(actor=principal.actor, invitation_id=invitation_id)
    )


def invitation_accept(
    *, token: str, password: str, full_name: str, ip_address: str = ""
) -> MemberOut:
    person = team_service.invitation_accept(
        token=token, password=password, full_name=full_name, ip_address=ip_address
    )
    with read_session() as session:
        membership = membership_of(session=session, user_id=key(person))
    return MemberOut(
        id=person.id,
        email=person.email,
        full_name=person.full_name,
        role=membership.role if membership else "",
        joined_at=membership.created_at if membership else person.created_at,
    )


def _member(principal: Principal, user_id: int) -> MemberOut:
    with read_session() as session:
        rows = members(session=session, merchant_id=principal.merchant_id)
    for row in rows:
        if row.id == user_id:
            return member_out(row)
    raise DomainError("not_found", "No such member.", param="id")


def member_update(principal: Principal, user_id: int, *, role: str) -> MemberOut:
    team_service.member_change_role(actor=principal.actor, user_id=user_id, role=role)
    return _member(principal, user_id)


def member_remove(principal: Principal, user_id: int) -> MemberRemoved:
    team_service.member_remove(actor=principal.actor, user_id=user_id)
    return MemberRemoved(id=user_id)


def ownership_transfer(principal: Principal, *, member_id: int, password: str) -> MemberOut:
    """The member who is the owner now (the caller is an admin)."""
    account_service.ownership_transfer(actor=principal.actor, user_id=member_id, password=password)
    return _member(principal, member_id)


def account_close(principal: Principal, *, password: str) -> AccountClosed:
    account = account_service.account_close(actor=principal.actor, password=password)
    assert account.closed_at is not None  # what closing sets
    return AccountClosed(id=key(account), closed_at=account.closed_at)


def audit_log_list(principal: Principal, page: PageRequest) -> ListOut[AuditEntryOut]:
    """Who did what: owners and admins only."""
    authorize(principal.actor, Action.AUDIT_LOG, merchant_id=principal.merchant_id)
    with read_session() as session:
        result = audit_page(session=session, merchant_id=principal.merchant_id, page=page)
    return list_out(result, audit_entry_out)
