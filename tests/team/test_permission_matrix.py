"""The role table, tried through REST and GraphQL: every role (and an API key) x every write
and read. Each is allowed or refused exactly as `paybridge.permissions` says; a refusal is 403
`permission_denied` and changes nothing, not even the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response

from paybridge.engine import get_engine
from paybridge.models import Provider
from paybridge.permissions import API_KEY_ACTIONS, Action, Role, allowed
from paybridge.services.api_keys import api_key_create
from paybridge.services.webhooks import webhook_create
from tests.conftest import MERCHANT_PASSWORD, seed_available
from tests.team.conftest import Team, access_token, add_member, pay_out_everything

V1 = "/api/v1"
GRAPHQL = "/api/v1/graphql"


@dataclass
class World:
    """What the operations act on: made fresh for every case."""

    team: Team
    reference: str
    webhook_id: int
    target_id: int  # an analyst that role changes, removals and transfers aim at


@pytest.fixture
def world(team: Team, providers: dict[str, Provider]) -> World:
    account = team.account
    seed_available(account.id, providers["card"], 50_000)
    with get_engine().connect() as conn:
        reference = conn.execute(
            sa.text("SELECT reference FROM transactions WHERE merchant_id = :m"), {"m": account.id}
        ).scalar_one()
    hook, _ = webhook_create(
        merchant_id=account.id, url="https://a.example.com/h", event_types=["*"]
    )
    target = add_member(account, "target@example.com", Role.ANALYST)
    return World(team, reference, hook.id, target.id)


def snapshot() -> dict[str, list]:
    """Every row an operation here could write."""
    queries = {
        "settlements": "SELECT id, amount, status FROM settlements ORDER BY id",
        "refunds": "SELECT id, amount FROM refunds ORDER BY id",
        "transactions": "SELECT id, status, refunded_amount FROM transactions ORDER BY id",
        "webhooks": "SELECT id, url, is_active FROM webhooks ORDER BY id",
        "api_keys": "SELECT id, revoked_at FROM api_keys ORDER BY id",
        "invitations": "SELECT id, email, role, revoked_at FROM invitations ORDER BY id",
        "memberships": "SELECT user_id, account_id, role FROM memberships ORDER BY user_id",
        "users": "SELECT id, email, closed_at FROM users ORDER BY id",
        "audit_log": "SELECT id, action FROM audit_log ORDER BY id",
    }
    with get_engine().connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(sa.text(sql))] for name, sql in queries.items()
        }


Rest = Callable[[TestClient, dict[str, str], World], Any]


@dataclass(frozen=True)
class Operation:
    name: str
    action: Action
    rest: Rest | None
    graphql: tuple[str, Callable[[World], dict]] | None  # query and its variables
    writes: bool = True
    prepare: Callable[[World], None] | None = None  # before the operation, whoever calls it


def gql(query: str, variables: Callable[[World], dict] = lambda w: {}) -> tuple:
    return query, variables


OPERATIONS = [
    Operation(
        "read payments",
        Action.READ,
        lambda c, h, w: c.get(f"{V1}/transactions", headers=h),
        gql("{ transactions(first: 5) { edges { cursor } } }"),
        writes=False,
    ),
    Operation(
        "read members",
        Action.READ,
        lambda c, h, w: c.get(f"{V1}/team/members", headers=h),
        gql("{ teamMembers { id email role } }"),
        writes=False,
    ),
    Operation(
        "read audit log",
        Action.AUDIT_LOG,
        lambda c, h, w: c.get(f"{V1}/audit-log", headers=h),
        gql("{ auditLog { data { id action } hasMore } }"),
        writes=False,
    ),
    Operation(
        "create payment",
        Action.PAYMENT_CREATE,
        lambda c, h, w: c.post(
            f"{V1}/transactions",
            json={
                "amount": 500,
                "currency": "USD",
                "provider": "card",
                "customer_email": "p@example.com",
                "status": "success",
            },
            headers=h,
        ),
        None,
    ),
    Operation(
        "refund",
        Action.REFUND,
        lambda c, h, w: c.post(
            f"{V1}/transactions/{w.reference}/refund", json={"amount": 100}, headers=h
        ),
        gql(
            "mutation($r: String!) { refundTransaction(reference: $r, amount: 100) { status } }",
            lambda w: {"r": w.reference},
        ),
    ),
    Operation(
        "withdraw",
        Action.WITHDRAW,
        lambda c, h, w: c.post(
            f"{V1}/settlements/withdraw", json={"amount": 100, "currency": "USD"}, headers=h
        ),
        gql('mutation { withdraw(amount: 100, currency: "USD") { reference } }'),
    ),
    Operation(
        "create webhook",
        Action.WEBHOOKS,
        lambda c, h, w: c.post(
            f"{V1}/webhooks",
            json={"url": "https://b.example.com/h", "event_types": ["*"]},
            headers=h,
        ),
        gql('mutation { createWebhook(url: "https://b.example.com/h", eventTypes: ["*"]) { id } }'),
    ),
    Operation(
        "disable webhook",
        Action.WEBHOOKS,
        lambda c, h, w: c.patch(
            f"{V1}/webhooks/{w.webhook_id}", json={"is_active": False}, headers=h
        ),
        gql(
            "mutation($id: Int!) { updateWebhook(id: $id, isActive: false) { id } }",
            lambda w: {"id": w.webhook_id},
        ),
    ),
    Operation(
        "delete webhook",
        Action.WEBHOOKS,
        lambda c, h, w: c.delete(f"{V1}/webhooks/{w.webhook_id}", headers=h),
        gql(
            "mutation($id: Int!) { deleteWebhook(id: $id) { id } }",
            lambda w: {"id": w.webhook_id},
        ),
    ),
    Operation(
        "create API key",
        Action.API_KEYS,
        lambda c, h, w: c.post(f"{V1}/api-keys", json={"name": "k"}, headers=h),
        None,
    ),
    Operation(
        "invite",
        Action.TEAM,
        lambda c, h, w: c.post(
            f"{V1}/team/invitations",
            json={"email": "new@example.com", "role": "analyst"},
            headers=h,
        ),
        gql('mutation { inviteTeamMember(email: "new@example.com", role: "analyst") { token } }'),
    ),
    Operation(
        "change a role",
        Action.TEAM,
        lambda c, h, w: c.patch(
            f"{V1}/team/members/{w.target_id}", json={"role": "developer"}, headers=h
        ),
        gql(
            'mutation($id: Int!) { changeTeamMemberRole(id: $id, role: "developer") { role } }',
            lambda w: {"id": w.target_id},
        ),
    ),
    Operation(
        "make an owner",
        Action.TEAM_OWNERS,
        lambda c, h, w: c.patch(
            f"{V1}/team/members/{w.target_id}", json={"role": "owner"}, headers=h
        ),
        gql(
            'mutation($id: Int!) { changeTeamMemberRole(id: $id, role: "owner") { role } }',
            lambda w: {"id": w.target_id},
        ),
    ),
    Operation(
        "remove a member",
        Action.TEAM,
        lambda c, h, w: c.delete(f"{V1}/team/members/{w.target_id}", headers=h),
        gql(
            "mutation($id: Int!) { removeTeamMember(id: $id) { id } }",
            lambda w: {"id": w.target_id},
        ),
    ),
]

OPERATIONS += [
    Operation(
        "transfer the ownership",
        Action.OWNERSHIP_TRANSFER,
        lambda c, h, w: c.post(
            f"{V1}/team/ownership",
            json={"member_id": w.target_id, "password": MERCHANT_PASSWORD},
            headers=h,
        ),
        gql(
            "mutation($id: Int!, $p: String!) { transferOwnership(memberId: $id, password: $p)"
            " { role } }",
            lambda w: {"id": w.target_id, "p": MERCHANT_PASSWORD},
        ),
    ),
    Operation(
        "close the account",
        Action.ACCOUNT_CLOSE,
        lambda c, h, w: c.post(
            f"{V1}/account/close", json={"password": MERCHANT_PASSWORD}, headers=h
        ),
        gql(
            "mutation($p: String!) { closeAccount(password: $p) { closedAt } }",
            lambda w: {"p": MERCHANT_PASSWORD},
        ),
        # Only an account with no money in it can close: pay the world's balance out first.
        prepare=lambda w: pay_out_everything(w.team.account.id, 50_000),
    ),
]

CALLERS = [*Role, "api_key"]


def expected(caller: Role | str, action: Action) -> bool:
    return action in API_KEY_ACTIONS if caller == "api_key" else allowed(caller, action)


def credential(client: TestClient, world: World, caller: Role | str) -> dict[str, str]:
    if caller == "api_key":
        secret = api_key_create(merchant_id=world.team.account.id, name="integration")[1]
        return {"Authorization": f"Bearer {secret}"}
    return access_token(client, world.team.people[Role(caller)].email)


def refusal_codes(caller: Role | str, operation: Operation) -> set[str]:
    # API keys managing API keys have their own older refusal, also a 403.
    if caller == "api_key" and operation.action == Action.API_KEYS:
        return {"forbidden"}
    return {"permission_denied"}


@dataclass(frozen=True)
class Answer:
    """What REST or GraphQL answered, read the same way: whether the operation ran, else the
    refusal's status and code."""

    ran: bool
    status: int
    code: str | None
    text: str  # the whole answer, for a failing assertion


