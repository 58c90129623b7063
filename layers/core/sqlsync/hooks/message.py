"""What a destination receives for one event: the documented JSON object (docs/hooks.md), custom_data
rendered from the hook's template."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlsync.hooks.delivery import Outgoing
from sqlsync.hooks.exceptions import HookError
from sqlsync.models.hooks import ActivityEvent, CustomDataSpec, Hook

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _date(event: ActivityEvent) -> datetime:
    return event.occurred_at.astimezone(UTC)


def _event_date(event: ActivityEvent) -> str:
    # isoformat rather than strftime: the same text ("2006-01-25T15:04:05.999999Z"), in a fifth of the time.
    return _date(event).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _name(value: Any) -> str:
    return "" if value is None else str(value)


# Each placeholder of custom_data values, from the event ("" when the event has no such thing).
PLACEHOLDERS: dict[str, Callable[[ActivityEvent], str]] = {
    "uuid": lambda event: str(uuid.uuid4()),
    "event_date": _event_date,
    "event_date_ymd": lambda event: _date(event).strftime("%Y-%m-%d"),
    "event_date_rfc3339": lambda event: _date(event).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "event_date_unix": lambda event: str(int(_date(event).timestamp())),
    "event_date_unixnano": lambda event: str(_unix_nanoseconds(_date(event))),
    "campaign_name": lambda event: _name(event.campaign and event.campaign.name),
    "campaign_subid": lambda event: _name(event.campaign and event.campaign.subid),
    "database_name": lambda event: _name(event.database and event.database.name),
    "segment_name": lambda event: _name(event.segments[0].name if event.segments else None),
    "message_name": lambda event: _name(event.message and event.message.name),
    "message_subject": lambda event: _name(event.message and event.message.subject),
    "resource_name": lambda event: _name(event.resource and event.resource.name),
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


def custom_data(spec: CustomDataSpec, event: ActivityEvent, known: dict[str, str] | None = None) -> dict[str, Any]:
    """The chosen profile fields (those the profile has), then the event's own custom_data if it sent one,
    else the hook's key/value pairs rendered for this event. `known`: placeholders already worked out."""
    fields: Mapping[str, Any] = event.profile.fields if event.profile is not None else {}
    data: dict[str, Any] = {name: fields[name] for name in spec.profile_fields if name in fields}
    if event.custom_data is not None:
        data.update(event.custom_data)
        return data
    known = {} if known is None else known
    for key, template in spec.values.items():
        pieces: list[str] = []
        for text, name in _parts(template):
            if name is None:
                pieces.append(text)
                continue
            if name not in known or name == "uuid":  # a new uuid for each use, as the vendor's {{uuid}}
                known[name] = PLACEHOLDERS[name](event)
            pieces.append(known[name])
        data[key] = "".join(pieces)
    return data


def event_body(hook: Hook, event: ActivityEvent, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object documented in docs/hooks.md."""
    event_data: dict[str, Any] = {}
    for key, named in (
        ("resource_id", event.resource),
        ("campaign_id", event.campaign),
        ("message_id", event.message),
        ("pixel_id", event.pixel),
    ):
        if named is not None:
            event_data[key] = named.id
    if event.segments:
        event_data["segment_ids"] = [segment.id for segment in event.segments]
    event_data.update(event.event_data)
    event_date = _event_date(event)
    body: dict[str, Any] = {
        "event_id": event.id,
        "event_type": event.type.value,
        "event_date": event_date,
        "account_id": event.account_id,
        "list_id": event.database.id if event.database is not None else None,
        "profile_id": event.profile.id if event.profile is not None else None,
        "is_test": event.is_test,
        "hook_id": hook.id,
        "custom_data": custom_data(hook.custom_data, event, {"event_date": event_date}),
        "event_data": event_data,
    }
    if hook.include_content and content is not None:
        body["content"] = content
    return body


def outgoing(hook: Hook, event: ActivityEvent, content: dict[str, Any] | None = None) -> Outgoing:
    return Outgoing.of(event.id, event_body(hook, event, content), event.profile.id if event.profile else None)
