"""Record details that both implementations must agree on, so that the fake behaves like DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

LAST_ERROR_MAX_CHARS = 2000
"""Keeps one stats item far below DynamoDB's 400 KB limit whatever a database says."""

STATS_TTL = timedelta(days=90)

BUCKET_FORMAT = "%Y-%m-%dT%H:%MZ"


def dump_fields(fields: Mapping[str, Any]) -> str:
    """JSON rather than a DynamoDB map: fields hold floats (DynamoDB wants Decimal) and any nesting."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def load_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = json.loads(text)
    return fields


def error_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def expires_at(bucket: str) -> int:
    """Epoch seconds at which DynamoDB's TTL may drop the bucket."""
    start = datetime.strptime(bucket, BUCKET_FORMAT).replace(tzinfo=UTC)
    return int((start + STATS_TTL).timestamp())
