"""Invitations: shown once, accepted once (also when many accept at the same instant),
expiring after 7 days, revocable; and members removed or demoted lose access at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paybridge.db import utcnow
from paybridge.engine import get_engine
from paybridge.errors import DomainError
from paybridge.models import Invitation, Membership, User
from paybridge.permissions import Role
from paybridge.services.auth import live_session_tokens, session_identity
from paybridge.services.team import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_change_role,
    member_remove,
)
from paybridge.services.users import check_password
from tests.conftest import MERCHANT_PASSWORD, TestDatabase, web_session_token
from tests.team.conftest import Team, access_token, owner_actor

V1 = "/api/v1"


def test_invite_and_accept_through_the_api(client: TestClient, team: Team, db: TestDatabase):
    owner = access_token(client, team.account.email)
    made = client.post(
        f"{V1}/team/invitations", json={"email": "New@Example.com", "role": "developer"},
        headers=owner,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["object"] == "team_invitation" and body["email"] == "new@example.com"
    token = body["token"]
    # The token is stored only as a hash and never listed again.
    with db.session() as session:
        stored = session.get(Invitation, body["id"])
        assert stored is not None and token not in stored.token_hash
    listed = client.get(f"{V1}/team/invitations", headers=owner).json()
    assert [i["id"] for i in listed["data"]] == [body["id"]] and "token" not in listed["data"][0]

    accepted = client.post(
        f"{V1}/team/invitations/accept",
        json={"token": token, "password": "a-long-new-password", "full_name": "Nia New"},
    )
    assert accepted.status_code == 201, accepted.text
    member = accepted.json()
    assert (member["email"], member["role"], member["full_name"]) == (
        "new@example.com", "developer", "Nia New",
    )  # fmt: skip
    with db.session() as session:
        person = session.get(User, member["id"])
        assert person is not None and check_password("a-long-new-password", person.password_hash)
        assert session.get(Membership, member["id"]).account_id == team.account.id
    # The new member signs in and sees the account's team, not an account of their own.
    response = client.post(
        f"{V1}/auth/token", json={"email": "new@example.com", "password": "a-long-new-password"}
    )
    headers = {"Authorization": f"Bearer {response.json()['access']}"}
    emails = {m["email"] for m in client.get(f"{V1}/team/members", headers=headers).json()["data"]}
    assert "owner@example.com" in emails and "new@example.com" in emails
    # Used: a second accept is refused and makes nobody.
    again = client.post(
        f"{V1}/team/invitations/accept",
        json={"token": token, "password": "another-long-password", "full_name": "Eve"},
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_invitation"
    assert db.count(User) == 5


def _team_counts(db: TestDatabase) -> tuple[int, int, int]:
    return db.count(User), db.count(Membership), db.count(Invitation)


def test_bad_input_is_refused_and_changes_nothing(client: TestClient, team: Team, db):
    owner = access_token(client, team.account.email)
    before = _team_counts(db)
    for payload, code in [
        ({"email": "not-an-email", "role": "analyst"}, "invalid_email"),
        ({"email": "x@example.com", "role": "superuser"}, "invalid_request"),
        ({"email": "admin@example.com", "role": "analyst"}, "email_taken"),
        ({"email": "x@example.com", "role": "analyst", "extra": 1}, None),
    ]:
        response = client.post(f"{V1}/team/invitations", json=payload, headers=owner)
        assert 400 <= response.status_code < 500, response.text
        if code:
            assert response.json()["error"]["code"] == code
    _, token = invitation_create(actor=owner_actor(team.account), email="y@example.com",
                                 role="analyst")  # fmt: skip
    middle = _team_counts(db)
    for payload in [
        {"token": token, "password": "short", "full_name": "Y"},
        {"token": token, "password": "a-long-new-password", "full_name": ""},
        {"token": "x" * 43, "password": "a-long-new-password", "full_name": "Y"},
    ]:
        response = client.post(f"{V1}/team/invitations/accept", json=payload)
        assert response.status_code == 400, response.text
    assert _team_counts(db) == middle
    assert middle == (before[0], before[1], before[2] + 1)


def test_expired_and_revoked_invitations_cannot_be_accepted(team: Team, db: TestDatabase):
    actor = owner_actor(team.account)
    expired, old_token = invitation_create(actor=actor, email="old@example.com", role="analyst")
    with get_engine().begin() as conn:
        conn.execute(
            sa.update(Invitation.__table__)
            .where(Invitation.__table__.c.id == expired.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    revoked, revoked_token = invitation_create(actor=actor, email="rev@example.com", role="admin")
    invitation_revoke(actor=actor, invitation_id=revoked.id)
    for token in (old_token, revoked_token):
        with pytest.raises(DomainError) as refused:
            invitation_accept(token=token, password=MERCHANT_PASSWORD, full_name="Late")
        assert refused.value.code == "invalid_invitation"
    assert db.count(User) == 4
    fresh, _ = invitation_create(actor=actor, email="ok@example.com", role="analyst")
    assert fresh.expires_at - fresh.created_at == timedelta(days=7)


def test_concurrent_accepts_make_one_member(team: Team, db: TestDatabase):
    """Twelve clients accept the same link at the same instant: one member, the rest refused."""
    _, token = invitation_create(
        actor=owner_actor(team.account), email="race@example.com", role="developer"
    )
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def accept(n: int) -> None:
        barrier.wait()
        try:
            invitation_accept(token=token, password=MERCHANT_PASSWORD, full_name=f"Racer {n}")
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["invalid_invitation"] * 11 + ["ok"]
    with db.session() as session:
        people = session.exec(sa.select(User).where(User.email == "race@example.com")).all()
        assert len(people) == 1
    assert db.count(Membership) == 5


def test_removed_member_loses_sessions_and_tokens_at_once(client: TestClient, team: Team, db):
    developer = team.people[Role.DEVELOPER]
    headers = access_token(client, developer.email)
    cookie = web_session_token(developer.id)
    assert live_session_tokens(tokens={cookie}) == {cookie}
    assert client.get(f"{V1}/transactions", headers=headers).status_code == 200  # cached now
    member_remove(actor=owner_actor(team.account), user_id=developer.id)
    refused = client.get(f"{V1}/transactions", headers=headers)
    assert refused.status_code == 401
    assert session_identity(token=cookie) is None
    # What open dashboards re-check every 2 s (state/live.py): the tab stops updating.
    assert live_session_tokens(tokens={cookie}) == set()
    relogin = client.post(
        f"{V1}/auth/token", json={"email": developer.email, "password": MERCHANT_PASSWORD}
    )
    assert relogin.status_code == 401
    entries = client.get(f"{V1}/audit-log", headers=access_token(client, team.account.email))
    actions = [e["action"] for e in entries.json()["data"]]
    assert "member.removed" in actions


def test_demoted_member_acts_with_the_new_role_at_once(client: TestClient, team: Team):
    admin = team.people[Role.ADMIN]
    headers = access_token(client, admin.email)
    invite = {"email": "one@example.com", "role": "analyst"}
    assert client.post(f"{V1}/team/invitations", json=invite, headers=headers).status_code == 201
    member_change_role(actor=owner_actor(team.account), user_id=admin.id, role="analyst")
    invite = {"email": "two@example.com", "role": "analyst"}
    refused = client.post(f"{V1}/team/invitations", json=invite, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"


def test_team_rules_beyond_the_table(client: TestClient, team: Team):
    """Nobody changes or removes themselves; admins cannot touch owners; the account holder
    stays."""
    admin = team.people[Role.ADMIN]
    owner = access_token(client, team.account.email)
    as_admin = access_token(client, admin.email)
    cases = [
        (as_admin, "patch", admin.id, {"role": "analyst"}, 422, "cannot_change_yourself"),
        (as_admin, "delete", team.account.id, None, 403, "permission_denied"),
        (as_admin, "patch", team.account.id, {"role": "analyst"}, 403, "permission_denied"),
        (owner, "delete", team.account.id, None, 422, "cannot_change_yourself"),
        (owner, "patch", 999_999, {"role": "analyst"}, 404, "not_found"),
    ]
    for headers, method, user_id, body, status, code in cases:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(
            f"{V1}/team/members/{user_id}", headers=headers, **kwargs
        )
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    # A second owner still cannot remove the account holder.
    member_change_role(actor=owner_actor(team.account), user_id=admin.id, role="owner")
    response = client.delete(f"{V1}/team/members/{team.account.id}", headers=as_admin)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "account_holder")


def test_another_accounts_members_are_not_found(client: TestClient, team: Team, providers):
    from tests.conftest import create_merchant

    other = create_merchant("other@example.com")
    headers = access_token(client, other.email)
    for method, kwargs in (("patch", {"json": {"role": "analyst"}}), ("delete", {})):
        response = getattr(client, method)(
            f"{V1}/team/members/{team.people[Role.ANALYST].id}", headers=headers, **kwargs
        )
        assert response.status_code == 404
    listed = client.get(f"{V1}/team/members", headers=headers).json()["data"]
    assert [m["email"] for m in listed] == ["other@example.com"]


def test_the_same_through_graphql(client: TestClient, team: Team, db: TestDatabase):
    owner = access_token(client, team.account.email)

    def gql(query: str, headers: dict | None = None) -> dict:
        response = client.post(f"{V1}/graphql", json={"query": query}, headers=headers or {})
        assert response.status_code == 200, response.text
        return response.json()

    made = gql(
        'mutation { inviteTeamMember(email: "g@example.com", role: "developer")'
        " { id email role token expiresAt } }",
        owner,
    )["data"]["inviteTeamMember"]
    assert made["role"] == "developer" and len(made["token"]) >= 40
    listed = gql("{ teamInvitations { id email } }", owner)["data"]["teamInvitations"]
    assert listed == [{"id": made["id"], "email": "g@example.com"}]
    token = made["token"]
    accept = (
        f'mutation {{ acceptTeamInvitation(token: "{token}", password: "a-long-new-password",'
        ' fullName: "Gus") { id email role } }'
    )
    joined = gql(accept)["data"]["acceptTeamInvitation"]  # no credential needed
    assert (joined["email"], joined["role"]) == ("g@example.com", "developer")
    again = gql(accept)
    assert again["errors"][0]["extensions"]["code"] == "invalid_invitation"
    removed = gql(f"mutation {{ removeTeamMember(id: {joined['id']}) {{ id }} }}", owner)
    assert removed["data"]["removeTeamMember"]["id"] == joined["id"]
    assert db.count(User) == 4
