"""The owner's own writes: handing the ownership on and closing the account, through the
services, REST and GraphQL; each confirmed with the owner's password, and safe when they race."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from paybridge.engine import get_engine
from paybridge.errors import DomainError
from paybridge.models import Provider
from paybridge.permissions import Actor, Role
from paybridge.services.account import account_close, ownership_transfer
from paybridge.services.api_keys import api_key_create
from paybridge.services.auth import live_session_tokens
from paybridge.services.settlements import settlement_update_status, settlement_withdraw
from tests.api.conftest import error_of
from tests.conftest import MERCHANT_PASSWORD, create_merchant, seed_available, web_session_token
from tests.team.conftest import Team, access_token, owner_actor, pay_out_everything

V1 = "/api/v1"
GRAPHQL = f"{V1}/graphql"


def roles(account_id: int) -> dict[str, str]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
                " WHERE m.account_id = :a"
            ),
            {"a": account_id},
        )
        return {email: role for email, role in rows}


def owners(account_id: int) -> list[str]:
    return sorted(email for email, role in roles(account_id).items() if role == "owner")


def closed_at(account_id: int) -> object:
    with get_engine().connect() as conn:
        return conn.execute(
            sa.text("SELECT closed_at FROM users WHERE id = :a"), {"a": account_id}
        ).scalar_one()


def audit(account_id: int) -> list[tuple[str, str, str]]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT actor_email, action, target FROM audit_log WHERE merchant_id = :a"
                " AND action NOT IN ('signed_in', 'member.invited', 'member.joined') ORDER BY id"
            ),
            {"a": account_id},
        )
        return [tuple(r) for r in rows]


def actor_of(team: Team, role: Role) -> Actor:
    person = team.people[role]
    return Actor(merchant_id=team.account.id, role=role, user_id=person.id, email=person.email)


# --- transfer ------------------------------------------------------------------------------


def test_the_owner_hands_the_ownership_to_an_admin_and_becomes_one(
    client: TestClient, team: Team
) -> None:
    admin = team.people[Role.ADMIN]
    owner = access_token(client, team.account.email)
    as_admin = access_token(client, admin.email)
    # Both tokens are cached with their roles: the transfer's notice must drop them.
    assert client.get(f"{V1}/team/invitations", headers=owner).status_code == 200
    assert client.get(f"{V1}/team/invitations", headers=as_admin).status_code == 200

    response = client.post(
        f"{V1}/team/ownership",
        json={"member_id": admin.id, "password": MERCHANT_PASSWORD},
        headers=owner,
    )

    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["role"]) == (admin.id, "owner")
    assert owners(team.account.id) == ["admin@example.com"]
    assert roles(team.account.id)["owner@example.com"] == "admin"
    assert audit(team.account.id) == [
        ("owner@example.com", "member.ownership_transferred", "admin@example.com")
    ]
    # The old owner's token acts as an admin from the next request, the new owner's as owner.
    again = client.post(
        f"{V1}/team/ownership",
        json={"member_id": team.people[Role.DEVELOPER].id, "password": MERCHANT_PASSWORD},
        headers=owner,
    )
    assert (again.status_code, error_of(again)["code"]) == (403, "permission_denied")
    back = client.post(
        f"{V1}/team/ownership",
        json={"member_id": team.account.id, "password": MERCHANT_PASSWORD},
        headers=as_admin,
    )
    assert back.status_code == 200, back.text
    assert owners(team.account.id) == ["owner@example.com"]
    assert roles(team.account.id)["admin@example.com"] == "admin"


def test_a_transfer_is_refused_without_the_password_or_a_proper_member(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    owner = access_token(client, team.account.email)
    other = create_merchant("other@example.com")
    before = roles(team.account.id)
    cases = [
        (team.people[Role.ADMIN].id, "wrong-password-1", 403, "invalid_password"),
        (team.account.id, MERCHANT_PASSWORD, 422, "cannot_change_yourself"),
        (other.id, MERCHANT_PASSWORD, 404, "not_found"),  # another account's person
        (999_999, MERCHANT_PASSWORD, 404, "not_found"),
    ]
    for member_id, password, status, code in cases:
        response = client.post(
            f"{V1}/team/ownership",
            json={"member_id": member_id, "password": password},
            headers=owner,
        )
        assert (response.status_code, error_of(response)["code"]) == (status, code)
    assert roles(team.account.id) == before
    assert roles(other.id) == {"other@example.com": "owner"}
    assert audit(team.account.id) == []


def test_wrong_passwords_are_throttled(team: Team) -> None:
    """A stolen session cannot guess the password faster than a login could."""
    codes = []
    for _ in range(11):
        try:
            ownership_transfer(
                actor=owner_actor(team.account), user_id=team.people[Role.ADMIN].id, password="x"
            )
        except DomainError as error:
            codes.append(error.code)
    assert codes == ["invalid_password"] * 10 + ["too_many_attempts"]
    assert owners(team.account.id) == ["owner@example.com"]


def test_two_transfers_at_once_leave_exactly_one_owner(team: Team) -> None:
    """The owner's two tabs hand the ownership to two people at the same moment: one wins, the
    other finds its actor an admin already."""
    owner = owner_actor(team.account)
    targets = [team.people[Role.ADMIN].id, team.people[Role.DEVELOPER].id]
    outcomes = race(
        [
            lambda t=target: ownership_transfer(actor=owner, user_id=t, password=MERCHANT_PASSWORD)
            for target in targets
        ]
    )
    assert sorted(outcomes) == ["ok", "permission_denied"]
    now = roles(team.account.id)
    assert len(owners(team.account.id)) == 1
    assert now["owner@example.com"] == "admin"
    new_owner = owners(team.account.id)[0]
    assert new_owner in ("admin@example.com", "developer@example.com")
    loser = "developer@example.com" if new_owner == "admin@example.com" else "admin@example.com"
    assert now[loser] == ("admin" if loser == "admin@example.com" else "developer")
    assert [a for _, a, _ in audit(team.account.id)] == ["member.ownership_transferred"]


def race(calls: list[Callable[[], object]]) -> list[str]:
    """Run `calls` at the same moment in threads; each one's outcome: "ok" or its error code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == len(calls)
    return outcomes


