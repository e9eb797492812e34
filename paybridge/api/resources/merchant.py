"""The merchant profile: who the caller is."""

from __future__ import annotations

from paybridge.api.auth import Principal
from paybridge.api.schemas import ProfileOut
from paybridge.errors import DomainError
from paybridge.selectors.users import user_summary_read


def profile(principal: Principal) -> ProfileOut:
    summary = user_summary_read(merchant_id=principal.merchant_id)
    if summary is None:
        raise DomainError("not_found", "No such merchant.")
    return ProfileOut(**summary.__dict__)
