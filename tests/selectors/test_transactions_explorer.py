"""selectors.transactions for the transactions page and its export: search, amount and time
filters, keyset pages per sort key (forwards and back, ties included), snapshots that keep a
listing still while payments arrive, counts and the batched read; and the URL query parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import User
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.transactions import (
    SORTS,
    TransactionFilters,
    latest_transaction_id,
    transaction_batches,
    transactions_count,
    transactions_page,
)
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import transaction_create
from paybridge.transaction_query import (
    TransactionQuery,
    parse_query,
    parse_query_string,
    with_changes,
)
from tests.conftest import TestDatabase, create_merchant

BASE = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def pay(merchant: User, n: int, **overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "merchant_id": merchant.id,
        "amount": 1_000 + (n % 7) * 100,  # repeated amounts: ties broken by id
        "currency": "USD",
        "provider": "card",
        "customer_email": f"buyer{n}@example.com",
        "status": "success",
        "created_at": BASE + timedelta(minutes=n // 2),  # repeated times too
    }
    values.update(overrides)
    return transaction_create(**values)  # type: ignore[arg-type]


def refs(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.reference for r in page.data]


def walk(merchant: User, sort: str, filters=None, limit: int = 4) -> list[str]:  # type: ignore[no-untyped-def]
    """All pages forwards, then all pages backwards from the end; both must agree."""
    forward: list[str] = []
    request = PageRequest(limit=limit)
    with read_session() as session:
        while True:
            page = transactions_page(
                session=session, merchant_id=merchant.id, page=request, filters=filters, sort=sort
            )
            forward += refs(page)
            if not page.has_more:
                break
            request = PageRequest(limit=limit, starting_after=forward[-1])
        backward: list[str] = []
        request = PageRequest(limit=limit, ending_before=forward[-1]) if forward else None
        while request is not None:
            page = transactions_page(
                session=session, merchant_id=merchant.id, page=request, filters=filters, sort=sort
            )
            backward = refs(page) + backward
            request = PageRequest(limit=limit, ending_before=backward[0]) if page.has_more else None
    assert backward == forward[:-1]
    return forward


@pytest.mark.parametrize("sort", list(SORTS))
def test_pages_follow_each_sort_key_with_ties(db: TestDatabase, merchant: User, sort: str) -> None:
    made = [pay(merchant, n) for n in range(23)]
    key, descending = SORTS[sort]
    expected = sorted(
        made,
        key=lambda t: (t.created_at if key == "created" else t.amount, t.id),
        reverse=descending,
    )
    assert walk(merchant, sort) == [t.reference for t in expected]


def test_search_is_a_case_insensitive_prefix_of_reference_or_email(
    db: TestDatabase, merchant: User
) -> None:
    a = pay(merchant, 1, reference="Order_100", customer_email="Ada.Lovelace@Example.com")
    b = pay(merchant, 2, reference="order-1001")
    c = pay(merchant, 3, reference="ORDERX100", customer_email="ops%team@example.com")
    pay(merchant, 4, reference="x-order_100")  # contains, but does not start with, the term

    def search(term: str) -> set[str]:
        with read_session() as session:
            page = transactions_page(
                session=session,
                merchant_id=merchant.id,
                page=PageRequest(limit=100),
                filters=TransactionFilters(search=term),
            )
        return set(refs(page))

    assert search("order") == {a.reference, b.reference, c.reference}
    assert search("ORDER_") == {a.reference}  # "_" is a character, not a wildcard
    assert search("ada.LOVE") == {a.reference}
    assert search("ops%") == {c.reference}  # "%" too
    assert search("%") == set()
    assert search("buyer2@") == {b.reference}


def test_filters_combine(db: TestDatabase, merchant: User) -> None:
    other = create_merchant("other@example.com")
    keep = pay(merchant, 1, amount=5_000, provider="mobile_money", currency="EUR")
    pay(merchant, 2, amount=5_000, provider="card", currency="EUR")  # provider differs
    pay(merchant, 3, amount=4_999, provider="mobile_money", currency="EUR")  # below the range
    pay(merchant, 4, amount=5_000, provider="mobile_money", currency="USD")  # currency
    pay(merchant, 5, amount=5_000, provider="mobile_money", currency="EUR", status="failed")
    late = pay(merchant, 60, amount=6_000, provider="mobile_money", currency="EUR")
    pay(other, 1, amount=5_000, provider="mobile_money", currency="EUR")  # someone else's
    filters = TransactionFilters(
        status="success",
        provider="mobile_money",
        currency="eur",
        amount_gte=5_000,
        amount_lte=6_000,
        created_gte=BASE,
        created_lt=BASE + timedelta(minutes=30),
    )
    assert walk(merchant, "created_desc", filters) == [keep.reference]
    wider = TransactionFilters(provider="mobile_money", currency="EUR", amount_gte=5_000)
    with read_session() as session:
        assert transactions_count(session=session, merchant_id=merchant.id, filters=wider) == 3
    assert late.reference in walk(merchant, "amount_asc", wider)


def test_a_snapshot_keeps_pages_still_and_counts_what_arrived(
    db: TestDatabase, merchant: User
) -> None:
    for n in range(6):
        pay(merchant, n)
    with read_session() as session:
        snapshot = latest_transaction_id(session=session)
    frozen = TransactionFilters(snapshot_id=snapshot)
    before = walk(merchant, "created_desc", frozen, limit=2)
    newer = [pay(merchant, 100 + n, created_at=BASE + timedelta(days=1)) for n in range(3)]
    failed = pay(merchant, 200, status="failed", created_at=BASE + timedelta(days=1))
    assert walk(merchant, "created_desc", frozen, limit=2) == before
    with read_session() as session:
        assert transactions_count(session=session, merchant_id=merchant.id, after_id=snapshot) == 4
        assert (
            transactions_count(
                session=session,
                merchant_id=merchant.id,
                filters=TransactionFilters(status="success"),
                after_id=snapshot,
            )
            == 3
        )
        assert (
            transactions_count(session=session, merchant_id=merchant.id, after_id=snapshot, limit=2)
            == 2
        )
    assert walk(merchant, "created_desc")[:4] == [t.reference for t in [failed, *newer[::-1]]]


def test_a_cursor_from_another_merchant_is_refused(db: TestDatabase, merchant: User) -> None:
    other = create_merchant("other@example.com")
    theirs = pay(other, 1)
    with read_session() as session, pytest.raises(DomainError) as info:
        transactions_page(
            session=session,
            merchant_id=merchant.id,
            page=PageRequest(starting_after=theirs.reference),
            sort="amount_asc",
        )
    assert info.value.code == "invalid_cursor"
    with read_session() as session, pytest.raises(DomainError):
        transactions_page(
            session=session, merchant_id=merchant.id, page=PageRequest(), sort="fee_desc"
        )


@pytest.mark.parametrize("sort", ["created_desc", "amount_asc"])
def test_batches_read_every_row_once_in_order(db: TestDatabase, merchant: User, sort: str) -> None:
    for n in range(17):
        pay(merchant, n)
    refunded = pay(merchant, 99)
    transaction_refund(merchant_id=merchant.id, reference=refunded.reference, amount=250)
    pay(create_merchant("other@example.com"), 1)
    batches = list(transaction_batches(merchant_id=merchant.id, sort=sort, batch_size=5))
    assert [len(b) for b in batches] == [5, 5, 5, 3]
    rows = [row for batch in batches for row in batch]
    assert [row[1] for row in rows] == walk(merchant, sort, limit=7)
    by_ref = {row[1]: row for row in rows}
    assert by_ref[refunded.reference][9] == 250  # refunded_amount
    exact = list(transaction_batches(merchant_id=merchant.id, sort=sort, batch_size=6))
    assert [len(b) for b in exact] == [6, 6, 6]  # a last, empty read ends it


# --- the URL query ------------------------------------------------------------------------


def test_query_round_trips_in_canonical_form() -> None:
    query = parse_query(
        {
            "q": "  txn_ab ",
            "status": "SUCCESS",
            "provider": "Card",
            "currency": "usd",
            "from": "2025-03-04T08:00:00",
            "to": "2025-03-05",
            "min": "1,000.5",
            "max": "2000",
            "sort": "amount_asc",
            "utm_source": "ignored",
        }
    )
    assert query == TransactionQuery(
        search="txn_ab",
        status="success",
        provider="card",
        currency="USD",
        date_from="2025-03-04T08:00",
        date_to="2025-03-05T00:00",
        amount_min="1000.50",
        amount_max="2000.00",
        sort="amount_asc",
    )
    text = query.to_query_string()
    assert text == (
        "q=txn_ab&status=success&provider=card&currency=USD&from=2025-03-04T08%3A00"
        "&to=2025-03-05T00%3A00&min=1000.50&max=2000.00&sort=amount_asc"
    )
    assert parse_query_string(text) == query
    assert parse_query_string("?") == TransactionQuery()
    assert TransactionQuery().to_query_string() == ""


def test_local_times_become_utc_in_the_merchants_timezone() -> None:
    query = parse_query({"from": "2025-03-04T08:00", "to": "2025-03-04T09:30:15"})
    lagos = query.to_filters("Africa/Lagos")  # UTC+1
    assert lagos.created_gte == datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
    assert lagos.created_lt == datetime(2025, 3, 4, 8, 30, 15, tzinfo=UTC)
    new_york = parse_query({"from": "2025-03-09T03:30"}).to_filters("America/New_York")
    assert new_york.created_gte == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)  # EDT, after the jump
    amounts = parse_query({"currency": "JPY", "min": "500", "max": "1000"}).to_filters("UTC")
    assert (amounts.amount_gte, amounts.amount_lte, amounts.currency) == (500, 1000, "JPY")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"status": "settled"}, "status"),
        ({"provider": "card;drop"}, "provider"),
        ({"currency": "XYZ"}, "currency"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-03-04T08:00+01:00"}, "from"),
        ({"from": "1999-12-31"}, "from"),
        ({"from": "2025-03-05", "to": "2025-03-04"}, "to"),
        ({"min": "10"}, "currency"),  # an amount means nothing without its currency
        ({"currency": "USD", "min": "10.001"}, "min"),
        ({"currency": "USD", "max": "0"}, "max"),
        ({"currency": "USD", "min": "5", "max": "4"}, "min"),
        ({"sort": "fee"}, "sort"),
        ({"q": "x" * 101}, "q"),
        ({"q": ["a", "b"]}, "q"),
    ],
)
def test_bad_queries_name_the_parameter(params: dict, param: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_query(params)
    assert info.value.param == param


def test_with_changes_validates_the_whole_query() -> None:
    query = parse_query({"currency": "USD", "min": "10"})
    assert with_changes(query, sort="amount_desc").sort == "amount_desc"
    with pytest.raises(DomainError):
        with_changes(query, currency="")  # the amount would lose its currency