def test_a_transfer_racing_a_close_leaves_a_consistent_account(team: Team) -> None:
    """Whichever wins, the other is refused: a closed account changes hands no more, and an
    owner who just handed the ownership on closes nothing."""
    owner = owner_actor(team.account)
    admin_id = team.people[Role.ADMIN].id
    outcomes = race(
        [
            lambda: ownership_transfer(actor=owner, user_id=admin_id, password=MERCHANT_PASSWORD),
            lambda: account_close(actor=owner, password=MERCHANT_PASSWORD),
        ]
    )
    assert sorted(outcomes) in (["account_closed", "ok"], ["ok", "permission_denied"])
    assert len(owners(team.account.id)) == 1
    transferred = owners(team.account.id) == ["admin@example.com"]
    assert transferred == (closed_at(team.account.id) is None)
    assert len(audit(team.account.id)) == 1


# --- closing -------------------------------------------------------------------------------


def test_closing_is_refused_while_money_is_in_the_account(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    owner = access_token(client, team.account.email)
    seed_available(team.account.id, providers["card"], 50_000)
    close = {"password": MERCHANT_PASSWORD}

    response = client.post(f"{V1}/account/close", json=close, headers=owner)
    assert (response.status_code, error_of(response)["code"]) == (422, "balance_not_zero")
    assert "withdraw it first" in error_of(response)["message"]

    payout = settlement_withdraw(merchant_id=team.account.id, amount=50_000, currency="USD")
    response = client.post(f"{V1}/account/close", json=close, headers=owner)
    assert (response.status_code, error_of(response)["code"]) == (422, "payouts_pending")

    for status in ("processing", "completed"):
        settlement_update_status(
            merchant_id=team.account.id, reference=payout.reference, status=status
        )
    seed_available(team.account.id, providers["card"], 700, days_ago=0)  # still held
    response = client.post(f"{V1}/account/close", json=close, headers=owner)
    assert (response.status_code, error_of(response)["code"]) == (422, "balance_not_zero")
    assert "held" in error_of(response)["message"]
    assert closed_at(team.account.id) is None
    assert "account.closed" not in [action for _, action, _ in audit(team.account.id)]


def test_closing_ends_every_credential_and_refuses_sign_ins(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    account_id = team.account.id
    seed_available(account_id, providers["card"], 50_000)
    pay_out_everything(account_id, 50_000)
    owner = access_token(client, team.account.email)
    as_analyst = access_token(client, team.people[Role.ANALYST].email)
    cookie = web_session_token(team.people[Role.ADMIN].id)
    _, secret = api_key_create(merchant_id=account_id, name="integration")
    key = {"Authorization": f"Bearer {secret}"}
    for headers in (owner, as_analyst, key):  # every credential works, and is cached
        assert client.get(f"{V1}/transactions", headers=headers).status_code == 200

    wrong = client.post(f"{V1}/account/close", json={"password": "not-it-at-all"}, headers=owner)
    assert (wrong.status_code, error_of(wrong)["code"]) == (403, "invalid_password")
    response = client.post(
        f"{V1}/account/close", json={"password": MERCHANT_PASSWORD}, headers=owner
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == account_id and response.json()["closed_at"]
    assert closed_at(account_id) is not None
    for headers in (owner, as_analyst, key):
        assert client.get(f"{V1}/transactions", headers=headers).status_code == 401
    assert live_session_tokens(tokens={cookie}) == set()  # open tabs go to the login page
    for person in team.people.values():
        login = client.post(
            f"{V1}/auth/token", json={"email": person.email, "password": MERCHANT_PASSWORD}
        )
        assert (login.status_code, error_of(login)["code"]) == (403, "account_closed")
    wrong_login = client.post(
        f"{V1}/auth/token", json={"email": team.account.email, "password": "not-it-at-all"}
    )
    assert error_of(wrong_login)["code"] == "invalid_credentials"  # no news without the password
    assert audit(account_id)[-1] == ("owner@example.com", "account.closed", "owner@example.com")
    with get_engine().connect() as conn:  # the records are kept
        kept = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM transactions WHERE merchant_id = :a),"
                " (SELECT count(*) FROM settlements WHERE merchant_id = :a),"
                " (SELECT count(*) FROM memberships WHERE account_id = :a)"
            ),
            {"a": account_id},
        ).one()
    assert tuple(kept) == (1, 1, 4)
    # Closed is closed: the service refuses a second close and a transfer.
    try:
        ownership_transfer(
            actor=owner_actor(team.account),
            user_id=team.people[Role.ADMIN].id,
            password=MERCHANT_PASSWORD,
        )
    except DomainError as error:
        assert error.code == "account_closed"
    else:
        raise AssertionError("a closed account changed hands")


