"""The worker on SQLite with the in-memory stores: routing, skipping, failures and statistics."""

from __future__ import annotations

import gc
import random
import re
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from sqlsync.models.events import Database, SegmentEvent
from sqlsync.store import Membership
from sqlsync.store.base import MembershipLike
from sqlsync.store.exceptions import StoreError
from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync import QueueMessage, SyncWorker
from sqlsync.sync.worker import Change, _SegmentRun
from testkit import event, integration, messages, rows, run_sql

TEMPLATES = {
    "profiles_added": "INSERT OR REPLACE INTO m (seg, client, name) "
    "VALUES ({segment_id}, '{$lead.CustomID}', {$lead.name})",
    "profiles_removed": 'DELETE FROM m WHERE seg = {segment_id} AND client IN ({batch_in "CustomID"})',
}
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def setup(url: str, **overrides: object) -> tuple[SyncWorker, InMemoryStatsStore, str]:
    run_sql(url, "CREATE TABLE IF NOT EXISTS m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    config = integration(url, TEMPLATES, **overrides)
    stats = InMemoryStatsStore()
    return SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats), stats, config.id


def test_a_template_without_a_loop_runs_once_per_profile(sqlite_url: str) -> None:
    worker, stats, integration_id = setup(sqlite_url)
    report = worker.process(messages([event("segment.profiles_added", ["a", ("b", {"CustomID": "b", "name": "B"})])]))
    assert (report.statements, report.profiles) == (2, 2)
    assert rows(sqlite_url, "SELECT client, name FROM m ORDER BY client") == [("a", None), ("b", "B")]
    [bucket] = stats.query(integration_id, *EVER)
    assert (bucket.statements, bucket.profiles, bucket.errors) == (2, 2, 0)


def test_unreadable_messages_fail_and_are_not_dropped(sqlite_url: str) -> None:
    worker, _, _ = setup(sqlite_url)
    good = messages([event("segment.profiles_added", ["a"])])
    report = worker.process([QueueMessage("junk", '{"not": "an event"}'), *good])
    assert report.failed_message_ids == {"junk"}
    assert rows(sqlite_url, "SELECT client FROM m") == [("a",)]


def test_a_message_whose_fields_do_not_read_fails_alone_and_no_older_change_stands_in(sqlite_url: str) -> None:
    # GIVEN a batch where a later message adds b and c, and b's fields line is broken
    worker, stats, integration_id = setup(sqlite_url)
    older, newer = messages(
        [event("segment.profiles_added", ["a", "b"], at=1), event("segment.profiles_added", ["b", "c"], at=2)]
    )
    broken = QueueMessage(newer.message_id, newer.body.replace('{"CustomID":"b"}', '"b"'))

    report = worker.process([older, broken])

    # THEN only the broken message comes back (and, failing again, goes to the dead-letter queue); a, from the
    # older message, is applied, but not the older message's b: the broken message holds b's newest word
    assert report.failed_message_ids == {newer.message_id}
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [("a",)]
    [bucket] = stats.query(integration_id, *EVER)
    assert (
        bucket.errors == 1
        and bucket.last_error == "unreadable message: the fields of profile 0: Input should be an object"
    )


def test_a_template_reads_the_profile_id_as_lead_id_unless_a_field_has_that_name(sqlite_url: str) -> None:
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    added = "INSERT INTO m VALUES {for $i, $lead = $batch}({segment_id}, '{$lead._id}', {$lead.name}){autocomma}{end}"
    config = integration(sqlite_url, {**TEMPLATES, "profiles_added": added})
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore())
    worker.process(messages([event("segment.profiles_added", [("p-1", {"name": "A"}), ("p-2", {"_id": "own"})])]))
    assert rows(sqlite_url, "SELECT client, name FROM m ORDER BY client") == [("own", None), ("p-1", "A")]


