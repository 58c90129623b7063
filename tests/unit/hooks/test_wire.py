"""Hook-queue messages: what is written reads back the same, what is not a message is refused, and a
message of an earlier version (one event) still reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlsync.hooks.wire import (
    MAX_MESSAGE_EVENT_BYTES,
    MAX_MESSAGE_EVENTS,
    HookMessage,
    Queued,
    decode,
    encode,
    pack,
    size_of,
)
from sqlsync.models.hooks import HookDelivery
from sqlsync.sync.queue import MAX_MESSAGE_BYTES

TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
EVENTS = st.lists(
    st.builds(
        Queued,
        event_id=TEXT,
        key=st.none() | TEXT,
        body=st.dictionaries(TEXT, TEXT, max_size=3).map(lambda d: json.dumps(d, ensure_ascii=False)),
        content_key=st.none() | st.builds("{}#{}#{}".format, st.integers(0), st.integers(0), TEXT),
        data_sources=st.lists(st.tuples(TEXT, TEXT), max_size=2),
    ),
    min_size=1,
    max_size=8,
)


def normal(message: HookMessage) -> HookMessage:
    """Data-source pairs as tuples in a list, whatever sequence the reader made."""
    events = [event._replace(data_sources=[tuple(pair) for pair in event.data_sources]) for event in message.events]
    return message._replace(events=events)


@settings(max_examples=200, deadline=None)
@given(
    hook_id=TEXT,
    events=EVENTS,
    queued_at=st.none() | st.floats(0, 4e9),
    attempt=st.integers(1, 9),
    last_error=st.none() | TEXT,
)
def test_a_message_reads_back_as_written(
    hook_id: str, events: list[Queued], queued_at: float | None, attempt: int, last_error: str | None
) -> None:
    text = encode(hook_id, events, queued_at, attempt, last_error)
    events = [event._replace(data_sources=list(event.data_sources)) for event in events]
    assert normal(decode(text)) == HookMessage(hook_id, attempt, last_error, queued_at, events)
    # AND size_of is an upper bound of what each event adds to a message
    assert len(text.encode()) <= len(encode(hook_id, [], queued_at, attempt, last_error).encode()) + sum(
        map(size_of, events)
    )


@settings(max_examples=50, deadline=None)
@given(events=st.lists(EVENTS, min_size=1, max_size=40).map(lambda lists: [e for events in lists for e in events]))
def test_pack_keeps_every_event_once_in_order_within_the_limits(events: list[Queued]) -> None:
    messages = pack("h-1", events, 1.5, attempt=2, last_error="timeout")
    read = [normal(decode(text)) for text in messages]
    assert [event for message in read for event in message.events] == [
        event._replace(data_sources=list(event.data_sources)) for event in events
    ]
    assert all(len(message.events) <= MAX_MESSAGE_EVENTS for message in read)
    assert {(m.hook_id, m.attempt, m.last_error, m.queued_at) for m in read} == {("h-1", 2, "timeout", 1.5)}


def test_pack_cuts_by_size() -> None:
    big = Queued("e", "p", json.dumps({"blob": "x" * (MAX_MESSAGE_BYTES // 3)}))
    small = Queued("s", "p", "{}")
    counts = [len(decode(text).events) for text in pack("h-1", [small, big, big, big, small, big, big, small], None)]
    assert counts == [3, 3, 2]  # as many as fit, in order


def test_the_largest_event_fits_a_message_even_with_the_longest_last_error() -> None:
    # GIVEN an event of the most an event may take, and an error of 2,000 characters JSON writes as \u escapes
    body = json.dumps({"blob": "x" * MAX_MESSAGE_EVENT_BYTES})
    event = Queued("e", "p", body[: len(body) - (size_of(Queued("e", "p", body)) - MAX_MESSAGE_EVENT_BYTES) - 2] + '"}')
    assert size_of(event) <= MAX_MESSAGE_EVENT_BYTES

    # WHEN it is requeued with that error
    [text] = pack("h-1", [event], 1e9, attempt=4, last_error="\x01" * 2000)

    # THEN the message is within SQS's limit
    assert len(text.encode()) <= MAX_MESSAGE_BYTES and decode(text).events == [event]


def test_a_message_of_an_earlier_version_reads_as_one_event() -> None:
    delivery = HookDelivery(
        hook_id="h-1",
        event_id="e1",
        key="p1",
        content_key="1#9#p1",
        attempt=3,
        last_error="HTTP 503",
        queued_at=12.5,
        data_sources=[("promo_codes", "p1")],
    )
    text = delivery.model_dump_json() + "\n" + '{"event_id":"e1"}'

    message = decode(text)

    assert normal(message) == HookMessage(
        "h-1", 3, "HTTP 503", 12.5, [Queued("e1", "p1", '{"event_id":"e1"}', "1#9#p1", [("promo_codes", "p1")])]
    )


GOOD_HEAD: dict[str, Any] = {"kind": "hook_batch", "hook_id": "h-1", "event_ids": ["e1", "e2"], "keys": ["p1", None]}


@pytest.mark.parametrize(
    ("head", "bodies", "message"),
    [
        (GOOD_HEAD, None, "an envelope line, then"),
        (GOOD_HEAD, ["{}"], "2 event ids and 2 keys for 1 bodies"),
        ({**GOOD_HEAD, "keys": ["p1"]}, ["{}", "{}"], "2 event ids and 1 keys for 2 bodies"),
        (GOOD_HEAD, ["{}", "[]"], "each line after the envelope is a JSON object"),
        ({**GOOD_HEAD, "content_keys": {"2": "1#9#p"}}, ["{}", "{}"], "by their position"),
        ({**GOOD_HEAD, "data_sources": {"-1": [["a", "b"]]}}, ["{}", "{}"], "by their position"),
        ({**GOOD_HEAD, "event_ids": []}, [], "at least 1 item"),
        ({**GOOD_HEAD, "attempt": 0}, ["{}", "{}"], "greater than or equal to 1"),
        ({**GOOD_HEAD, "surprise": 1}, ["{}", "{}"], "Extra inputs are not permitted"),
        ({**GOOD_HEAD, "kind": "sync"}, ["{}", "{}"], "does not match any of the expected tags"),
        ({**GOOD_HEAD, "queued_at": "NaN"}, ["{}", "{}"], "finite number"),
        ('{"kind":"hook_batch","hook_id":"h","event_ids":["e"],"keys":[null],"queued_at":1e400}', ["{}"], "finite"),
        ({**GOOD_HEAD, "content_keys": {"0": "x"}}, ["{}", "{}"], "should match pattern"),
        ({"kind": "hook", "hook_id": "h-1", "event_id": "e1"}, ["{}", "{}"], "single-event hook message with 2"),
    ],
)
def test_what_is_not_a_message_is_refused_saying_why(
    head: dict[str, Any] | str, bodies: list[str] | None, message: str
) -> None:
    head_text = head if isinstance(head, str) else json.dumps(head)
    text = head_text if bodies is None else head_text + "\n" + "\n".join(bodies)
    with pytest.raises(ValueError, match=message):
        decode(text)
