"""The hook dispatcher: hook-queue messages -> batches delivered to each hook's destination.

Each message is a run of events for one hook (ingest fans events out, `sqlsync.hooks.fanout`). The
dispatcher groups a batch by hook, sends the events in order (HTTP: requests of at most batch_size events;
brokers: publish sessions of at most BROKER_SESSION_EVENTS), and decides about every event the destination
did not take:

* retryable (timeout, connection error, 408/429/5xx, a broker that went away): back on the hook queue as a
  new message, attempt + 1, delayed by HOOK_RETRY_PERIOD_SEC (or the receiver's Retry-After, if longer),
  until HOOK_RETRY_TIMES attempts were made; then to the hook dead-letter queue;
* permanent (4xx, refused address, missing queue...): to the hook dead-letter queue with the answer.

Nothing is dropped: when a retry or dead letter cannot be queued, the original message is reported as a
failure, and SQS delivers it again (at least once; receivers deduplicate on the event id). Nor does a large
batch outlive its invocation: given a deadline, the dispatcher sends no request that could end after it,
and puts what is left back on the hook queue as it was.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlsync.collector import collector_paused
from sqlsync.hooks.delivery import DeliveryResult, Outgoing, Sender
from sqlsync.hooks.wire import HookMessage, Queued, decode, pack, with_content, with_json_param
from sqlsync.models.hooks import Hook, HttpDestination
from sqlsync.store.base import ContentKey, ContentStore, StatsDelta, StatsStore
from sqlsync.store.exceptions import StoreError
from sqlsync.sync.exceptions import EnqueueError
from sqlsync.sync.queue import MessageSink, QueueMessage

if TYPE_CHECKING:
    from sqlsync.hooks.enrichment import RowSource

logger = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds
BROKER_SEND_SECONDS = 30.0
"""The longest a publish session to a broker is allowed before the deadline (their senders time out sooner)."""
BROKER_SESSION_EVENTS = 500
"""Events published in one broker session at most: the deadline is checked between sessions."""


def stats_key(hook_id: str) -> str:
    """Hooks keep their counters in the stats table beside integrations, under their own key."""
    return f"hook#{hook_id}"


@dataclass
class DispatchReport:
    failed_message_ids: set[str] = field(default_factory=set)
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    """Events of hooks deleted or paused since they were queued: nobody wants them any more."""
    deferred: int = 0
    """Events put back on the queue as they were: to wait for more to fill a batch (max_wait_seconds), or for
    the next invocation when this one had no time left to send them."""


@dataclass
class _HookRun:
    hook: Hook
    items: list[Item]
    delta: StatsDelta = field(default_factory=StatsDelta)


class HookDispatcher:
    def __init__(
        self,
        hooks: Callable[[str], Hook | None],
        senders: Callable[[Hook], Sender],
        stats: StatsStore,
        retries: MessageSink,
        dead_letters: MessageSink,
        retry_times: int = 4,
        retry_period_seconds: int = 15,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        contents: ContentStore | None = None,
        data_sources: RowSource | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hooks = hooks
        self.senders = senders
        self.stats = stats
        self.retries = retries
        self.dead_letters = dead_letters
        self.retry_times = retry_times
        self.retry_period_seconds = retry_period_seconds
        self.clock = clock
        self.contents = contents
        """Where ingest kept the content of sent messages, for hooks that include it."""
        self.data_sources = data_sources
        """The accounts' data sources, for events that ask for their rows (trigger enrichment)."""
        self.monotonic = monotonic
        self._deadline = math.inf
        self._sent_any = False

    def process(self, messages: Sequence[QueueMessage], deadline: float = math.inf) -> DispatchReport:
        """Deliver the messages' events; `deadline` (a `monotonic` time): after the invocation's first send, no
        send starts that could still be running then (the function's timeout, less time to put the rest back
        and record statistics). The first always goes, so that every invocation makes progress."""
        self._deadline, self._sent_any = deadline, False
        with collector_paused():
            return self._process(messages)

    def _out_of_time(self, hook: Hook) -> bool:
        return self._sent_any and self.monotonic() + _longest_send(hook) > self._deadline

    def _process(self, messages: Sequence[QueueMessage]) -> DispatchReport:
        report = DispatchReport()
        groups: dict[str, list[Item]] = defaultdict(list)
        for message in messages:
            try:
                decoded = decode(message.body)
            except ValueError as exc:
                logger.error("unreadable hook message %s: %s", message.message_id, str(exc)[:500])
                report.failed_message_ids.add(message.message_id)  # to the DLQ through the queue's redrive
                continue
            groups[decoded.hook_id].extend(
                [Item(message, decoded, event, position) for position, event in enumerate(decoded.events)]
            )
        for hook_id, items in groups.items():
            hook = self.hooks(hook_id)
            if hook is None or not hook.active:
                logger.info(
                    "hook %s is %s: %d event(s) dropped", hook_id, "gone" if hook is None else "paused", len(items)
                )
                report.dropped += len(items)
                continue
            if self._defer(hook, items, report):
                continue
            run = _HookRun(hook, items)
            self._deliver(run, report)
            try:
                self.stats.add(stats_key(hook_id), self.clock(), run.delta)
            except StoreError as exc:  # counters are not worth sending delivered events a second time
                logger.warning("hook %s: statistics not recorded: %s", hook_id, exc)
        return report

    def _deliver(self, run: _HookRun, report: DispatchReport) -> None:
        if self._out_of_time(run.hook):  # before reading contents or the user's databases for nothing
            self._put_back(run, run.items, report)
            return
        sender = self.senders(run.hook)
        per_event = not isinstance(run.hook.destination, HttpDestination)
        contents = self._contents(run)
        pending = list(run.items)
        data: dict[EventKey, dict[str, Any]] = {}
        if any(item.event.data_sources for item in pending):
            data, pending = self._enrich(run, report)
        while pending:
            if self._out_of_time(run.hook):
                self._put_back(run, pending, report)
                return
            chunk = next(_chunks(run.hook, pending))
            if contents or data:
                batch = [_outgoing(item, contents, data) for item in chunk]
            else:
                batch = [Outgoing(event.event_id, event.body, event.key) for _, _, event, _ in chunk]
            self._sent_any = True
            result = _send(sender, batch)
            delivered = len(chunk) if result.ok else max(0, min(result.delivered, len(chunk)))
            if delivered:
                run.delta += StatsDelta(statements=1, profiles=delivered)
                report.sent += delivered
            pending = pending[len(chunk) :]
            if result.ok:
                continue
            undelivered = chunk[delivered:]
            if result.retryable:
                # The destination is unwell: what is left of this hook's batch waits with the rest.
                self._handle_failure(run, undelivered + pending, result, report)
                return
            if per_event:
                # A broker refused one record (the first it did not take): only that one is given up on.
                self._handle_failure(run, undelivered[:1], result, report)
                pending = undelivered[1:] + pending
            else:
                self._handle_failure(run, undelivered, result, report)

    def _queue(
        self, sink: MessageSink, bodies: list[str], delay_seconds: int, items: list[Item], report: DispatchReport
    ) -> bool:
        """Send the bodies made of the items; False when the queue refused them. Not lost then: the items'
        original messages are reported as failures, and come back from the hook queue as they were."""
        try:
            sink.send(bodies, delay_seconds=delay_seconds)
        except EnqueueError as exc:
            hook_id = items[0].origin.hook_id
            logger.error("hook %s: could not queue %d event(s): %s", hook_id, len(items), exc)
            report.failed_message_ids.update(item.message.message_id for item in items)
            return False
        return True

    def _put_back(self, run: _HookRun, items: list[Item], report: DispatchReport) -> None:
        """Events there is no time left to send go back on the queue as they came, for another invocation."""
        if not self._queue(self.retries, _requeued(run.hook.id, items), 0, items, report):
            return
        logger.info(
            "hook %s: %d event(s) put back: the invocation has no time left to send them", run.hook.id, len(items)
        )
        report.deferred += len(items)

    def _defer(self, hook: Hook, items: list[Item], report: DispatchReport) -> bool:
        """Put a short batch back until its oldest event has waited max_wait_seconds, all of it to come back
        at that moment (then it goes, full or not). True when deferred."""
        destination = hook.destination
        if not isinstance(destination, HttpDestination) or not destination.max_wait_seconds:
            return False
        if len(items) >= destination.batch_size:
            return False
        messages = {item.message.message_id: item for item in items}  # a message's events come back with it
        queued = [item.origin.queued_at for item in messages.values() if item.origin.queued_at is not None]
        if not queued:
            return False
        wait = math.ceil(min(queued) + destination.max_wait_seconds - self.clock().timestamp())
        if wait <= 0:
            return False
        bodies = [item.message.body for item in messages.values()]
        if self._queue(self.retries, bodies, min(wait, MAX_DELAY_SECONDS), items, report):
            report.deferred += len(items)
        return True

    def _enrich(self, run: _HookRun, report: DispatchReport) -> tuple[dict[EventKey, dict[str, Any]], list[Item]]:
        """The data-source rows of the events that ask for them (by Item.key), and the events to send: those
        whose rows could not be read are retried or given up on like an undelivered event."""
        from sqlsync.hooks.enrichment import enrich

        enrichment = enrich(
            self.data_sources, run.hook.account_id, ((item.key, item.event.data_sources) for item in run.items)
        )
        by_problem: dict[DeliveryResult, list[Item]] = defaultdict(list)
        for item in run.items:
            problem = enrichment.failed.get(item.key)
            if problem is not None:
                by_problem[problem].append(item)
        for problem, items in by_problem.items():
            self._handle_failure(run, items, problem, report)
        return enrichment.data, [item for item in run.items if item.key not in enrichment.failed]

    def _contents(self, run: _HookRun) -> dict[ContentKey, dict[str, Any]]:
        """The kept contents of the run's events, for a hook that includes them (gone after the retention)."""
        if not run.hook.include_content or self.contents is None:
            return {}
        keys = [_parse_content_key(item.event.content_key) for item in run.items if item.event.content_key]
        if not keys:
            return {}
        try:
            found = self.contents.get_many(keys, self.clock())
        except StoreError as exc:  # sent without content rather than not at all: content is best effort
            logger.warning("hook %s: message contents could not be read: %s", run.hook.id, exc)
            return {}
        return found

    def _handle_failure(
        self,
        run: _HookRun,
        undelivered: list[Item],
        result: DeliveryResult,
        report: DispatchReport,
    ) -> None:
        detail = result.detail or "delivery failed"
        logger.warning("hook %s: %d event(s) not delivered: %s", run.hook.id, len(undelivered), detail)
        again: list[Item] = []
        given_up: list[Item] = []
        for item in undelivered:
            (again if result.retryable and item.origin.attempt < self.retry_times else given_up).append(item)
        delay = self.retry_period_seconds
        if result.retry_after is not None:
            delay = max(delay, math.ceil(result.retry_after))
        delay = min(delay, MAX_DELAY_SECONDS)
        for items, sink, delay_seconds in ((again, self.retries, delay), (given_up, self.dead_letters, 0)):
            if not items:
                continue
            bodies = _requeued(run.hook.id, items, 1 if sink is self.retries else 0, detail[:2000])
            if not self._queue(sink, bodies, delay_seconds, items, report):
                continue
            if sink is self.retries:
                report.retried += len(items)
                run.delta += StatsDelta(retried=len(items))
            else:
                report.dead_lettered += len(items)
                run.delta += StatsDelta(errors=len(items))
        run.delta += StatsDelta(last_error=detail)


