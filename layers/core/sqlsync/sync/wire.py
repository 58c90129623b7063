"""How a sync-queue message carries a segment event: an envelope line, then one line per profile's fields.

The envelope (EventEnvelope: the event without its profiles, and the profiles' ids in order) is the first
line of JSON; each profile's fields follow on a line of their own, in the same order (compact JSON escapes
every newline, so lines cannot be confused). An event with many profiles is split into several messages
that carry the same event and a part of the profiles, each under the SQS size limit.

The split lets the worker read every envelope of a batch first, which is all it needs to order the events
and find each profile's newest change, and read a message's fields only when its profiles are about to be
claimed and rendered, while the transaction before them runs on the target (`make bench`).

Bodies of earlier versions (the event as one JSON object, profiles inside) are still read, and so are the
requests the worker also takes from the queue (resync, catch-up).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticSerializationError, to_json

from sqlsync.models.events import CatchUpRequest, NonEmpty, ResyncRequest, SegmentEvent
from sqlsync.sync.exceptions import PayloadTooLargeError, UnencodableValueError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES

MESSAGE_BUDGET = MAX_MESSAGE_BYTES - 8 * 1024
"""Room for SQS attributes within the 256 KiB limit."""
EVENT_KIND = "segment_event"
EVENT_PREFIX = '{"kind":"segment_event"'
"""How every body of a segment event starts (as `to_messages` writes it)."""
_read_fields = TypeAdapter(dict[str, Any]).validator.validate_json
"""A profile's fields from their JSON: pydantic-core's own validator, without TypeAdapter's Python wrapper (a
call per profile)."""


class EventEnvelope(BaseModel):
    """The first line of a message: the event (its profiles are on the lines after) and the profiles' ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["segment_event"]
    event: SegmentEvent
    profile_ids: list[NonEmpty]

    @model_validator(mode="after")
    def _profiles_on_their_lines(self) -> EventEnvelope:
        if self.event.profiles:
            raise ValueError("the event's profiles go on the lines after the envelope, not in it")
        return self


class UnreadableBody(ValueError):
    """A body that is neither a segment event nor a request the worker knows, or whose lines do not match."""


class ReadFields(NamedTuple):
    """Each profile's fields, and each one's JSON text as queued (None for a body of an earlier version)."""

    fields: list[dict[str, Any]]
    texts: list[str] | None


class QueuedEvent(NamedTuple):
    """A segment event as a message carries it: its fields read on demand (`read`)."""

    event: SegmentEvent
    """The event; its profiles are profile_ids and fields (it carries them itself only when queued by an
    earlier version)."""
    version: str
    profile_ids: list[str]
    lines: str | list[dict[str, Any]] | ReadFields
    """Each profile's fields as queued, one JSON object a line; or already read."""

    def read(self) -> ReadFields:
        """Each profile's fields, in the order of profile_ids, and their texts. Raises ValidationError or
        UnreadableBody."""
        if isinstance(self.lines, ReadFields):
            return self.lines
        if not isinstance(self.lines, str):
            return ReadFields(self.lines, None)
        texts = self.lines.split("\n") if self.lines else []
        if len(texts) != len(self.profile_ids):
            raise UnreadableBody(f"{len(self.profile_ids)} profile ids but {len(texts)} lines of fields")
        try:
            # Each line on its own: the ledger keeps each text as it is, so each must be one whole object.
            return ReadFields(list(map(_read_fields, texts)), texts)
        except ValidationError:
            for index, text in enumerate(texts):  # which one: a second pass, only for a bad body
                try:
                    _read_fields(text)
                except ValidationError as exc:
                    problem = exc.errors(include_url=False, include_input=False)[0]["msg"]
                    raise UnreadableBody(f"the fields of profile {index}: {problem}") from None
            raise

    def fields(self) -> list[dict[str, Any]]:
        """Each profile's fields, in the order of profile_ids. Raises ValidationError or UnreadableBody."""
        return self.read().fields

    def read_once(self) -> QueuedEvent:
        """The event with its fields read now and kept: for a message that several integrations apply, so
        that it is read once, not once each. Raises ValidationError or UnreadableBody."""
        return self._replace(lines=self.read())


def to_messages(event: SegmentEvent, budget: int = MESSAGE_BUDGET) -> list[str]:
    """The event as one or more bodies, each at most `budget` bytes of UTF-8. Raises IngestFieldError
    naming the profile that cannot be queued (too large for a message, or text that is not Unicode)."""
    event_json = event.model_dump_json(exclude={"profiles"})
    head = f'{EVENT_PREFIX},"event":{event_json},"profile_ids":['
    if not event.profiles:
        return [head + "]}"]
    room = budget - len(head.encode()) - len("]}")
    messages: list[str] = []
    ids: list[str] = []
    lines: list[str] = []
    used = 0
    for index, profile in enumerate(event.profiles):
        profile_id = _json(profile.id, f"profiles[{index}].id")
        fields = _json(profile.fields, f"profiles[{index}].fields")
        size = len(profile_id.encode()) + len(fields.encode()) + 2  # a comma and a line break
        if size > room:
            raise PayloadTooLargeError(
                f"profiles[{index}]", f"profile {profile.id!r} is {size} bytes; one profile may take at most {room}"
            )
        if ids and used + size > room:
            messages.append(_body(head, ids, lines))
            ids, lines, used = [], [], 0
        ids.append(profile_id)
        lines.append(fields)
        used += size
    messages.append(_body(head, ids, lines))
    return messages


def _json(value: Any, field: str) -> str:
    try:
        # Typed strings are checked by pydantic; free-form field values are only caught here. NaN and the
        # infinities become null, as the event's JSON has always written them (SQL has no literal for them).
        return to_json(value, inf_nan_mode="null").decode()
    except PydanticSerializationError:
        raise UnencodableValueError(field, "contains text that is not valid Unicode") from None


def _body(head: str, ids: list[str], lines: list[str]) -> str:
    return head + ",".join(ids) + "]}\n" + "\n".join(lines)


def decode(body: str) -> QueuedEvent | ResyncRequest | CatchUpRequest:
    """What a sync-queue body holds; the fields of a segment event are checked when read (`read`).
    Raises ValidationError or UnreadableBody."""
    # Checked by prefix, as the bodies are written, so that each is parsed once.
    if body.startswith(EVENT_PREFIX):
        head, _, lines = body.partition("\n")
        envelope = EventEnvelope.model_validate_json(head)
        return QueuedEvent(envelope.event, envelope.event.version, envelope.profile_ids, lines)
    if body.startswith('{"kind":"resync"'):
        return ResyncRequest.model_validate_json(body)
    if body.startswith('{"kind":"catchup"'):
        return CatchUpRequest.model_validate_json(body)
    if body.startswith('{"kind"'):
        raise UnreadableBody("a kind of message this worker does not know")
    event = SegmentEvent.model_validate_json(body)  # an earlier version's body
    profiles = event.profiles
    return QueuedEvent(event, event.version, [p.id for p in profiles], [p.fields for p in profiles])


def describe(error: ValidationError | UnreadableBody) -> str:
    """The first problems of an unreadable body, without its values (a body may carry personal data)."""
    if isinstance(error, UnreadableBody):
        return str(error)
    errors = error.errors(include_url=False, include_input=False, include_context=False)
    parts = [f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
