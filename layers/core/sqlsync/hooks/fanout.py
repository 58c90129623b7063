"""Ingest's part of action hooks: each activity event becomes one hook-queue message per hook it passes, and
the content of a sent message is kept for the hooks that include it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlsync.models.hooks import ActivityEvent, Hook, HookDelivery
from sqlsync.store.base import ContentKey, ContentStore
from sqlsync.store.exceptions import StoreError
from sqlsync.sync.exceptions import EnqueueError, PayloadTooLargeError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES, MessageSink

ENVELOPE_ROOM = 1024


@dataclass
class HookPlan:
    """What a request will put on the hook queue and in the content store, built before anything is sent."""

    bodies: list[str] = field(default_factory=list)
    contents: dict[ContentKey, dict[str, Any]] = field(default_factory=dict)


class HookFanout:
    def __init__(
        self,
        hooks_of: Callable[[int], Sequence[Hook]],
        sink: MessageSink,
        contents: ContentStore | None = None,
        retention: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.hooks_of = hooks_of
        """An account's hooks (cached by the caller: ingest reads them for every event)."""
        self.sink = sink
        self.contents = contents
        self.retention = retention
        self.clock = clock

    def plan(self, events: Sequence[tuple[int, ActivityEvent]], batch: bool) -> HookPlan:
        """The hook-queue bodies for the events (with their index in the request), each checked to fit a
        message. A message's content never rides on the queue: it is kept aside for the hooks that
        include it, and the dispatcher attaches it."""
        plan = HookPlan()
        for index, event in events:
            passing = [hook for hook in self.hooks_of(event.account_id) if hook.passes(event)]
            if not passing:
                continue
            if event.message is not None and event.message.content is not None:
                if event.profile is not None and any(hook.include_content for hook in passing):
                    plan.contents[(event.account_id, event.message.id, event.profile.id)] = event.message.content
                event = event.model_copy(update={"message": event.message.model_copy(update={"content": None})})
            for hook in passing:
                body = HookDelivery(hook_id=hook.id, event=event).model_dump_json()
                size = len(body.encode())
                if size > MAX_MESSAGE_BYTES - ENVELOPE_ROOM:
                    field_name = f"events[{index}]" if batch else "event"
                    raise PayloadTooLargeError(
                        field_name,
                        f"is {size} bytes as a hook message; at most {MAX_MESSAGE_BYTES - ENVELOPE_ROOM} fit",
                    )
                plan.bodies.append(body)
        return plan

    def send(self, plan: HookPlan) -> None:
        """Contents first (the dispatcher may look for them as soon as a message is on the queue)."""
        if plan.contents and self.contents is not None:
            expires = self.clock() + self.retention
            try:
                for key, content in plan.contents.items():
                    self.contents.put(key, content, expires)
            except StoreError as exc:
                raise EnqueueError(f"message content could not be kept: {exc}") from exc
        if plan.bodies:
            self.sink.send(plan.bodies)