EventKey = tuple[str, int]
"""An event of an invocation: its SQS message's id and its position in the message (event ids may repeat)."""


class Item(NamedTuple):
    """One event to deliver: the SQS message it came in, that message read back, the event and its position
    in the message."""

    message: QueueMessage
    origin: HookMessage
    event: Queued
    position: int

    @property
    def key(self) -> EventKey:
        return (self.message.message_id, self.position)


def _requeued(hook_id: str, items: list[Item], more_attempts: int = 0, last_error: str | None = None) -> list[str]:
    """The events as new hook-queue messages, each keeping when it was queued, its attempt count (plus
    `more_attempts`) and its last error (unless `last_error` replaces it), in order within each."""
    runs: dict[tuple[int, float | None, str | None], list[Queued]] = defaultdict(list)
    for item in items:
        origin = item.origin
        error = origin.last_error if last_error is None else last_error
        runs[(origin.attempt + more_attempts, origin.queued_at, error)].append(item.event)
    return [
        body
        for (attempt, queued_at, error), events in runs.items()
        for body in pack(hook_id, events, queued_at, attempt, error)
    ]


def _longest_send(hook: Hook) -> float:
    """How long one send to the hook's destination may take: HTTP's connect and read timeouts (one
    `timeout_seconds` for both: HttpSender), and a second for the address check."""
    destination = hook.destination
    if isinstance(destination, HttpDestination):
        return destination.timeout_seconds + 1
    return BROKER_SEND_SECONDS


