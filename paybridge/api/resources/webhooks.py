"""Webhook endpoints: list, create, update, delete."""

from __future__ import annotations

from paybridge.api.auth import Principal
from paybridge.api.resources.common import list_out
from paybridge.api.schemas import Deleted, ListOut, WebhookCreated, WebhookOut
from paybridge.db import read_session
from paybridge.errors import DomainError
from paybridge.models import Webhook
from paybridge.selectors.pagination import PageRequest
from paybridge.selectors.webhooks import webhook_get, webhooks_page
from paybridge.services import webhooks as webhook_service


def webhook_out(row: Webhook) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        event_types=list(row.event_types),
        is_active=row.is_active,
        last_triggered_at=row.last_triggered_at,
        created_at=row.created_at,
    )


def webhooks_list(principal: Principal, page: PageRequest) -> ListOut[WebhookOut]:
    with read_session() as session:
        result = webhooks_page(session=session, merchant_id=principal.merchant_id, page=page)
    return list_out(result, webhook_out)


def webhook_detail(principal: Principal, webhook_id: int) -> WebhookOut:
    with read_session() as session:
        row = webhook_get(session=session, merchant_id=principal.merchant_id, webhook_id=webhook_id)
    if row is None:
        raise DomainError("not_found", "No such webhook.", param="id")
    return webhook_out(row)


def webhook_create(principal: Principal, *, url: str, event_types: list[str]) -> WebhookCreated:
    row, secret = webhook_service.webhook_create(
        merchant_id=principal.merchant_id, url=url, event_types=event_types, actor=principal.actor
    )
    return WebhookCreated(**webhook_out(row).model_dump(), secret=secret)


def webhook_update(
    principal: Principal,
    webhook_id: int,
    *,
    url: str | None = None,
    event_types: list[str] | None = None,
    is_active: bool | None = None,
) -> WebhookOut:
    row = webhook_service.webhook_update(
        actor=principal.actor,
        merchant_id=principal.merchant_id,
        webhook_id=webhook_id,
        url=url,
        event_types=event_types,
        is_active=is_active,
    )
    return webhook_out(row)


def webhook_delete(principal: Principal, webhook_id: int) -> Deleted:
    webhook_service.webhook_delete(
        merchant_id=principal.merchant_id, webhook_id=webhook_id, actor=principal.actor
    )
    return Deleted(id=webhook_id)