def test_integrations_that_share_a_segment_each_apply_its_messages(sqlite_url: str) -> None:
    # GIVEN two integrations of one segment, writing to two tables, and a batch with one unreadable message
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    run_sql(sqlite_url, "CREATE TABLE m2 (seg int, client text, name text, PRIMARY KEY (seg, client))")
    first = integration(sqlite_url, TEMPLATES)
    second = integration(
        sqlite_url, {k: v.replace("INTO m ", "INTO m2 ").replace("FROM m ", "FROM m2 ") for k, v in TEMPLATES.items()}
    )
    stats = InMemoryStatsStore()
    worker = SyncWorker(lambda account_id: [first, second], InMemoryLedgerStore(), stats)
    good, bad = messages(
        [
            event("segment.profiles_added", ["a", ("b", {"CustomID": "b", "name": "B"})]),
            event("segment.profiles_added", ["c"], at=5),
        ]
    )
    broken = QueueMessage(bad.message_id, bad.body.replace('{"CustomID":"c"}', "[]"))

    report = worker.process([good, broken])

    # THEN each table has the readable message's profiles, and each integration counts the unreadable one
    for table in ("m", "m2"):
        assert rows(sqlite_url, f"SELECT client, name FROM {table} ORDER BY client") == [("a", None), ("b", "B")]
    assert report.failed_message_ids == {bad.message_id}
    for config in (first, second):
        [bucket] = stats.query(config.id, *EVER)
        assert (bucket.profiles, bucket.errors) == (2, 1)


def test_a_body_of_an_earlier_version_is_applied(sqlite_url: str) -> None:
    worker, _, _ = setup(sqlite_url)
    added = event("segment.profiles_added", ["a", ("b", {"CustomID": "b", "name": "B"})])
    report = worker.process([QueueMessage("old", added.model_dump_json())])
    assert (report.profiles, report.failed_message_ids) == (2, set())
    assert rows(sqlite_url, "SELECT client, name FROM m ORDER BY client") == [("a", None), ("b", "B")]


def test_events_for_other_segments_or_accounts_do_nothing_and_paused_integrations_run_nothing(
    sqlite_url: str,
) -> None:
    worker, _, _ = setup(sqlite_url)
    report = worker.process(
        messages(
            [event("segment.profiles_added", ["a"], segment=99), event("segment.profiles_added", ["b"], account=2)]
        )
    )
    assert (report.statements, report.failed_message_ids) == (0, set())
    paused, _, _ = setup(sqlite_url, active=False)
    # A paused integration keeps the change in its ledger for the catch-up on resume (test_catchup.py).
    held = paused.process(messages([event("segment.profiles_added", ["c"])]))
    assert (held.statements, held.held, held.failed_message_ids) == (0, 1, set())
    assert rows(sqlite_url, "SELECT count(*) FROM m") == [(0,)]


def test_an_integration_scoped_to_a_database_sees_only_its_events(sqlite_url: str) -> None:
    def in_database(profile: str, database: int | None) -> SegmentEvent:
        base = event("segment.profiles_added", [profile])
        return base.model_copy(update={"database": None if database is None else Database(id=database)})

    batch = messages([in_database("a", 3), in_database("b", 4), in_database("c", None)])
    scoped, _, _ = setup(sqlite_url, database_id=3)
    assert scoped.process(batch).profiles == 1
    assert rows(sqlite_url, "SELECT client FROM m") == [("a",)]
    everything, _, _ = setup(sqlite_url)
    assert everything.process(batch).profiles == 3


def test_a_value_that_cannot_be_rendered_fails_only_its_profile(sqlite_url: str) -> None:
    _, stats, _ = setup(sqlite_url)
    templates = {**TEMPLATES, "profiles_added": TEMPLATES["profiles_added"].replace("{$lead.name}", "{$lead.name|int}")}
    config = integration(sqlite_url, templates)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats)
    integration_id = config.id
    batch = messages(
        [
            event("segment.profiles_added", ["a"]),
            event("segment.profiles_added", [("bad", {"CustomID": "b", "name": "x"})]),
        ]
    )
    report = worker.process(batch)
    assert report.failed_message_ids == {batch[1].message_id}
    assert rows(sqlite_url, "SELECT client FROM m") == [("a",)]
    [bucket] = stats.query(integration_id, *EVER)
    assert (
        bucket.last_error is not None and "profile bad" in bucket.last_error and "not an integer" in bucket.last_error
    )


def test_stale_and_repeated_events_are_skipped_or_reapplied_harmlessly(sqlite_url: str) -> None:
    worker, _, _ = setup(sqlite_url)
    added = event("segment.profiles_added", ["a"], at=10)
    worker.process(messages([added]))
    # an older removal arrives late: skipped
    stale = worker.process(messages([event("segment.profiles_removed", ["a"], at=5)]))
    assert stale.skipped == 1 and stale.statements == 0
    # the same add delivered again: applied again, same result
    again = worker.process(messages([added]))
    assert again.statements == 1
    assert rows(sqlite_url, "SELECT client FROM m") == [("a",)]


