"""Ingest: events become queue messages (their format: test_wire), a bad request enqueues nothing."""

from __future__ import annotations

import pytest

from sqlsync.models import EventType
from sqlsync.sync import InMemorySink, PayloadTooLargeError
from sqlsync.sync.ingest import ingest
from sqlsync.sync.queue import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, _batches
from sqlsync.sync.wire import QueuedEvent, decode
from testkit import event


def test_a_profile_too_large_for_one_message_is_refused_by_index_before_anything_is_sent() -> None:
    sink = InMemorySink()
    huge = event("segment.profiles_added", ["ok", ("big", {"blob": "x" * MAX_MESSAGE_BYTES})])
    with pytest.raises(PayloadTooLargeError, match=r"^profiles\[1\]: profile 'big' is \d+ bytes"):
        ingest([event("segment.cleared"), huge], sink)
    # sent as {"events": [...]}, the field names the event too
    with pytest.raises(PayloadTooLargeError, match=r"^events\[1\]\.profiles\[1\]: profile 'big'") as raised:
        ingest([event("segment.cleared"), huge], sink, batch=True)
    assert raised.value.field == "events[1].profiles[1]"
    assert sink.bodies == []


def test_ingest_counts_events_and_messages() -> None:
    sink = InMemorySink()
    result = ingest([event("segment.cleared"), event("segment.profiles_added", ["a", "b"])], sink)
    assert (result.events, result.messages) == (2, 2)
    assert [_type(body) for body in sink.bodies] == [EventType.CLEARED, EventType.PROFILES_ADDED]


def test_send_batches_respect_entry_count_and_total_size() -> None:
    bodies = ["x" * 100_000, "y" * 100_000, "z" * 100_000, *["s"] * 25]
    batches = _batches(bodies)
    assert [body for batch in batches for body in batch] == bodies
    assert all(len(batch) <= MAX_BATCH_ENTRIES for batch in batches)
    assert all(sum(len(body) for body in batch) <= MAX_MESSAGE_BYTES for batch in batches)


def _type(body: str) -> EventType:
    queued = decode(body)
    assert isinstance(queued, QueuedEvent)
    return queued.event.type
