"""The merchant profile: who the caller is."""

from __future__ import annotations

from paybridge.api.auth import Principal
from paybridge.api.schemas import ProfileOut
from paybridge.db import read_connection
from paybridge.errors import DomainError
from paybridge.selectors.users import user_summary_on


def profile(principal: Principal) -> ProfileOut:
    with read_connection() as connection:
        summary = user_summary_on(connection, merchant_id=principal.merchant_id)
    if summary is None:
        raise DomainError("not_found", "No such merchant.")
    return ProfileOut(**summary.__dict__)
