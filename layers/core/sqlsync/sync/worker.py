"""The sync worker: queue messages -> the integrations' SQL on their targets, in order, nothing lost.

For each (integration, segment) of a batch, events are taken in version order. Profile events are
collapsed to the newest change per profile, checked against the membership ledger (a conditional write
per profile: an older event never overwrites a newer one), chunked by the integration's batch size,
rendered and executed in one transaction per chunk. The collapse needs only the messages' envelopes: a
message's fields are read when its profiles' turn comes, while the transaction before them runs.

A chunk that fails on its data is bisected until the failing profiles are isolated; a target that is down
fails the whole chunk for a later retry. After a commit the ledger is read again: a profile whose entry
moved on while we ran (another worker, a clear) is applied again from the ledger's current state, so the
last SQL to commit is always the newest.

A paused integration runs nothing: its events are claimed in the ledger all the same and the segment is
marked pending; the catch-up request queued on resume applies what the ledger holds from the mark on,
through the same chunks (docs/pause-and-resume.md).
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from pydantic import ValidationError

from sqlsync.collector import collector_paused
from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.exceptions import RenderError
from sqlsync.gil import prompt_handoffs
from sqlsync.models.events import CatchUpRequest, EventType, ResyncRequest, Segment, SegmentEvent
from sqlsync.models.integrations import Integration
from sqlsync.store.base import (
    HeldEvent,
    HeldKind,
    LedgerStore,
    Membership,
    MembershipState,
    Pending,
    StatsDelta,
    StatsStore,
)
from sqlsync.sync.catchup import config_version, flush_message, stamp
from sqlsync.sync.exceptions import EnqueueError
from sqlsync.sync.queue import MessageSink, QueueMessage
from sqlsync.sync.targets import TargetResolver, target_key
from sqlsync.sync.wire import QueuedEvent, UnreadableBody, decode, describe
from sqlsync.template import CompiledTemplate, compile_template

logger = logging.getLogger(__name__)

IntegrationSource = Callable[[int], Sequence[Integration]]
RECONCILE_ROUNDS = 5
CONFLICT_ATTEMPTS = 4
CONFLICT_BACKOFF_SECONDS = 0.02
_STATE_EVENT: dict[MembershipState, EventType] = {
    "in": EventType.PROFILES_ADDED,
    "out": EventType.PROFILES_REMOVED,
}


class Change(NamedTuple):
    """The newest change of one profile in this batch, and the message that carried it (a tuple: one
    is made per profile, on the hot path). Chunks are made of changes of one state."""

    profile_id: str
    version: str
    state: MembershipState
    fields: Mapping[str, Any]
    message_id: str
    event: SegmentEvent
    fields_json: str | None = None
    """The fields as queued, kept by the ledger as they are (see Membership)."""


# Per change, without a Python call each (NamedTuple's own __new__ is one).
_new_change: Callable[[tuple[Any, ...]], Change] = partial(tuple.__new__, Change)
_VERSION_OF = itemgetter(Change._fields.index("version"))
_FIELDS_OF = itemgetter(Change._fields.index("fields"))


@dataclass
class SyncReport:
    failed_message_ids: set[str] = field(default_factory=set)
    statements: int = 0
    profiles: int = 0
    errors: int = 0
    skipped: int = 0
    held: int = 0
    """Changes of paused integrations kept in the ledger for the catch-up on resume (not profiles synced)."""
    errors_by_integration: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class SyncWorker:
    def __init__(
        self,
        integrations: IntegrationSource,
        ledger: LedgerStore,
        stats: StatsStore,
        targets: Callable[[Integration], Target] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        queue: MessageSink | None = None,
    ) -> None:
        self.integrations = integrations
        self.ledger = ledger
        self.stats = stats
        self.targets = targets or TargetResolver()
        self.clock = clock
        self.queue = queue
        """The sync queue, for the delayed flush of a batch gathered under a batch_timeout. Without it
        (tests, tools) batch_timeout is not honoured: every delivery is applied at once."""
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The thread that runs the chunks' transactions while the next chunk is prepared (one: a run's
        transactions go to its target one at a time, in order)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sync-execute")
        return self._executor

    def process(self, messages: Sequence[QueueMessage]) -> SyncReport:
        """Apply a batch of queue messages; the report names the messages to retry."""
        with collector_paused():
            return self._process(messages)

    def _process(self, messages: Sequence[QueueMessage]) -> SyncReport:
        report = SyncReport()
        groups: dict[tuple[str, int], list[tuple[QueuedEvent, str]]] = defaultdict(list)
        by_id: dict[str, Integration] = {}
        requests: list[tuple[ResyncRequest | CatchUpRequest, str]] = []
        for message in messages:
            parsed = _parse(message)
            if parsed is None:
                # Never dropped: it goes back, and after maxReceiveCount to the dead-letter queue.
                report.failed_message_ids.add(message.message_id)
            elif not isinstance(parsed, QueuedEvent):
                requests.append((parsed, message.message_id))
            else:
                event = parsed.event
                database_id = event.database.id if event.database is not None else None
                # A paused integration's events are grouped too: its run holds them (see _SegmentRun).
                covering = [
                    integration
                    for integration in self.integrations(event.account_id)
                    if integration.covers(event.account_id, event.segment.id, database_id)
                ]
                if len(covering) > 1:
                    with suppress(ValidationError, UnreadableBody):  # each run records it, as for one
                        parsed = parsed.read_once()
                for integration in covering:
                    by_id[integration.id] = integration
                    groups[(integration.id, event.segment.id)].append((parsed, message.message_id))
        down: set[str] = set()
        deltas: dict[str, StatsDelta] = defaultdict(StatsDelta)
        for (integration_id, segment_id), items in groups.items():
            integration = by_id[integration_id]
            if integration.active and target_key(integration) in down:
                report.failed_message_ids.update(message_id for _, message_id in items)
                continue
            run = _SegmentRun(self, integration, segment_id)
            try:
                run.run(items)
            except TargetError as exc:
                if exc.conflict:  # still losing races after its attempts: these messages come back later
                    run.fail_all(items, f"transaction conflict: {exc}")
                else:
                    down.add(target_key(integration))
                    run.fail_all(items, f"target unavailable: {exc}")
            _merge(report, run, deltas)
        for request, message_id in requests:
            if isinstance(request, ResyncRequest):
                self.resync(request, message_id, report, deltas, down)
            else:
                self.catch_up(request, message_id, report, deltas, down)
        at = self.clock()
        for integration_id, delta in deltas.items():
            self.stats.add(integration_id, at, delta)
        return report

    def resync(
        self,
        request: ResyncRequest,
        message_id: str,
        report: SyncReport,
        deltas: dict[str, StatsDelta],
        down: set[str],
    ) -> None:
        integration = self._integration_of(request)
        if integration is None:
            logger.warning("resync %s: integration %s is gone; dropped", request.id, request.integration_id)
            return
        self._run_request(integration, request.segment_id, message_id, report, deltas, down, request)

    def catch_up(
        self,
        request: CatchUpRequest,
        message_id: str,
        report: SyncReport,
        deltas: dict[str, StatsDelta],
        down: set[str],
    ) -> None:
        """Apply what the ledger kept for a segment while its integration was paused (if it is active)."""
        integration = self._integration_of(request)
        if integration is None:
            logger.warning("catch-up %s: integration %s is gone; dropped", request.id, request.integration_id)
        elif config_version(integration) < stamp(request.resumed_at):
            # This worker's cached configuration predates the resume (it may still say "paused"): back to
            # the queue, to run after the cache expired (the visibility timeout is longer than its TTL).
            logger.info("catch-up %s: configuration older than the resume; retried later", request.id)
            report.failed_message_ids.add(message_id)
        elif not integration.active:
            logger.info(
                "catch-up %s: integration %s is paused again; its resume catches up", request.id, integration.id
            )
        elif request.segment_id not in integration.segment_ids:
            logger.info("catch-up %s: segment %s is no longer synced; dropped", request.id, request.segment_id)
        else:
            self._run_request(integration, request.segment_id, message_id, report, deltas, down, request)

    def _integration_of(self, request: ResyncRequest | CatchUpRequest) -> Integration | None:
        found = [i for i in self.integrations(request.account_id) if i.id == request.integration_id]
        return found[0] if found else None

    def _run_request(
        self,
        integration: Integration,
        segment_id: int,
        message_id: str,
        report: SyncReport,
        deltas: dict[str, StatsDelta],
        down: set[str],
        request: ResyncRequest | CatchUpRequest,
    ) -> None:
        if target_key(integration) in down:
            report.failed_message_ids.add(message_id)
            return
        run = _SegmentRun(self, integration, segment_id)
        try:
            if isinstance(request, ResyncRequest):
                run.resync(request, message_id)
            else:
                run.catch_up(request, message_id)
        except TargetError as exc:
            down.add(target_key(integration))
            run.failed.add(message_id)
            run.errors.append(f"target unavailable: {exc}")
        _merge(report, run, deltas)


def _parse(message: QueueMessage) -> QueuedEvent | ResyncRequest | CatchUpRequest | None:
    """The message's event or request; None (logged) when unreadable."""
    try:
        return decode(message.body)
    except (ValidationError, UnreadableBody) as exc:
        logger.error("unreadable message %s: %s", message.message_id, describe(exc))
        return None


