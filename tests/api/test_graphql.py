"""GraphQL: every query and mutation, the limits, and the live `events` subscription."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from paybridge.db import read_session, utcnow
from paybridge.models import Provider, Webhook
from paybridge.services.transactions import transaction_create
from tests.api.conftest import Caller, make_payment
from tests.conftest import seed_available

URL = "/api/v1/graphql"


def gql(
    client: TestClient, caller: Caller | None, query: str, variables: dict | None = None
) -> dict:
    headers = caller.headers if caller else {}
    response = client.post(URL, json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def ok(result: dict) -> dict:
    assert not result.get("errors"), result
    return result["data"]


def test_queries(client: TestClient, alice: Caller, providers: dict[str, Provider]) -> None:
    old = transaction_create(  # beyond GraphQL's 32-bit Int, and past the hold
        merchant_id=alice.user.id,
        amount=5_000_000_000,
        currency="USD",
        provider="card",
        customer_email="big@example.com",
        status="success",
        created_at=utcnow() - timedelta(days=10),
    )
    tx = make_payment(client, alice, amount=4_000_000_000)
    client.post(
        "/api/v1/webhooks",
        json={"url": "https://a.example.com/h", "event_types": ["*"]},
        headers=alice.headers,
    )
    client.post(
        "/api/v1/settlements/withdraw",
        json={"amount": 1000, "currency": "USD"},
        headers=alice.headers,
    )
    data = ok(
        gql(
            client,
            alice,
            """query($ref: String!) {
              me { id email fullName timezone }
              analytics(currency: "USD") { currency current { totalTransactions totalVolume }
                daily { day volume } providers { code successRateBp } }
              balance { available { amount currency } pending { amount currency } }
              transaction(reference: $ref) { reference amount fee netAmount provider status }
              transactions(first: 5, provider: "card", status: SUCCESS) {
                edges { cursor node { reference } }
                pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
              }
              settlements { data { reference amount status } hasMore }
              webhooks { data { id url eventTypes isActive } hasMore }
              apiLogs(limit: 5) { data { id endpoint statusCode } hasMore }
            }""",
            {"ref": tx["reference"]},
        )
    )
    assert data["me"]["email"] == alice.user.email
    assert data["transaction"]["amount"] == 4_000_000_000
    assert data["transaction"]["reference"] == tx["reference"]
    assert data["analytics"]["current"]["totalTransactions"] == 2
    assert data["analytics"]["current"]["totalVolume"] == 9_000_000_000
    assert data["balance"]["available"] == [{"amount": old.net_amount - 1000, "currency": "USD"}]
    edges = data["transactions"]["edges"]
    assert edges[0]["node"]["reference"] == tx["reference"] and len(edges) == 2
    assert data["transactions"]["pageInfo"]["hasNextPage"] is False
    assert data["settlements"]["data"][0]["amount"] == 1000
    assert data["webhooks"]["data"][0]["eventTypes"] == ["*"]


def test_transactions_connection_pages_both_ways(client: TestClient, alice: Caller) -> None:
    refs = [make_payment(client, alice)["reference"] for _ in range(5)][::-1]
    query = """query($first: Int, $after: String, $last: Int, $before: String) {
      transactions(first: $first, after: $after, last: $last, before: $before) {
        edges { cursor } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }"""
    one = ok(gql(client, alice, query, {"first": 2}))["transactions"]
    assert [e["cursor"] for e in one["edges"]] == refs[:2] and one["pageInfo"]["hasNextPage"]
    two = ok(gql(client, alice, query, {"first": 2, "after": one["pageInfo"]["endCursor"]}))
    assert [e["cursor"] for e in two["transactions"]["edges"]] == refs[2:4]
    assert two["transactions"]["pageInfo"]["hasPreviousPage"] is True
    back = ok(gql(client, alice, query, {"last": 2, "before": refs[4]}))["transactions"]
    assert [e["cursor"] for e in back["edges"]] == refs[2:4]
    assert back["pageInfo"]["hasPreviousPage"] is True
    both = gql(client, alice, query, {"first": 1, "last": 1})
    assert both["errors"][0]["extensions"]["code"] == "invalid_request"
    too_big = gql(client, alice, query, {"first": 1000})
    assert too_big["errors"][0]["extensions"]["param"] == "limit"


def test_mutations(client: TestClient, alice: Caller, providers: dict[str, Provider]) -> None:
    seed_available(alice.user.id, providers["card"], 10_000)
    tx = make_payment(client, alice)
    refund = ok(
        gql(
            client,
            alice,
            f'mutation {{ refundTransaction(reference: "{tx["reference"]}") '
            "{ reference status } }",
        )
    )
    assert refund["refundTransaction"]["status"] == "refunded"

    withdraw = 'mutation { withdraw(amount: 4000, currency: "USD", idempotencyKey: "w-1") { reference amount status } }'  # noqa: E501
    first = ok(gql(client, alice, withdraw))["withdraw"]
    again = ok(gql(client, alice, withdraw))["withdraw"]
    assert first == again and first["status"] == "pending"
    too_much = gql(
        client, alice, 'mutation { withdraw(amount: 999999, currency: "USD") { reference } }'
    )
    assert too_much["errors"][0]["extensions"] == {
        "code": "insufficient_funds",
        "param": "amount",
        "status": 422,
    }

    created = ok(
        gql(
            client,
            alice,
            """mutation { createWebhook(url: "https://a.example.com/h",
                 eventTypes: ["transaction.created"]) { id secret eventTypes } }""",
        )
    )["createWebhook"]
    assert created["secret"].startswith("whsec_")
    updated = ok(
        gql(
            client,
            alice,
            f"""mutation {{ updateWebhook(id: {created["id"]}, isActive: false,
                 url: "https://b.example.com/h") {{ id url isActive eventTypes }} }}""",
        )
    )["updateWebhook"]
    assert updated == {
        "id": created["id"],
        "url": "https://b.example.com/h",
        "isActive": False,
        "eventTypes": ["transaction.created"],
    }
    bad = gql(
        client, alice, f'mutation {{ updateWebhook(id: {created["id"]}, url: "nope") {{ id }} }}'
    )
    assert bad["errors"][0]["extensions"]["code"] == "invalid_url"
    deleted = ok(
        gql(client, alice, f"mutation {{ deleteWebhook(id: {created['id']}) {{ id deleted }} }}")
    )
    assert deleted["deleteWebhook"] == {"id": created["id"], "deleted": True}
    assert ok(gql(client, alice, "{ webhooks { data { id } } }"))["webhooks"]["data"] == []


def test_authentication(client: TestClient, alice: Caller) -> None:
    anonymous = gql(client, None, "{ me { email } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "authentication_required"
    bad = client.post(
        URL, json={"query": "{ me { email } }"}, headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"


def test_depth_cost_and_alias_limits(client: TestClient, alice: Caller) -> None:
    deep = (
        "{ __typename "
        + "".join(
            f"a{i}: transactions(first: 1) {{ edges {{ node {{ reference }} }} }} "
            for i in range(20)
        )
        + "}"
    )
    aliases = gql(client, alice, deep)
    assert aliases["data"] is None and "aliases" in aliases["errors"][0]["message"].lower()

    fields = "edges { cursor node { reference amount currency status provider fee netAmount } }"
    costly = (
        "{ " + " ".join(f"t{i}: transactions(first: 100) {{ {fields} }}" for i in range(3)) + " }"
    )
    cost = gql(client, alice, costly)
    assert cost["data"] is None
    assert cost["errors"][0]["extensions"]["code"] == "query_too_complex"
    # One such page is fine.
    assert ok(gql(client, alice, f"{{ transactions(first: 100) {{ {fields} }} }}"))


def test_depth_limit(client: TestClient, alice: Caller) -> None:
    # This schema's deepest real path is 4 levels, below the limit of 8, so the over-deep
    # document names fields that do not exist: every validation error is reported together.
    deep = "{ transactions { edges { node { " + "a { " * 8 + "b" + " }" * 8 + " } } } }"
    result = gql(client, alice, deep)
    assert result["data"] is None
    assert any("exceeds maximum operation depth" in e["message"] for e in result["errors"])
    assert ok(gql(client, alice, "{ transactions { edges { node { reference } } } }"))


def test_introspection_is_not_limited(client: TestClient, alice: Caller) -> None:
    from graphql import get_introspection_query

    result = gql(client, alice, get_introspection_query())
    assert not result.get("errors"), result.get("errors")
    names = {t["name"] for t in result["data"]["__schema"]["types"]}
    assert {"Transaction", "TransactionConnection", "Subscription", "BigInt"} <= names


def _subscribe_and_receive(client: TestClient, caller: Caller, *, auth_in_payload: bool) -> dict:
    last = client.get("/api/v1/events?limit=1", headers=caller.headers).json()["data"]
    after = last[0]["id"] if last else 0
    headers = {} if auth_in_payload else caller.headers
    with client.websocket_connect(
        URL, subprotocols=["graphql-transport-ws"], headers=headers
    ) as ws:
        init = {"type": "connection_init"}
        if auth_in_payload:
            init["payload"] = {"Authorization": f"Bearer {caller.token}"}
        ws.send_json(init)
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($after: BigInt) { events(afterId: $after) "
                    "{ id type payload createdAt } }",
                    "variables": {"after": after},
                },
            }
        )
        tx = make_payment(client, caller, reference=f"live-{auth_in_payload}")
        message = ws.receive_json()
        assert message["type"] == "next", message
        event = message["payload"]["data"]["events"]
        assert event["type"] == "transaction.created"
        assert event["payload"]["reference"] == tx["reference"]
        ws.send_json({"id": "1", "type": "complete"})
        return event


def test_subscription_streams_new_events_memory_bus(client: TestClient, alice: Caller) -> None:
    _subscribe_and_receive(client, alice, auth_in_payload=True)


def test_subscription_streams_new_events_redis_bus(
    client: TestClient, alice: Caller, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paybridge.events.bus import RedisBus, get_bus, reset_bus
    from paybridge.settings import get_settings

    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()
    reset_bus()
    assert isinstance(get_bus(), RedisBus)
    _subscribe_and_receive(client, alice, auth_in_payload=False)


def _noisy_neighbour(merchant_id: int, stop: threading.Event) -> None:
    """Another deployment (or test run) on the same Redis: it publishes events of ITS merchant
    with the same id on the same channel, with ids far above ours. They are not in our outbox."""
    from paybridge.events.bus import get_bus

    bus, n = get_bus(), 0
    while not stop.is_set():
        n += 1
        bus.publish(
            {
                "id": 1_000_000 + n,
                "merchant_id": merchant_id,
                "type": "transaction.created",
                "payload": {"reference": f"someone-elses-{n}"},
                "created_at": utcnow().isoformat(),
            }
        )
        time.sleep(0.02)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bus", ["memory", "redis"])
def test_subscription_ignores_bus_messages_not_in_its_outbox(
    bus: str,
    client: TestClient,
    alice: Caller,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bus only says "something happened"; what a subscriber receives comes from the
    outbox. Foreign messages on the channel neither reach it nor hide its own events (a
    subscriber that moved its cursor to their ids never saw its own payment)."""
    if bus == "redis":
        from paybridge.events.bus import reset_bus
        from paybridge.settings import get_settings

        monkeypatch.setenv("REDIS_URL", redis_url)
        get_settings.cache_clear()
        reset_bus()
    stop = threading.Event()
    neighbour = threading.Thread(target=_noisy_neighbour, args=(alice.user.id, stop))
    with client.websocket_connect(URL, subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {alice.token}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"id": "n", "type": "subscribe",
             "payload": {"query": "subscription { events(afterId: 0) { id payload } }"}}
        )  # fmt: skip
        neighbour.start()
        try:
            time.sleep(0.5)  # the subscriber hears the neighbour for a while first
            tx = make_payment(client, alice, reference="ours")
            message = ws.receive_json()
        finally:
            stop.set()
            neighbour.join(10)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["events"]
        assert event["payload"]["reference"] == tx["reference"], event
        assert event["id"] < 1_000_000


