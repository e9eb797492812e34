"""An event as merchants receive it: the JSON body of every webhook delivery. The worker signs
and sends these bytes, and the delivery log shows them, so both build them here."""

from __future__ import annotations

import json

from paybridge.models import Event


def webhook_body(event: Event) -> bytes:
    """The JSON body of a delivery: {id, object: "event", type, created, data}."""
    return json.dumps(
        {
            "id": f"evt_{event.id}",
            "object": "event",
            "type": event.type,
            "created": int(event.created_at.timestamp()),
            "data": event.payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