def rest_answer(response: Response) -> Answer:
    ran = response.status_code in (200, 201)
    code = response.json()["error"]["code"] if response.status_code == 403 else None
    return Answer(ran, response.status_code, code, response.text)


def graphql_answer(response: Response) -> Answer:
    """A GraphQL refusal is an HTTP 200 whose only error carries the REST status and code."""
    assert response.status_code == 200, response.text
    errors = response.json().get("errors")
    if not errors:
        return Answer(True, 200, None, response.text)
    (error,) = errors
    return Answer(False, error["extensions"]["status"], error["extensions"]["code"], response.text)


def check(
    client: TestClient,
    world: World,
    caller: Role | str,
    operation: Operation,
    send: Callable[[dict[str, str]], Answer],
) -> None:
    """`send` the operation as `caller`: it runs (and a write changes something) exactly when
    the role table allows it; otherwise it is refused with 403 and changes nothing."""
    headers = credential(client, world, caller)
    if operation.prepare is not None:
        operation.prepare(world)
    before = snapshot()
    answer = send(headers)
    if expected(caller, operation.action):
        assert answer.ran, answer.text
        if operation.writes:
            assert snapshot() != before
    else:
        assert answer.status == 403, answer.text
        assert answer.code in refusal_codes(caller, operation), answer.text
        assert snapshot() == before


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_rest(client: TestClient, world: World, caller: Role | str, operation: Operation) -> None:
    rest = operation.rest
    assert rest is not None
    check(client, world, caller, operation, lambda h: rest_answer(rest(client, h, world)))


