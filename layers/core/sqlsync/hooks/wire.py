"""How a hook-queue message is written: the envelope (HookDelivery) as one line of JSON, then the event's
body as the destination will receive it, already rendered by ingest.

Rendering once at ingest keeps the dispatcher from parsing the event and building its body again (most of
its time, `make bench`); it also fixes custom_data (and {{uuid}}) at the event's arrival, so that every
retry sends the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring as _json_string
from typing import Any

from pydantic_core import to_json

from sqlsync.models.hooks import HookDelivery


def encode(delivery: HookDelivery, body: str) -> str:
    # Compact JSON escapes every newline, so the first one ends the envelope.
    return delivery.model_dump_json() + "\n" + body


def encode_new(
    hook_id: str, event_id: str, key: str | None, content_key: str | None, queued_at: float, body: str
) -> str:
    """`encode` of a first attempt, without building the model: ingest writes one per event and hook."""
    return NewMessages(queued_at).encode(hook_id, event_id, key, content_key, body)


class NewMessages:
    """`encode_new` for the messages of one ingest request (one queued_at): the envelope written as text,
    the same bytes pydantic-core would write for it, a fraction of the time."""

    __slots__ = ("_heads", "_tail")

    def __init__(self, queued_at: float) -> None:
        self._heads: dict[str, str] = {}  # per hook: the envelope up to the event id
        self._tail = ',"queued_at":' + to_json(queued_at).decode()

    def encode(
        self,
        hook_id: str,
        event_id: str,
        key: str | None,
        content_key: str | None,
        body: str,
        data_sources: Sequence[tuple[str, str]] = (),
    ) -> str:
        head = self._heads.get(hook_id)
        if head is None:
            head = self._heads[hook_id] = f'{{"kind":"hook","hook_id":{_string(hook_id)},"event_id":'
        key_text = "null" if key is None else _string(key)
        content_text = "null" if content_key is None else _string(content_key)
        end = "}\n"
        if data_sources:
            pairs = ",".join(f"[{_string(name)},{_string(contact)}]" for name, contact in data_sources)
            end = f',"data_sources":[{pairs}]}}\n'
        return f'{head}{_string(event_id)},"key":{key_text},"content_key":{content_text}{self._tail}{end}{body}'


def _string(text: str) -> str:
    # The json module's escaping writes what pydantic-core writes for ASCII text (the ids, nearly always);
    # other text goes to pydantic-core, which also refuses what UTF-8 cannot carry (lone surrogates).
    return _json_string(text) if text.isascii() else to_json(text).decode()


_validate_envelope = HookDelivery.__pydantic_validator__.validate_json


def decode(text: str) -> tuple[HookDelivery, str]:
    """The envelope and the body; ValueError (pydantic's ValidationError is one) when unreadable."""
    head, newline, body = text.partition("\n")
    if not newline or not (body.startswith("{") and body.endswith("}")):
        raise ValueError("not a hook message: an envelope line, then a JSON object")
    # The model's validator itself: model_validate_json adds a third to its time, for options not used here.
    delivery: HookDelivery = _validate_envelope(head)
    return delivery, body


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
