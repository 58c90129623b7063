"""How a hook-queue message is written: a run of one hook's events. The envelope (HookBatch) is the first
line of JSON; each event's body follows on a line of its own, already rendered by ingest as the destination
will receive it (compact JSON escapes every newline, so lines cannot be confused).

Rendering once at ingest keeps the dispatcher from parsing the events and building their bodies again; it
also fixes custom_data (and {{uuid}}) at the event's arrival, so that every retry sends the same bytes. One
envelope for many events keeps both ends from writing and validating one per event (`make bench`).

Messages of earlier versions, one event each (HookDelivery), are still read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple

from pydantic import Field, TypeAdapter
from pydantic_core import to_json

from sqlsync.models.hooks import HookBatch, HookDelivery
from sqlsync.sync.queue import MAX_MESSAGE_BYTES

ENVELOPE_ROOM = 16 * 1024
"""Bytes of a message kept for its envelope's own fields: kind, hook id, attempt and a last error of up to
2,000 characters (6 bytes each at most, as JSON escapes)."""
MAX_MESSAGE_EVENT_BYTES = MAX_MESSAGE_BYTES - ENVELOPE_ROOM
"""The most one event may take in a message (`size_of`): its body, id, key and requests."""
BODY_CHARS_THAT_FIT = (MAX_MESSAGE_EVENT_BYTES - 8 * 1024) // 4
"""An event without data-source requests fits a message when its body's characters and twice its content
key's are at most this many (UTF-8 takes at most 4 bytes a character, JSON escapes 6; the event id and key
are at most 256 characters): most need no `size_of`."""
MAX_MESSAGE_EVENTS = 100
"""Events in one message at most: a dispatcher invocation of BatchSize messages stays a bounded amount of
work (the default HTTP batch_size, so that a message is about one request)."""


class Queued(NamedTuple):
    """One event of a hook-queue message."""

    event_id: str
    key: str | None
    """The profile id: Kafka's record key."""
    body: str
    """The JSON object the destination receives."""
    content_key: str | None = None
    """account#message#profile: the kept content to attach, for hooks that include it."""
    data_sources: Sequence[tuple[str, str]] = ()
    """(data source name, contact key): rows to add as jsonParam when sent."""


class HookMessage(NamedTuple):
    """A hook-queue message read back."""

    hook_id: str
    attempt: int
    last_error: str | None
    queued_at: float | None
    events: list[Queued]


def size_of(event: Queued) -> int:
    """An upper bound of what the event adds to a message, in UTF-8 bytes: its body exactly (it is JSON
    already) and its line break; its id, key and requests as the envelope writes them, with their quotes,
    separators and position, at most 6 bytes a character (JSON's \\u escapes); and the names of the
    envelope's optional members it needs, as though it were the only event to need them."""
    size = (len(event.body) if event.body.isascii() else len(event.body.encode())) + 1
    size += 6 * len(event.event_id) + 3 + (5 if event.key is None else 6 * len(event.key) + 3)
    if event.content_key is not None:
        size += 6 * len(event.content_key) + 12 + len(',"content_keys":{}')
    if event.data_sources:
        size += 12 + len(',"data_sources":{}')
        for name, contact in event.data_sources:
            size += 6 * (len(name) + len(contact)) + 8
    return size


def pack(
    hook_id: str,
    events: Sequence[Queued],
    queued_at: float | None,
    attempt: int = 1,
    last_error: str | None = None,
) -> list[str]:
    """The events as messages of at most MAX_MESSAGE_EVENTS, each within SQS's size, in order. Each event
    must fit a message alone (`size_of` at most MAX_MESSAGE_EVENT_BYTES: the caller checks)."""
    messages: list[str] = []
    for start in range(0, len(events), MAX_MESSAGE_EVENTS):
        run = events[start : start + MAX_MESSAGE_EVENTS]
        text = encode(hook_id, run, queued_at, attempt, last_error)
        if (len(text) if text.isascii() else len(text.encode())) <= MAX_MESSAGE_BYTES:
            messages.append(text)  # nearly always: 100 events of a few KB
        else:
            messages.extend(_pack_by_size(hook_id, run, queued_at, attempt, last_error))
    return messages


