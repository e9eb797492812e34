"""What the public API can do, once: REST routes and GraphQL resolvers both call these
functions, which call the selectors and services the dashboard uses. Each takes the
authenticated principal and reads or writes that merchant's data only.

One module per area; callers use `resources.<name>` from this package, so a test can replace
one function for every interface at once."""

from paybridge.api.resources.balances import balance, settlement_out, settlements_list, withdraw
from paybridge.api.resources.common import aware, clean_created_range
from paybridge.api.resources.developers import (
    api_key_create,
    api_key_out,
    api_key_revoke,
    api_keys_list,
    api_log_out,
    api_logs_list,
    event_out,
    events_list,
)
from paybridge.api.resources.merchant import profile
from paybridge.api.resources.numbers import analytics
from paybridge.api.resources.payments import (
    new_payment,
    payment_json,
    transaction_get,
    transaction_refund,
    transactions_list,
)
from paybridge.api.resources.team import (
    account_close,
    audit_log_list,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    invitations_list,
    member_remove,
    member_update,
    members_list,
    ownership_transfer,
)
from paybridge.api.resources.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_detail,
    webhook_out,
    webhook_update,
    webhooks_list,
)

__all__ = [
    "account_close",
    "analytics",
    "api_key_create",
    "api_key_out",
    "api_key_revoke",
    "api_keys_list",
    "api_log_out",
    "api_logs_list",
    "audit_log_list",
    "aware",
    "balance",
    "clean_created_range",
    "event_out",
    "events_list",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "invitations_list",
    "member_remove",
    "member_update",
    "members_list",
    "new_payment",
    "ownership_transfer",
    "payment_json",
    "profile",
    "settlement_out",
    "settlements_list",
    "transaction_get",
    "transaction_refund",
    "transactions_list",
    "webhook_create",
    "webhook_delete",
    "webhook_detail",
    "webhook_out",
    "webhook_update",
    "webhooks_list",
    "withdraw",
]
