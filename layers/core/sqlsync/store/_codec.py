"""Record details that both implementations must agree on, so that the fake behaves like DynamoDB."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticSerializationError, from_json, to_json

from sqlsync.customers.merge import Stamped, canonical
from sqlsync.store.base import ExportState, ImportRecord, MembershipLike, TrackedEvent

if TYPE_CHECKING:
    from sqlsync.customers.imports.reader import RowError

LAST_ERROR_MAX_CHARS = 2000
"""Keeps one stats item far below DynamoDB's 400 KB limit whatever a database says."""

STATS_TTL = timedelta(days=90)

BUCKET_FORMAT = "%Y-%m-%dT%H:%MZ"


def dump_fields(fields: Mapping[str, Any]) -> str:
    """JSON rather than a DynamoDB map: fields hold floats (DynamoDB wants Decimal) and any nesting.

    Once per profile on the sync path, so pydantic-core's encoder (a quarter of json.dumps' time); the
    same text as json.dumps(ensure_ascii=False) but for the escapes of control characters."""
    try:
        return to_json(fields if isinstance(fields, dict) else dict(fields), inf_nan_mode="constants").decode()
    except PydanticSerializationError:  # a lone surrogate: let json say it (the store then refuses it)
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def claimed_fields(membership: MembershipLike) -> str:
    """The fields text a ledger claim keeps: the caller's JSON when it has it (as the sync queue carried it),
    else the fields encoded here."""
    return dump_fields(membership.fields) if membership.fields_json is None else membership.fields_json


def load_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = from_json(text)
    return fields


def error_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def expires_at(bucket: str) -> int:
    """Epoch seconds at which DynamoDB's TTL may drop the bucket."""
    start = datetime.strptime(bucket, BUCKET_FORMAT).replace(tzinfo=UTC)
    return int((start + STATS_TTL).timestamp())


MAX_CONTENT_BYTES = 350 * 1024
"""A message's content, compressed, must leave room in DynamoDB's 400 KB item for the key and TTL."""


def pack_content(content: Mapping[str, Any]) -> bytes | None:
    """Compressed JSON (HTML compresses about tenfold), or None when still too large to keep."""
    packed = zlib.compress(to_json(dict(content)), 6)
    return packed if len(packed) <= MAX_CONTENT_BYTES else None


def unpack_content(packed: bytes) -> dict[str, Any]:
    content: dict[str, Any] = from_json(zlib.decompress(packed))
    return content


def dump_properties(properties: Mapping[str, Stamped]) -> str:
    """A customer's properties as one JSON object: name -> [value, last_update]."""
    return to_json({name: [stamped.value, stamped.last_update] for name, stamped in properties.items()}).decode()


def load_properties(text: str, names: Collection[str] | None = None) -> dict[str, Stamped]:
    """A customer's properties from their JSON; only those of `names` when given."""
    stored = from_json(text)
    if names is None:
        return {name: Stamped(value, float(at)) for name, (value, at) in stored.items()}
    return {name: Stamped(stored[name][0], float(stored[name][1])) for name in names if name in stored}


def event_sort_key(event: TrackedEvent) -> str:
    """A tracked event's place under its customer: oldest first as text, and a digest of the whole event so
    that the same event sent twice (a retried batch) is one item."""
    digest = hashlib.sha256(canonical([event.event_type, event.timestamp, event.properties]).encode()).hexdigest()
    return f"event#{event.timestamp:020.6f}#{digest[:32]}"


def dump_ids(keys: Sequence[str]) -> str:
    return json.dumps(list(keys), ensure_ascii=False, separators=(",", ":"))


def load_ids(text: str) -> list[str]:
    keys: list[str] = json.loads(text)
    return keys


def dump_import(record: ImportRecord) -> str:
    """An import as one JSON body (its version is kept beside it, for the condition on checkpoints)."""
    body = dataclasses.asdict(record)
    del body["version"]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def load_import(text: str, version: int) -> ImportRecord:
    body = json.loads(text)
    body["header"] = tuple(body["header"])
    return ImportRecord(**body, version=version)


def error_sort_key(error: RowError) -> str:
    """A row error's place in the report: row order; the same error stored twice is one item."""
    return f"error#{error.row:012d}#{error.column or ''}"


def dump_row_error(error: RowError) -> str:
    return json.dumps(dataclasses.asdict(error), ensure_ascii=False, separators=(",", ":"))


def load_row_error(text: str) -> RowError:
    from sqlsync.customers.imports.reader import RowError

    return RowError(**json.loads(text))


def dump_export_state(state: ExportState) -> str:
    body = dataclasses.asdict(state)
    del body["version"]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def load_export_state(text: str, version: int) -> ExportState:
    return ExportState(**json.loads(text), version=version)