def _pack_by_size(
    hook_id: str, events: Sequence[Queued], queued_at: float | None, attempt: int, last_error: str | None
) -> list[str]:
    """As few messages as fit, by each event's `size_of`."""
    messages: list[str] = []
    room = MAX_MESSAGE_BYTES - len(encode(hook_id, [], queued_at, attempt, last_error).encode())
    start, left = 0, room
    for position, event in enumerate(events):
        size = size_of(event)
        if position > start and size > left:
            messages.append(encode(hook_id, events[start:position], queued_at, attempt, last_error))
            start, left = position, room
        left -= size
    messages.append(encode(hook_id, events[start:], queued_at, attempt, last_error))
    return messages


def encode(
    hook_id: str,
    events: Sequence[Queued],
    queued_at: float | None,
    attempt: int = 1,
    last_error: str | None = None,
) -> str:
    """One message; `pack` keeps it within SQS's size."""
    # Transposed in C: a hook's events are written thousands at a time.
    ids, keys, bodies, content_keys, data_sources = zip(*events, strict=True) if events else ((),) * 5
    envelope: dict[str, Any] = {
        "kind": "hook_batch",
        "hook_id": hook_id,
        "attempt": attempt,
        "last_error": last_error,
        "queued_at": queued_at,
        "event_ids": ids,
        "keys": keys,
    }
    if content_keys.count(None) != len(content_keys):
        envelope["content_keys"] = {str(n): key for n, key in enumerate(content_keys) if key is not None}
    if any(data_sources):
        envelope["data_sources"] = {str(n): pairs for n, pairs in enumerate(data_sources) if pairs}
    return to_json(envelope).decode() + "\n" + "\n".join(bodies)


_validate_envelope = TypeAdapter(Annotated[HookBatch | HookDelivery, Field(discriminator="kind")]).validate_json


def decode(text: str) -> HookMessage:
    """The message's envelope and events; ValueError (pydantic's ValidationError is one) when unreadable."""
    head, newline, rest = text.partition("\n")
    if not newline:
        raise ValueError("not a hook message: an envelope line, then a JSON object per line")
    envelope = _validate_envelope(head)
    bodies = rest.split("\n")
    if not all(body.startswith("{") and body.endswith("}") for body in bodies):
        raise ValueError("not a hook message: each line after the envelope is a JSON object")
    if isinstance(envelope, HookDelivery):  # an earlier version's message: one event
        if len(bodies) != 1:
            raise ValueError(f"a single-event hook message with {len(bodies)} bodies")
        event = Queued(envelope.event_id, envelope.key, bodies[0], envelope.content_key, envelope.data_sources)
        return HookMessage(envelope.hook_id, envelope.attempt, envelope.last_error, envelope.queued_at, [event])
    ids, keys = envelope.event_ids, envelope.keys
    content_keys, data_sources = envelope.content_keys, envelope.data_sources
    if not len(ids) == len(keys) == len(bodies):
        raise ValueError(f"{len(ids)} event ids and {len(keys)} keys for {len(bodies)} bodies")
    if any(not 0 <= n < len(ids) for n in (*content_keys, *data_sources)):
        raise ValueError("content_keys and data_sources name events by their position in the message")
    if content_keys or data_sources:
        events = [
            Queued(event_id, key, body, content_keys.get(n), data_sources.get(n, ()))
            for n, (event_id, key, body) in enumerate(zip(ids, keys, bodies, strict=True))
        ]
    else:
        events = list(map(Queued, ids, keys, bodies))
    return HookMessage(envelope.hook_id, envelope.attempt, envelope.last_error, envelope.queued_at, events)


def with_content(body: str, content: dict[str, Any]) -> str:
    """The body with `"content": ...` added as its last member."""
    return body[:-1] + ',"content":' + to_json(content, inf_nan_mode="constants").decode() + "}"


def with_json_param(body: str, data: dict[str, Any]) -> str:
    """The body with `"jsonParam": "<data as JSON text>"` added as its last member: eSputnik's triggers carry
    data-source rows as a string, which the receiving workflow deserializes."""
    text = to_json(data, inf_nan_mode="constants").decode()
    return body[:-1] + ',"jsonParam":' + to_json(text).decode() + "}"


def content_key(account_id: int, message_id: int, profile_id: str) -> str:
    return f"{account_id}#{message_id}#{profile_id}"
