"""Paused integrations keep their events and catch up on resume: the worker on SQLite with the in-memory
ledger, checked against applying the same events once, in order, to an integration never paused."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sqlsync.connectors import TargetError, target_for
from sqlsync.models import Integration, SegmentEvent
from sqlsync.models.events import CatchUpRequest, EventType
from sqlsync.store.base import Pending
from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync import QueueMessage, SyncWorker
from sqlsync.sync.catchup import catch_up_messages
from sqlsync.sync.exceptions import EnqueueError
from sqlsync.sync.queue import InMemorySink
from testkit import BASE_TIME, event, integration, messages, rows, run_sql

TEMPLATES = {
    "profiles_added": "INSERT INTO members (seg, client) VALUES "
    "{for $i, $lead = $batch}({segment_id}, '{$lead.CustomID}'){autocomma}{end} ON CONFLICT (seg, client) DO NOTHING",
    "profiles_removed": 'DELETE FROM members WHERE seg = {segment_id} AND client IN ({batch_in "CustomID"})',
    "segment_cleared": "DELETE FROM members WHERE seg = {segment_id}",
    "segment_deleted": "DELETE FROM members WHERE seg = {segment_id} -- segment deleted",
    "segment_upserted": "INSERT INTO segments (seg, name) VALUES ({segment_id}, '{segment_name}') "
    "ON CONFLICT (seg) DO UPDATE SET name = excluded.name",
}
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
ADDED, REMOVED, CLEARED = "segment.profiles_added", "segment.profiles_removed", "segment.cleared"


class Switch:
    """The integration's configuration as the store holds it, paused and resumed the way the API does:
    each save moves updated_at on; a resume returns the catch-up messages the API queues."""

    def __init__(self, url: str, **overrides: Any) -> None:
        self.config = integration(url, TEMPLATES, **overrides)
        self.history = [self.config]
        self.resumes = 0

    def __call__(self, account_id: int) -> list[Integration]:
        return [self.config] if account_id == self.config.account_id else []

    def _save(self, active: bool) -> None:
        updated_at = self.config.updated_at + timedelta(seconds=1)
        self.config = self.config.model_copy(update={"active": active, "updated_at": updated_at})
        self.history.append(self.config)

    def pause(self) -> None:
        self._save(active=False)

    def resume(self) -> list[QueueMessage]:
        self._save(active=True)
        self.resumes += 1
        bodies = catch_up_messages(self.config, self.config.updated_at)
        return [QueueMessage(f"catchup-{self.resumes}-{n}", body) for n, body in enumerate(bodies)]


class Recording:
    """A real target that keeps the statements it ran, and may run a hook before one of its transactions
    (to interleave another worker at an exact point)."""

    def __init__(self, url: str) -> None:
        self.target = target_for(url)
        self.statements: list[str] = []
        self.hooks: dict[int, Callable[[], None]] = {}
        self.transactions = 0

    @property
    def dialect(self) -> Any:
        return self.target.dialect

    def execute(self, statements: list[str]) -> Any:
        self.transactions += 1
        hook = self.hooks.pop(self.transactions, None)
        if hook is not None:
            hook()
        self.statements.extend(statements)
        return self.target.execute(statements)


class Down:
    """A target that is down: every transaction fails as transient."""

    def __init__(self, url: str) -> None:
        self.dialect = target_for(url).dialect

    def execute(self, statements: list[str]) -> Any:
        raise TargetError("connection refused", transient=True)


def create_tables(url: str) -> None:
    run_sql(
        url,
        "CREATE TABLE members (seg int, client text, PRIMARY KEY (seg, client))",
        "CREATE TABLE segments (seg int PRIMARY KEY, name text)",
    )


def in_order(stream: Sequence[SegmentEvent]) -> set[str]:
    """The members after applying each event once, in version order, to an integration never paused."""
    members: set[str] = set()
    for item in sorted(stream, key=lambda e: e.version):
        if item.type in (EventType.CLEARED, EventType.DELETED):
            members.clear()
        ids = {profile.id for profile in item.profiles}
        members = members | ids if item.type is EventType.PROFILES_ADDED else members - ids
    return members


def random_stream(rng: random.Random, length: int) -> list[SegmentEvent]:
    """Adds, removes (1 to 3 of 8 profiles each) and a few clears of segment 17, one second apart."""
    stream = []
    for index in range(length):
        roll = rng.random()
        if roll < 0.06:
            stream.append(event(CLEARED, at=index))
            continue
        chosen = rng.sample([f"p{n}" for n in range(8)], rng.randint(1, 3))
        stream.append(event(ADDED if roll < 0.6 else REMOVED, chosen, at=index))
    return stream


def table(url: str) -> set[str]:
    return {client for (client,) in rows(url, "SELECT client FROM members WHERE seg = 17")}


def segment_name(url: str) -> str | None:
    found = rows(url, "SELECT name FROM segments WHERE seg = 17")
    return found[0][0] if found else None


def drain(worker: SyncWorker, batch: list[QueueMessage]) -> None:
    """Process, then redeliver what failed until nothing does (SQS would, after the visibility timeout)."""
    for _ in range(5):
        report = worker.process(batch)
        if not report.failed_message_ids:
            return
        batch = [message for message in batch if message.message_id in report.failed_message_ids]
    raise AssertionError(f"still failing: {sorted(m.message_id for m in batch)}")


@pytest.fixture
def url(sqlite_url: str) -> str:
    create_tables(sqlite_url)
    return sqlite_url


def test_events_of_a_paused_integration_are_held_then_applied_on_resume(url: str) -> None:
    # GIVEN an integration with members, then paused
    switch = Switch(url, batch_size=2)
    ledger, stats = InMemoryLedgerStore(), InMemoryStatsStore()
    worker = SyncWorker(switch, ledger, stats)
    before = [event(ADDED, ["a", "b", "c"], at=0)]
    drain(worker, messages(before))
    switch.pause()

    # WHEN events arrive while paused, out of order and one of them twice
    paused = [
        event(REMOVED, ["a"], at=10),
        event(ADDED, ["d", "e", "f"], at=11),
        event(REMOVED, ["e"], at=12),
        event(ADDED, ["a"], at=13),
    ]
    deliveries = messages(paused)
    report = worker.process([deliveries[3], deliveries[1], deliveries[0], deliveries[2], deliveries[1]])

    # THEN they succeed without touching the target, counted as held, not as profiles or errors
    assert (report.failed_message_ids, report.statements, report.profiles, report.errors) == (set(), 0, 0, 0)
    assert report.held == 4  # the newest change of a, d, e and f, each claimed in the ledger
    assert table(url) == {"a", "b", "c"}
    [bucket] = stats.query(switch.config.id, *EVER)
    assert (bucket.profiles, bucket.errors) == (3, 0)  # the three added before the pause
    assert ledger.get_pending(switch.config.id, 17) is not None

    # WHEN the integration is resumed and its catch-up runs
    catch_up = switch.resume()
    report = worker.process(catch_up)

    # THEN the target is the in-order result, in chunks of batch_size, and nothing is pending any more
    assert not report.failed_message_ids
    assert table(url) == in_order(before + paused) == {"a", "b", "c", "d", "f"}
    assert report.profiles == 4  # the entries claimed from the mark on: a, d, f added, e removed
    assert ledger.get_pending(switch.config.id, 17) is None
    # AND a second delivery of the catch-up does nothing
    again = worker.process(catch_up)
    assert (again.statements, again.failed_message_ids) == (0, set())


def test_a_profile_changed_while_paused_and_again_after_resume(url: str) -> None:
    # GIVEN profiles changed while paused
    switch = Switch(url)
    worker = SyncWorker(switch, InMemoryLedgerStore(), InMemoryStatsStore())
    drain(worker, messages([event(ADDED, ["p", "q"], at=0)]))
    switch.pause()
    paused = [event(REMOVED, ["p"], at=10), event(ADDED, ["r"], at=11)]
    drain(worker, messages(paused))
    catch_up = switch.resume()

    # WHEN, after the resume but before the catch-up runs, newer events of the same profiles arrive, and an
    # old one delivered late
    after = [event(ADDED, ["p"], at=20), event(REMOVED, ["r"], at=21)]
    late = event(REMOVED, ["q"], at=-5)
    report = worker.process(messages([*after, late]))
    assert report.skipped == 1  # the late removal of q is older than q's add
    drain(worker, catch_up)

    # THEN the catch-up does not bring back the older states: the target is the in-order result
    assert table(url) == in_order([event(ADDED, ["p", "q"], at=0), *paused, *after, late]) == {"p", "q"}


@pytest.mark.parametrize(
    ("kind", "template_mark"),
    [(CLEARED, "DELETE FROM members WHERE seg = 17"), ("segment.deleted", "-- segment deleted")],
)
def test_a_clear_or_delete_while_paused_runs_once_then_adds_the_later_members(
    url: str, kind: str, template_mark: str
) -> None:
    # GIVEN members, then while paused: changes, two clears (or deletes), more changes
    switch = Switch(url, batch_size=3)
    recording = Recording(url)
    worker = SyncWorker(switch, InMemoryLedgerStore(), InMemoryStatsStore(), targets=lambda _: recording)
    before = [event(ADDED, ["a", "b", "c"], at=0)]
    drain(worker, messages(before))
    switch.pause()
    paused = [
        event(ADDED, ["d"], at=10),
        event(kind, at=11),
        event(ADDED, ["e", "f", "g", "h"], at=12),
        event(kind, at=13),
        event(ADDED, ["a", "e", "i"], at=14),
        event(REMOVED, ["i"], at=15),
        event(ADDED, ["j"], at=9),  # older than the clears: it stays cleared
    ]
    deliveries = messages(paused)
    random.Random(1).shuffle(deliveries)
    for message in deliveries:
        drain(worker, [message])
    recording.statements.clear()

    # WHEN the catch-up runs
    drain(worker, switch.resume())

    # THEN the clear's template ran once, then the members claimed after the newest clear were added
    assert table(url) == in_order(before + paused) == {"a", "e"}
    clears = [sql for sql in recording.statements if "client" not in sql]
    assert len(clears) == 1 and template_mark in clears[0]
    assert not [sql for sql in recording.statements if sql.startswith("DELETE") and "client IN" in sql]


def test_pause_resume_pause_ends_in_order(url: str) -> None:
    # GIVEN a pause with events held, a resume whose catch-up has not run yet, and a second pause
    switch = Switch(url)
    worker = SyncWorker(switch, InMemoryLedgerStore(), InMemoryStatsStore())
    stream = [event(ADDED, ["a", "b"], at=0)]
    drain(worker, messages(stream))
    switch.pause()
    first = [event(REMOVED, ["a"], at=10), event(ADDED, ["c"], at=11)]
    drain(worker, messages(first))
    first_catch_up = switch.resume()
    switch.pause()
    second = [event(ADDED, ["a", "d"], at=20), event(REMOVED, ["c"], at=21), event(ADDED, ["e"], at=5)]
    drain(worker, messages(second))

    # WHEN the first catch-up arrives while paused again
    report = worker.process(first_catch_up)

    # THEN it does nothing: the target is as before the first pause
    assert (report.statements, report.failed_message_ids) == (0, set())
    assert table(url) == {"a", "b"}

    # WHEN the integration is resumed again, and the old catch-up is delivered once more after the new one
    drain(worker, switch.resume())
    drain(worker, first_catch_up)

    # THEN the target is the in-order result of everything
    assert table(url) == in_order(stream + first + second) == {"a", "b", "d", "e"}


def test_the_newest_upsert_held_is_replayed_once_after_the_members(url: str) -> None:
    # GIVEN a paused integration receiving three renames, the newest delivered before an older one
    switch = Switch(url)
    recording = Recording(url)
    worker = SyncWorker(switch, InMemoryLedgerStore(), InMemoryStatsStore(), targets=lambda _: recording)
    switch.pause()
    renames = [
        event("segment.upserted", at=1, segment_name="First"),
        event("segment.upserted", at=3, segment_name="Third"),
        event("segment.upserted", at=2, segment_name="Second"),
    ]
    report = worker.process(messages([renames[0], renames[1]]))
    late = worker.process(messages([renames[2]]))
    assert (report.held, late.held, late.skipped, recording.transactions) == (2, 0, 1, 0)
    drain(worker, messages([event(ADDED, ["a"], at=4)]))

    # WHEN it is resumed
    drain(worker, switch.resume())

    # THEN the newest name was written once, after the members, which saw that name too
    upserts = [sql for sql in recording.statements if "segments" in sql]
    assert len(upserts) == 1 and "'Third'" in upserts[0]
    assert recording.statements.index(upserts[0]) > 0
    assert segment_name(url) == "Third"
    assert table(url) == {"a"}


def test_a_catch_up_seen_with_a_cached_paused_configuration_goes_back_to_the_queue(url: str) -> None:
    # GIVEN events held while paused, and a worker whose cached configuration still says "paused"
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    fresh = SyncWorker(switch, ledger, InMemoryStatsStore())
    switch.pause()
    paused_config = switch.config
    stale = SyncWorker(lambda account_id: [paused_config], ledger, InMemoryStatsStore())
    drain(fresh, messages([event(ADDED, ["a", "b"], at=1)]))
    catch_up = switch.resume()

    # WHEN the stale worker gets the catch-up
    report = stale.process(catch_up)

    # THEN it is not taken for "paused again" and dropped: it comes back, and runs once the cache is fresh
    assert report.failed_message_ids == {catch_up[0].message_id}
    assert table(url) == set()
    drain(fresh, catch_up)
    assert table(url) == {"a", "b"}


def test_events_held_with_a_stale_configuration_after_the_catch_up_are_not_stranded(url: str) -> None:
    # GIVEN a resumed integration whose catch-up ran, and a worker that still caches it as paused
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    fresh = SyncWorker(switch, ledger, InMemoryStatsStore())
    switch.pause()
    paused_config = switch.config
    stale = SyncWorker(lambda account_id: [paused_config], ledger, InMemoryStatsStore())
    drain(fresh, messages([event(ADDED, ["a"], at=1)]))
    drain(fresh, switch.resume())
    assert table(url) == {"a"}

    # WHEN the stale worker receives events (a change, a rename)
    late = messages([event(ADDED, ["b"], at=5), event("segment.upserted", at=6, segment_name="New")])
    report = stale.process(late)

    # THEN it does not hold them (no catch-up would come): they go back to the queue, and nothing is pending
    assert report.failed_message_ids == {message.message_id for message in late}
    assert (report.held, report.statements) == (0, 0)
    assert ledger.get_pending(switch.config.id, 17) is None
    # AND redelivered to a worker with the current configuration, they are applied
    drain(fresh, late)
    assert table(url) == {"a", "b"}
    assert segment_name(url) == "New"
    # AND the rename the stale worker kept for a catch-up was let go with its messages
    assert ledger.mark_pending(switch.config.id, 17, "", "9999") and ledger.get_pending(
        switch.config.id, 17
    ) == Pending(since="", holds=2)


def test_a_clear_after_the_resume_removes_the_members_held_before_it(url: str) -> None:
    # GIVEN p added while paused, then resumed, and a clear (newer) applied before the catch-up runs
    switch = Switch(url)
    recording = Recording(url)
    worker = SyncWorker(switch, InMemoryLedgerStore(), InMemoryStatsStore(), targets=lambda _: recording)
    switch.pause()
    held = [event(ADDED, ["p"], at=1)]
    drain(worker, messages(held))
    catch_up = switch.resume()
    after = [event(CLEARED, at=5), event(ADDED, ["q"], at=6)]
    drain(worker, messages(after))

    # WHEN the catch-up runs
    drain(worker, catch_up)

    # THEN p counts as removed by the clear, as in order, and was never written back meanwhile
    assert table(url) == in_order(held + after) == {"q"}
    assert not [sql for sql in recording.statements if sql.startswith("INSERT") and "'p'" in sql]


def test_a_held_event_left_over_from_an_earlier_mark_is_not_replayed(url: str) -> None:
    # GIVEN a rename kept for a catch-up but left without a mark (its worker stopped before it could let it
    # go), then a newer rename applied while active
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    worker = SyncWorker(switch, ledger, InMemoryStatsStore())
    leftover = event("segment.upserted", at=1, segment_name="Old")
    ledger.hold_event(switch.config.id, 17, "upsert", leftover.version, leftover.model_dump_json())
    drain(worker, messages([event("segment.upserted", at=2, segment_name="Current")]))

    # WHEN the integration is paused, a change is held, and it is resumed
    switch.pause()
    drain(worker, messages([event(ADDED, ["a"], at=3)]))
    drain(worker, switch.resume())

    # THEN the leftover older than the mark was not replayed over the current name
    assert segment_name(url) == "Current"
    assert table(url) == {"a"}


def test_a_catch_up_whose_target_is_down_goes_back_to_the_queue(url: str) -> None:
    # GIVEN events held while paused
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    stats = InMemoryStatsStore()
    switch.pause()
    down = SyncWorker(switch, ledger, stats, targets=lambda _: Down(url))
    report = down.process(messages([event(ADDED, ["a"], at=1)]))
    assert (report.failed_message_ids, report.held) == (set(), 1)  # holding needs no target
    catch_up = switch.resume()

    # WHEN the catch-up runs while the target is down
    report = down.process(catch_up)

    # THEN it comes back, the mark stays, and a later delivery catches up
    assert report.failed_message_ids == {catch_up[0].message_id}
    assert ledger.get_pending(switch.config.id, 17) is not None
    drain(SyncWorker(switch, ledger, stats), catch_up)
    assert table(url) == {"a"}
    assert ledger.get_pending(switch.config.id, 17) is None


def test_a_catch_up_racing_a_newer_event_ends_with_the_newer_state(url: str) -> None:
    # GIVEN p added while paused, and a worker that will apply "remove p" (newer) just before the
    # catch-up's INSERT of p commits
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    recording = Recording(url)
    catching_up = SyncWorker(switch, ledger, InMemoryStatsStore(), targets=lambda _: recording)
    other = SyncWorker(switch, ledger, InMemoryStatsStore())
    switch.pause()
    drain(catching_up, messages([event(ADDED, ["p", "q"], at=1)]))
    catch_up = switch.resume()
    newer = messages([event(REMOVED, ["p"], at=5)])
    recording.hooks[1] = lambda: drain(other, newer)

    # WHEN the catch-up runs
    drain(catching_up, catch_up)

    # THEN its check after the commit saw p move on and removed it again: the in-order result
    assert table(url) == {"q"}
    assert recording.transactions == 2


def test_a_hold_during_the_catch_up_is_applied_before_the_mark_goes(url: str) -> None:
    # GIVEN a held change, and, while the catch-up runs, the integration paused again with a new hold
    switch = Switch(url)
    ledger = InMemoryLedgerStore()
    recording = Recording(url)
    worker = SyncWorker(switch, ledger, InMemoryStatsStore(), targets=lambda _: recording)
    switch.pause()
    drain(worker, messages([event(ADDED, ["a"], at=1)]))
    catch_up = switch.resume()
    resumed = switch.config
    switch.pause()
    repaused = switch.config
    holder = SyncWorker(lambda account_id: [repaused], ledger, InMemoryStatsStore())
    recording.hooks[1] = lambda: drain(holder, messages([event(ADDED, ["b"], at=2)]))
    switch.config = resumed  # the catch-up's worker still sees the resumed configuration

    # WHEN the catch-up runs
    drain(worker, catch_up)

    # THEN its first attempt to remove the mark failed (a hold came), and a second round applied b too
    assert table(url) == {"a", "b"}
    assert ledger.get_pending(resumed.id, 17) is None


@pytest.mark.parametrize("seed", range(8))
def test_random_pauses_and_shuffled_delivery_end_as_in_order_delivery(url: str, seed: int) -> None:
    rng = random.Random(seed)
    # GIVEN a stream of adds, removes and clears, delivered shuffled with duplicates, in random batches,
    # while the integration is paused and resumed at random; one worker's cache lags one save behind
    stream = random_stream(rng, 50)
    switch = Switch(url, batch_size=rng.choice([1, 2, 100]))
    ledger = InMemoryLedgerStore()
    fresh = SyncWorker(switch, ledger, InMemoryStatsStore())
    lagging = SyncWorker(
        lambda account_id: [switch.history[-2 if len(switch.history) > 1 else -1]], ledger, InMemoryStatsStore()
    )
    queue = messages(stream)
    queue += rng.sample(queue, len(queue) // 3)
    rng.shuffle(queue)
    while queue:
        if rng.random() < 0.3:
            if switch.config.active:
                switch.pause()
            else:
                # The catch-up may wait in the queue behind other messages.
                for message in switch.resume():
                    queue.insert(rng.randint(0, len(queue)), message)
        size = rng.randint(1, 6)
        batch = queue[:size]
        del queue[:size]
        report = rng.choice([fresh, lagging]).process(batch)
        # Failed messages come back later, as SQS redelivers them.
        queue += [message for message in batch if message.message_id in report.failed_message_ids]
    if not switch.config.active:
        drain(fresh, switch.resume())

    # THEN the table equals applying the events once, in order
    assert table(url) == in_order(stream)
    assert ledger.get_pending(switch.config.id, 17) is None


def test_catch_up_messages_are_one_request_per_segment_of_a_resumed_integration() -> None:
    # GIVEN a resumed integration with two segments
    resumed = integration("sqlite://", TEMPLATES, segment_ids=[17, 18])
    at = BASE_TIME + timedelta(minutes=5)

    # WHEN its catch-up messages are made
    bodies = catch_up_messages(resumed, at)

    # THEN each is a CatchUpRequest the worker recognises by its prefix, carrying the configuration's version
    requests = [CatchUpRequest.model_validate_json(body) for body in bodies]
    assert all(body.startswith('{"kind":"catchup"') for body in bodies)
    assert [request.segment_id for request in requests] == [17, 18]
    assert {(r.integration_id, r.account_id, r.requested_at, r.resumed_at) for r in requests} == {
        (resumed.id, 1, at, resumed.updated_at)
    }
    assert len({json.loads(body)["id"] for body in bodies}) == 2
    # AND a paused integration has no catch-up
    with pytest.raises(ValueError, match="paused"):
        catch_up_messages(resumed.model_copy(update={"active": False}), at)


# Gathered batches: an integration with a batch_timeout holds small deliveries like a paused one, and the
# first hold queues the flush (a catch-up request) delayed by the timeout.


class FailingSink:
    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        raise EnqueueError("the queue is unavailable")


def flushes(sink: InMemorySink, start: int = 0) -> list[QueueMessage]:
    return [QueueMessage(f"flush-{n}", body) for n, body in enumerate(sink.bodies[start:], start)]


def test_small_deliveries_gather_until_the_flush_the_first_one_queued(url: str) -> None:
    # GIVEN an integration of batch size 3 and a timeout of 60 s
    config = integration(url, TEMPLATES, batch_size=3, batch_timeout=60)
    sink, target = InMemorySink(), Recording(url)
    worker = SyncWorker(
        lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore(), lambda i: target, queue=sink
    )

    # WHEN two deliveries of one profile each arrive
    first = worker.process(messages([event(ADDED, ["a"], at=1)]))
    second = worker.process(messages([event(ADDED, ["b"], at=2)]))

    # THEN nothing runs yet; one flush is queued, delayed by the timeout, and only one
    assert (first.held, second.held, first.statements + second.statements) == (1, 1, 0)
    assert table(url) == set() and sink.delays == [60]
    request = CatchUpRequest.model_validate_json(sink.bodies[0])
    assert (request.reason, request.segment_id, request.integration_id) == ("batch_timeout", 17, config.id)

    # WHEN the flush arrives, both are applied in one statement
    done = worker.process(flushes(sink))
    assert (done.profiles, done.statements, done.failed_message_ids) == (2, 1, set())
    assert table(url) == {"a", "b"}
    assert worker.ledger.get_pending(config.id, 17) is None

    # AND the next small delivery starts the next timer
    worker.process(messages([event(REMOVED, ["a"], at=3)]))
    assert sink.delays == [60, 60] and table(url) == {"a", "b"}
    drain(worker, flushes(sink, 1))
    assert table(url) == {"b"}


def test_a_delivery_that_fills_a_batch_is_applied_at_once(url: str) -> None:
    config = integration(url, TEMPLATES, batch_size=3, batch_timeout=60)
    sink = InMemorySink()
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore(), queue=sink)

    report = worker.process(messages([event(ADDED, ["a", "b"], at=1), event(ADDED, ["c"], at=2)]))

    assert (report.profiles, report.held, sink.bodies) == (3, 0, [])
    assert table(url) == {"a", "b", "c"}


def test_a_timer_past_its_due_time_lets_the_next_hold_queue_a_flush(url: str) -> None:
    # GIVEN a flush queued at 10:00:00 that never ran (its message went to the dead-letter queue, say)
    config = integration(url, TEMPLATES, batch_size=10, batch_timeout=30)
    sink, now = InMemorySink(), [BASE_TIME]
    worker = SyncWorker(
        lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore(), clock=lambda: now[0], queue=sink
    )
    worker.process(messages([event(ADDED, ["a"], at=1)]))
    now[0] += timedelta(seconds=29)
    worker.process(messages([event(ADDED, ["b"], at=2)]))
    assert len(sink.bodies) == 1  # still running

    # WHEN a hold comes after its due time
    now[0] += timedelta(seconds=2)
    worker.process(messages([event(ADDED, ["c"], at=3)]))

    # THEN it queues a new flush, which applies everything gathered
    assert len(sink.bodies) == 2
    drain(worker, flushes(sink, 1))
    assert table(url) == {"a", "b", "c"}


def test_a_flush_that_cannot_be_queued_sends_the_messages_back(url: str) -> None:
    config = integration(url, TEMPLATES, batch_size=10, batch_timeout=30)
    ledger = InMemoryLedgerStore()
    broken = SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore(), queue=FailingSink())
    batch = messages([event(ADDED, ["a"], at=1)])

    report = broken.process(batch)

    # THEN the message goes back (SQS redelivers it), and the timer is not left running without a flush
    assert report.failed_message_ids == {batch[0].message_id}
    assert "could not be queued" in report.errors_by_integration[config.id][0]
    sink = InMemorySink()
    SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore(), queue=sink).process(batch)
    assert len(sink.bodies) == 1


@pytest.mark.parametrize("seed", range(6))
def test_gathered_batches_with_shuffled_delivery_end_as_in_order_delivery(url: str, seed: int) -> None:
    rng = random.Random(seed)
    # GIVEN a stream of adds, removes and clears, delivered shuffled with duplicates in small batches, to an
    # integration that gathers; each flush comes back after a random number of other batches
    stream = random_stream(rng, 60)
    config = integration(url, TEMPLATES, batch_size=rng.choice([2, 4, 100]), batch_timeout=30)
    sink = InMemorySink()
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore(), queue=sink)
    queue = messages(stream)
    queue += rng.sample(queue, len(queue) // 3)
    rng.shuffle(queue)
    sent = 0
    while queue:
        size = rng.randint(1, 5)
        batch = queue[:size]
        del queue[:size]
        report = worker.process(batch)
        queue += [message for message in batch if message.message_id in report.failed_message_ids]
        for flush in flushes(sink, sent):
            queue.insert(rng.randint(0, len(queue)), flush)
        sent = len(sink.bodies)

    # THEN the table equals applying the events once, in order, and nothing is left gathered
    assert table(url) == in_order(stream)
    assert worker.ledger.get_pending(config.id, 17) is None