def _merge(report: SyncReport, run: _SegmentRun, deltas: dict[str, StatsDelta]) -> None:
    report.failed_message_ids |= run.failed
    report.statements += run.statements
    report.profiles += run.profiles
    report.errors += len(run.errors)
    report.skipped += run.skipped
    report.held += run.held
    report.errors_by_integration[run.integration.id].extend(run.errors)
    if run.holding and not run.errors:
        return  # nothing to count: a held change is neither a profile synced nor an error
    deltas[run.integration.id] += StatsDelta(
        statements=run.statements,
        profiles=run.profiles,
        errors=len(run.errors),
        last_error=run.errors[-1] if run.errors else None,
    )


class _SegmentRun:
    """The events of one batch for one (integration, segment), or one request (resync, catch-up).

    For a paused integration (`holding`) the same flow claims changes in the ledger but executes nothing:
    each change claimed, and each cleared/deleted/upserted event kept (`hold_event`), lowers `held_since`,
    which marks the segment pending once the run is over (after the claims, see `LedgerStore.mark_pending`).
    """

    def __init__(self, worker: SyncWorker, integration: Integration, segment_id: int) -> None:
        self.worker = worker
        self.ledger = worker.ledger
        self.integration = integration
        self.segment_id = segment_id
        self._target: Target | None = None
        self.failed: set[str] = set()
        self.errors: list[str] = []
        self.statements = 0
        self.profiles = 0
        self.skipped = 0
        self.holding = not integration.active
        self.gathering = integration.active and integration.batch_timeout > 0 and worker.queue is not None
        """Held like a paused integration's until the flush that the first hold sends, delayed by the
        batch_timeout (a delivery of batch_size changes or more is applied at once: see `run`)."""
        self.held = 0
        self.held_since: str | None = None
        self.held_events: list[tuple[HeldKind, str]] = []

    @property
    def target(self) -> Target:
        """Resolved on first use, inside `run`, so that a missing connector fails the run like a target
        that is down: the messages go back (and to the dead-letter queue), never lost."""
        if self._target is None:
            self._target = self.worker.targets(self.integration)
        return self._target

    # Flow --------------------------------------------------------------------------------

    def run(self, items: list[tuple[QueuedEvent, str]]) -> None:
        if self.gathering:
            changes = sum(len(queued.profile_ids) for queued, _ in items if queued.event.type.carries_profiles)
            self.gathering = changes < self.integration.batch_size
            self.holding = self.gathering
        profile_events: list[tuple[QueuedEvent, str]] = []
        for queued, message_id in sorted(items, key=lambda item: item[0].version):
            if queued.event.type.carries_profiles:
                profile_events.append((queued, message_id))
                continue
            self.apply_profiles(profile_events)
            profile_events = []
            self.apply_segment_event(queued.event, message_id)
        self.apply_profiles(profile_events)
        if self.holding and self.mark_held(items) and self.gathering:
            self.start_flush_timer(items)

    def fail_all(self, items: list[tuple[QueuedEvent, str]], message: str) -> None:
        self.failed.update(message_id for _, message_id in items)
        self.errors.append(message)

    def apply_profiles(self, profile_events: list[tuple[QueuedEvent, str]]) -> None:
        """Apply the newest change of each profile of these events (in version order, no other event
        between them)."""
        if not any(queued.profile_ids for queued, _ in profile_events):
            return
        cleared = self.ledger.get_cleared(self.integration.id, self.segment_id)
        parts = self.newest_changes(profile_events, cleared)
        if self.holding:
            for part in parts:
                claimed = self.claim(part)
                self.held += len(claimed)
                for change in claimed:
                    self.note_held(change.version)
            return
        self.apply_chunks(self.chunks(parts, self.claim))

    def newest_changes(
        self, profile_events: list[tuple[QueuedEvent, str]], cleared: str | None
    ) -> Iterator[list[Change]]:
        """Message by message, the changes that are their profile's newest in these events and newer than
        the last clear (the others are skipped). A message's fields are read only when it is its turn, so
        that reading them overlaps the transaction before (see apply_chunks); one that cannot be read fails
        its message, to be retried."""
        newest: dict[str, int] = {}  # profile id -> position of its newest change, counted over all events
        position = 0
        for queued, _ in profile_events:
            # Sorted by version, so a later change of the same profile replaces an earlier one.
            newest.update(zip(queued.profile_ids, range(position, position + len(queued.profile_ids)), strict=True))
            position += len(queued.profile_ids)
        collapsed = len(newest) < position
        position = 0
        for queued, message_id in profile_events:
            ids = queued.profile_ids
            start, position = position, position + len(ids)
            kept = (
                [index for index, profile_id in enumerate(ids, start) if newest[profile_id] == index]
                if collapsed
                else None
            )
            if cleared is not None and queued.version <= cleared:
                self.skipped += len(ids) if kept is None else len(kept)
                continue
            texts: Sequence[str | None] | None
            try:
                fields, texts = queued.read()
            except (ValidationError, UnreadableBody) as exc:
                self.record_failure(message_id, f"unreadable message: {describe(exc)}")
                continue
            event, version = queued.event, queued.version
            state: MembershipState = "in" if event.type is EventType.PROFILES_ADDED else "out"
            if texts is None:
                texts = [None] * len(ids)
            if kept is None:
                rows = zip(ids, repeat(version), repeat(state), fields, repeat(message_id), repeat(event), texts)
                yield list(map(_new_change, rows))
            else:
                yield [
                    Change(ids[i - start], version, state, fields[i - start], message_id, event, texts[i - start])
                    for i in kept
                ]

    def claim(self, changes: list[Change]) -> list[Change]:
        """The changes whose ledger claim succeeded (the others are older than the ledger: skipped)."""
        claims = self.ledger.claim_many(self.integration.id, self.segment_id, changes)
        claimed = [change for change, newer in zip(changes, claims, strict=True) if newer is None]
        self.skipped += len(changes) - len(claimed)
        return claimed

    def apply_segment_event(self, event: SegmentEvent, message_id: str) -> None:
        integration_id, segment_id = self.integration.id, self.segment_id
        if event.type in (EventType.CLEARED, EventType.DELETED):
            newer = self.ledger.claim_cleared(integration_id, segment_id, event.version)
            if newer is not None:
                self.skipped += 1
                return
        if event.type in (EventType.UPSERTED, EventType.DELETED):
            # The segment's own state: an upsert older than the newest upsert or delete seen is stale. A
            # delete runs whatever came before it (the platform does not reuse a deleted segment's id).
            newer = self.ledger.claim_segment(integration_id, segment_id, event.version)
            if newer is not None and event.type is EventType.UPSERTED:
                self.skipped += 1
                return
        if self.holding:
            self.hold_segment_event(event)
            return
        if not self.run_template(event, f"{event.type.value} {event.id}", message_id):
            return
        if event.type in (EventType.CLEARED, EventType.DELETED):
            # Members claimed after this clear must stay: apply them again after the DELETE committed.
            later = self.ledger.members(self.integration.id, self.segment_id, event.version)
            # Applied from the ledger without a claim, so checked again like any other chunk.
            self.apply_ledger([_as_change(entry, message_id, event) for entry in later if entry.state == "in"], False)

    # Paused integrations -----------------------------------------------------------------------------

    def note_held(self, version: str) -> None:
        if self.held_since is None or version < self.held_since:
            self.held_since = version

    def hold_segment_event(self, event: SegmentEvent) -> None:
        """Keep the event for the catch-up: only the newest cleared-or-deleted and the newest upserted count
        (a clear supersedes the clears before it; an upsert carries the segment's whole new state)."""
        kind: HeldKind = "upsert" if event.type is EventType.UPSERTED else "clear"
        if not self.ledger.hold_event(
            self.integration.id, self.segment_id, kind, event.version, event.model_dump_json()
        ):
            self.skipped += 1
            return
        self.held += 1
        self.held_events.append((kind, event.version))
        self.note_held(event.version)

    def mark_held(self, items: list[tuple[QueuedEvent, str]]) -> bool:
        """Mark the segment pending from the oldest change held, after every claim of the run; False when
        there was nothing to mark or the mark was refused (the messages then go back)."""
        if self.held_since is None:
            return False
        integration_id, segment_id = self.integration.id, self.segment_id
        if self.ledger.mark_pending(integration_id, segment_id, self.held_since, config_version(self.integration)):
            return True
        # The segment was caught up under a newer configuration than this worker's cached one: the
        # integration is active again. Undo what only a catch-up would replay and let the messages come
        # back, to be applied by then (the claims stay: a redelivered event passes its equal version).
        for kind, version in self.held_events:
            self.ledger.drop_held_event(integration_id, segment_id, kind, version)
        logger.info(
            "integration %s: configuration older than its resume; %d message(s) retried", integration_id, len(items)
        )
        self.failed.update(message_id for _, message_id in items)
        self.held = 0
        return False

    def start_flush_timer(self, items: list[tuple[QueuedEvent, str]]) -> None:
        """Send the flush of the gathered batch, delayed by the batch_timeout, unless one is on its way
        (it applies these changes too: they are marked before the timer is looked at)."""
        assert self.worker.queue is not None  # `gathering` says so
        integration_id, segment_id, timeout = self.integration.id, self.segment_id, self.integration.batch_timeout
        now = self.worker.clock()
        if not self.ledger.start_flush_timer(
            integration_id, segment_id, stamp(now + timedelta(seconds=timeout)), stamp(now)
        ):
            return
        try:
            self.worker.queue.send([flush_message(self.integration, segment_id, now)], delay_seconds=timeout)
        except EnqueueError as exc:
            # No flush would come for these changes until the next hold: let the messages come back instead.
            self.ledger.stop_flush_timer(integration_id, segment_id)
            self.failed.update(message_id for _, message_id in items)
            self.errors.append(f"segment {segment_id}: the flush of the gathered batch could not be queued: {exc}")
            logger.warning("integration %s: %s", integration_id, self.errors[-1])

    def catch_up(self, request: CatchUpRequest, message_id: str) -> None:
        """Apply what the ledger kept while the integration was paused, then remove the pending mark, only
        if no hold came meanwhile (else again, with the mark as it is now)."""
        integration_id, segment_id = self.integration.id, self.segment_id
        # A hold from now on starts the next flush timer (gathered batches): this run may not see it.
        self.ledger.stop_flush_timer(integration_id, segment_id)
        # From now on a worker whose cached configuration still says "paused" cannot mark this segment
        # (mark_pending refuses it): its events go back to the queue instead of waiting for a next resume.
        self.ledger.note_resumed(integration_id, segment_id, config_version(self.integration))
        for _ in range(RECONCILE_ROUNDS):
            pending = _held_under_mark(self.ledger.get_pending(integration_id, segment_id))
            if pending is None or not self.apply_pending(pending, request, message_id):
                return  # nothing (left) to do, or a failure recorded: the mark stays, the request comes back
            held_events: tuple[tuple[HeldKind, HeldEvent | None], ...] = (
                ("clear", pending.clear),
                ("upsert", pending.upsert),
            )
            for kind, held in held_events:
                if held is not None:
                    self.ledger.drop_held_event(integration_id, segment_id, kind, held.version)
            if self.ledger.finish_pending(integration_id, segment_id, pending.holds):
                return
        if request.reason == "batch_timeout":
            # Holds keep coming: each started its own timer after ours stopped, so their flush is on its way.
            logger.info("flush %s: the segment is still gathering; its next flush takes the rest", request.id)
            return
        logger.warning(
            "catch-up %s: the segment is still being held after %d rounds; retried later", request.id, RECONCILE_ROUNDS
        )
        self.failed.add(message_id)

    def apply_pending(self, pending: Pending, request: CatchUpRequest, message_id: str) -> bool:
        """One round of a catch-up; False when something failed (recorded)."""
        integration_id, segment_id = self.integration.id, self.segment_id
        clear = None if pending.clear is None else SegmentEvent.model_validate_json(pending.clear.body)
        upsert = None if pending.upsert is None else SegmentEvent.model_validate_json(pending.upsert.body)
        newest = upsert or clear
        # Templates see the catch-up as the event: its id, the resume time, the newest segment known.
        context = SegmentEvent(
            id=request.id,
            type=EventType.PROFILES_ADDED,
            account_id=request.account_id,
            occurred_at=request.requested_at,
            segment=newest.segment if newest is not None else Segment(id=segment_id),
        )
        if clear is not None and self.integration.templates.for_event(clear.type) is not None:
            # A clear (or delete) was held: run it once, then add every member claimed after it.
            if not self.run_template(clear, f"catch-up {request.id}: {clear.type.value} {clear.id}", message_id):
                return False
            cleared = self.ledger.get_cleared(integration_id, segment_id) or ""
            later = self.ledger.members(integration_id, segment_id, cleared)
            changes = [_as_change(entry, message_id, context) for entry in later if entry.state == "in"]
        else:
            # Every entry claimed from the mark on, in its ledger state; one older than a clear is removed.
            cleared = self.ledger.get_cleared(integration_id, segment_id) or ""
            changes = []
            for entry in self.ledger.members_since(integration_id, segment_id, pending.since):
                if cleared > entry.version:
                    entry = entry._replace(version=cleared, state="out")
                changes.append(_as_change(entry, message_id, context))
        self.apply_ledger(changes)
        if message_id in self.failed:
            return False
        return upsert is None or self.run_template(
            upsert, f"catch-up {request.id}: {upsert.type.value} {upsert.id}", message_id
        )

    def resync(self, request: ResyncRequest, message_id: str) -> None:
        """Run the segment_cleared template, then add every current member again, in chunks, checked like
        any chunk (a member that changes meanwhile is applied again in its newest state)."""
        event = SegmentEvent(
            id=request.id,
            type=EventType.CLEARED,
            account_id=request.account_id,
            occurred_at=request.requested_at,
            segment=Segment(id=self.segment_id),
        )
        template_text = self.integration.templates.segment_cleared
        if template_text is None:
            # The API refuses a resync without it, so this worker's configuration is older than the
            # request (it is cached for a while): back to the queue, to run with the newer one.
            self.record_failure(message_id, f"resync {request.id}: no segment_cleared template (yet)")
            return
        if not self.run_template(event, f"resync {request.id}", message_id):
            return
        cleared = self.ledger.get_cleared(self.integration.id, self.segment_id) or ""
        members = self.ledger.members(self.integration.id, self.segment_id, cleared)
        self.apply_ledger([_as_change(entry, message_id, event) for entry in members if entry.state == "in"])

    # Execution ---------------------------------------------------------------------------

    def apply_ledger(self, changes: Sequence[Change], count: bool = True) -> None:
        """Apply changes in chunks, each bisected on bad rows and checked again after its commit."""
        self.apply_chunks(self.chunks(_by_state(changes)), count)

    def apply_chunks(self, chunks: Iterator[list[Change]], count: bool = True) -> None:
        """Execute the chunks in order, one transaction at a time, pipelined: a chunk's transaction is queued
        on the executor thread as soon as it is rendered and starts the moment the one before it commits
        (`_Lane`); meanwhile the next chunk is claimed and rendered here, and the chunk before is checked
        against the ledger. A chunk's outcome is handled (bisected on bad rows) before the next one runs, so
        the target sees the transactions it would see without the pipeline; profiles whose entry moved on
        meanwhile are applied again once all chunks are done.

        Leaving on another error (the ledger failing a claim) waits for the transaction in flight but does
        not count or check it: the error fails the whole batch, whose messages come back and apply again."""
        lane = _Lane(self.worker.executor, self.run_transaction)
        queued: deque[_Queued] = deque()  # oldest first: one running, the next waiting behind it
        moved: list[Change] = []
        with prompt_handoffs():
            try:
                for chunk in chunks:
                    try:
                        statements: list[str] | None = self.render(chunk)
                    except RenderError:
                        statements = None
                    if statements is None:  # a bad row: bisected here, once every chunk before it is settled
                        while queued:
                            moved += self.committed(self.settle(lane, queued), count)
                        moved += self.committed(self.execute_bisecting(chunk), count)
                        continue
                    # The template may render nothing for a chunk: it then waits its turn with nothing to run.
                    queued.append(_Queued(chunk, statements, lane.submit(statements) if statements else None))
                    if len(queued) > 1:
                        moved += self.committed(self.settle(lane, queued), count)  # while the next one runs
                while queued:
                    moved += self.committed(self.settle(lane, queued), count)
            finally:
                lane.halted = True  # leaving on an error: nothing queued starts, what runs ends before we leave
                wait([entry.transaction for entry in queued if entry.transaction is not None])
        self.reconcile(moved)

    def settle(self, lane: _Lane, queued: deque[_Queued]) -> list[Change]:
        """Wait for the oldest queued chunk's transaction; the changes that committed. One that failed on its
        data is bisected here, once the chunks queued behind it have been passed over (the lane halts at a
        failure), which are then queued again; a transient error raises."""
        entry = queued.popleft()
        if entry.transaction is None:
            return entry.chunk
        try:
            ran = entry.transaction.result()
        except TargetError as exc:
            wait([later.transaction for later in queued if later.transaction is not None])
            done = self.bisect(entry.chunk, exc)
            lane.halted = False
            for later in queued:
                if later.transaction is not None:
                    later.transaction = lane.submit(later.statements)
            return done
        assert ran != _NOT_RUN, "a transaction was passed over without a failure before it"
        self.statements += ran
        return entry.chunk

    def committed(self, applied: list[Change], count: bool) -> list[Change]:
        """Count the changes that committed; those whose ledger entry moved on meanwhile, to apply again."""
        if count:
            self.profiles += len(applied)
        return self.moved_on(applied)

    def run_template(self, event: SegmentEvent, label: str, message_id: str) -> bool:
        """Run the template of a segment event (none set: nothing to do); False when it failed (recorded)."""
        template_text = self.integration.templates.for_event(event.type)
        if template_text is None:
            return True
        try:
            self.execute(self.compiled(template_text).render(event_context(event), []))
        except (RenderError, TargetError) as exc:
            if isinstance(exc, TargetError) and exc.transient:
                raise
            self.record_failure(message_id, f"{label}: {exc}")
            return False
        return True

    def execute_bisecting(self, chunk: list[Change]) -> list[Change]:
        """Run the chunk; on a data error split it until the failing profiles are isolated.

        Returns the changes that committed. A transient error (the target is down) propagates; a
        statement-level error (bad template, missing table) fails the chunk whole: no row is to blame."""
        try:
            self.execute(self.render(chunk))
            return chunk
        except (RenderError, TargetError) as exc:
            return self.bisect(chunk, exc)

    def bisect(self, chunk: list[Change], exc: RenderError | TargetError) -> list[Change]:
        """The changes of a failed chunk that commit when it is split until the failing ones are alone."""
        if isinstance(exc, TargetError) and exc.transient:
            raise exc
        if isinstance(exc, TargetError) and exc.statement_level:
            self.failed.update(change.message_id for change in chunk)
            self.record_failure(chunk[0].message_id, f"{len(chunk)} profile(s) not applied: {exc}")
            return []
        if len(chunk) == 1:
            change = chunk[0]
            self.record_failure(change.message_id, f"profile {change.profile_id}: {exc}")
            return []
        middle = len(chunk) // 2
        return self.execute_bisecting(chunk[:middle]) + self.execute_bisecting(chunk[middle:])

    def chunks(
        self, parts: Iterable[list[Change]], claim: Callable[[list[Change]], list[Change]] | None = None
    ) -> Iterator[list[Change]]:
        """Chunks of at most batch_size changes, each of one state (one template per chunk), from parts of
        one state each, read as the chunks are asked for: the added profiles' chunks as they fill, the
        removed ones' after them. With `claim`, a chunk's worth is claimed at a time and only what it keeps
        goes on: the claims of the next chunk run while the pipeline executes this one."""
        size = self.integration.batch_size
        unclaimed: dict[MembershipState, list[Change]] = {"in": [], "out": []}
        ready: dict[MembershipState, list[Change]] = {"in": [], "out": []}
        for part in parts:
            if not part:
                continue
            state = part[0].state
            waiting, taken = unclaimed[state], 0
            waiting += part  # in place: many small parts cost their own length, not the waiting list's
            while len(waiting) - taken >= size:
                piece, taken = waiting[taken : taken + size], taken + size
                ready[state] += piece if claim is None else claim(piece)
                while state == "in" and len(ready["in"]) >= size:  # less than two chunks' worth: cheap slices
                    yield ready["in"][:size]
                    ready["in"] = ready["in"][size:]
            if taken:
                unclaimed[state] = waiting[taken:]
        for state in ("in", "out"):
            waiting = unclaimed[state]
            last = ready[state] + (waiting if claim is None or not waiting else claim(waiting))
            for start in range(0, len(last), size):
                yield last[start : start + size]

    def render(self, chunk: list[Change]) -> list[str]:
        template_text = self.integration.templates.for_event(_STATE_EVENT[chunk[0].state])
        assert template_text is not None  # the profile templates are mandatory
        newest = max(chunk, key=_VERSION_OF).event
        compiled = self.compiled(template_text)
        if compiled.reads_lead_id:
            leads = [{"_id": change.profile_id, **change.fields} for change in chunk]  # as_lead, without a call each
        else:
            leads = list(map(_FIELDS_OF, chunk))  # what the template reads of a lead is all in its fields
        return compiled.render(event_context(newest), leads)

    def execute(self, statements: list[str]) -> None:
        """One transaction; one that loses a race with another (deadlock, serialization failure) runs again
        at once, a few times, before it counts as the target's failure."""
        if statements:
            self.statements += self.run_transaction(statements)

    def run_transaction(self, statements: list[str]) -> int:
        """Run the statements in one transaction, again if it loses a race; the number of statements run."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.target.execute(statements)
                return len(statements)
            except TargetError as exc:
                if not exc.conflict or attempt + 1 == CONFLICT_ATTEMPTS:
                    raise
                logger.info("integration %s: %s; running the transaction again", self.integration.id, exc)
                time.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * 2**attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def compiled(self, source: str) -> CompiledTemplate:
        return compile_template(source, self.target.dialect, self.integration.name)

    def record_failure(self, message_id: str, message: str) -> None:
        logger.warning("integration %s: %s", self.integration.id, message)
        self.failed.add(message_id)
        self.errors.append(message)

    def reconcile(self, redo: list[Change]) -> None:
        """Apply changes again until none has moved on meanwhile: the last SQL to commit is the newest."""
        for _ in range(RECONCILE_ROUNDS):
            if not redo:
                return
            applied = [change for chunk in self.chunks(_by_state(redo)) for change in self.execute_bisecting(chunk)]
            redo = self.moved_on(applied)
        if redo:
            logger.warning(
                "integration %s: profiles still changing after %d rounds", self.integration.id, RECONCILE_ROUNDS
            )

    def moved_on(self, applied: list[Change]) -> list[Change]:
        """The profiles whose ledger entry moved on (another worker, a clear) while their change ran, in the
        ledger's current state."""
        if not applied:
            return []
        integration_id, segment_id = self.integration.id, self.segment_id
        versions = self.ledger.get_versions(integration_id, segment_id, [change.profile_id for change in applied])
        cleared = self.ledger.get_cleared(integration_id, segment_id) or ""
        moved = [
            change
            for change in applied
            # max(version, cleared) != change.version, without a call per profile
            if (version := versions.get(change.profile_id)) is not None
            and (version if version > cleared else cleared) != change.version
        ]
        if not moved:
            return []
        current = self.ledger.get_members(integration_id, segment_id, [change.profile_id for change in moved])
        redo: list[Change] = []
        for change in moved:
            entry = current[change.profile_id]
            if cleared > entry.version:
                entry = entry._replace(version=cleared, state="out")
            redo.append(_as_change(entry, change.message_id, change.event))
        return redo


