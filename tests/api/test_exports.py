"""GET /exports/transactions.csv: the session cookie's merchant only, the page's query string,
exact major units with the currency, local times with their offset, progress under an export
id, and the same rows as the API's list for the same filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from paybridge.browser import SESSION_COOKIE
from paybridge.exports import ExportProgress, major_units, transactions_csv
from paybridge.models import User
from paybridge.selectors.transactions import TransactionFilters
from paybridge.services.refunds import transaction_refund
from paybridge.services.transactions import transaction_create
from paybridge.services.users import user_update_profile
from tests.api.conftest import Caller
from tests.conftest import TestDatabase, create_merchant, web_session_token

URL = "/exports/transactions.csv"
BASE = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def log_in(client: TestClient, user: User) -> TestClient:
    """The client, carrying `user`'s web session cookie (as the browser does)."""
    token = web_session_token(user.id)
    client.cookies.set(SESSION_COOKIE, token)
    return client


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def seed(user: User) -> list:
    made = []
    for n, (amount, currency, status, provider) in enumerate(
        [
            (1_050, "USD", "success", "card"),
            (7, "JPY", "success", "stripe"),
            (999_999, "KWD", "failed", "card"),
            (20_000, "USD", "pending", "mobile_money"),
            (30_000, "USD", "success", "mobile_money"),
        ]
    ):
        made.append(
            transaction_create(
                merchant_id=user.id,
                amount=amount,
                currency=currency,
                provider=provider,
                customer_email=f"buyer{n}@example.com",
                status=status,
                created_at=BASE + timedelta(hours=n),
            )
        )
    return made


def test_major_units_are_exact() -> None:
    assert major_units(123456, 2) == "1234.56"
    assert major_units(5, 2) == "0.05"
    assert major_units(-5, 2) == "-0.05"
    assert major_units(7, 0) == "7"
    assert major_units(999_999, 3) == "999.999"


def test_export_needs_the_session_cookie(client: TestClient, merchant: User) -> None:
    assert client.get(URL).status_code == 401
    client.cookies.set(SESSION_COOKIE, "x" * 40)
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_required"


def test_export_is_the_merchants_whole_filtered_list(
    client: TestClient, db: TestDatabase, merchant: User
) -> None:
    user_update_profile(
        user_id=merchant.id, full_name="M", company_name="M Ltd", timezone="Africa/Lagos"
    )
    made = seed(merchant)
    transaction_refund(merchant_id=merchant.id, reference=made[0].reference, amount=50)
    seed(create_merchant("other@example.com"))

    response = log_in(client, merchant).get(URL)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    header = next(csv.reader(io.StringIO(response.text)))
    assert header[1:3] == ["created_at (Africa/Lagos)", "updated_at (Africa/Lagos)"]
    rows = rows_of(response.text)
    assert [r["reference"] for r in rows] == [t.reference for t in reversed(made)]
    by_ref = {r["reference"]: r for r in rows}
    first = by_ref[made[0].reference]
    assert (first["currency"], first["amount"], first["refunded"]) == ("USD", "10.50", "0.50")
    assert Decimal(first["fee"]) + Decimal(first["net"]) == Decimal("10.50")
    assert first["created_at (Africa/Lagos)"] == "2025-03-04T11:00:00+01:00"
    assert first["provider"] == "card" and first["customer_email"] == "buyer0@example.com"
    assert by_ref[made[1].reference]["amount"] == "7"  # JPY has no minor unit
    assert by_ref[made[2].reference]["amount"] == "999.999"  # KWD has three

    filtered = client.get(
        URL,
        params={"status": "success", "currency": "usd", "min": "10", "sort": "amount_asc"},
    )
    assert [r["reference"] for r in rows_of(filtered.text)] == [
        made[0].reference,
        made[4].reference,
    ]
    local = client.get(
        URL,
        params={"from": "2025-03-04T12:00", "to": "2025-03-04T14:00"},  # Lagos time
    )
    assert [r["reference"] for r in rows_of(local.text)] == [made[2].reference, made[1].reference]


def test_bad_filters_are_a_400_naming_the_parameter(client: TestClient, merchant: User) -> None:
    log_in(client, merchant)
    for params, param in (
        ({"status": "nope"}, "status"),
        ({"min": "5"}, "currency"),
        ({"upto": "-1"}, "upto"),
        ({"export": "../../x"}, "export"),
    ):
        response = client.get(URL, params=params)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param


def test_upto_pins_the_rows_and_progress_is_recorded(
    client: TestClient, db: TestDatabase, merchant: User
) -> None:
    made = seed(merchant)
    response = log_in(client, merchant).get(
        URL,
        params={"upto": str(made[2].id), "export": "test-export-1"},
    )
    assert len(rows_of(response.text)) == 3
    progress = ExportProgress.get(merchant.id, "test-export-1")
    assert progress is not None and progress.rows == 3 and progress.finished
    assert not progress.cancelled
    assert ExportProgress.get(merchant.id + 1, "test-export-1") is None  # per merchant


