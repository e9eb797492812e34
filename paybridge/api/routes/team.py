"""Team members, invitations and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from paybridge.api import resources
from paybridge.api.auth import require_principal
from paybridge.api.routes.common import (
    ERRORS,
    WRITE_ERRORS,
    CurrentPrincipal,
    Paging,
    Responses,
    authenticated_router,
)
from paybridge.api.schemas import (
    AccountClose,
    AccountClosed,
    AuditEntryOut,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationOut,
    ListOut,
    MemberOut,
    MemberRemoved,
    MemberUpdate,
    OwnershipTransfer,
)
from paybridge.api.web_auth import client_address

DENIED: Responses = {
    403: {**ERRORS[401], "description": "The role (or an API key) may not do this"}
}

router = authenticated_router("team")
# The invitation's token is in its creation response only: never in the idempotency store; nor
# are the password-confirmed owner's changes ever answered from it.
secret_routes = APIRouter(
    tags=["team"], dependencies=[Depends(require_principal)], responses=ERRORS
)
public = APIRouter(tags=["team"], responses=ERRORS)


@router.get("/team/members", response_model=ListOut[MemberOut], summary="The account's people")
def list_members(principal: CurrentPrincipal) -> ListOut[MemberOut]:
    return resources.members_list(principal)


@router.patch(
    "/team/members/{user_id}",
    response_model=MemberOut,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Change a member's role",
)
def update_member(user_id: int, body: MemberUpdate, principal: CurrentPrincipal) -> MemberOut:
    return resources.member_update(principal, user_id, role=body.role)


@router.delete(
    "/team/members/{user_id}",
    response_model=MemberRemoved,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Remove a member (their sessions and tokens end at once)",
)
def remove_member(user_id: int, principal: CurrentPrincipal) -> MemberRemoved:
    return resources.member_remove(principal, user_id)


@router.get(
    "/team/invitations",
    response_model=ListOut[InvitationOut],
    responses=DENIED,
    summary="Open invitations",
)
def list_invitations(principal: CurrentPrincipal) -> ListOut[InvitationOut]:
    return resources.invitations_list(principal)


@secret_routes.post(
    "/team/invitations",
    response_model=InvitationCreated,
    status_code=201,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Invite someone by email with a role (the token is in this response only)",
    description="The invitation expires in 7 days. An `Idempotency-Key` is not honoured here: "
    "the response carries a credential, which is never stored.",
)
def create_invitation(body: InvitationCreate, principal: CurrentPrincipal) -> InvitationCreated:
    return resources.invitation_create(principal, email=body.email, role=body.role)


@router.delete(
    "/team/invitations/{invitation_id}",
    response_model=InvitationOut,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Revoke an open invitation",
)
def revoke_invitation(invitation_id: int, principal: CurrentPrincipal) -> InvitationOut:
    return resources.invitation_revoke(principal, invitation_id)


@public.post(
    "/team/invitations/accept",
    response_model=MemberOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Accept an invitation: become a member with a name and password (no credential)",
    description="Works once: a used, revoked or expired token is refused with "
    "`invalid_invitation`.",
)
def accept_invitation(body: InvitationAccept, request: Request) -> MemberOut:
    return resources.invitation_accept(
        token=body.token,
        password=body.password,
        full_name=body.full_name,
        ip_address=client_address(request),
    )


@secret_routes.post(
    "/team/ownership",
    response_model=MemberOut,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Make a member the owner; you become an admin (owner only, with your password)",
    description="A wrong password is 403 `invalid_password`. The two people's tokens act with "
    "their new roles from the next request. An `Idempotency-Key` is not honoured here.",
)
def transfer_ownership(body: OwnershipTransfer, principal: CurrentPrincipal) -> MemberOut:
    return resources.ownership_transfer(principal, member_id=body.member_id, password=body.password)


@secret_routes.post(
    "/account/close",
    tags=["account"],
    response_model=AccountClosed,
    responses={**WRITE_ERRORS, **DENIED},
    summary="Close the account (owner only, with your password); its records are kept",
    description="Refused with 422 `balance_not_zero` while money is available or held (withdraw "
    "it first) and `payouts_pending` while a payout is on its way. Every session and API key "
    "of the account ends; signing in is refused with 403 `account_closed` from then on.",
)
def close_account(body: AccountClose, principal: CurrentPrincipal) -> AccountClosed:
    return resources.account_close(principal, password=body.password)


@router.get(
    "/audit-log",
    response_model=ListOut[AuditEntryOut],
    responses=DENIED,
    summary="Who did what, newest first (owners and admins)",
)
def audit_log(principal: CurrentPrincipal, page: Paging) -> ListOut[AuditEntryOut]:
    return resources.audit_log_list(principal, page)
