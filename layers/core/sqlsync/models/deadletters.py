"""Dead letters of the sync queue: what listing an integration's messages in the dead-letter queue and
redriving them (POST /v1/integrations/{id}/redrive) answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

DeadLetterKind = Literal["event", "request", "unreadable"]
StopReason = Literal["limit", "max_messages", "max_seconds"]

_COMPLETE = (
    "true when the scan reached the end of the dead-letter queue (a receive found no message left). Messages "
    "that another reader holds at that moment (a concurrent listing or redrive) are not seen"
)
_STOPPED_BY = (
    "why the scan stopped before the end of the queue: limit (enough messages of the integration), "
    "max_messages (the bound on messages examined per call) or max_seconds (the bound on wall time); "
    "null when it reached the end"
)


class DeadLetterOut(BaseModel):
    """One message of the dead-letter queue. The body itself is not returned."""

    message_id: str = Field(description="the SQS message id in the dead-letter queue (stable across receives)")
    kind: DeadLetterKind = Field(
        description="event: a platform segment event; request: a request for one integration (resync, catchup...); "
        "unreadable: a body that names no integration (listed only when asked for)"
    )
    event_id: str | None = Field(default=None, description="the id of the event or of the request")
    type: str | None = Field(
        default=None, description="the event type (segment.profiles_added...) or the request's kind (resync...)"
    )
    segment_id: int | None = Field(default=None, description="the segment the event or the request is about")
    profiles: int | None = Field(
        default=None,
        description="how many profiles this message carries (an event with many profiles is split over several "
        "messages); null for requests",
    )
    sent_at: datetime | None = Field(
        default=None,
        description="when the message was first sent to the sync queue (SQS SentTimestamp, which moving to the "
        "dead-letter queue keeps)",
    )
    receive_count: int | None = Field(
        default=None,
        description="SQS ApproximateReceiveCount: receives by the sync worker and by listings and redrives, this "
        "listing's own receive included",
    )
    size: int = Field(description="size of the message body in bytes")
    error: str | None = Field(
        default=None,
        description="why the body is not a valid message of its kind: it fails again when redriven unless the "
        "fix is to the code that reads it",
    )


class DeadLettersOut(BaseModel):
    """The integration's messages in the sync queue's dead-letter queue, oldest first. Listing changes nothing:
    every message received to look at it is made visible again at once."""

    integration_id: str
    messages: list[DeadLetterOut] = Field(
        description="the integration's messages: segment events of its account and segments, and requests "
        "that name it (and the unreadable ones when asked for), at most `limit`"
    )
    scanned: int = Field(description="messages examined, of every integration")
    unreadable: int = Field(
        description="how many of the examined messages name no integration (not JSON, or not a known shape); "
        "they are listed only when asked for, and a redrive never moves them"
    )
    complete: bool = Field(description=_COMPLETE)
    stopped_by: StopReason | None = Field(default=None, description=_STOPPED_BY)


class RedriveOut(BaseModel):
    """What a redrive moved from the dead-letter queue back to the sync queue. When `complete` is false, call
    again: a redrive is safe to repeat."""

    integration_id: str
    moved: int = Field(description="messages of the integration sent back to the sync queue")
    remaining: int = Field(
        description="messages of the integration this redrive found but left in the dead-letter queue: the sync "
        "queue refused them, or (rarely) deleting them from the dead-letter queue failed after they were sent, "
        "so that they are in both queues (counted in moved too; a duplicate is harmless)"
    )
    scanned: int = Field(description="messages examined, of every integration")
    complete: bool = Field(
        description="true when the scan reached the end of the dead-letter queue and nothing of the integration "
        "was left behind. Messages that another reader holds at that moment are not seen"
    )
    stopped_by: StopReason | None = Field(default=None, description=_STOPPED_BY)
