"""services.saved_views: named /transactions query strings per merchant, stored canonical."""

from __future__ import annotations

import pytest

from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import SavedView, User
from paybridge.selectors.saved_views import saved_view_get, saved_views
from paybridge.services.saved_views import MAX_VIEWS, saved_view_create, saved_view_delete
from tests.conftest import TestDatabase, create_merchant


def names(merchant: User) -> list[str]:
    with read_session() as session:
        return [v.name for v in saved_views(session=session, merchant_id=merchant.id)]


def test_create_stores_the_canonical_query(db: TestDatabase, merchant: User) -> None:
    view = saved_view_create(
        merchant_id=merchant.id,
        name="  Big USD card payments ",
        query="?sort=amount_desc&provider=Card&currency=usd&min=100&utm=x",
    )
    assert view.name == "Big USD card payments"
    assert view.query == "provider=card&currency=USD&min=100.00&sort=amount_desc"
    saved_view_create(merchant_id=merchant.id, name="Everything", query="")
    assert names(merchant) == ["Big USD card payments", "Everything"]


@pytest.mark.parametrize(
    ("name", "query", "code"),
    [
        ("", "status=success", "invalid_request"),
        ("x" * 61, "status=success", "invalid_request"),
        ("Bad", "status=bogus", "invalid_request"),
        ("Bad", "min=5", "invalid_request"),
        ("Bad", 42, "invalid_request"),
    ],
)
def test_bad_views_are_refused(
    db: TestDatabase, merchant: User, name: str, query: object, code: str
) -> None:
    with pytest.raises(DomainError) as info:
        saved_view_create(merchant_id=merchant.id, name=name, query=query)
    assert info.value.code == code
    assert db.count(SavedView) == 0


def test_names_are_unique_per_merchant(db: TestDatabase, merchant: User) -> None:
    other = create_merchant("other@example.com")
    saved_view_create(merchant_id=merchant.id, name="Failed", query="status=failed")
    saved_view_create(merchant_id=other.id, name="Failed", query="status=failed")
    with pytest.raises(DomainError) as info:
        saved_view_create(merchant_id=merchant.id, name="Failed", query="status=pending")
    assert info.value.code == "duplicate_name"
    assert db.count(SavedView) == 2


def test_a_merchant_keeps_at_most_max_views(db: TestDatabase, merchant: User) -> None:
    for n in range(MAX_VIEWS):
        saved_view_create(merchant_id=merchant.id, name=f"v{n}", query="")
    with pytest.raises(DomainError) as info:
        saved_view_create(merchant_id=merchant.id, name="one more", query="")
    assert info.value.code == "too_many_views"


def test_delete_only_ones_own(db: TestDatabase, merchant: User) -> None:
    other = create_merchant("other@example.com")
    mine = saved_view_create(merchant_id=merchant.id, name="Mine", query="")
    theirs = saved_view_create(merchant_id=other.id, name="Theirs", query="")
    for view_id in (theirs.id, 10**6, "1", True, None, -1):
        with pytest.raises(DomainError) as info:
            saved_view_delete(merchant_id=merchant.id, view_id=view_id)
        assert info.value.code == "not_found"
    with read_session() as session:
        assert saved_view_get(session=session, merchant_id=merchant.id, view_id=theirs.id) is None
    saved_view_delete(merchant_id=merchant.id, view_id=mine.id)
    assert names(merchant) == [] and names(other) == ["Theirs"]
