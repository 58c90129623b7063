"""Pause and resume against the real PostgreSQL: a catch-up racing new events on two workers, and the whole
cycle on the DynamoDB ledger (moto), each checked against applying the events once, in order."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from sqlsync.connectors import Target, target_for
from sqlsync.models import Integration, SegmentEvent
from sqlsync.models.events import EventType
from sqlsync.store import LedgerStore
from sqlsync.store.dynamodb import DynamoDBLedgerStore
from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync import QueueMessage, SyncWorker
from sqlsync.sync.catchup import catch_up_messages
from testkit import event, integration, messages, rows, run_sql

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TEMPLATES = {
    "profiles_added": "INSERT INTO members (seg, client) VALUES "
    "{for $i, $lead = $batch}({segment_id}, '{$lead.CustomID}'){autocomma}{end} ON CONFLICT (seg, client) DO NOTHING",
    "profiles_removed": 'DELETE FROM members WHERE seg = {segment_id} AND client IN ({batch_in "CustomID"})',
    "segment_cleared": "DELETE FROM members WHERE seg = {segment_id}",
    "segment_upserted": "INSERT INTO segments (seg, name) VALUES ({segment_id}, '{segment_name}') "
    "ON CONFLICT (seg) DO UPDATE SET name = EXCLUDED.name",
}

pytestmark = pytest.mark.services


class Switch:
    """The integration's stored configuration, paused and resumed as the API does it."""

    def __init__(self, url: str, **overrides: Any) -> None:
        self.config = integration(url, TEMPLATES, **overrides)
        self.resumes = 0

    def __call__(self, account_id: int) -> list[Integration]:
        return [self.config]

    def save(self, active: bool) -> None:
        updated_at = self.config.updated_at + timedelta(seconds=1)
        self.config = self.config.model_copy(update={"active": active, "updated_at": updated_at})

    def resume(self) -> list[QueueMessage]:
        self.save(active=True)
        self.resumes += 1
        bodies = catch_up_messages(self.config, self.config.updated_at)
        return [QueueMessage(f"catchup-{self.resumes}-{n}", body) for n, body in enumerate(bodies)]


class Slow:
    """A real target whose transactions start after a random wait of up to `delay` seconds, to widen races;
    `gate`, if set, runs once before the first transaction that writes profiles."""

    def __init__(self, target: Target, seed: int, delay: float) -> None:
        self.target = target
        self.rng = random.Random(seed)
        self.delay = delay
        self.lock = threading.Lock()
        self.gate: Callable[[], None] | None = None

    @property
    def dialect(self) -> Any:
        return self.target.dialect

    def execute(self, statements: list[str]) -> Any:
        with self.lock:
            pause = self.rng.random() * self.delay
            gate = self.gate if any("client" in sql for sql in statements) else None
            if gate is not None:
                self.gate = None
        if gate is not None:
            gate()
        time.sleep(pause)
        return self.target.execute(statements)


def create_tables(url: str) -> None:
    run_sql(
        url,
        "DROP TABLE IF EXISTS members",
        "DROP TABLE IF EXISTS segments",
        "CREATE TABLE members (seg int, client text, PRIMARY KEY (seg, client))",
        "CREATE TABLE segments (seg int PRIMARY KEY, name text)",
    )


def random_stream(rng: random.Random, start: int, count: int) -> list[SegmentEvent]:
    stream = []
    for index in range(start, start + count):
        roll = rng.random()
        if roll < 0.05:
            stream.append(event("segment.cleared", at=index))
            continue
        chosen = rng.sample([f"p{n}" for n in range(8)], rng.randint(1, 3))
        kind = "segment.profiles_added" if roll < 0.6 else "segment.profiles_removed"
        stream.append(event(kind, chosen, at=index))
    return stream


def in_order(stream: Sequence[SegmentEvent]) -> set[str]:
    members: set[str] = set()
    for item in sorted(stream, key=lambda e: e.version):
        if item.type in (EventType.CLEARED, EventType.DELETED):
            members.clear()
        ids = {profile.id for profile in item.profiles}
        members = members | ids if item.type is EventType.PROFILES_ADDED else members - ids
    return members


def table(url: str) -> set[str]:
    return {client for (client,) in rows(url, "SELECT client FROM members WHERE seg = 17")}


def drain(worker: SyncWorker, queue: list[QueueMessage], rng: random.Random) -> None:
    """Process in small batches; what fails comes back later, as SQS redelivers it (PostgreSQL may pick
    one of two racing transactions as a deadlock victim: a transient failure, retried whole)."""
    for _ in range(500):
        if not queue:
            return
        size = rng.randint(1, 4)
        batch, queue[:] = queue[:size], queue[size:]
        report = worker.process(batch)
        queue += [message for message in batch if message.message_id in report.failed_message_ids]
    raise AssertionError(f"still failing: {sorted(message.message_id for message in queue)}")


