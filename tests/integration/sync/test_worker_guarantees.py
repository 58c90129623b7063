"""What the worker promises: order and redelivery do not matter, a bad row does not sink its neighbours,
a target that is down loses nothing, and two workers racing on the same profiles end in the right state."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from sqlsync.connectors import Target, target_for
from sqlsync.dialects.connect import ConnectOptions
from sqlsync.models import SegmentEvent
from sqlsync.models.events import ResyncRequest
from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync import QueueMessage, SyncWorker
from testkit import event, integration, messages, rows, run_sql

TEMPLATES = {
    "profiles_added": "INSERT INTO members (seg, client) VALUES "
    "{for $i, $lead = $batch}({segment_id}, '{$lead.CustomID}'){autocomma}{end} ON CONFLICT (seg, client) DO NOTHING",
    "profiles_removed": 'DELETE FROM members WHERE seg = {segment_id} AND client IN ({batch_in "CustomID"})',
    "segment_cleared": "DELETE FROM members WHERE seg = {segment_id}",
}
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
MAX_RECEIVES = 5  # the sync queue's maxReceiveCount (template.yaml's default): then the dead-letter queue


def create_members(url: str, client_type: str = "text") -> None:
    run_sql(
        url,
        "DROP TABLE IF EXISTS members",
        f"CREATE TABLE members (seg int, client {client_type}, PRIMARY KEY (seg, client))",
    )


def random_stream(rng: random.Random, count: int, profiles: int = 12) -> list[SegmentEvent]:
    """Add/remove/clear events at increasing times over a small set of profiles."""
    stream = []
    for index in range(count):
        roll = rng.random()
        if roll < 0.05:
            stream.append(event("segment.cleared", at=index))
            continue
        chosen = rng.sample([f"p{n}" for n in range(profiles)], rng.randint(1, 4))
        kind = "segment.profiles_added" if roll < 0.65 else "segment.profiles_removed"
        stream.append(event(kind, chosen, at=index))
    return stream


def in_order(stream: Sequence[SegmentEvent]) -> set[tuple[int, str]]:
    members: set[str] = set()
    for item in stream:
        if item.type == "segment.cleared":
            members.clear()
        for profile in item.profiles:
            (members.add if item.type == "segment.profiles_added" else members.discard)(profile.id)
    return {(17, member) for member in members}


def table(url: str) -> set[tuple[int, str]]:
    return {(seg, client) for seg, client in rows(url, "SELECT seg, client FROM members")}


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_and_duplicated_delivery_ends_as_in_order_delivery(sqlite_url: str, seed: int) -> None:
    rng = random.Random(seed)
    create_members(sqlite_url)
    stream = random_stream(rng, 60)
    # GIVEN the stream's messages, some delivered twice, in a random order, in random batches
    deliveries = messages(stream)
    deliveries += rng.sample(deliveries, len(deliveries) // 3)
    rng.shuffle(deliveries)
    config = integration(sqlite_url, TEMPLATES, batch_size=rng.choice([1, 3, 100]))
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore())
    position = 0
    while position < len(deliveries):
        size = rng.randint(1, 10)
        report = worker.process(deliveries[position : position + size])
        assert not report.failed_message_ids
        position += size
    # THEN the table equals applying the events once, in order
    assert table(sqlite_url) == in_order(stream)


@pytest.mark.services
def test_a_bad_row_is_isolated_and_its_neighbours_commit(postgres_url: str) -> None:
    create_members(postgres_url, "varchar(8)")
    stats = InMemoryStatsStore()
    config = integration(postgres_url, TEMPLATES, batch_size=50)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats)
    good_1 = event("segment.profiles_added", ["a1", "a2", "a3"], at=0)
    bad = event("segment.profiles_added", ["b1", ("b2", {"CustomID": "far-too-long-for-8"}), "b3"], at=1)
    good_2 = event("segment.profiles_added", ["c1", "c2"], at=2)
    batch = messages([good_1, bad, good_2])
    # WHEN one profile's value is rejected by the database
    report = worker.process(batch)
    # THEN only the message carrying it fails; every other profile committed
    assert report.failed_message_ids == {batch[1].message_id}
    assert table(postgres_url) == {(17, client) for client in ("a1", "a2", "a3", "b1", "b3", "c1", "c2")}
    assert report.errors == 1
    [bucket] = stats.query(config.id, *EVER)
    assert bucket.errors == 1 and bucket.profiles == 7
    assert bucket.last_error is not None
    assert "profile b2" in bucket.last_error and "too long" in bucket.last_error
    # AND redelivery after a fix applies it without touching the others twice in the table
    run_sql(postgres_url, "ALTER TABLE members ALTER COLUMN client TYPE text")
    assert not worker.process([batch[1]]).failed_message_ids
    assert (17, "far-too-long-for-8") in table(postgres_url)


def test_a_value_postgresql_cannot_store_fails_its_profile_with_a_clear_error(postgres_url: str) -> None:
    create_members(postgres_url, "text")
    stats = InMemoryStatsStore()
    config = integration(postgres_url, TEMPLATES)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats)
    batch = messages([event("segment.profiles_added", ["a1", ("nul", {"CustomID": "x\x00y"}), "a2"])])
    report = worker.process(batch)
    assert report.failed_message_ids == {batch[0].message_id}
    assert table(postgres_url) == {(17, "a1"), (17, "a2")}
    [bucket] = stats.query(config.id, *EVER)
    assert bucket.last_error is not None
    assert "profile nul" in bucket.last_error and "postgresql cannot store the character U+0000" in bucket.last_error


class CountingTarget:
    """A real target that counts the transactions it is asked to run."""

    def __init__(self, target: Target, delay: float = 0.0, seed: int = 0) -> None:
        self.target = target
        self.transactions = 0
        self.delay = delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    @property
    def dialect(self) -> Any:
        return self.target.dialect

    def execute(self, statements: list[str]) -> Any:
        with self.lock:
            self.transactions += 1
            pause = self.rng.random() * self.delay
        time.sleep(pause)
        return self.target.execute(statements)


def test_a_target_that_is_down_fails_the_whole_batch_without_bisecting() -> None:
    down = CountingTarget(Target("postgresql+pg8000://postgres@127.0.0.1:1/none", ConnectOptions(connect_timeout=2)))
    stats = InMemoryStatsStore()
    config = integration("postgresql+pg8000://postgres@127.0.0.1:1/none", TEMPLATES, batch_size=2)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats, targets=lambda url: down)
    batch = messages([event("segment.profiles_added", ["a", "b", "c", "d"], at=0), event("segment.cleared", at=1)])
    report = worker.process(batch)
    assert report.failed_message_ids == {message.message_id for message in batch}
    assert down.transactions <= 1
    [bucket] = stats.query(config.id, *EVER)
    assert bucket.errors == 1 and bucket.last_error is not None and "target unavailable" in bucket.last_error


@pytest.mark.services
@pytest.mark.parametrize("seed", range(5))
def test_two_workers_racing_on_the_same_profiles_end_in_order(postgres_url: str, seed: int) -> None:
    rng = random.Random(seed)
    create_members(postgres_url)
    stream = random_stream(rng, 80, profiles=6)
    ledger = InMemoryLedgerStore()
    config = integration(postgres_url, TEMPLATES, batch_size=4)
    # Both workers share the ledger and the database; each target call waits a little to widen races.
    workers = [
        SyncWorker(
            lambda account_id: [config],
            ledger,
            InMemoryStatsStore(),
            targets=lambda integration, n=n: CountingTarget(
                target_for(integration.target_url), delay=0.01, seed=seed * 10 + n
            ),
        )
        for n in range(2)
    ]
    deliveries = messages(stream)
    rng.shuffle(deliveries)
    queues = [deque(deliveries[0::2]), deque(deliveries[1::2])]
    # Per worker: how often each of its messages was received, the errors reported, the dead letters.
    receives: list[Counter[str]] = [Counter(), Counter()]
    errors: list[list[str]] = [[], []]
    dead_letters: list[list[str]] = [[], []]

    def drain(n: int) -> None:
        # As SQS does: a message reported failed comes back later (behind those waiting), and one that
        # fails MAX_RECEIVES times goes to the dead-letter queue.
        queue = queues[n]
        while queue:
            batch = [queue.popleft() for _ in range(min(3, len(queue)))]
            report = workers[n].process(batch)
            errors[n].extend(error for found in report.errors_by_integration.values() for error in found)
            for message in batch:
                receives[n][message.message_id] += 1
                if message.message_id not in report.failed_message_ids:
                    continue
                if receives[n][message.message_id] < MAX_RECEIVES:
                    queue.append(message)
                else:
                    dead_letters[n].append(message.message_id)

    threads = [threading.Thread(target=drain, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The two workers' transactions may deadlock on the rows they share (SQLSTATE 40P01): the worker
    # reports those messages failed and they come back, as any transient error's. Nothing else may fail.
    assert all("SQLSTATE 40" in error for error in errors[0] + errors[1]), errors
    assert dead_letters == [[], []]
    assert receives[0].keys() | receives[1].keys() == {message.message_id for message in deliveries}
    assert table(postgres_url) == in_order(stream)


def test_a_resync_rebuilds_the_table_from_the_ledger(postgres_url: str) -> None:
    create_members(postgres_url)
    stats = InMemoryStatsStore()
    config = integration(postgres_url, TEMPLATES, batch_size=2)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), stats)
    stream = [
        event("segment.profiles_added", ["a", "b", "c", "d", "e"], at=0),
        event("segment.cleared", at=1),
        event("segment.profiles_added", ["c", "d", "f"], at=2),
        event("segment.profiles_removed", ["d"], at=3),
    ]
    worker.process(messages(stream))
    # GIVEN a table someone damaged: a member deleted, strangers added
    run_sql(postgres_url, "DELETE FROM members WHERE client = 'c'", "INSERT INTO members VALUES (17, 'x'), (17, 'a')")
    # WHEN a resync runs
    request = ResyncRequest(
        id="resync-1", integration_id=config.id, account_id=1, segment_id=17, requested_at=datetime.now(UTC)
    )
    report = worker.process([QueueMessage("m-resync", request.model_dump_json())])
    # THEN the table is exactly the ledger's members, in chunks of batch_size, counted in the stats
    assert not report.failed_message_ids
    assert table(postgres_url) == {(17, "c"), (17, "f")}
    assert (report.profiles, report.statements) == (2, 2)  # one DELETE, one chunk of two
    # 5 added, then c, f added and d removed (its add and remove collapse), then the resync's 2
    assert sum(bucket.profiles for bucket in stats.query(config.id, *EVER)) == 5 + 3 + 2


def test_a_resync_of_a_target_that_is_down_goes_back_to_the_queue() -> None:
    down = integration("postgresql+pg8000://postgres@127.0.0.1:1/none", TEMPLATES)
    worker = SyncWorker(lambda account_id: [down], InMemoryLedgerStore(), InMemoryStatsStore())
    request = ResyncRequest(id="r", integration_id=down.id, account_id=1, segment_id=17, requested_at=datetime.now(UTC))
    report = worker.process([QueueMessage("m", request.model_dump_json())])
    assert report.failed_message_ids == {"m"}
