"""Customers API: the tracking batch and a customer's properties, with or without their timestamps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sqlsync.customers.imports.mapping import ImportMapping
from sqlsync.customers.tracking import MAX_COMMANDS


class TrackBatchIn(BaseModel):
    """Commands are checked one by one when run (a malformed one fails alone), so they are kept as sent."""

    model_config = ConfigDict(extra="forbid")
    commands: list[Any] = Field(min_length=1, max_length=MAX_COMMANDS)


class CustomerOut(BaseModel):
    ids: dict[str, list[str]] = Field(description='The customer\'s ids by type: {"registered": ["mgalik"]}')
    properties: dict[str, Any] = Field(
        description="name -> value; with include_timestamps=1, name -> {value, last_update}"
    )


class ImportIn(BaseModel):
    """A customer import: the mapping, and the file sent inline (`csv`) or uploaded first (`upload_key`)."""

    model_config = ConfigDict(extra="forbid")
    mapping: ImportMapping
    csv: str | None = Field(default=None, description="The CSV file itself (at most 5 MB)")
    upload_key: str | None = Field(default=None, description="A file uploaded to the URL of POST /v1/imports/uploads")