@pytest.mark.parametrize("caller", CALLERS, ids=str)
@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.graphql], ids=lambda o: o.name)
def test_graphql(
    client: TestClient, world: World, caller: Role | str, operation: Operation
) -> None:
    assert operation.graphql is not None
    query, variables = operation.graphql

    def send(headers: dict[str, str]) -> Answer:
        body = {"query": query, "variables": variables(world)}
        return graphql_answer(client.post(GRAPHQL, json=body, headers=headers))

    check(client, world, caller, operation, send)


def test_the_table_is_what_the_issue_asks() -> None:
    """The role table itself, spelled out once: a change to it must be deliberate."""
    writes = set(Action) - {Action.READ}
    assert all(allowed(Role.OWNER, a) for a in Action)
    assert {a for a in Action if not allowed(Role.ADMIN, a)} == {
        Action.TEAM_OWNERS, Action.OWNERSHIP_TRANSFER, Action.ACCOUNT_CLOSE,
    }  # fmt: skip
    assert {a for a in writes if allowed(Role.DEVELOPER, a)} == {
        Action.PAYMENT_CREATE, Action.API_KEYS, Action.WEBHOOKS,
    }  # fmt: skip
    assert not any(allowed(Role.DEVELOPER, a) for a in (
        Action.WITHDRAW, Action.REFUND, Action.PAYOUT_SETTINGS, Action.TEAM, Action.AUDIT_LOG,
        Action.OWNERSHIP_TRANSFER, Action.ACCOUNT_CLOSE,
    ))  # fmt: skip
    assert not API_KEY_ACTIONS & {Action.OWNERSHIP_TRANSFER, Action.ACCOUNT_CLOSE}
    assert {a for a in Action if allowed(Role.ANALYST, a)} == {Action.READ}