class CountingTarget:
    def __init__(self, url: str) -> None:
        from sqlsync.connectors import target_for

        self.target = target_for(url)
        self.transactions = 0

    @property
    def dialect(self) -> object:
        return self.target.dialect

    def execute(self, statements: list[str]) -> object:
        self.transactions += 1
        return self.target.execute(statements)


def test_a_statement_error_fails_the_chunk_without_splitting_it(sqlite_url: str) -> None:
    # GIVEN a template whose table does not exist: no row is to blame
    templates = {**TEMPLATES, "profiles_added": "INSERT INTO missing VALUES ({$lead.CustomID})"}
    config = integration(sqlite_url, {**templates, "profiles_added": templates["profiles_added"] + " -- x"})
    counting = CountingTarget(sqlite_url)
    stats = InMemoryStatsStore()
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats, targets=lambda url: counting)
    batch = messages(
        [event("segment.profiles_added", [f"p{n}" for n in range(8)]), event("segment.profiles_added", ["q"])]
    )
    report = worker.process(batch)
    # THEN every message fails, after one attempt instead of one per profile
    assert report.failed_message_ids == {message.message_id for message in batch}
    assert counting.transactions == 1
    [bucket] = stats.query(config.id, *EVER)
    assert bucket.last_error is not None and "9 profile(s) not applied: no such table: missing" in bucket.last_error


class LosingRaces(CountingTarget):
    """A real target whose first `losses` transactions lose a race (as a deadlock would), then succeed."""

    def __init__(self, url: str, losses: int) -> None:
        super().__init__(url)
        self.losses = losses

    def execute(self, statements: list[str]) -> object:
        from sqlsync.connectors import TargetError

        self.transactions += 1
        if self.losses:
            self.losses -= 1
            raise TargetError("deadlock detected", transient=True, conflict=True)
        return self.target.execute(statements)


def test_a_transaction_that_loses_a_race_runs_again_at_once(sqlite_url: str) -> None:
    racing = LosingRaces(sqlite_url, losses=2)
    config = integration(sqlite_url, TEMPLATES)
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    worker = SyncWorker(
        lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore(), targets=lambda i: racing
    )

    report = worker.process(messages([event("segment.profiles_added", ["a", "b"])]))

    assert (report.failed_message_ids, report.statements, racing.transactions) == (set(), 2, 3)  # one per profile
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [("a",), ("b",)]


def test_a_transaction_that_keeps_losing_fails_its_messages_but_not_the_target(sqlite_url: str) -> None:
    # GIVEN two integrations on one target, the first one's transactions always losing
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    losing, fine = integration(sqlite_url, TEMPLATES), integration(sqlite_url, TEMPLATES, segment_ids=[18])
    racing, plain = LosingRaces(sqlite_url, losses=100), CountingTarget(sqlite_url)
    worker = SyncWorker(
        lambda account_id: [losing, fine],
        InMemoryLedgerStore(),
        InMemoryStatsStore(),
        targets=lambda i: racing if i.id == losing.id else plain,
    )
    first, second = event("segment.profiles_added", ["a"]), event("segment.profiles_added", ["b"], segment=18)

    report = worker.process(messages([first, second]))

    # THEN the first one's message comes back after its attempts; the target is not taken for down
    assert racing.transactions == 4 and plain.transactions == 1
    assert len(report.failed_message_ids) == 1
    assert report.errors_by_integration[losing.id][0].startswith("transaction conflict: deadlock detected")
    assert rows(sqlite_url, "SELECT client FROM m") == [("b",)]


class _CollectorWatchingLedger(InMemoryLedgerStore):
    """Notes whether the cyclic garbage collector was on at each claim."""

    def __init__(self) -> None:
        super().__init__()
        self.collector_on: list[bool] = []

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        self.collector_on.append(gc.isenabled())
        return super().claim_many(integration_id, segment_id, memberships)


