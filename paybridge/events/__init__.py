"""The outbox and the bus.

Services call `record_event` inside their DB transaction and `commit_and_publish` to finish it:
the outbox row is the truth, the bus message is only the fast path to open dashboards.
"""

from paybridge.events.bus import get_bus, publish_events, reset_bus
from paybridge.events.outbox import EventType, commit_and_publish, event_message, record_event

__all__ = [
    "EventType",
    "commit_and_publish",
    "event_message",
    "get_bus",
    "publish_events",
    "record_event",
    "reset_bus",
]
