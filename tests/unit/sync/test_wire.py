"""Sync-queue bodies: an envelope line and a line of fields per profile, split under the SQS limit, read back
whole; earlier versions' bodies still read; a body whose lines do not match its envelope refused."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sqlsync.models import SegmentEvent
from sqlsync.models.events import CatchUpRequest, ResyncRequest
from sqlsync.sync import PayloadTooLargeError, UnencodableValueError, to_messages
from sqlsync.sync.queue import MAX_MESSAGE_BYTES
from sqlsync.sync.wire import QueuedEvent, UnreadableBody, decode, describe
from testkit import BASE_TIME, ROOT, event, queued_event


def read_back(body: str) -> SegmentEvent:
    queued = decode(body)
    assert isinstance(queued, QueuedEvent) and queued.version == queued.event.version
    return queued_event(body)


def test_a_small_event_is_one_message_that_reads_back_equal() -> None:
    original = event("segment.profiles_added", ["a", ("b", {"x": 1.5, "y": [1, "z"], "n": None, "s": "line\nbreak"})])
    [body] = to_messages(original)
    assert read_back(body) == original
    head, *lines = body.split("\n")
    assert json.loads(head)["profile_ids"] == ["a", "b"] and len(lines) == 2


def test_nan_and_infinities_are_queued_as_null_as_they_always_were() -> None:
    # SQL has no literal for them: as null, the profile syncs with NULL instead of failing its message
    [body] = to_messages(event("segment.profiles_added", [("a", {"x": float("nan"), "y": float("-inf"), "z": 1.0})]))
    assert body.endswith('\n{"x":null,"y":null,"z":1.0}')
    assert queued_event(body).profiles[0].fields == {"x": None, "y": None, "z": 1.0}


def test_an_event_without_profiles_is_its_envelope_alone() -> None:
    original = event("segment.cleared")
    [body] = to_messages(original)
    assert "\n" not in body and read_back(body) == original


def test_a_large_event_is_split_by_profiles_under_the_limit_and_nothing_is_lost() -> None:
    profiles = [(f"p-{n}", {"CustomID": f"c-{n}", "bio": "é" * 900}) for n in range(1200)]
    original = event("segment.profiles_added", profiles)
    bodies = to_messages(original)
    assert len(bodies) > 4
    assert all(len(body.encode()) <= MAX_MESSAGE_BYTES for body in bodies)
    parts = [read_back(body) for body in bodies]
    assert {(part.id, part.type, part.occurred_at, part.segment) for part in parts} == {
        (original.id, original.type, original.occurred_at, original.segment)
    }
    assert [profile for part in parts for profile in part.profiles] == original.profiles


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    profiles=st.lists(
        st.tuples(_text.filter(bool), st.dictionaries(_text, _json_value, max_size=4)), min_size=0, max_size=12
    ),
    budget=st.integers(min_value=900, max_value=4000),
)
def test_any_profiles_read_back_in_order_from_bodies_within_the_budget(
    profiles: list[tuple[str, dict[str, Any]]], budget: int
) -> None:
    # GIVEN hostile ids and fields (quotes, line breaks, any Unicode, nesting) and a small budget
    original = event("segment.profiles_added", profiles)
    try:
        bodies = to_messages(original, budget=budget)
    except PayloadTooLargeError:
        return  # one profile alone is over this budget: refused, as the next test checks
    # THEN every body keeps to the budget and together they hold every profile, in order
    assert all(len(body.encode()) <= budget for body in bodies)
    assert [p for body in bodies for p in read_back(body).profiles] == original.profiles


def test_a_profile_over_the_budget_is_refused_naming_it() -> None:
    with pytest.raises(PayloadTooLargeError, match=r"^profiles\[1\]: profile 'big' is \d+ bytes"):
        to_messages(event("segment.profiles_added", ["ok", ("big", {"blob": "x" * 2000})]), budget=1500)


def test_text_that_is_not_valid_unicode_is_refused_naming_the_profile() -> None:
    bad = event("segment.profiles_added", ["ok", ("p", {"name": "\ud800"})])
    with pytest.raises(UnencodableValueError, match=r"profiles\[1\]\.fields: contains text that is not valid Unicode"):
        to_messages(bad)


def test_an_event_read_once_keeps_what_it_read() -> None:
    # For a message several integrations apply: read once, then each run takes the same fields
    [body] = to_messages(event("segment.profiles_added", ["a", ("b", {"x": [1]})]))
    queued = decode(body)
    assert isinstance(queued, QueuedEvent)
    once = queued.read_once()
    assert once.read() is once.read() and once.read() == queued.read()
    assert once.fields() == [{"CustomID": "a"}, {"x": [1]}]


def test_a_body_of_an_earlier_version_is_read() -> None:
    original = event("segment.profiles_removed", ["a", ("b", {"x": 1})])
    queued = decode(original.model_dump_json())
    assert isinstance(queued, QueuedEvent)
    assert (queued.event, queued.version, queued.profile_ids) == (original, original.version, ["a", "b"])
    assert queued.fields() == [{"CustomID": "a"}, {"x": 1}]


def test_requests_are_read() -> None:
    resync = ResyncRequest(id="r", integration_id="i", account_id=1, segment_id=17, requested_at=BASE_TIME)
    catch_up = CatchUpRequest(
        id="c", integration_id="i", account_id=1, segment_id=17, requested_at=BASE_TIME, resumed_at=BASE_TIME
    )
    assert decode(resync.model_dump_json()) == resync
    assert decode(catch_up.model_dump_json()) == catch_up


def _body(profile_ids: list[str], *lines: str, event_extra: dict[str, Any] | None = None) -> str:
    envelope = json.loads(to_messages(event("segment.profiles_added"))[0])
    envelope["event"].update(event_extra or {})
    envelope["profile_ids"] = profile_ids
    return "\n".join([json.dumps(envelope, separators=(",", ":")), *lines])


def test_a_kind_of_message_not_known_is_unreadable() -> None:
    with pytest.raises(UnreadableBody, match="a kind of message this worker does not know"):
        decode('{"kind":"mystery","id":"x"}')


def test_an_envelope_with_profiles_in_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="profiles go on the lines after the envelope"):
        decode(_body([], event_extra={"profiles": [{"id": "a", "fields": {}}]}))


@pytest.mark.parametrize(
    ("ids", "lines", "error"),
    [
        (["a", "b"], ['{"x":1}', "[1]"], r"^the fields of profile 1: Input should be an object$"),
        (["a", "b"], ['{"x":1}', '{"y":'], r"^the fields of profile 1: Invalid JSON: EOF"),
        # ids and lines that do not match
        (["a", "b"], ['{"x":1}'], "^2 profile ids but 1 lines of fields$"),
        (["a"], ['{"x":1}', '{"y":2}'], "^1 profile ids but 2 lines of fields$"),
        ([], ['{"x":1}'], "^0 profile ids but 1 lines of fields$"),
        # each line one whole object, even where the counts would agree
        (["a", "b"], ['{"x":1},{"y":2}', "{}"], r"^the fields of profile 0: Invalid JSON: trailing characters"),
        (["a", "b"], ['{"x":[1', "2]}"], r"^the fields of profile 0: Invalid JSON: EOF"),
        (["a", "b", "c"], ['{"a":[1', "2]}", '{"b":1},{"c":1}'], r"^the fields of profile 0: Invalid JSON: EOF"),
    ],
)
def test_fields_that_do_not_read_are_refused_when_read(ids: list[str], lines: list[str], error: str) -> None:
    # GIVEN a body whose envelope reads: its fields are only read when the worker comes to them
    queued = decode(_body(ids, *lines))
    assert isinstance(queued, QueuedEvent)
    with pytest.raises((ValidationError, UnreadableBody)) as raised:
        queued.read()
    assert re.search(error, describe(raised.value))


def test_each_profiles_fields_are_read_with_their_text_as_queued() -> None:
    # The text goes to the ledger as it is: no second encoding per profile.
    [body] = to_messages(event("segment.profiles_added", [("a", {"x": 1.5, "s": "é\n"}), ("b", {})]))
    queued = decode(body)
    assert isinstance(queued, QueuedEvent)
    fields, texts = queued.read()
    assert fields == [{"x": 1.5, "s": "é\n"}, {}]
    assert texts is not None and [json.loads(text) for text in texts] == fields


def test_describe_names_where_without_the_values() -> None:
    with pytest.raises(ValidationError) as raised:
        decode(_body([], event_extra={"account_id": "secret-value"}))
    assert (
        describe(raised.value)
        == "event.account_id: Input should be a valid integer, unable to parse string as an integer"
    )


def test_the_sync_worker_sample_holds_bodies_as_ingest_writes_them_today() -> None:
    # events/lambda/sync_worker_sqs.json (sam local invoke) shows what the queue carries: it must not rot
    records = json.loads((ROOT / "events" / "lambda" / "sync_worker_sqs.json").read_text())["Records"]
    assert records
    for record in records:
        body = record["body"]
        assert to_messages(queued_event(body)) == [body]
        assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()