class _TextRecordingLedger(InMemoryLedgerStore):
    """Notes the fields' JSON text each claim brings along."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[str, str | None] = {}

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        self.texts.update((m.profile_id, m.fields_json) for m in memberships)
        return super().claim_many(integration_id, segment_id, memberships)


def test_the_ledger_is_given_each_profiles_fields_as_queued(sqlite_url: str) -> None:
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    config = integration(sqlite_url, TEMPLATES)
    ledger = _TextRecordingLedger()
    worker = SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore())
    [message] = messages([event("segment.profiles_added", ["a", ("b", {"CustomID": "b", "name": "Zoë"})])])
    old = event("segment.profiles_added", ["c"], at=5)

    worker.process([message, QueueMessage("old", old.model_dump_json())])

    # The lines of today's body go as they are; a body of an earlier version has none, the store encodes
    assert ledger.texts == {"a": '{"CustomID":"a"}', "b": '{"CustomID":"b","name":"Zoë"}', "c": None}
    assert message.body.endswith('\n{"CustomID":"a"}\n{"CustomID":"b","name":"Zoë"}')


def test_the_cyclic_collector_is_held_only_during_a_batch(sqlite_url: str) -> None:
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    config = integration(sqlite_url, TEMPLATES)
    ledger = _CollectorWatchingLedger()
    worker = SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore())

    worker.process(messages([event("segment.profiles_added", ["a"])]))
    assert ledger.collector_on == [False] and gc.isenabled()

    # A caller that holds the collector itself keeps it held.
    gc.disable()
    try:
        worker.process(messages([event("segment.profiles_added", ["b"], at=5)]))
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [("a",), ("b",)]


def test_a_late_older_upsert_never_overwrites_a_newer_segment_state(sqlite_url: str) -> None:
    run_sql(sqlite_url, "CREATE TABLE segments (seg int PRIMARY KEY, name text)")
    templates = {
        **TEMPLATES,
        "segment_upserted": "INSERT OR REPLACE INTO segments (seg, name) VALUES ({segment_id}, '{segment_name}')",
        "segment_deleted": "DELETE FROM segments WHERE seg = {segment_id}",
    }
    config = integration(sqlite_url, templates)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore())

    # GIVEN a rename applied, then the rename before it delivered late (its own batch), and redelivered
    worker.process(messages([event("segment.upserted", at=5, segment_name="New")]))
    late = worker.process(messages([event("segment.upserted", at=3, segment_name="Old")]))
    again = worker.process(messages([event("segment.upserted", at=5, segment_name="New")]))

    # THEN the late one is skipped; the redelivered one passes (equal versions are applied again)
    assert (late.skipped, late.statements, again.statements) == (1, 0, 1)
    assert rows(sqlite_url, "SELECT seg, name FROM segments") == [(17, "New")]

    # WHEN the segment is deleted, and an upsert older than the delete arrives after it
    worker.process(messages([event("segment.deleted", at=9)]))
    stale = worker.process(messages([event("segment.upserted", at=7, segment_name="Zombie")]))

    # THEN the segment stays deleted
    assert (stale.skipped, stale.statements) == (1, 0)
    assert rows(sqlite_url, "SELECT count(*) FROM segments") == [(0,)]


class _WatchedTarget(CountingTarget):
    """Logs each transaction's profiles, counts those running at once, and can hold a transaction until
    the worker claims the next chunk (which only a pipelined worker does meanwhile)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.log: list[list[str]] = []
        self.running = self.most_at_once = 0
        self.next_claim = threading.Event()
        self.held_until_next_claim: list[bool] = []

    def execute(self, statements: list[str]) -> object:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.log.append(re.findall(r"'(\w+)'", " ".join(statements)))
            if len(self.log) == 1:
                self.held_until_next_claim.append(self.next_claim.wait(timeout=10))
            time.sleep(0.01)
            return super().execute(statements)
        finally:
            self.running -= 1


class _SignallingLedger(InMemoryLedgerStore):
    def __init__(self, target: _WatchedTarget, fail_at_claim: int = 0) -> None:
        super().__init__()
        self.target, self.claims, self.fail_at_claim = target, 0, fail_at_claim

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[MembershipLike]
    ) -> list[Membership | None]:
        self.claims += 1
        if self.claims == 2:
            self.target.next_claim.set()
        if self.claims == self.fail_at_claim:
            raise StoreError("DynamoDB is unreachable")
        return super().claim_many(integration_id, segment_id, memberships)


def _watched(url: str, batch_size: int, fail_at_claim: int = 0) -> tuple[SyncWorker, _WatchedTarget, _SignallingLedger]:
    run_sql(url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client), CHECK (client != 'bad'))")
    config = integration(url, TEMPLATES, batch_size=batch_size)
    target = _WatchedTarget(url)
    ledger = _SignallingLedger(target, fail_at_claim)
    return (
        SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore(), targets=lambda i: target),
        target,
        ledger,
    )


