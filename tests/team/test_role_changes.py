"""A demoted person's access token acts with the new role from the next request: the API's
credential cache (60 s) is dropped by the role change's revocation notice, in this process at
once and in every other worker and instance through Redis."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from paybridge.api.auth import credentials
from paybridge.engine import get_engine
from paybridge.events import revocations
from paybridge.permissions import Role
from paybridge.settings import get_settings
from tests.api.conftest import error_of
from tests.conftest import MERCHANT_PASSWORD
from tests.ops.topology import Topology, wait_for
from tests.team.conftest import Team, access_token

V1 = "/api/v1"
GRAPHQL = f"{V1}/graphql"


def invite(client: TestClient, headers: dict[str, str], email: str):  # type: ignore[no-untyped-def]
    """A write an admin may do and an analyst may not."""
    return client.post(
        f"{V1}/team/invitations", json={"email": email, "role": "analyst"}, headers=headers
    )


@pytest.fixture(params=["memory", "redis"])
def notices(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Revocation notices within the process, or through Redis as between instances."""
    if request.param == "redis":
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    wait_for(revocations.live, 10, "the revocation watcher never subscribed")
    yield request.param
    get_settings.cache_clear()


def test_a_demoted_admins_token_is_refused_on_the_next_request(
    client: TestClient, team: Team, notices: str
) -> None:
    owner = access_token(client, "owner@example.com")
    admin = access_token(client, "admin@example.com")
    admin_id = team.people[Role.ADMIN].id
    assert invite(client, admin, "first@example.com").status_code == 201
    token = admin["Authorization"].removeprefix("Bearer ")
    cached = credentials.get(token)
    assert cached is not None and cached.role == Role.ADMIN  # would be served for 60 s

    changed = client.patch(f"{V1}/team/members/{admin_id}", json={"role": "analyst"}, headers=owner)
    assert changed.status_code == 200, changed.text

    refused = invite(client, admin, "second@example.com")  # the very next request
    assert refused.status_code == 403, refused.text
    assert error_of(refused)["code"] == "permission_denied"
    mutation = client.post(
        GRAPHQL,
        json={"query": 'mutation { inviteTeamMember(email: "third@example.com", '
              'role: "analyst") { token } }'},
        headers=admin,
    )  # fmt: skip
    assert mutation.json()["errors"][0]["extensions"]["code"] == "permission_denied"
    assert client.get(f"{V1}/team/members", headers=admin).status_code == 200  # still reads

    # Promoted again: the write is allowed as soon as the change is answered.
    changed = client.patch(f"{V1}/team/members/{admin_id}", json={"role": "admin"}, headers=owner)
    assert changed.status_code == 200, changed.text
    assert invite(client, admin, "fourth@example.com").status_code == 201

    with get_engine().connect() as conn:  # both changes are in the audit log, by the owner
        changes = conn.execute(
            sa.text("SELECT actor_email, target, details FROM audit_log"
                    " WHERE action = 'member.role_changed' ORDER BY id")
        ).all()  # fmt: skip
    # a JSON column read by raw SQL: a dict on PostgreSQL, its text on SQLite
    assert [(a, t, d if isinstance(d, dict) else json.loads(d)) for a, t, d in changes] == [
        ("owner@example.com", "admin@example.com", {"from": "admin", "to": "analyst"}),
        ("owner@example.com", "admin@example.com", {"from": "analyst", "to": "admin"}),
    ]


# ----- two instances (two Granian workers each) on PostgreSQL and Redis ---------------------


def _call(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _token(base: str, email: str) -> str:
    request = urllib.request.Request(
        f"{base}{V1}/auth/token",
        data=json.dumps({"email": email, "password": MERCHANT_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access"]


HEARD_WITHIN = 0.25  # seconds for a notice to reach the other instance's workers


def test_a_demotion_through_one_instance_is_enforced_by_every_worker_of_both(
    instances: Topology, team: Team
) -> None:
    """Every worker has the admin's token cached; the owner demotes them through instance one;
    the other workers hear it through Redis, and from then on every write is refused."""
    one, two = instances.instances
    owner, admin = _token(one.url, "owner@example.com"), _token(two.url, "admin@example.com")
    admin_id = team.people[Role.ADMIN].id
    for _ in range(6):  # both workers of both instances have seen (and cached) the token
        for instance in (one, two):
            status, _ = _call("GET", f"{instance.url}{V1}/team/members", admin)
            assert status == 200
    status, _ = _call("POST", f"{two.url}{V1}/team/invitations", admin,
                      {"email": "before@example.com", "role": "analyst"})  # fmt: skip
    assert status == 201

    status, body = _call("PATCH", f"{one.url}{V1}/team/members/{admin_id}", owner,
                         {"role": "analyst"})  # fmt: skip
    assert status == 200, body
    answered = time.monotonic()

    attempts: list[tuple[float, int]] = []

    def refused_on_the_other_instance() -> bool:
        email = f"after{len(attempts)}@example.com"
        status, body = _call("POST", f"{two.url}{V1}/team/invitations", admin,
                             {"email": email, "role": "analyst"})  # fmt: skip
        attempts.append((time.monotonic() - answered, status))
        return status == 403 and body["error"]["code"] == "permission_denied"

    wait_for(refused_on_the_other_instance, 1, f"still allowed: {attempts}")
    # The other instance hears of it through Redis: a write racing the notice (milliseconds
    # on a quiet machine) may still pass, none after the window a loaded one gives it.
    late = [(after, status) for after, status in attempts[:-1] if after > HEARD_WITHIN]
    assert late == [], f"a write got through after the demotion: {attempts}"
    statuses = [
        _call("POST", f"{i.url}{V1}/team/invitations", admin,
              {"email": "later@example.com", "role": "analyst"})[0]
        for i in (one, two) for _ in range(4)
    ]  # fmt: skip
    assert statuses == [403] * 8
    print(f"first write after the demotion, on the other instance: {attempts}")
