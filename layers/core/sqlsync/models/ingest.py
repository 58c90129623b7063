"""The body of POST /v1/events: one event or {"events": [...]}, each a segment event (segment sync) or an
activity event (action hooks), told apart by its type."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from sqlsync.models.events import SegmentEvent
from sqlsync.models.hooks import ActivityEvent

SEGMENT_TYPE_PREFIX = "segment."


def _event_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return "segment_event" if str(kind or "").startswith(SEGMENT_TYPE_PREFIX) else "activity_event"


# The discriminator picks the shape first, so that validation errors speak about that shape only.
AnyEvent = Annotated[
    Annotated[SegmentEvent, Tag("segment_event")] | Annotated[ActivityEvent, Tag("activity_event")],
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
    | Annotated[EventBatch, Tag("batch")],
    Discriminator(_body_kind),
]


def events_of(body: SegmentEvent | ActivityEvent | EventBatch) -> list[SegmentEvent | ActivityEvent]:
    return list(body.events) if isinstance(body, EventBatch) else [body]