def test_the_next_chunk_is_claimed_while_a_transaction_runs_and_transactions_never_overlap(sqlite_url: str) -> None:
    worker, target, _ = _watched(sqlite_url, batch_size=2)
    profiles = ["a", "b", "c", "d", "e", "f", "g"]
    switching = sys.getswitchinterval()

    report = worker.process(messages([event("segment.profiles_added", profiles)]))

    # The first transaction was held until the second chunk's claim: a worker that waited for the
    # transaction before claiming on would have timed out here.
    assert target.held_until_next_claim == [True]
    assert target.most_at_once == 1
    assert target.log == [["a", "b"], ["c", "d"], ["e", "f"], ["g"]]
    assert (report.profiles, report.statements, report.failed_message_ids) == (7, 7, set())  # one per profile
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [(p,) for p in profiles]
    assert sys.getswitchinterval() == switching  # the pipeline's shorter switch interval is put back


def test_a_bad_row_is_isolated_before_the_next_chunk_runs(sqlite_url: str) -> None:
    worker, target, _ = _watched(sqlite_url, batch_size=4)
    batch = messages([event("segment.profiles_added", ["a", "b", "c", "bad", "e", "f"])])

    report = worker.process(batch)

    # The same transactions, in the same order, as without the pipeline: the failing chunk is split until
    # the bad row is alone, and only then does the chunk after it run.
    assert target.log == [["a", "b", "c", "bad"], ["a", "b"], ["c", "bad"], ["c"], ["bad"], ["e", "f"]]
    assert target.most_at_once == 1
    assert report.profiles == 5 and report.failed_message_ids == {batch[0].message_id}
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [("a",), ("b",), ("c",), ("e",), ("f",)]


def test_a_failure_while_a_transaction_runs_returns_only_after_it_ended(sqlite_url: str) -> None:
    # GIVEN the ledger failing at the second chunk's claim, while the first chunk's transaction runs
    worker, target, _ = _watched(sqlite_url, batch_size=2, fail_at_claim=2)

    with pytest.raises(StoreError):
        worker.process(messages([event("segment.profiles_added", ["a", "b", "c"])]))

    # THEN nothing of the batch is still running on the target once the worker has given up
    assert target.running == 0 and target.log == [["a", "b"]]


def _in_order(events: Sequence[SegmentEvent], batch_size: int, cleared: str | None) -> tuple[list[list[str]], int]:
    """What the worker must send for one batch on a fresh ledger, worked out the plain way: the newest change
    of each profile, in the order of those changes, those older than the clear skipped, the added ones
    then the removed ones, batch_size at a time. The transactions' profiles, and the number skipped."""
    newest: dict[str, tuple[str, str]] = {}
    for item in sorted(events, key=lambda item: item.version):
        for profile in item.profiles:
            newest.pop(profile.id, None)  # to its newest change's place
            newest[profile.id] = (item.version, item.type.value)
    fresh = {profile_id: change for profile_id, change in newest.items() if cleared is None or change[0] > cleared}
    transactions = []
    for type_ in ("segment.profiles_added", "segment.profiles_removed"):
        same = [profile_id for profile_id, (_, of) in fresh.items() if of == type_]
        transactions += [same[start : start + batch_size] for start in range(0, len(same), batch_size)]
    return transactions, len(newest) - len(fresh)


@pytest.mark.parametrize("seed", range(24))
def test_a_batch_runs_the_newest_change_of_each_profile_in_the_order_of_those_changes(
    sqlite_url: str, seed: int
) -> None:
    # GIVEN events of a few profiles each, their profiles distinct in half of the cases and repeating in the
    # other half, some older than a clear of the segment, delivered in any order
    rng = random.Random(seed)
    pool = [f"p{n}" for n in range(60 if seed % 2 else 12)]
    rng.shuffle(pool)
    events, taken = [], 0
    for at in rng.sample(range(1, 100), rng.randint(1, 8)):
        size = rng.randint(0, 7)
        if seed % 2:  # distinct: each profile in one event only
            chosen, taken = pool[taken : taken + size], taken + size
        else:
            chosen = rng.sample(pool, size)
        events.append(event(rng.choice(["segment.profiles_added", "segment.profiles_removed"]), chosen, at=at))
    rng.shuffle(events)
    worker, target, _ = _watched(sqlite_url, batch_size=rng.randint(1, 5))
    clear = event("segment.cleared", at=rng.choice([0, 30])) if seed % 4 < 2 else None
    if clear is not None:
        worker.process(messages([clear]))
        target.log.clear()
    target.next_claim.set()  # nothing is held here

    report = worker.process(messages(events))

    # THEN the target sees exactly the transactions of working the batch out in order
    batch_size = worker.integrations(1)[0].batch_size
    expected, skipped = _in_order(events, batch_size, clear.version if clear is not None else None)
    assert target.log == expected
    assert (report.skipped, report.failed_message_ids) == (skipped, set())
    assert target.most_at_once <= 1