def _outgoing(item: Item, contents: dict[ContentKey, dict[str, Any]], data: dict[EventKey, dict[str, Any]]) -> Outgoing:
    event = item.event
    body = event.body
    if event.content_key is not None:
        content = contents.get(_parse_content_key(event.content_key))
        if content is not None:
            body = with_content(body, content)
    rows = data.get(item.key)
    if rows is not None:
        body = with_json_param(body, rows)
    return Outgoing(event.event_id, body, event.key)


def _parse_content_key(text: str) -> ContentKey:
    account_id, message_id, profile_id = text.split("#", 2)
    return (int(account_id), int(message_id), profile_id)


def _chunks(hook: Hook, items: list[Item]) -> Iterator[list[Item]]:
    """HTTP: requests of at most batch_size events. Brokers: sessions of BROKER_SESSION_EVENTS at most, one
    message per event."""
    size = hook.destination.batch_size if isinstance(hook.destination, HttpDestination) else BROKER_SESSION_EVENTS
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _send(sender: Sender, batch: list[Outgoing]) -> DeliveryResult:
    try:
        return sender.send(batch)
    except Exception as exc:  # a sender's bug must not lose the batch: it is retried like a timeout
        logger.exception("sender failed")
        return DeliveryResult(ok=False, delivered=0, retryable=True, detail=f"{type(exc).__name__}: {exc}")
