"""How a hook-queue message is written: the envelope (HookDelivery) as one line of JSON, then the event's
body as the destination will receive it, already rendered by ingest.

Rendering once at ingest keeps the dispatcher from parsing the event and building its body again (most of
its time, `make bench`); it also fixes custom_data (and {{uuid}}) at the event's arrival, so that every
retry sends the same bytes.
"""

from __future__ import annotations

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
    envelope = {
        "kind": "hook",
        "hook_id": hook_id,
        "event_id": event_id,
        "key": key,
        "content_key": content_key,
        "queued_at": queued_at,
    }
    return to_json(envelope).decode() + "\n" + body


def decode(text: str) -> tuple[HookDelivery, str]:
    """The envelope and the body; ValueError (pydantic's ValidationError is one) when unreadable."""
    head, newline, body = text.partition("\n")
    if not newline or not (body.startswith("{") and body.endswith("}")):
        raise ValueError("not a hook message: an envelope line, then a JSON object")
    return HookDelivery.model_validate_json(head), body


def with_content(body: str, content: dict[str, Any]) -> str:
    """The body with `"content": ...` added as its last member."""
    return body[:-1] + ',"content":' + to_json(content, inf_nan_mode="constants").decode() + "}"


def content_key(account_id: int, message_id: int, profile_id: str) -> str:
    return f"{account_id}#{message_id}#{profile_id}"