def test_subscription_only_sees_own_events(client: TestClient, alice: Caller, bob: Caller) -> None:
    with client.websocket_connect(URL, subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {bob.token}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"id": "b", "type": "subscribe",
             "payload": {"query": "subscription { events(afterId: 0) { id type payload } }"}}
        )  # fmt: skip
        make_payment(client, alice, reference="alice-secret")
        bob_tx = make_payment(client, bob, reference="bob-own")
        message = ws.receive_json()
        assert message["payload"]["data"]["events"]["payload"]["reference"] == bob_tx["reference"]


def test_subscription_refuses_bad_credentials(client: TestClient, alice: Caller) -> None:
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect(URL, subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4403


def test_subscription_ends_when_the_session_is_logged_out(
    client: TestClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paybridge.api.graphql import subscriptions as gql_subscriptions
    from tests.api.conftest import login

    monkeypatch.setattr(gql_subscriptions, "CREDENTIAL_CHECK_SECONDS", 0.1)
    pair = login(client, alice.user.email)
    with client.websocket_connect(URL, subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {pair['access']}"}}
        )
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json(
            {"id": "s", "type": "subscribe", "payload": {"query": "subscription { events { id } }"}}
        )
        logout = client.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {pair['access']}"}
        )
        assert logout.status_code == 200
        message = ws.receive_json()
        assert message["type"] in ("next", "error"), message
        errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
        assert errors[0]["extensions"]["code"] == "invalid_token"


def test_a_long_subscription_does_not_grow_graphql_memory(
    client: TestClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each event of a subscription used to leave ~1 KiB in graphql-core's subfield cache for as
    long as the subscription lived (workers grew ~5 MiB a minute in bench/soak.py)."""
    import tracemalloc

    from paybridge.api.graphql import subscriptions as gql_subscriptions
    from paybridge.db import write_session
    from paybridge.events.outbox import EventType, record_event

    monkeypatch.setattr(gql_subscriptions, "CREDENTIAL_CHECK_SECONDS", 0.05)
    graphql_only = [tracemalloc.Filter(True, "*/graphql/*")]

    def add_events(first: int, count: int) -> None:
        with write_session() as session:
            for n in range(first, first + count):
                record_event(
                    session,
                    merchant_id=alice.user.id,
                    type=EventType.TRANSACTION_CREATED,
                    payload={"reference": f"long-{n}", "amount": n},
                )
            session.commit()

    def graphql_bytes() -> int:
        snapshot = tracemalloc.take_snapshot().filter_traces(graphql_only)
        return sum(stat.size for stat in snapshot.statistics("filename"))

    def receive(first: int, count: int) -> None:
        for n in range(first, first + count):
            message = ws.receive_json()
            assert message["type"] == "next", message
            assert message["payload"]["data"]["events"]["payload"]["amount"] == n

    tracemalloc.start()
    try:
        with client.websocket_connect(
            URL, subprotocols=["graphql-transport-ws"], headers=alice.headers
        ) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json()["type"] == "connection_ack"
            query = "subscription { events(afterId: 0) { id type payload } }"
            ws.send_json({"id": "s", "type": "subscribe", "payload": {"query": query}})
            add_events(0, 200)
            receive(0, 200)
            settled = graphql_bytes()  # the events below do not exist yet
            add_events(200, 2000)
            receive(200, 2000)
            grown = graphql_bytes() - settled
            ws.send_json({"id": "s", "type": "complete"})
    finally:
        tracemalloc.stop()
    assert grown < 256 * 1024, f"graphql-core kept {grown // 1024} KiB over 2,000 events"


def test_string_arguments_with_control_characters_are_refused(
    client: TestClient, alice: Caller
) -> None:
    """As REST refuses such query parameters: they reached PostgreSQL, which refuses a NUL byte,
    and the error came back masked."""
    listing = "query($p: String) { transactions(provider: $p) { edges { node { reference } } } }"
    webhook = "mutation($t: [String!]!) { createWebhook(url: $u, eventTypes: $t) { secret } }"
    webhook = webhook.replace("mutation(", "mutation($u: String!, ")
    for query, variables, param in (
        (listing, {"p": "card\u0000"}, "provider"),
        (listing, {"p": "card\n"}, "provider"),
        (webhook, {"u": "https://example.com/\u0000", "t": ["*"]}, "url"),
        (webhook, {"u": "https://example.com/hook", "t": ["transaction.created\u0000"]},
         "eventTypes"),
    ):  # fmt: skip
        result = gql(client, alice, query, variables)
        assert result["data"] is None, result
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "invalid_request", error
        assert error["extensions"]["param"] == param
    assert ok(gql(client, alice, listing, {"p": "card"}))["transactions"]["edges"] is not None
    with read_session() as session:
        assert not session.exec(select(Webhook).where(Webhook.merchant_id == alice.user.id)).all()
