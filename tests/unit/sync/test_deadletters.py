"""Dead letters: listing finds exactly an integration's messages and changes nothing; redrive moves exactly
those, bodies unchanged, deletes only what was sent, and leaves every other message where it was."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from sqlsync.models.deadletters import RedriveOut
from sqlsync.models.events import Database, ResyncRequest
from sqlsync.sync import to_messages
from sqlsync.sync.deadletters import DeadLetterError, DeadLetters
from testkit import BASE_TIME, event, integration

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

TEMPLATES = {
    "profiles_added": "INSERT INTO m (client) VALUES ('{$lead.CustomID}')",
    "profiles_removed": "DELETE FROM m WHERE client = '{$lead.CustomID}'",
}
A = integration("sqlite://", TEMPLATES, id="int-a", account_id=1, segment_ids=[17, 18])
B = integration("sqlite://", TEMPLATES, id="int-b", account_id=1, segment_ids=[19])
C = integration("sqlite://", TEMPLATES, id="int-c", account_id=2, segment_ids=[17])


def resync(integration_id: str, segment_id: int) -> str:
    return ResyncRequest(
        id=f"rs-{integration_id}",
        integration_id=integration_id,
        account_id=1,
        segment_id=segment_id,
        requested_at=BASE_TIME,
    ).model_dump_json()


def one(body: list[str]) -> str:
    [message] = body
    return message


BODIES: dict[str, str] = {
    "a-added": one(to_messages(event("segment.profiles_added", ["p1", "p2", "p3"], segment=17, event_id="e-a1"))),
    "a-cleared": one(to_messages(event("segment.cleared", segment=18, event_id="e-a2"))),
    "a-resync": resync("int-a", 17),
    "a-catchup": json.dumps({"kind": "catchup", "integration_id": "int-a", "id": "cu-1", "since": "2026-11-01"}),
    # Events of A's account and segment that the worker cannot read: a field it does not know (a body of an
    # earlier version, the event as one object, over several lines), fields that are not an object (a line
    # of a body of today's).
    "a-invalid": json.dumps(
        {**json.loads(event("segment.profiles_added", ["p9"], segment=17).model_dump_json()), "extra": 1}, indent=2
    ),
    "a-bad-fields": one(to_messages(event("segment.profiles_added", ["p7", "p8"], segment=17))).replace(
        '{"CustomID":"p8"}', "[1]"
    ),
    "b-added": one(to_messages(event("segment.profiles_added", ["p1"], segment=19))),
    "b-resync": resync("int-b", 19),
    "c-added": one(to_messages(event("segment.profiles_added", ["p1"], segment=17, account=2))),
    "nobody": one(to_messages(event("segment.profiles_removed", ["p1"], segment=99))),
    "garbage": "not json {",
    "array": "[1, 2]",
}
OF_A = {"a-added", "a-cleared", "a-resync", "a-catchup", "a-invalid", "a-bad-fields"}


@dataclass
class Queues:
    sqs: SQSClient
    dlq: str
    queue: str
    ids: dict[str, str]  # SQS message id in the DLQ -> key in BODIES

    def dead(self, client: Any = None, **options: Any) -> DeadLetters:
        return DeadLetters(self.dlq, self.queue, cast("SQSClient", client or self.sqs), wait_seconds=0, **options)

    def key(self, message_id: str) -> str:
        return self.ids[message_id]


@pytest.fixture
def queues(aws: dict[str, str]) -> Queues:
    import boto3

    sqs = boto3.client("sqs")
    ids = {}
    for key, body in BODIES.items():
        ids[sqs.send_message(QueueUrl=aws["SyncDLQ"], MessageBody=body)["MessageId"]] = key
    return Queues(sqs, aws["SyncDLQ"], aws["SyncQueue"], ids)


def drain(sqs: SQSClient, url: str) -> list[tuple[str, str]]:
    """(message id, body) of every message receivable now, each once (held invisible while draining)."""
    found: list[tuple[str, str]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages"):
        found.extend((message["MessageId"], message["Body"]) for message in batch)
    return found


def bodies_of(keys: set[str]) -> Counter[str]:
    return Counter(BODIES[key] for key in keys)


# Listing -----------------------------------------------------------------------------------


def test_list_shows_exactly_the_integrations_messages_and_every_message_stays_receivable(queues: Queues) -> None:
    # WHEN A's dead letters are listed
    out = queues.dead().list(A)

    # THEN exactly A's events (its account and segments) and the requests naming it are listed
    assert {queues.key(message.message_id) for message in out.messages} == OF_A
    assert (out.integration_id, out.scanned, out.unreadable, out.complete, out.stopped_by) == (
        "int-a",
        len(BODIES),
        2,
        True,
        None,
    )
    # AND every message of the DLQ is receivable right away: listing held none back
    assert {message_id for message_id, _ in drain(queues.sqs, queues.dlq)} == set(queues.ids)


def test_list_describes_each_message(queues: Queues) -> None:
    by_key = {queues.key(message.message_id): message for message in queues.dead().list(A).messages}
    now = datetime.now(UTC)

    added = by_key["a-added"]
    assert (added.kind, added.event_id, added.type, added.segment_id, added.profiles, added.error) == (
        "event",
        "e-a1",
        "segment.profiles_added",
        17,
        3,
        None,
    )
    assert added.size == len(BODIES["a-added"].encode())
    assert added.receive_count == 1
    assert added.sent_at is not None and now - timedelta(minutes=1) < added.sent_at <= now

    cleared = by_key["a-cleared"]
    assert (cleared.type, cleared.segment_id, cleared.profiles) == ("segment.cleared", 18, 0)

    request = by_key["a-resync"]
    assert (request.kind, request.event_id, request.type, request.segment_id, request.profiles, request.error) == (
        "request",
        "rs-int-a",
        "resync",
        17,
        None,
        None,
    )
    catchup = by_key["a-catchup"]
    assert (catchup.kind, catchup.type, catchup.event_id) == ("request", "catchup", "cu-1")

    # An event the worker cannot read is still its account's and segment's, with the reason it fails.
    invalid = by_key["a-invalid"]
    assert (invalid.kind, invalid.segment_id, invalid.profiles) == ("event", 17, 1)
    assert invalid.error is not None and "extra" in invalid.error
    bad_fields = by_key["a-bad-fields"]
    assert (bad_fields.kind, bad_fields.segment_id, bad_fields.profiles) == ("event", 17, 2)
    assert bad_fields.error == "the fields of profile 1: Input should be an object"


def test_other_integrations_see_only_their_own(queues: Queues) -> None:
    dead = queues.dead()
    assert {queues.key(m.message_id) for m in dead.list(B).messages} == {"b-added", "b-resync"}
    assert {queues.key(m.message_id) for m in dead.list(C).messages} == {"c-added"}


def test_unreadable_bodies_are_listed_only_when_asked_for(queues: Queues) -> None:
    out = queues.dead().list(B, include_unreadable=True)
    listed = {queues.key(message.message_id): message for message in out.messages}
    assert set(listed) == {"b-added", "b-resync", "garbage", "array"}
    assert (listed["garbage"].kind, listed["garbage"].error) == ("unreadable", "not JSON")
    assert (listed["array"].kind, listed["array"].error) == ("unreadable", "not a JSON object")
    assert out.unreadable == 2


def test_every_listing_counts_as_a_receive(queues: Queues) -> None:
    dead = queues.dead()
    dead.list(A)
    assert {message.receive_count for message in dead.list(A).messages} == {2}


def test_list_stops_at_its_limit_and_says_so(queues: Queues) -> None:
    out = queues.dead().list(A, limit=2)
    assert len(out.messages) == 2
    assert {queues.key(message.message_id) for message in out.messages} <= OF_A
    assert (out.complete, out.stopped_by) == (False, "limit")
    assert len(drain(queues.sqs, queues.dlq)) == len(BODIES)


def test_the_scan_is_bounded_in_messages(queues: Queues) -> None:
    out = queues.dead(max_messages=4).list(A)
    assert (out.scanned, out.complete, out.stopped_by) == (4, False, "max_messages")
    assert len(drain(queues.sqs, queues.dlq)) == len(BODIES)


def test_the_scan_is_bounded_in_wall_time(queues: Queues) -> None:
    # GIVEN more than two receives' worth of messages and a clock that advances one second per look
    for _ in range(25):
        queues.sqs.send_message(QueueUrl=queues.dlq, MessageBody=BODIES["nobody"])
    ticks = itertools.count()

    # WHEN the scan may take 2.5 s: the deadline is checked before each receive, at t=1, 2, 3
    out = queues.dead(max_seconds=2.5, clock=lambda: float(next(ticks))).list(A)

    # THEN two receives were made (10 messages each), and every message is receivable again
    assert (out.scanned, out.complete, out.stopped_by) == (20, False, "max_seconds")
    assert len(drain(queues.sqs, queues.dlq)) == len(BODIES) + 25


def test_the_default_bounds_and_long_poll_reach_the_end_of_the_queue(queues: Queues) -> None:
    # A long poll (the default, 1 s) asks every SQS server: its empty answer is what `complete` rests on.
    out = DeadLetters(queues.dlq, queues.queue, queues.sqs).list(C)
    assert ([queues.key(m.message_id) for m in out.messages], out.complete) == (["c-added"], True)


def test_the_hold_must_outlast_the_scan_and_a_limit_is_positive() -> None:
    with pytest.raises(ValueError, match="visibility_timeout must exceed max_seconds"):
        DeadLetters("dlq", "queue", max_seconds=30, visibility_timeout=30)
    with pytest.raises(ValueError, match="limit must be at least 1"):
        DeadLetters("dlq", "queue").redrive(A, limit=0)


# Redrive -----------------------------------------------------------------------------------


def test_redrive_moves_exactly_the_integrations_messages_with_identical_bodies(queues: Queues) -> None:
    # WHEN A's dead letters are redriven
    out = queues.dead().redrive(A)

    # THEN A's messages are on the sync queue, bodies unchanged, and gone from the DLQ
    assert (out.moved, out.remaining, out.scanned, out.complete, out.stopped_by) == (
        len(OF_A),
        0,
        len(BODIES),
        True,
        None,
    )
    assert Counter(body for _, body in drain(queues.sqs, queues.queue)) == bodies_of(OF_A)
    # AND every other message is still in the DLQ, receivable at once
    assert {queues.key(message_id) for message_id, _ in drain(queues.sqs, queues.dlq)} == set(BODIES) - OF_A


def test_a_second_redrive_finds_nothing_more(queues: Queues) -> None:
    dead = queues.dead()
    dead.redrive(A)
    again = dead.redrive(A)
    assert (again.moved, again.remaining, again.complete) == (0, 0, True)
    assert dead.list(A).messages == []


def test_an_event_shared_by_two_integrations_is_redriven_once_for_both(queues: Queues) -> None:
    # GIVEN D, which shares A's account and segment 17
    d = integration("sqlite://", TEMPLATES, id="int-d", account_id=1, segment_ids=[17])
    dead = queues.dead()
    shared = {"a-added", "a-invalid", "a-bad-fields"}
    assert {queues.key(m.message_id) for m in dead.list(d).messages} == shared

    # WHEN A's dead letters are redriven, THEN the shared events went back once (the worker applies them for
    # both; the ledger skips them where they are not newer) and D has nothing left in the DLQ
    dead.redrive(A)
    assert Counter(body for _, body in drain(queues.sqs, queues.queue)) == bodies_of(OF_A)
    assert dead.list(d).messages == []


@dataclass
class RefusingSends:
    """An SQS client whose SendMessageBatch refuses (as a transient failure) the entries whose body
    `refuse` picks, and hands the rest to moto; every other call goes to moto unchanged."""

    client: SQSClient
    refuse: Callable[[str], bool]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        refused = [entry for entry in Entries if self.refuse(entry["MessageBody"])]
        passed = [entry for entry in Entries if not self.refuse(entry["MessageBody"])]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if passed:
            response = dict(self.client.send_message_batch(QueueUrl=QueueUrl, Entries=cast(Any, passed)))
        failed = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for entry in refused
        ]
        return {"Successful": response.get("Successful", []), "Failed": [*response.get("Failed", []), *failed]}


def test_messages_the_sync_queue_refuses_stay_in_the_dlq(queues: Queues) -> None:
    # GIVEN a sync queue that refuses two of A's messages
    refused = {"a-added", "a-resync"}
    client = RefusingSends(queues.sqs, lambda body: body in {BODIES[key] for key in refused})

    # WHEN A's dead letters are redriven
    out = queues.dead(client).redrive(A)

    # THEN the others moved, the refused ones are still in the DLQ (visible at once), nothing else changed
    assert (out.moved, out.remaining, out.complete) == (len(OF_A) - 2, 2, False)
    assert Counter(body for _, body in drain(queues.sqs, queues.queue)) == bodies_of(OF_A - refused)
    assert {queues.key(message_id) for message_id, _ in drain(queues.sqs, queues.dlq)} == (set(BODIES) - OF_A) | refused


@dataclass
class FailingDeletes:
    """An SQS client whose DeleteMessageBatch fails as a crash between send and delete would."""

    client: SQSClient

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def delete_message_batch(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "DeleteMessageBatch")


def test_a_fault_between_send_and_delete_can_only_duplicate(queues: Queues) -> None:
    with pytest.raises(DeadLetterError, match="boom") as raised:
        queues.dead(FailingDeletes(queues.sqs)).redrive(A)
    assert raised.value.partial.complete is False
    # Whatever was sent is on the sync queue, and every message is still in the DLQ, visible at once.
    sent = [body for _, body in drain(queues.sqs, queues.queue)]
    assert sent and set(sent) <= set(bodies_of(OF_A))
    assert len(drain(queues.sqs, queues.dlq)) == len(BODIES)


def test_a_queue_that_refuses_every_call_loses_nothing(queues: Queues) -> None:
    missing = queues.queue.rsplit("/", 1)[0] + "/no-such-queue"
    with pytest.raises(DeadLetterError) as raised:
        DeadLetters(queues.dlq, missing, queues.sqs, wait_seconds=0).redrive(A)
    assert isinstance(raised.value.partial, RedriveOut)
    assert raised.value.partial.moved == 0
    assert len(drain(queues.sqs, queues.dlq)) == len(BODIES)


def test_redrive_stops_at_its_limit_and_a_second_call_finishes(queues: Queues) -> None:
    dead = queues.dead()
    first = dead.redrive(A, limit=2)
    assert (first.moved, first.complete, first.stopped_by) == (2, False, "limit")
    assert len(drain(queues.sqs, queues.queue)) == 2
    # Whatever the first call did not move is visible again at once.
    second = dead.redrive(A, limit=10)
    assert (second.moved, second.complete, second.stopped_by) == (len(OF_A) - 2, True, None)
    assert {queues.key(message_id) for message_id, _ in drain(queues.sqs, queues.dlq)} == set(BODIES) - OF_A


def test_large_bodies_go_back_in_batches_within_the_size_limit(queues: Queues) -> None:
    # GIVEN four of A's messages of about 100 KB each: no more than two fit in one SendMessageBatch
    big = [
        one(to_messages(event("segment.profiles_added", [(f"p{n}", {"bio": "x" * 100_000})], segment=17)))
        for n in range(4)
    ]
    for body in big:
        queues.sqs.send_message(QueueUrl=queues.dlq, MessageBody=body)

    out = queues.dead().redrive(A)

    assert (out.moved, out.remaining, out.complete) == (len(OF_A) + 4, 0, True)
    assert Counter(body for _, body in drain(queues.sqs, queues.queue)) == bodies_of(OF_A) + Counter(big)


def test_a_paused_integration_is_redriven_too(queues: Queues) -> None:
    # the worker holds a paused integration's events in the ledger, so they are not lost on the queue
    paused = A.model_copy(update={"active": False})
    out = queues.dead().redrive(paused)
    assert (out.moved, out.complete) == (len(OF_A), True)


def test_an_integration_scoped_to_a_database_owns_only_that_databases_events(queues: Queues) -> None:
    in_five = event("segment.profiles_added", ["p7"], segment=17, event_id="e-db5")
    body = one(to_messages(in_five.model_copy(update={"database": Database(id=5)})))
    queues.ids[queues.sqs.send_message(QueueUrl=queues.dlq, MessageBody=body)["MessageId"]] = "a-db5"
    scoped = A.model_copy(update={"database_id": 5})
    listed = queues.dead().list(scoped)
    # events of no database or of another one are not its; requests naming it are
    assert {queues.key(m.message_id) for m in listed.messages} == {"a-db5", "a-resync", "a-catchup"}
