"""Ingest: events become queue messages under the SQS size limit, split by profiles, nothing lost."""

from __future__ import annotations

import json

import pytest

from sqlsync.models import SegmentEvent
from sqlsync.sync import InMemorySink, PayloadTooLargeError, UnencodableValueError, to_messages
from sqlsync.sync.ingest import ingest
from sqlsync.sync.queue import MAX_BATCH_ENTRIES, MAX_MESSAGE_BYTES, _batches
from testkit import event


def test_a_small_event_is_one_message_that_reads_back_equal() -> None:
    original = event("segment.profiles_added", ["a", ("b", {"x": 1.5, "y": [1, "z"], "n": None})])
    [body] = to_messages(original)
    assert SegmentEvent.model_validate_json(body) == original


def test_a_large_event_is_split_by_profiles_under_the_limit_and_nothing_is_lost() -> None:
    profiles = [(f"p-{n}", {"CustomID": f"c-{n}", "bio": "é" * 900}) for n in range(1200)]
    original = event("segment.profiles_added", profiles)
    bodies = to_messages(original)
    assert len(bodies) > 4
    assert all(len(body.encode()) <= MAX_MESSAGE_BYTES for body in bodies)
    parts = [SegmentEvent.model_validate_json(body) for body in bodies]
    assert {(part.id, part.type, part.occurred_at, part.segment) for part in parts} == {
        (original.id, original.type, original.occurred_at, original.segment)
    }
    assert [profile for part in parts for profile in part.profiles] == original.profiles


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
    assert [json.loads(body)["type"] for body in sink.bodies] == ["segment.cleared", "segment.profiles_added"]


def test_send_batches_respect_entry_count_and_total_size() -> None:
    bodies = ["x" * 100_000, "y" * 100_000, "z" * 100_000, *["s"] * 25]
    batches = _batches(bodies)
    assert [body for batch in batches for body in batch] == bodies
    assert all(len(batch) <= MAX_BATCH_ENTRIES for batch in batches)
    assert all(sum(len(body) for body in batch) <= MAX_MESSAGE_BYTES for batch in batches)


def test_text_that_is_not_valid_unicode_is_refused_naming_the_profile() -> None:
    bad = event("segment.profiles_added", ["ok", ("p", {"name": "\ud800"})])
    with pytest.raises(UnencodableValueError, match=r"profiles\[1\]\.fields: contains text that is not valid Unicode"):
        to_messages(bad)