class _DownAfter(_WatchedTarget):
    """Down from its `works`-th transaction on (a transient error)."""

    def __init__(self, url: str, works: int) -> None:
        super().__init__(url)
        self.works = works

    def execute(self, statements: list[str]) -> object:
        from sqlsync.connectors import TargetError

        if len(self.log) >= self.works:
            self.log.append(["down"])
            raise TargetError("connection refused", transient=True)
        return super().execute(statements)


def test_no_transaction_runs_after_one_that_fails(sqlite_url: str) -> None:
    # GIVEN a target that goes down after its first transaction, while the worker prepares the chunks after it
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text, name text, PRIMARY KEY (seg, client))")
    config = integration(sqlite_url, TEMPLATES, batch_size=2)
    target = _DownAfter(sqlite_url, works=1)
    ledger = _SignallingLedger(target)
    worker = SyncWorker(lambda account_id: [config], ledger, InMemoryStatsStore(), targets=lambda i: target)
    batch = messages([event("segment.profiles_added", ["a", "b", "c", "d", "e", "f"])])

    report = worker.process(batch)

    # THEN the first chunk commits, the second fails on the target, and nothing is tried after that
    assert target.log == [["a", "b"], ["down"]]
    assert report.failed_message_ids == {batch[0].message_id}
    assert rows(sqlite_url, "SELECT client FROM m ORDER BY client") == [("a",), ("b",)]


def test_chunks_after_a_bad_row_run_once_it_is_isolated_in_their_order(sqlite_url: str) -> None:
    # GIVEN a bad row in the first chunk, with two chunks after it prepared meanwhile
    worker, target, _ = _watched(sqlite_url, batch_size=2)
    batch = messages([event("segment.profiles_added", ["a", "bad", "c", "d", "e", "f", "g"])])

    report = worker.process(batch)

    # THEN the failing chunk is split first, and the rest run in order, as without the pipeline
    assert target.log == [["a", "bad"], ["a"], ["bad"], ["c", "d"], ["e", "f"], ["g"]]
    assert target.most_at_once == 1
    assert report.profiles == 6 and report.failed_message_ids == {batch[0].message_id}


@pytest.mark.parametrize("seed", range(40))
def test_chunks_claim_a_chunks_worth_at_a_time_and_keep_every_claimed_change_once(seed: int) -> None:
    # GIVEN parts of one state each (a message's changes), of any size, and a ledger refusing some claims
    rng = random.Random(seed)
    size = rng.randint(1, 6)
    parts, count = [], 0
    for _ in range(rng.randint(0, 10)):
        state, length = rng.choice(["in", "out"]), rng.randint(0, 13)
        parts.append([Change(f"p{count + n}", "v", state, {}, "m", event("segment.cleared")) for n in range(length)])
        count += length
    refused = {f"p{n}" for n in range(count) if rng.random() < 0.3}
    claims: list[list[str]] = []

    def claim(changes: list[Change]) -> list[Change]:
        claims.append([change.profile_id for change in changes])
        return [change for change in changes if change.profile_id not in refused]

    run = SimpleNamespace(integration=SimpleNamespace(batch_size=size))
    chunks = list(_SegmentRun.chunks(run, iter(parts), claim))  # type: ignore[arg-type]

    # THEN every change is claimed once, at most a chunk's worth a claim; what the ledger kept comes out once,
    # in chunks of at most batch_size of one state, every added profiles' chunk before the removed ones'
    every = [change for part in parts for change in part]
    assert sorted(profile for claimed in claims for profile in claimed) == sorted(c.profile_id for c in every)
    assert all(0 < len(claimed) <= size for claimed in claims)
    assert sorted(c.profile_id for chunk in chunks for c in chunk) == sorted(
        c.profile_id for c in every if c.profile_id not in refused
    )
    assert all(0 < len(chunk) <= size and len({c.state for c in chunk}) == 1 for chunk in chunks)
    states = [chunk[0].state for chunk in chunks]
    assert states == sorted(states)  # "in" < "out"
    # AND each state's changes keep their order
    for state in ("in", "out"):
        kept = [c.profile_id for c in every if c.state == state and c.profile_id not in refused]
        assert [c.profile_id for chunk in chunks for c in chunk if c.state == state] == kept
