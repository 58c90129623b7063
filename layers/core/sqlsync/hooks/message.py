"""What a destination receives for one event: the documented JSON object (docs/hooks.md), custom_data
rendered from the hook's template."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from pydantic_core import to_json

from sqlsync.hooks.delivery import Outgoing
from sqlsync.hooks.exceptions import HookError
from sqlsync.models.hooks import ActivityEvent, CustomDataSpec, Hook, HookEventType

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _date(event: ActivityEvent) -> datetime:
    return event.occurred_at.astimezone(UTC)


def _event_date(event: ActivityEvent) -> str:
    """ "2006-01-25T15:04:05.999999Z": the text up to the second made once per second (events come in
    bursts), the microseconds %-formatted (strftime, isoformat or f-strings take two to three times as long)."""
    at = _date(event)
    second = (at.year, at.month, at.day, at.hour, at.minute, at.second)
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        text = _SECONDS[second] = "%04d-%02d-%02dT%02d:%02d:%02d." % second  # noqa: UP031
    return "%s%06dZ" % (text, at.microsecond)  # noqa: UP031


_SECONDS: dict[tuple[int, int, int, int, int, int], str] = {}


_TYPE_VALUES = {member: member.value for member in HookEventType}  # a dict lookup is faster than Enum.value


def _named(part: str, attribute: str) -> Callable[[ActivityEvent], str]:
    """The placeholder of a name of one of the event's parts ("" without the part or the name): one
    function each, since every event of a hook works out each of its placeholders."""

    def name_of(event: ActivityEvent) -> str:
        named = getattr(event, part)
        if named is None:
            return ""
        value = getattr(named, attribute)
        return "" if value is None else value

    return name_of


def _segment_name(event: ActivityEvent) -> str:
    name = event.segments[0].name if event.segments else None
    return "" if name is None else name


# Each placeholder of custom_data values, from the event ("" when the event has no such thing).
PLACEHOLDERS: dict[str, Callable[[ActivityEvent], str]] = {
    "uuid": lambda event: str(uuid.uuid4()),
    "event_date": _event_date,
    "event_date_ymd": lambda event: _date(event).strftime("%Y-%m-%d"),
    "event_date_rfc3339": lambda event: _date(event).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "event_date_unix": lambda event: str(int(_date(event).timestamp())),
    "event_date_unixnano": lambda event: str(_unix_nanoseconds(_date(event))),
    "campaign_name": _named("campaign", "name"),
    "campaign_subid": _named("campaign", "subid"),
    "database_name": _named("database", "name"),
    "segment_name": _segment_name,
    "message_name": _named("message", "name"),
    "message_subject": _named("message", "subject"),
    "resource_name": _named("resource", "name"),
}


@lru_cache(maxsize=1024)
def _parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A value template cut once into (text, placeholder name or None) pieces: rendering it per event is
    then a join, with each placeholder worked out once per event."""
    parts: list[tuple[str, str | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        if match.start() > position:
            parts.append((template[position : match.start()], None))
        parts.append(("", match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append((template[position:], None))
    return tuple(parts)


def _unix_nanoseconds(at: datetime) -> int:
    # Exact: a float timestamp would round the last digits.
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def check_custom_data(spec: CustomDataSpec) -> None:
    """Refuse placeholders we do not know, naming the key (at save, so that no event is sent half-done)."""
    for key, template in spec.values.items():
        for match in _PLACEHOLDER.finditer(template):
            if match.group(1) not in PLACEHOLDERS:
                known = ", ".join("{{" + name + "}}" for name in PLACEHOLDERS)
                raise HookError(f"custom_data.values.{key}", f"unknown placeholder {match.group(0)}; known: {known}")


class CustomDataTemplate:
    """A hook's custom_data spec prepared once (a hook renders thousands of events with it): each value
    template becomes a %-format over its placeholders, so that rendering an event works out each
    placeholder once and formats every value in C. The rule (docs/hooks.md): the chosen profile fields
    (those the profile has), then the event's own custom_data if it sent one, else the hook's key/value
    pairs rendered for this event; `_compiled_body` applies it."""

    __slots__ = ("formats", "placeholders", "profile_fields")

    def __init__(self, spec: CustomDataSpec) -> None:
        self.profile_fields = tuple(spec.profile_fields)
        slots: dict[str, str] = {}  # format key -> placeholder name
        formats: list[tuple[str, str]] = []
        for key, template in spec.values.items():
            pieces: list[str] = []
            for text, name in _parts(template):
                if name is None:
                    pieces.append(text.replace("%", "%%"))
                    continue
                # A new uuid for each use, as the vendor's {{uuid}}: each use is a slot of its own.
                slot = f"uuid {len(slots)}" if name == "uuid" else name
                slots[slot] = name
                pieces.append(f"%({slot})s")
            formats.append((key, "".join(pieces)))
        self.formats = tuple(formats)
        self.placeholders = tuple((slot, PLACEHOLDERS[name]) for slot, name in slots.items())
        """(format key, what works it out from the event)"""


class BodyTemplate:
    """What `event_body` makes, prepared once per hook (ingest renders every event of a request with it)."""

    __slots__ = ("_body", "custom_data", "hook_id", "include_content")

    def __init__(self, hook: Hook) -> None:
        self.hook_id = hook.id
        self.include_content = hook.include_content
        self.custom_data = CustomDataTemplate(hook.custom_data)
        self._body = _compiled_body(self)

    def body(self, event: ActivityEvent, content: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self._body(event)
        if self.include_content and content is not None:
            body["content"] = content
        return body

    def render(self, event: ActivityEvent) -> str:
        """The body as compact JSON, non-ASCII as it is (what the destination receives), without content."""
        return to_json(self._body(event), inf_nan_mode="constants").decode()


# The body is made by a function written for each hook, as a template engine compiles a template: the
# hook's profile fields and custom_data values become straight-line code, with no loop, dict of
# placeholders or call per value (a sixth of ingest's time per event; `make bench`). Everything of the
# hook's own (field names, keys, texts, its id) reaches the code as a bound variable, never as source.
_BODY_HEAD = """\
def body(event):
    event_data = {}
    resource, campaign, message, pixel = event.resource, event.campaign, event.message, event.pixel
    if resource is not None:
        event_data["resource_id"] = resource.id
    if campaign is not None:
        event_data["campaign_id"] = campaign.id
    if message is not None:
        event_data["message_id"] = message.id
    if pixel is not None:
        event_data["pixel_id"] = pixel.id
    if event.segments:
        event_data["segment_ids"] = [segment.id for segment in event.segments]
    if event.event_data:
        event_data.update(event.event_data)
    event_date = _event_date(event)
    database, profile = event.database, event.profile
    custom = {}
"""
_BODY_TAIL = """\
    return {
        "event_id": event.id,
        "event_type": _TYPE_VALUES[event.type],
        "event_date": event_date,
        "account_id": event.account_id,
        "list_id": None if database is None else database.id,
        "profile_id": None if profile is None else profile.id,
        "is_test": event.is_test,
        "hook_id": _HOOK_ID,
        "custom_data": custom,
        "event_data": event_data,
    }
"""


def _compiled_body(template: BodyTemplate) -> Callable[[ActivityEvent], dict[str, Any]]:
    spec = template.custom_data
    bound: dict[str, Any] = {"_event_date": _event_date, "_TYPE_VALUES": _TYPE_VALUES, "_HOOK_ID": template.hook_id}
    lines = [_BODY_HEAD]
    if spec.profile_fields:
        lines.append("    if profile is not None:\n        fields = profile.fields\n")
        for n, name in enumerate(spec.profile_fields):
            bound[f"_FIELD_{n}"] = name
            lines.append(f"        if _FIELD_{n} in fields:\n            custom[_FIELD_{n}] = fields[_FIELD_{n}]\n")
    lines.append("    if event.custom_data is not None:\n        custom.update(event.custom_data)\n    else:\n")
    known = ['"event_date": event_date']
    for n, (slot, work_out) in enumerate(spec.placeholders):
        if slot != "event_date":
            bound[f"_SLOT_{n}"], bound[f"_WORK_OUT_{n}"] = slot, work_out
            known.append(f"_SLOT_{n}: _WORK_OUT_{n}(event)")
    lines.append(f"        known = {{{', '.join(known)}}}\n")
    for n, (key, form) in enumerate(spec.formats):
        bound[f"_KEY_{n}"], bound[f"_FORM_{n}"] = key, form
        lines.append(f"        custom[_KEY_{n}] = _FORM_{n} % known\n")
    lines.append(_BODY_TAIL)
    exec(compile("".join(lines), f"<body of hook {template.hook_id!r}>", "exec"), bound)
    body: Callable[[ActivityEvent], dict[str, Any]] = bound["body"]
    return body


def event_body(hook: Hook, event: ActivityEvent, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object documented in docs/hooks.md."""
    return BodyTemplate(hook).body(event, content)


def outgoing(hook: Hook, event: ActivityEvent, content: dict[str, Any] | None = None) -> Outgoing:
    return Outgoing.of(event.id, event_body(hook, event, content), event.profile.id if event.profile else None)
