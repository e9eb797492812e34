"""Who in a team may do what: the one table that the dashboard, REST and GraphQL all read.

The services enforce it (`authorize`), so a hidden button, a forged Reflex event, a REST call
and a GraphQL mutation are refused alike with `permission_denied` (HTTP 403); pages only read
it to hide the controls a role cannot use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from paybridge.errors import DomainError


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    ANALYST = "analyst"


class Action(StrEnum):
    READ = "read"  # every page and list, and exports
    PAYMENT_CREATE = "payment.create"
    REFUND = "refund"
    WITHDRAW = "withdraw"
    PAYOUT_SETTINGS = "payout_settings"  # schedule and bank account
    ACCOUNT_PROFILE = "account.profile"  # company name and timezone
    API_KEYS = "api_keys"  # create and revoke
    WEBHOOKS = "webhooks"  # endpoints, their secrets, test sends and resends
    TEAM = "team"  # invite, revoke invitations, change roles, remove members
    TEAM_OWNERS = "team.owners"  # make, change or remove an owner
    OWNERSHIP_TRANSFER = "ownership.transfer"  # hand your ownership to a member, become admin
    ACCOUNT_CLOSE = "account.close"  # close the account (its records are kept)
    AUDIT_LOG = "audit_log"  # read who did what


_EVERYTHING = frozenset(Action)
# What makes the owner the owner: an admin does everything else.
_OWNER_ONLY = frozenset({Action.TEAM_OWNERS, Action.OWNERSHIP_TRANSFER, Action.ACCOUNT_CLOSE})

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: _EVERYTHING,
    Role.ADMIN: _EVERYTHING - _OWNER_ONLY,
    Role.DEVELOPER: frozenset(
        {Action.READ, Action.PAYMENT_CREATE, Action.API_KEYS, Action.WEBHOOKS}
    ),
    Role.ANALYST: frozenset({Action.READ}),
}

# A secret API key acts for the account, not for a person: it integrates payments, refunds and
# webhooks, and withdraws, but it cannot manage keys, the team or read the audit log (a leaked
# key must not be able to make itself a person or hide its tracks).
API_KEY_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.READ,
        Action.PAYMENT_CREATE,
        Action.REFUND,
        Action.WITHDRAW,
        Action.WEBHOOKS,
    }
)

ROLE_LABELS: dict[Role, str] = {
    Role.OWNER: "Owner",
    Role.ADMIN: "Admin",
    Role.DEVELOPER: "Developer",
    Role.ANALYST: "Analyst",
}


@dataclass(frozen=True)
class Actor:
    """Who is asking a service to act: a person with a role in the account, or an API key of
    the account (`role` None). `ip_address` is where from, for the audit log."""

    merchant_id: int
    role: Role | None
    user_id: int | None = None
    api_key_id: int | None = None
    email: str = ""
    ip_address: str = ""

    def can(self, action: Action) -> bool:
        return allowed(self.role, action, api_key=self.role is None)


def allowed(role: Role | str | None, action: Action, *, api_key: bool = False) -> bool:
    if api_key:
        return action in API_KEY_ACTIONS
    if role is None:
        return False
    try:
        return action in ROLE_ACTIONS[Role(role)]
    except ValueError:
        return False


def authorize(actor: Actor | None, action: Action, *, merchant_id: int) -> None:
    """Refuse unless `actor` may do `action` to this merchant's account. None is a trusted
    internal caller (the command line, the worker, the demo seed), which has no person to check;
    every interface a person or key can reach passes its actor."""
    if actor is None:
        return
    if actor.merchant_id != merchant_id or not actor.can(action):
        raise DomainError(
            "permission_denied",
            "Your role does not allow this."
            if actor.role is not None
            else "API keys cannot do this; sign in as a team member.",
        )
