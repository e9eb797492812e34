"""The audit log: who did what, when and from where, readable by owners and admins only, in
cursor pages, and never anything of another account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from paybridge.models import Provider
from paybridge.permissions import Role
from tests.conftest import create_merchant, seed_available
from tests.team.conftest import Team, access_token

V1 = "/api/v1"


def test_every_audited_action_is_recorded_with_who_and_where(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    account = team.account
    seed_available(account.id, providers["card"], 50_000)
    owner = access_token(client, account.email)
    admin = access_token(client, team.people[Role.ADMIN].email)
    developer = access_token(client, team.people[Role.DEVELOPER].email)
    reference = client.get(f"{V1}/transactions", headers=owner).json()["data"][0]["reference"]

    assert client.post(f"{V1}/transactions/{reference}/refund", json={"amount": 10},
                       headers=admin).status_code == 200  # fmt: skip
    assert client.post(f"{V1}/settlements/withdraw", json={"amount": 100, "currency": "USD"},
                       headers=admin).status_code == 201  # fmt: skip
    key = client.post(f"{V1}/api-keys", json={"name": "ci"}, headers=developer).json()
    assert client.delete(f"{V1}/api-keys/{key['id']}", headers=developer).status_code == 200
    hook = client.post(f"{V1}/webhooks", json={"url": "https://a.example.com/h",
                       "event_types": ["*"]}, headers=developer).json()  # fmt: skip
    assert client.patch(f"{V1}/webhooks/{hook['id']}", json={"is_active": False},
                        headers=developer).status_code == 200  # fmt: skip
    assert client.delete(f"{V1}/webhooks/{hook['id']}", headers=developer).status_code == 200
    invited = client.post(f"{V1}/team/invitations", json={"email": "n@example.com",
                          "role": "analyst"}, headers=owner).json()  # fmt: skip
    joined = client.post(f"{V1}/team/invitations/accept", json={"token": invited["token"],
                         "password": "a-long-new-password", "full_name": "N"}).json()  # fmt: skip
    assert client.patch(f"{V1}/team/members/{joined['id']}", json={"role": "developer"},
                        headers=admin).status_code == 200  # fmt: skip
    assert client.delete(f"{V1}/team/members/{joined['id']}", headers=admin).status_code == 200

    entries: list[dict] = []
    cursor = None
    while True:  # newest first, two at a time: the cursor pages like every other list
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = client.get(f"{V1}/audit-log", params=params, headers=owner).json()
        entries += page["data"]
        if not page["has_more"]:
            break
        cursor = str(page["data"][-1]["id"])
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    by_action = {e["action"]: e for e in reversed(entries)}
    assert set(by_action) >= {
        "signed_in", "refund", "withdrawal", "api_key.created", "api_key.revoked",
        "webhook.created", "webhook.updated", "webhook.deleted", "member.invited",
        "member.joined", "member.role_changed", "member.removed",
    }  # fmt: skip
    assert by_action["refund"]["actor_email"] == "admin@example.com"
    assert by_action["refund"]["target"] == reference
    assert by_action["refund"]["details"] == {"amount": 10, "currency": "USD"}
    assert by_action["withdrawal"]["details"] == {"amount": 100, "currency": "USD"}
    assert by_action["api_key.created"]["actor_email"] == "developer@example.com"
    assert by_action["member.role_changed"]["details"] == {"from": "analyst", "to": "developer"}
    assert by_action["member.removed"]["target"] == "n@example.com"
    for action in ("refund", "withdrawal", "api_key.created", "member.joined", "member.removed"):
        assert by_action[action]["ip_address"] == "testclient"  # from where: the caller's address
    assert "token" not in str(by_action["member.invited"])  # the secret is never recorded


def test_only_owners_and_admins_read_it_and_only_their_own(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    other = create_merchant("other@example.com")
    theirs = access_token(client, other.email)
    ours = access_token(client, team.account.email)
    mine = client.get(f"{V1}/audit-log", headers=ours).json()["data"]
    assert mine and all(e["actor_email"] != "other@example.com" for e in mine)
    seen = client.get(f"{V1}/audit-log", headers=theirs).json()["data"]
    assert {e["actor_email"] for e in seen} == {"other@example.com"}
    # Another account's cursor is refused, not followed.
    refused = client.get(f"{V1}/audit-log", params={"starting_after": mine[0]["id"]},
                         headers=theirs)  # fmt: skip
    assert refused.status_code == 400
    for role in (Role.DEVELOPER, Role.ANALYST):
        headers = access_token(client, team.people[role].email)
        response = client.get(f"{V1}/audit-log", headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    # There is no way to change it: no write method exists on the collection or an entry.
    for method in ("post", "patch", "put", "delete"):
        for path in (f"{V1}/audit-log", f"{V1}/audit-log/{mine[0]['id']}"):
            assert getattr(client, method)(path, headers=ours).status_code in (404, 405)


def test_members_of_one_account_never_reach_another(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    """Tenant isolation with several people per account: every role of account A gets
    not_found for account B's payment and webhook."""
    other = create_merchant("other@example.com")
    seed_available(other.id, providers["card"], 1_000)
    theirs = access_token(client, other.email)
    reference = client.get(f"{V1}/transactions", headers=theirs).json()["data"][0]["reference"]
    hook = client.post(f"{V1}/webhooks", json={"url": "https://a.example.com/h",
                       "event_types": ["*"]}, headers=theirs).json()  # fmt: skip
    for role, person in team.people.items():
        headers = access_token(client, person.email)
        assert client.get(f"{V1}/transactions/{reference}", headers=headers).status_code == 404
        assert client.get(f"{V1}/webhooks/{hook['id']}", headers=headers).status_code == 404
        assert client.get(f"{V1}/transactions", headers=headers).json()["data"] == [], role
        refund = client.post(f"{V1}/transactions/{reference}/refund", json={}, headers=headers)
        assert refund.status_code in (403, 404), (role, refund.text)


def test_an_analyst_exports_the_accounts_payments(
    client: TestClient, team: Team, providers: dict[str, Provider]
) -> None:
    """Read everything and export: the CSV of an analyst is the account's, not their own."""
    from tests.api.test_exports import URL, log_in, rows_of, seed

    made = seed(team.account)
    seed(create_merchant("other@example.com"))
    response = log_in(client, team.people[Role.ANALYST]).get(URL)
    assert response.status_code == 200, response.text
    assert {r["reference"] for r in rows_of(response.text)} == {t.reference for t in made}
