"""Webhook endpoints."""

from __future__ import annotations

from paybridge.api import resources
from paybridge.api.routes.common import (
    WRITE_ERRORS,
    CurrentPrincipal,
    Paging,
    authenticated_router,
)
from paybridge.api.schemas import (
    Deleted,
    ListOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = authenticated_router("webhooks")


@router.get("/webhooks", response_model=ListOut[WebhookOut], summary="List webhook endpoints")
def list_webhooks(principal: CurrentPrincipal, page: Paging) -> ListOut[WebhookOut]:
    return resources.webhooks_list(principal, page)


@router.post(
    "/webhooks",
    response_model=WebhookCreated,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Register a webhook endpoint",
    description='`event_types`: some of the event types, or `["*"]` for all. The response is '
    "the only one that carries the signing `secret`.",
)
def create_webhook(body: WebhookCreate, principal: CurrentPrincipal) -> WebhookCreated:
    return resources.webhook_create(principal, url=body.url, event_types=body.event_types)


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, summary="One webhook endpoint")
def get_webhook(webhook_id: int, principal: CurrentPrincipal) -> WebhookOut:
    return resources.webhook_detail(principal, webhook_id)


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    responses=WRITE_ERRORS,
    summary="Change a webhook endpoint",
)
def update_webhook(webhook_id: int, body: WebhookUpdate, principal: CurrentPrincipal) -> WebhookOut:
    return resources.webhook_update(
        principal,
        webhook_id,
        url=body.url,
        event_types=body.event_types,
        is_active=body.is_active,
    )


@router.delete(
    "/webhooks/{webhook_id}", response_model=Deleted, summary="Remove a webhook endpoint"
)
def delete_webhook(webhook_id: int, principal: CurrentPrincipal) -> Deleted:
    return resources.webhook_delete(principal, webhook_id)
