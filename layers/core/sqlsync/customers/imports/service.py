"""Imports as the API sees them: created (the file checked against the mapping first), listed, watched,
and their row errors read (docs/customers.md)."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlsync.customers.exceptions import CustomerError
from sqlsync.customers.imports.mapping import ImportMapping, check_columns
from sqlsync.customers.imports.reader import RowError, read_header
from sqlsync.store.base import ImportRecord, ImportStore
from sqlsync.store.objects import ObjectStore
from sqlsync.sync.exceptions import EnqueueError
from sqlsync.sync.queue import MessageSink

logger = logging.getLogger(__name__)

UPLOAD_URL_SECONDS = 3600
MAX_INLINE_CSV_BYTES = 5 * 1024 * 1024
"""A CSV sent in the request body (API Gateway takes at most 10 MB, Lambda 6 MB); larger files are uploaded."""


class ImportService:
    def __init__(
        self, imports: ImportStore, objects: ObjectStore, queue: MessageSink, clock: Callable[[], float] = time.time
    ) -> None:
        self.imports = imports
        self.objects = objects
        self.queue = queue
        self.clock = clock

    def upload(self, account: int) -> dict[str, Any]:
        """Where to PUT a large CSV: then create the import with `upload_key`."""
        key = f"uploads/{account}/{secrets.token_hex(16)}.csv"
        return {
            "upload_url": self.objects.upload_url(key, UPLOAD_URL_SECONDS),
            "upload_key": key,
            "method": "PUT",
            "expires_in": UPLOAD_URL_SECONDS,
        }

    def create(self, account: int, mapping: ImportMapping, csv: str | None, upload_key: str | None) -> ImportRecord:
        """Check the file's header against the mapping, keep the import and queue its first slice. Raises
        CustomerError naming the field (`csv`, `upload_key`, `mapping.ids[0].from_column`...)."""
        now = self.clock()
        import_id = _new_id(now)
        if (csv is None) == (upload_key is None):
            raise CustomerError("csv", "send the file as csv, or upload it and name it with upload_key (one of them)")
        inline: bytes | None = None
        if csv is not None:
            inline = csv.encode()
            if len(inline) > MAX_INLINE_CSV_BYTES:
                raise CustomerError("csv", "larger than 5 MB: upload it (POST /v1/imports/uploads) instead")
            source, field = f"imports/{account}/{import_id}.csv", "csv"
            size = len(inline)
        else:
            assert upload_key is not None
            source, field = upload_key, "upload_key"
            if not upload_key.startswith(f"uploads/{account}/"):
                raise CustomerError(field, "not an upload of this account: POST /v1/imports/uploads gives one")
            uploaded = self.objects.size(upload_key)
            if uploaded is None:
                raise CustomerError(field, "no file there yet: PUT the file to the upload_url first")
            size = uploaded
        # An inline file is at hand: its header is read from memory, and it is stored only once it fits.
        stream = io.BytesIO(inline) if inline is not None else self.objects.open(source)
        try:
            header, position = read_header(stream, mapping.delimiter)
        except ValueError as exc:
            raise CustomerError(field, str(exc)) from exc
        problems = check_columns(mapping, header)
        if problems:
            first = problems[0]
            raise CustomerError(field if first.field == "header" else first.field, first.message)
        if inline is not None:
            self.objects.put(source, inline)
        record = ImportRecord(
            account,
            import_id,
            mapping.model_dump(mode="json"),
            source,
            now,
            header=tuple(header),
            offset=position.offset,
            line=position.line,
            bytes_total=size,
            updated_at=now,
        )
        self.imports.create(record)
        try:
            self.queue.send([slice_message(record)])
        except EnqueueError:
            self.imports.save(replace(record, status="failed", failure="could not be queued", version=2))
            raise
        logger.info("import queued", extra={"import_id": import_id, "bytes": size, "columns": len(header)})
        return record

    def get(self, account: int, import_id: str) -> ImportRecord | None:
        return self.imports.get(account, import_id)

    def list_imports(self, account: int) -> list[ImportRecord]:
        return self.imports.list_imports(account)

    def errors(self, account: int, import_id: str, after_row: int, limit: int) -> list[RowError]:
        return self.imports.errors(account, import_id, after_row, limit)


def slice_message(record: ImportRecord) -> str:
    """The import queue's message: run the next slice of this import."""
    return json.dumps({"account": record.account, "import_id": record.import_id})


def import_view(record: ImportRecord) -> dict[str, Any]:
    """An import as the API shows it: status, progress, counters."""
    percent = (
        100.0
        if record.status == "succeeded"
        else (100.0 * record.offset / record.bytes_total if record.bytes_total else 0.0)
    )
    return {
        "id": record.import_id,
        "status": record.status,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "finished_at": _iso(record.finished_at) if record.finished_at is not None else None,
        "progress": {
            "rows_read": record.row,
            "bytes_read": record.offset,
            "bytes_total": record.bytes_total,
            "percent": round(percent, 1),
        },
        "rows_imported": record.rows_imported,
        "rows_failed": record.rows_failed,
        "customers_created": record.customers_created,
        "properties_updated": record.properties_updated,
        "errors_kept": record.errors_kept,
        "failure": record.failure,
        "columns": list(record.header),
        "mapping": record.mapping,
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id(now: float) -> str:
    """Time-ordered (imports list newest first by id) and unguessable."""
    return f"imp_{int(now * 1000):012x}{secrets.token_hex(6)}"