def test_empty_result_is_the_header_alone(db: TestDatabase, merchant: User) -> None:
    chunks = list(
        transactions_csv(
            merchant_id=merchant.id, filters=TransactionFilters(), sort="created_desc", tz="UTC"
        )
    )
    assert b"".join(chunks).decode().splitlines() == [",".join(_header("UTC"))]


def _header(tz: str) -> list[str]:
    from paybridge.exports import csv_header

    return csv_header(tz)


def test_formula_cells_are_defused(db: TestDatabase, merchant: User) -> None:
    transaction_create(
        merchant_id=merchant.id,
        amount=100,
        currency="USD",
        provider="card",
        customer_email="=cmd@example.com",
        reference="-2-3",
    )
    text = b"".join(
        transactions_csv(
            merchant_id=merchant.id, filters=TransactionFilters(), sort="created_desc", tz="UTC"
        )
    ).decode()
    [row] = rows_of(text)
    assert row["reference"] == "'-2-3" and row["customer_email"] == "'=cmd@example.com"


def test_export_matches_the_api_list_row_for_row(client: TestClient, alice: Caller) -> None:
    made = seed(alice.user) + seed(alice.user)
    transaction_refund(merchant_id=alice.user.id, reference=made[4].reference, amount=1)
    exported = rows_of(log_in(client, alice.user).get(URL, params={"currency": "USD"}).text)
    listed, after = [], None
    while True:
        params = {"currency": "USD", "limit": 3, **({"starting_after": after} if after else {})}
        page = client.get("/api/v1/transactions", params=params, headers=alice.headers).json()
        listed += page["data"]
        if not page["has_more"]:
            break
        after = page["data"][-1]["reference"]
    assert len(exported) == len(listed) == 6
    for row, item in zip(exported, listed, strict=True):
        assert row["reference"] == item["reference"]
        assert Decimal(row["amount"]) == Decimal(item["amount"]) / 100
        assert row["status"] == item["status"] and row["provider"] == item["provider"]
        assert datetime.fromisoformat(row["created_at (UTC)"]) == datetime.fromisoformat(
            item["created_at"]
        ).replace(microsecond=0)


def test_read_ahead_keeps_order_raises_errors_and_stops_when_closed() -> None:
    import threading

    from paybridge.exports import read_ahead

    assert list(read_ahead(iter([[1], [2], [3]]))) == [[1], [2], [3]]

    def failing():  # type: ignore[no-untyped-def]
        yield [1]
        raise RuntimeError("database went away")

    reader = read_ahead(failing())
    assert next(reader) == [1]
    try:
        next(reader)
    except RuntimeError as error:
        assert str(error) == "database went away"
    else:
        raise AssertionError("the error was swallowed")

    produced: list[int] = []

    def endless():  # type: ignore[no-untyped-def]
        n = 0
        while True:
            produced.append(n)
            yield [n]
            n += 1

    reader = read_ahead(endless())
    assert next(reader) == [0]
    reader.close()  # the client went away
    threading.Event().wait(0.5)
    count = len(produced)
    threading.Event().wait(0.5)
    assert len(produced) == count <= 4  # the helper thread stopped reading


def test_postgresql_writes_the_same_bytes_as_python(db: TestDatabase, merchant: User) -> None:
    """The two ways to make the CSV agree byte for byte: quoting, formula guard, exponents,
    refunds, DST offsets, updated times."""
    import pytest

    if db.is_sqlite:
        pytest.skip("PostgreSQL formats in SQL; SQLite always uses the Python path")
    emails = ["a,b@example.com", 'say"hi"@example.com', "=sum@example.com", "+1@example.com"]
    made = []
    for n, (amount, currency) in enumerate(
        [(1, "USD"), (100, "USD"), (123_456_789, "EUR"), (7, "JPY"), (1_001, "KWD"), (50, "NGN")]
    ):
        made.append(
            transaction_create(
                merchant_id=merchant.id,
                amount=amount,
                currency=currency,
                provider=["card", "stripe", "mobile_money"][n % 3],
                customer_email=emails[n % len(emails)],
                reference=f"-ref-{n}" if n % 2 else None,
                status="success",
                # across the US DST change of 9 March 2025
                created_at=datetime(2025, 3, 8, 12, tzinfo=UTC) + timedelta(hours=11 * n),
            )
        )
    transaction_refund(merchant_id=merchant.id, reference=made[2].reference, amount=456)
    transaction_refund(merchant_id=merchant.id, reference=made[0].reference, amount=1)
    for tz in ("America/New_York", "Asia/Kathmandu", "UTC"):
        for sort in ("created_desc", "amount_asc"):
            kwargs = dict(merchant_id=merchant.id, filters=TransactionFilters(), sort=sort, tz=tz)
            sql = b"".join(transactions_csv(**kwargs, batch_size=4))
            python = b"".join(transactions_csv(**kwargs, batch_size=4, in_python=True))
            assert sql == python, (tz, sort)
    rows = rows_of(python.decode())
    assert {r["customer_email"] for r in rows} == {
        "a,b@example.com",
        'say"hi"@example.com',
        "'=sum@example.com",
        "'+1@example.com",
    }
