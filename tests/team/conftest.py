"""Accounts with people in every role, made through the services the dashboard uses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paybridge.api.app import build_api
from paybridge.models import Provider, User
from paybridge.permissions import Actor, Role
from paybridge.services import users as user_service
from paybridge.services.settlements import settlement_update_status, settlement_withdraw
from paybridge.services.team import invitation_accept, invitation_create
from tests.api.conftest import api_settings  # noqa: F401  (rate limits kept per test)
from tests.conftest import MERCHANT_PASSWORD, TestDatabase, create_merchant
from tests.ops.topology import instances  # noqa: F401  (two app instances, for test_role_changes)


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt's minimum cost: these tests make many people, and the cost is not what they test."""
    monkeypatch.setattr(user_service, "BCRYPT_ROUNDS", 4)


@pytest.fixture(scope="session")
def team_app() -> FastAPI:
    return build_api()


@pytest.fixture
def client(db: TestDatabase, team_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(team_app) as test_client:
        yield test_client


def owner_actor(account: User) -> Actor:
    return Actor(merchant_id=account.id, role=Role.OWNER, user_id=account.id)


def add_member(account: User, email: str, role: Role | str) -> User:
    """Invite and accept: a person in `account` with `role`."""
    _, token = invitation_create(actor=owner_actor(account), email=email, role=str(role))
    return invitation_accept(token=token, password=MERCHANT_PASSWORD, full_name=f"{role} person")


@dataclass
class Team:
    account: User  # the merchant, whose person is the owner
    people: dict[Role, User]


@pytest.fixture
def team(providers: dict[str, Provider]) -> Team:
    account = create_merchant("owner@example.com")
    people = {Role.OWNER: account}
    for role in (Role.ADMIN, Role.DEVELOPER, Role.ANALYST):
        people[role] = add_member(account, f"{role}@example.com", role)
    return Team(account, people)


def access_token(client: TestClient, email: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", json={"email": email, "password": MERCHANT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access']}"}


def pay_out_everything(account_id: int, available: int, currency: str = "USD") -> None:
    """Withdraw `available` and let the bank complete it: nothing is left in the account."""
    payout = settlement_withdraw(merchant_id=account_id, amount=available, currency=currency)
    for status in ("processing", "completed"):
        settlement_update_status(merchant_id=account_id, reference=payout.reference, status=status)
