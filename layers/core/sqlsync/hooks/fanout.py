"""Ingest's part of action hooks: each activity event becomes one hook-queue message per hook it passes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlsync.models.hooks import ActivityEvent, Hook, HookDelivery
from sqlsync.sync.exceptions import PayloadTooLargeError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES, MessageSink


class HookFanout:
    def __init__(self, hooks_of: Callable[[int], Sequence[Hook]], sink: MessageSink) -> None:
        self.hooks_of = hooks_of
        """An account's hooks (cached by the caller: ingest reads them for every event)."""
        self.sink = sink

    def bodies(self, events: Sequence[tuple[int, ActivityEvent]], batch: bool) -> list[str]:
        """The hook-queue bodies for the events (with their index in the request), checked to fit a
        message; nothing is sent here, so that a bad request sends nothing at all."""
        bodies: list[str] = []
        for index, event in events:
            for hook in self.hooks_of(event.account_id):
                if not hook.passes(event):
                    continue
                body = HookDelivery(hook_id=hook.id, event=event).model_dump_json()
                if len(body.encode()) > MAX_MESSAGE_BYTES - 1024:
                    field = f"events[{index}]" if batch else "event"
                    raise PayloadTooLargeError(
                        field,
                        f"is {len(body.encode())} bytes with its envelope; at most "
                        f"{MAX_MESSAGE_BYTES - 1024} fit a queue message",
                    )
                bodies.append(body)
        return bodies