@pytest.mark.parametrize("seed", range(4))
def test_a_catch_up_racing_new_events_on_two_workers_ends_in_order(postgres_url: str, seed: int) -> None:
    rng = random.Random(seed)
    create_tables(postgres_url)
    switch = Switch(postgres_url, batch_size=3)
    ledger = InMemoryLedgerStore()
    # The first worker, which gets the catch-up, is slower: the other commits newer states meanwhile.
    slow = [Slow(target_for(postgres_url), seed * 10 + n, delay) for n, delay in enumerate((0.03, 0.005))]
    workers = [
        SyncWorker(switch, ledger, InMemoryStatsStore(), targets=lambda integration, n=n: slow[n]) for n in range(2)
    ]
    # GIVEN events applied while active, then events held while paused (shuffled, some twice)
    before, paused, after = random_stream(rng, 0, 20), random_stream(rng, 20, 30), random_stream(rng, 50, 30)
    drain(workers[1], messages(before), rng)
    switch.save(active=False)
    held = messages(paused)
    held += rng.sample(held, len(held) // 3)
    rng.shuffle(held)
    drain(workers[0], held, rng)
    assert table(postgres_url) == in_order(before)

    # WHEN it is resumed, and two workers share the catch-up and the newer events at once; the catch-up's
    # first chunk of profiles, read from the ledger before, commits only after the other worker applied its
    # share of the newer events (then both run freely)
    deliveries = messages(after)
    rng.shuffle(deliveries)
    catch_up = switch.resume()
    shares = [deliveries[0::2], deliveries[1::2]]
    listed, applied = threading.Event(), threading.Event()

    def gate() -> None:
        listed.set()
        applied.wait(10)

    slow[0].gate = gate

    def catching_up(worker: SyncWorker, share: list[QueueMessage], rng: random.Random) -> None:
        drain(worker, list(catch_up), rng)
        listed.set()  # in case it had no profile to apply: let the other one go
        drain(worker, share, rng)

    def newer(worker: SyncWorker, share: list[QueueMessage], rng: random.Random) -> None:
        listed.wait(10)
        early = share[: len(share) // 2]
        del share[: len(early)]
        drain(worker, early, rng)
        applied.set()
        drain(worker, share, rng)

    threads = [
        threading.Thread(target=target, args=(worker, share, random.Random(seed + n)))
        for n, (target, worker, share) in enumerate(zip((catching_up, newer), workers, shares, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN the table equals applying every event once, in order, and nothing is pending
    assert not any(shares)
    assert table(postgres_url) == in_order(before + paused + after)
    assert ledger.get_pending(switch.config.id, 17) is None


@pytest.fixture
def dynamodb_ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[LedgerStore]:
    """The DynamoDB ledger on moto, with the key schema of template.yaml's LedgerTable."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with mock_aws():
        client: DynamoDBClient = boto3.client("dynamodb", region_name="eu-central-1")
        client.create_table(
            TableName="ledger",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield DynamoDBLedgerStore("ledger", client)


def test_pause_and_resume_on_the_dynamodb_ledger(postgres_url: str, dynamodb_ledger: LedgerStore) -> None:
    create_tables(postgres_url)
    switch = Switch(postgres_url, batch_size=2)
    worker = SyncWorker(switch, dynamodb_ledger, InMemoryStatsStore())
    # GIVEN members, then, while paused: changes, a clear, a rename, more changes, an old event delivered late
    before = [event("segment.profiles_added", ["a", "b", "c"], at=0)]
    drain(worker, messages(before), random.Random(0))
    switch.save(active=False)
    paused = [
        event("segment.profiles_removed", ["a"], at=10),
        event("segment.cleared", at=11),
        event("segment.upserted", at=12, segment_name="Renamed"),
        event("segment.profiles_added", ["d", "e", "f"], at=13),
        event("segment.profiles_removed", ["e"], at=14),
        event("segment.profiles_added", ["b"], at=5),
    ]
    report = worker.process(messages(paused))
    assert (report.statements, report.failed_message_ids) == (0, set())
    assert table(postgres_url) == {"a", "b", "c"}

    # WHEN it is resumed and the catch-up runs (twice: a redelivery)
    catch_up = switch.resume()
    first, second = worker.process(catch_up), worker.process(catch_up)

    # THEN the target is the in-order result, renamed, and nothing is left pending
    assert (first.failed_message_ids, second.failed_message_ids, second.statements) == (set(), set(), 0)
    assert table(postgres_url) == in_order(before + paused) == {"d", "f"}
    assert rows(postgres_url, "SELECT name FROM segments WHERE seg = 17") == [("Renamed",)]
    assert dynamodb_ledger.get_pending(switch.config.id, 17) is None
