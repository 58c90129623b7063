"""Ingest: validated platform events -> queue messages, each under the SQS size limit.

An event with many profiles is split into several messages that carry the same event id, type, time and
segment and a part of the profiles; the worker treats each part on its own. Validation of the whole
request happens before the first message is sent, so a bad request enqueues nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic_core import PydanticSerializationError

from sqlsync.models.events import SegmentEvent
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError, UnencodableValueError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES, MessageSink

if TYPE_CHECKING:
    from sqlsync.hooks.fanout import HookFanout
    from sqlsync.models.hooks import ActivityEvent

# Room for the envelope (event fields) and for SQS attributes within the 256 KiB limit.
MESSAGE_BUDGET = MAX_MESSAGE_BYTES - 8 * 1024


@dataclass(frozen=True)
class IngestResult:
    events: int
    messages: int
    hook_messages: int = 0


def to_messages(event: SegmentEvent, budget: int = MESSAGE_BUDGET) -> list[str]:
    """The event as one or more JSON bodies, each at most `budget` bytes."""
    envelope = event.model_dump(mode="json", exclude={"profiles"})
    head = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"profiles":['
    if not event.profiles:
        return [head + "]}"]
    room = budget - len(head.encode()) - 2
    messages: list[str] = []
    parts: list[str] = []
    used = 0
    for index, profile in enumerate(event.profiles):
        try:
            # Typed strings are checked by pydantic; free-form field values are only caught here.
            part = profile.model_dump_json()
        except PydanticSerializationError:
            raise UnencodableValueError(
                f"profiles[{index}].fields", "contains text that is not valid Unicode"
            ) from None
        size = len(part.encode()) + 1
        if size > room:
            raise PayloadTooLargeError(
                f"profiles[{index}]", f"profile {profile.id!r} is {size} bytes; one profile may take at most {room}"
            )
        if parts and used + size > room:
            messages.append(head + ",".join(parts) + "]}")
            parts, used = [], 0
        parts.append(part)
        used += size
    messages.append(head + ",".join(parts) + "]}")
    return messages


def ingest(
    events: Sequence[SegmentEvent | ActivityEvent],
    sink: MessageSink,
    *,
    batch: bool = False,
    hooks: HookFanout | None = None,
) -> IngestResult:
    """Segment events to the sync queue, activity events to the hook queue (one message per hook they
    pass). Everything is built and checked before anything is sent. `batch`: the events came as
    {"events": [...]}, so errors name `events[k].` first."""
    bodies: list[str] = []
    activity: list[tuple[int, ActivityEvent]] = []
    for index, event in enumerate(events):
        if not isinstance(event, SegmentEvent):  # an activity event (its model is not imported by the worker)
            activity.append((index, event))
            continue
        try:
            bodies += to_messages(event)
        except IngestFieldError as exc:
            raise (exc.within(f"events[{index}].") if batch else exc) from None
    plan = hooks.plan(activity, batch) if hooks is not None and activity else None
    sink.send(bodies)
    if hooks is not None and plan is not None:
        hooks.send(plan)
    return IngestResult(events=len(events), messages=len(bodies), hook_messages=len(plan.bodies) if plan else 0)
