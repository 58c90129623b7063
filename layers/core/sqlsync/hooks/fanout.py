"""Ingest's part of action hooks: each activity event becomes one hook-queue message per hook it passes, and
the content of a sent message is kept for the hooks that include it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic_core import to_json

from sqlsync.collector import collector_paused
from sqlsync.hooks.message import event_body
from sqlsync.hooks.wire import content_key, encode_new
from sqlsync.models.hooks import ActivityEvent, Hook
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
        with collector_paused():
            return self._plan(events, batch)

    def _plan(self, events: Sequence[tuple[int, ActivityEvent]], batch: bool) -> HookPlan:
        """The hook-queue bodies for the events (with their index in the request), each checked to fit a
        message, with the body each hook sends rendered now (sqlsync.hooks.wire). A message's content never
        rides on the queue: it is kept aside for the hooks that include it, and the dispatcher attaches it."""
        plan = HookPlan()
        queued_at = self.clock().timestamp()
        for index, event in events:
            passing = [hook for hook in self.hooks_of(event.account_id) if hook.passes(event)]
            if not passing:
                continue
            if event.message is not None and event.message.content is not None:
                if event.profile is not None and any(hook.include_content for hook in passing):
                    plan.contents[(event.account_id, event.message.id, event.profile.id)] = event.message.content
                event = event.model_copy(update={"message": event.message.model_copy(update={"content": None})})
            key = event.profile.id if event.profile is not None else None
            kept = (
                content_key(event.account_id, event.message.id, event.profile.id)
                if event.message is not None and event.profile is not None
                else None
            )
            for hook in passing:
                rendered = to_json(event_body(hook, event), inf_nan_mode="constants").decode()
                body = encode_new(hook.id, event.id, key, kept if hook.include_content else None, queued_at, rendered)
                # UTF-8 takes at most 4 bytes a character: most bodies need no encoding to be measured.
                size = len(body) * 4 if len(body) * 4 <= MAX_MESSAGE_BYTES - ENVELOPE_ROOM else len(body.encode())
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