_NOT_RUN = -1


class _Lane:
    """Transactions run one after another on the executor thread, each the moment the one before it ends,
    without waiting for this thread to hand it over: the database is kept busy while this thread prepares
    the next chunk. After a failure the transactions queued behind it are passed over (their result is
    _NOT_RUN) until `halted` is cleared: the failed chunk is bisected first, as without the pipeline."""

    def __init__(self, executor: ThreadPoolExecutor, run: Callable[[list[str]], int]) -> None:
        self.executor = executor
        self.run = run
        self.halted = False

    def submit(self, statements: list[str]) -> Future[int]:
        return self.executor.submit(self._run, statements)

    def _run(self, statements: list[str]) -> int:
        if self.halted:
            return _NOT_RUN
        try:
            return self.run(statements)
        except BaseException:
            self.halted = True
            raise


@dataclass(slots=True)
class _Queued:
    """A chunk in the lane; `transaction` is None when its template rendered nothing to run."""

    chunk: list[Change]
    statements: list[str]
    transaction: Future[int] | None


def _held_under_mark(pending: Pending | None) -> Pending | None:
    """The mark with the held events that belong to it. A hold lowers the mark to its event's version, so
    an event older than the mark was held before the last catch-up and left over (a worker stopped between
    keeping it and finding its configuration stale): replaying it could undo a newer one."""
    if pending is None:
        return None
    return replace(
        pending,
        clear=pending.clear if pending.clear is not None and pending.clear.version >= pending.since else None,
        upsert=pending.upsert if pending.upsert is not None and pending.upsert.version >= pending.since else None,
    )


def _by_state(changes: Sequence[Change]) -> list[list[Change]]:
    return [[change for change in changes if change.state == state] for state in ("in", "out")]


def _as_change(entry: Membership, message_id: str, event: SegmentEvent) -> Change:
    return Change(entry.profile_id, entry.version, entry.state, entry.fields, message_id, event)


def as_lead(profile_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A profile as templates see it: its fields, and its id as `_id` unless a field has that name."""
    return {"_id": profile_id, **fields}


def event_context(event: SegmentEvent) -> dict[str, Any]:
    """The values a template sees besides the profiles: {segment_id}, {segment_name}, {event_time}..."""
    return {
        "segment_id": event.segment.id,
        "segment_name": event.segment.name,
        "event_id": event.id,
        "event_time": event.occurred_at.astimezone(UTC).isoformat(),
        "account_id": event.account_id,
    }