def test_only_the_owner_closes_and_transfers(team: Team) -> None:
    for role in (Role.ADMIN, Role.DEVELOPER, Role.ANALYST):
        for call in (
            lambda a: account_close(actor=a, password=MERCHANT_PASSWORD),
            lambda a: ownership_transfer(
                actor=a, user_id=team.account.id, password=MERCHANT_PASSWORD
            ),
        ):
            try:
                call(actor_of(team, role))
            except DomainError as error:
                assert error.code == "permission_denied"
            else:
                raise AssertionError(f"{role} was allowed")
    # An actor claiming the owner's role is checked against the database under the lock.
    forged = Actor(merchant_id=team.account.id, role=Role.OWNER, user_id=team.people[Role.ADMIN].id)
    try:
        account_close(actor=forged, password=MERCHANT_PASSWORD)
    except DomainError as error:
        assert error.code == "permission_denied"
    else:
        raise AssertionError("a stale owner role closed the account")
    assert closed_at(team.account.id) is None


def test_the_same_through_graphql(client: TestClient, team: Team) -> None:
    owner = access_token(client, team.account.email)

    def gql(query: str, headers: dict[str, str]) -> dict:
        response = client.post(GRAPHQL, json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    admin_id = team.people[Role.ADMIN].id
    made = gql(
        f'mutation {{ transferOwnership(memberId: {admin_id}, password: "{MERCHANT_PASSWORD}")'
        " { id role } }",
        owner,
    )
    assert made["data"]["transferOwnership"] == {"id": admin_id, "role": "owner"}
    as_new_owner = access_token(client, team.people[Role.ADMIN].email)
    refused = gql('mutation { closeAccount(password: "wrong-one") { id } }', as_new_owner)
    assert refused["errors"][0]["extensions"]["code"] == "invalid_password"
    closed = gql(
        f'mutation {{ closeAccount(password: "{MERCHANT_PASSWORD}") {{ id closedAt }} }}',
        as_new_owner,
    )
    assert closed["data"]["closeAccount"]["id"] == team.account.id
    assert closed_at(team.account.id) is not None
