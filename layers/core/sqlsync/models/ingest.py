"""The body of POST /v1/events: one event or {"events": [...]}, each a segment event (segment sync), an order
or a device event (kept for the orders and devices exports) or an activity event (action hooks), told apart by
its type."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from sqlsync.models.devices import DEVICE_EVENT_TYPE, DeviceEvent
from sqlsync.models.events import SegmentEvent
from sqlsync.models.hooks import ActivityEvent
from sqlsync.models.orders import ORDER_EVENT_TYPE, OrderEvent

SEGMENT_TYPE_PREFIX = "segment."
ORDER_EVENT_TAG = "order_event"
"""The union tag of order events, which pydantic puts into error locations (the API drops it)."""
DEVICE_EVENT_TAG = "device_event"

AnyEventModel = SegmentEvent | ActivityEvent | OrderEvent | DeviceEvent


def _event_kind(value: Any) -> str:
    kind = str((value.get("type") if isinstance(value, dict) else getattr(value, "type", None)) or "")
    if kind == ORDER_EVENT_TYPE:
        return ORDER_EVENT_TAG
    if kind == DEVICE_EVENT_TYPE:
        return DEVICE_EVENT_TAG
    return "segment_event" if kind.startswith(SEGMENT_TYPE_PREFIX) else "activity_event"


# The discriminator picks the shape first, so that validation errors speak about that shape only.
AnyEvent = Annotated[
    Annotated[SegmentEvent, Tag("segment_event")]
    | Annotated[ActivityEvent, Tag("activity_event")]
    | Annotated[OrderEvent, Tag(ORDER_EVENT_TAG)]
    | Annotated[DeviceEvent, Tag(DEVICE_EVENT_TAG)],
    Discriminator(_event_kind),
]


class EventBatch(BaseModel):
    """The body of POST /v1/events when it carries several events."""

    model_config = ConfigDict(extra="forbid")

    events: list[AnyEvent] = Field(min_length=1, max_length=1000)


def _body_kind(value: Any) -> str:
    if isinstance(value, dict) and "events" in value:
        return "batch"
    return _event_kind(value)


EventsBody = Annotated[
    Annotated[SegmentEvent, Tag("segment_event")]
    | Annotated[ActivityEvent, Tag("activity_event")]
    | Annotated[OrderEvent, Tag(ORDER_EVENT_TAG)]
    | Annotated[DeviceEvent, Tag(DEVICE_EVENT_TAG)]
    | Annotated[EventBatch, Tag("batch")],
    Discriminator(_body_kind),
]


def events_of(body: AnyEventModel | EventBatch) -> list[AnyEventModel]:
    return list(body.events) if isinstance(body, EventBatch) else [body]
