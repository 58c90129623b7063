"""The sync worker: queue messages -> the integrations' SQL on their targets, in order, nothing lost.

For each (integration, segment) of a batch, events are taken in version order. Profile events are
collapsed to the newest change per profile, checked against the membership ledger (a conditional write
per profile: an older event never overwrites a newer one), chunked by the integration's batch size,
rendered and executed in one transaction per chunk. A chunk that fails on its data is bisected until the
failing profiles are isolated; a target that is down fails the whole chunk for a later retry. After a
commit the ledger is read again: a profile whose entry moved on while we ran (another worker, a clear)
is applied again from the ledger's current state, so the last SQL to commit is always the newest.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.exceptions import RenderError
from sqlsync.models.events import EventType, ResyncRequest, Segment, SegmentEvent
from sqlsync.models.integrations import Integration
from sqlsync.store.base import LedgerStore, Membership, MembershipState, StatsDelta, StatsStore
from sqlsync.sync.targets import TargetResolver, target_key
from sqlsync.template import CompiledTemplate, compile_template

logger = logging.getLogger(__name__)

IntegrationSource = Callable[[int], Sequence[Integration]]
RECONCILE_ROUNDS = 5
_STATE_EVENT: dict[MembershipState, EventType] = {
    "in": EventType.PROFILES_ADDED,
    "out": EventType.PROFILES_REMOVED,
}


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    body: str


class Change(NamedTuple):
    """The newest change of one profile in this batch, and the message that carried it (a tuple: one
    is made per profile, on the hot path)."""

    profile_id: str
    version: str
    state: MembershipState
    fields: Mapping[str, Any]
    message_id: str
    event: SegmentEvent

    def membership(self) -> Membership:
        return Membership(self.profile_id, self.version, self.state, self.fields)


@dataclass
class SyncReport:
    failed_message_ids: set[str] = field(default_factory=set)
    statements: int = 0
    profiles: int = 0
    errors: int = 0
    skipped: int = 0
    errors_by_integration: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class SyncWorker:
    def __init__(
        self,
        integrations: IntegrationSource,
        ledger: LedgerStore,
        stats: StatsStore,
        targets: Callable[[Integration], Target] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.integrations = integrations
        self.ledger = ledger
        self.stats = stats
        self.targets = targets or TargetResolver()
        self.clock = clock

    def process(self, messages: Sequence[QueueMessage]) -> SyncReport:
        """Apply a batch of queue messages; the report names the messages to retry."""
        report = SyncReport()
        groups: dict[tuple[str, int], list[tuple[SegmentEvent, str]]] = defaultdict(list)
        by_id: dict[str, Integration] = {}
        resyncs: list[tuple[ResyncRequest, str]] = []
        for message in messages:
            try:
                # Resync requests are written by ResyncRequest.model_dump_json, so they start like this;
                # checked by prefix so that the hot path parses each event once.
                if message.body.startswith('{"kind":"resync"'):
                    resyncs.append((ResyncRequest.model_validate_json(message.body), message.message_id))
                    continue
                event = SegmentEvent.model_validate_json(message.body)
            except ValidationError as exc:
                # Never dropped: it goes back, and after maxReceiveCount to the dead-letter queue.
                logger.error("unreadable message %s: %s", message.message_id, exc.errors()[:3])
                report.failed_message_ids.add(message.message_id)
                continue
            for integration in self.integrations(event.account_id):
                if (
                    integration.active
                    and integration.account_id == event.account_id
                    and event.segment.id in integration.segment_ids
                ):
                    by_id[integration.id] = integration
                    groups[(integration.id, event.segment.id)].append((event, message.message_id))
        down: set[str] = set()
        deltas: dict[str, StatsDelta] = defaultdict(StatsDelta)
        for (integration_id, segment_id), items in groups.items():
            integration = by_id[integration_id]
            if target_key(integration) in down:
                report.failed_message_ids.update(message_id for _, message_id in items)
                continue
            run = _SegmentRun(self, integration, segment_id)
            try:
                run.run(items)
            except TargetError as exc:
                down.add(target_key(integration))
                run.fail_all(items, f"target unavailable: {exc}")
            _merge(report, run, deltas)
        for request, message_id in resyncs:
            self.resync(request, message_id, report, deltas, down)
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
        found = [i for i in self.integrations(request.account_id) if i.id == request.integration_id]
        if not found:
            logger.warning("resync %s: integration %s is gone; dropped", request.id, request.integration_id)
            return
        integration = found[0]
        if target_key(integration) in down:
            report.failed_message_ids.add(message_id)
            return
        run = _SegmentRun(self, integration, request.segment_id)
        try:
            run.resync(request, message_id)
        except TargetError as exc:
            down.add(target_key(integration))
            run.failed.add(message_id)
            run.errors.append(f"target unavailable: {exc}")
        _merge(report, run, deltas)


def _merge(report: SyncReport, run: _SegmentRun, deltas: dict[str, StatsDelta]) -> None:
    report.failed_message_ids |= run.failed
    report.statements += run.statements
    report.profiles += run.profiles
    report.errors += len(run.errors)
    report.skipped += run.skipped
    report.errors_by_integration[run.integration.id].extend(run.errors)
    old = deltas[run.integration.id]
    deltas[run.integration.id] = StatsDelta(
        statements=old.statements + run.statements,
        profiles=old.profiles + run.profiles,
        errors=old.errors + len(run.errors),
        last_error=run.errors[-1] if run.errors else old.last_error,
    )


class _SegmentRun:
    """The events of one batch for one (integration, segment)."""

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

    @property
    def target(self) -> Target:
        """Resolved on first use, inside `run`, so that a missing connector fails the run like a target
        that is down: the messages go back (and to the dead-letter queue), never lost."""
        if self._target is None:
            self._target = self.worker.targets(self.integration)
        return self._target

    # Flow --------------------------------------------------------------------------------

    def run(self, items: list[tuple[SegmentEvent, str]]) -> None:
        pending: dict[str, Change] = {}
        for event, message_id in sorted(items, key=lambda item: item[0].version):
            if event.type.carries_profiles:
                state: MembershipState = "in" if event.type is EventType.PROFILES_ADDED else "out"
                version = event.version
                for profile in event.profiles:
                    # Sorted by version, so a later change of the same profile replaces an earlier one.
                    pending[profile.id] = Change(profile.id, version, state, profile.fields, message_id, event)
                continue
            self.apply_profiles(list(pending.values()))
            pending.clear()
            self.apply_segment_event(event, message_id)
        self.apply_profiles(list(pending.values()))

    def fail_all(self, items: list[tuple[SegmentEvent, str]], message: str) -> None:
        self.failed.update(message_id for _, message_id in items)
        self.errors.append(message)

    def apply_profiles(self, changes: list[Change]) -> None:
        if not changes:
            return
        integration_id, segment_id = self.integration.id, self.segment_id
        cleared = self.ledger.get_cleared(integration_id, segment_id)
        fresh = [change for change in changes if cleared is None or change.version > cleared]
        claims = self.ledger.claim_many(integration_id, segment_id, [change.membership() for change in fresh])
        claimed = [change for change, newer in zip(fresh, claims, strict=True) if newer is None]
        self.skipped += len(changes) - len(claimed)
        for chunk in self.chunks(claimed):
            applied = self.execute_bisecting(chunk)
            self.profiles += len(applied)
            self.reconcile(applied)

    def apply_segment_event(self, event: SegmentEvent, message_id: str) -> None:
        if event.type in (EventType.CLEARED, EventType.DELETED):
            newer = self.ledger.claim_cleared(self.integration.id, self.segment_id, event.version)
            if newer is not None:
                self.skipped += 1
                return
        template_text = self.integration.templates.for_event(event.type)
        if template_text is not None:
            template = self.compiled(template_text)
            try:
                self.execute(template.render(event_context(event), []))
            except (RenderError, TargetError) as exc:
                if isinstance(exc, TargetError) and exc.transient:
                    raise
                self.record_failure(message_id, f"{event.type.value} {event.id}: {exc}")
                return
        if event.type in (EventType.CLEARED, EventType.DELETED):
            # Members claimed after this clear must stay: apply them again after the DELETE committed.
            later = self.ledger.members(self.integration.id, self.segment_id, event.version)
            members = [_as_change(entry, message_id, event) for entry in later if entry.state == "in"]
            for chunk in self.chunks(members):
                # Applied from the ledger without a claim, so checked again like any other chunk.
                self.reconcile(self.execute_bisecting(chunk))

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
        try:
            self.execute(self.compiled(template_text).render(event_context(event), []))
        except (RenderError, TargetError) as exc:
            if isinstance(exc, TargetError) and exc.transient:
                raise
            self.record_failure(message_id, f"resync {request.id}: {exc}")
            return
        cleared = self.ledger.get_cleared(self.integration.id, self.segment_id) or ""
        members = self.ledger.members(self.integration.id, self.segment_id, cleared)
        current = [_as_change(entry, message_id, event) for entry in members if entry.state == "in"]
        for chunk in self.chunks(current):
            applied = self.execute_bisecting(chunk)
            self.profiles += len(applied)
            self.reconcile(applied)

    # Execution ---------------------------------------------------------------------------

    def execute_bisecting(self, chunk: list[Change]) -> list[Change]:
        """Run the chunk; on a data error split it until the failing profiles are isolated.

        Returns the changes that committed. A transient error (the target is down) propagates; a
        statement-level error (bad template, missing table) fails the chunk whole: no row is to blame."""
        try:
            self.execute(self.render(chunk))
            return chunk
        except (RenderError, TargetError) as exc:
            if isinstance(exc, TargetError) and exc.transient:
                raise
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

    def chunks(self, changes: Sequence[Change]) -> Iterator[list[Change]]:
        """Chunks of at most batch_size changes, each of one state (one template per chunk)."""
        size = self.integration.batch_size
        for state in ("in", "out"):
            same_state = [change for change in changes if change.state == state]
            for start in range(0, len(same_state), size):
                yield same_state[start : start + size]

    def render(self, chunk: list[Change]) -> list[str]:
        template_text = self.integration.templates.for_event(_STATE_EVENT[chunk[0].state])
        assert template_text is not None  # the profile templates are mandatory
        newest = max(chunk, key=lambda change: change.version).event
        leads = [as_lead(change.profile_id, change.fields) for change in chunk]
        return self.compiled(template_text).render(event_context(newest), leads)

    def execute(self, statements: list[str]) -> None:
        if statements:
            self.target.execute(statements)
            self.statements += len(statements)

    def compiled(self, source: str) -> CompiledTemplate:
        return compile_template(source, self.target.dialect, self.integration.name)

    def record_failure(self, message_id: str, message: str) -> None:
        logger.warning("integration %s: %s", self.integration.id, message)
        self.failed.add(message_id)
        self.errors.append(message)

    def reconcile(self, applied: list[Change]) -> None:
        """Apply again every profile whose ledger entry moved on while this chunk ran."""
        integration_id, segment_id = self.integration.id, self.segment_id
        for _ in range(RECONCILE_ROUNDS):
            if not applied:
                return
            versions = self.ledger.get_versions(integration_id, segment_id, [change.profile_id for change in applied])
            cleared = self.ledger.get_cleared(integration_id, segment_id) or ""
            moved = [
                change
                for change in applied
                if change.profile_id in versions and max(versions[change.profile_id], cleared) != change.version
            ]
            if not moved:
                return
            current = self.ledger.get_members(integration_id, segment_id, [change.profile_id for change in moved])
            redo: list[Change] = []
            for change in moved:
                entry = current[change.profile_id]
                if cleared > entry.version:
                    entry = replace(entry, version=cleared, state="out")
                redo.append(_as_change(entry, change.message_id, change.event))
            applied = [change for chunk in self.chunks(redo) for change in self.execute_bisecting(chunk)]
        if applied:
            logger.warning("integration %s: profiles still changing after %d rounds", integration_id, RECONCILE_ROUNDS)


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
