"""Ingest's part of action hooks: each activity event becomes one hook-queue message per hook it passes, and
the content of a sent message is kept for the hooks that include it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlsync.collector import collector_paused
from sqlsync.hooks.message import BodyTemplate
from sqlsync.hooks.wire import BODY_CHARS_THAT_FIT, MAX_MESSAGE_EVENT_BYTES, Queued, content_key, pack, size_of
from sqlsync.models.hooks import ActivityEvent, Hook, HookFilter
from sqlsync.store.base import ContentKey, ContentStore
from sqlsync.store.exceptions import StoreError
from sqlsync.sync.exceptions import EnqueueError, PayloadTooLargeError, UnknownNameError
from sqlsync.sync.queue import MessageSink

MAX_PREPARED = 1024


_Prepared = tuple[Hook, Callable[[ActivityEvent], bool], BodyTemplate]


@dataclass
class HookPlan:
    """What a request will put on the hook queue and in the content store, built before anything is sent."""

    bodies: list[str] = field(default_factory=list)
    events: int = 0
    """Events in the bodies: one per event and hook it passes."""
    contents: dict[ContentKey, dict[str, Any]] = field(default_factory=dict)


class HookFanout:
    def __init__(
        self,
        hooks_of: Callable[[int], Sequence[Hook]],
        sink: MessageSink,
        contents: ContentStore | None = None,
        retention: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        data_sources_of: Callable[[int], Collection[str]] | None = None,
    ) -> None:
        self.hooks_of = hooks_of
        """An account's hooks (cached by the caller: ingest reads them for every event)."""
        self.sink = sink
        self.contents = contents
        self.retention = retention
        self.clock = clock
        self.data_sources_of = data_sources_of
        """The names of an account's data sources (cached by the caller), which events may ask for. None: not
        checked here (the dispatcher gives up on an event that asks for a data source that does not exist)."""
        self._prepared_hooks: dict[int, _Prepared] = {}

    def plan(self, events: Sequence[tuple[int, ActivityEvent]], batch: bool) -> HookPlan:
        with collector_paused():
            return self._plan(events, batch)

    def _plan(self, events: Sequence[tuple[int, ActivityEvent]], batch: bool) -> HookPlan:
        """The hook-queue messages for the events (with their index in the request): per hook, its passing
        events in order, in messages of up to 100 within SQS's size (`wire.pack`; each event checked to fit
        one alone), with the body the hook sends rendered now. A message's content never rides on the
        queue: it is kept aside for the hooks that include it, and the dispatcher attaches it."""
        plan = HookPlan()
        account_hooks: dict[int, list[_Prepared]] = {}  # the same for all of a request's events
        runs: dict[str, list[Queued]] = {}  # per hook id: its events
        for index, event in events:
            if event.data_sources and self.data_sources_of is not None:
                self._check_data_sources(event, f"events[{index}]." if batch else "")
            hooks = account_hooks.get(event.account_id)
            if hooks is None:
                hooks = [self._prepared(hook) for hook in self.hooks_of(event.account_id)]
                account_hooks[event.account_id] = hooks
            passing = [(hook, template) for hook, passes, template in hooks if passes(event)]
            if not passing:
                continue
            if event.message is not None and event.message.content is not None:
                if event.profile is not None and any(hook.include_content for hook, _ in passing):
                    plan.contents[(event.account_id, event.message.id, event.profile.id)] = event.message.content
                event = event.model_copy(update={"message": event.message.model_copy(update={"content": None})})
            key = event.profile.id if event.profile is not None else None
            lookups = event.lookups() if event.data_sources else ()
            for hook, template in passing:
                kept = None
                if hook.include_content and event.message is not None and event.profile is not None:
                    kept = content_key(event.account_id, event.message.id, event.profile.id)
                queued = Queued(event.id, key, template.render(event), kept, lookups)
                if lookups or len(queued.body) + (2 * len(kept) if kept else 0) > BODY_CHARS_THAT_FIT:
                    self._check_size(queued, index, batch)
                run = runs.get(hook.id)
                if run is None:
                    run = runs[hook.id] = []
                run.append(queued)
        queued_at = self.clock().timestamp()
        for hook_id, queued_events in runs.items():
            plan.bodies.extend(pack(hook_id, queued_events, queued_at))
            plan.events += len(queued_events)
        return plan

    @staticmethod
    def _check_size(event: Queued, index: int, batch: bool) -> None:
        size = size_of(event)
        if size > MAX_MESSAGE_EVENT_BYTES:
            raise PayloadTooLargeError(
                f"events[{index}]" if batch else "event",
                f"is {size} bytes as a hook message; at most {MAX_MESSAGE_EVENT_BYTES} fit",
            )

    def _check_data_sources(self, event: ActivityEvent, prefix: str) -> None:
        assert self.data_sources_of is not None
        known = self.data_sources_of(event.account_id)
        for position, request in enumerate(event.data_sources):
            if request.name not in known:
                raise UnknownNameError(
                    f"{prefix}data_sources[{position}].name", f"no data source named {request.name!r} in this account"
                )

    def _prepared(self, hook: Hook) -> _Prepared:
        """The hook's filter and body template, made once per hook object (hooks are frozen; the caller
        caches them)."""
        cached = self._prepared_hooks.get(id(hook))
        if cached is not None and cached[0] is hook:  # holding the hook keeps its id from being reused
            return cached
        if len(self._prepared_hooks) >= MAX_PREPARED:  # hooks replaced over a warm Lambda's life
            self._prepared_hooks.clear()
        prepared = (hook, HookFilter(hook).passes, BodyTemplate(hook))
        self._prepared_hooks[id(hook)] = prepared
        return prepared

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
