"""Running an import: slice after slice, each a series of chunks that end on a checkpoint.

A slice reads rows from the import's saved position, applies each chunk of rows to the customers (several
at once: the merge rule does not depend on order, and racing writers are resolved by the store's version
condition), then saves the new position, the counters and the chunk's row errors. It stops when the file
ends, or when the invocation has little time left: the caller then queues the next slice, which goes on
from the last checkpoint. A slice that dies between checkpoints loses nothing: its message comes back and
the rows after the checkpoint are applied again, which changes nothing the second time.

Two slices of the same import (a message delivered twice) can run at once; each checkpoint is a write on
the version read, so the one that saves second learns it was overtaken and stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from sqlsync.customers.exceptions import CustomerError
from sqlsync.customers.imports.mapping import ImportMapping
from sqlsync.customers.imports.reader import ImportReader, ImportRow, Position, RowError
from sqlsync.customers.service import CustomerService, Update
from sqlsync.store.base import ImportRecord, ImportStore
from sqlsync.store.objects import ObjectStore

logger = logging.getLogger(__name__)

CHUNK_ROWS = 500
"""Rows between checkpoints: what a slice that dies repeats at most."""
THREADS = 16
"""Rows applied at once (each is a DynamoDB read and write: waiting, not computing)."""
MAX_ERRORS_KEPT = 10_000
"""Row errors kept for the report; rows_failed counts every failed row."""
RESERVE_SECONDS = 60.0
"""A slice starts no chunk with less time left than this."""


@dataclass(frozen=True)
class SliceOutcome:
    state: Literal["finished", "continue", "overtaken"]
    record: ImportRecord
    rows_read: int = 0
    """Rows this slice read (and applied or reported)."""


class ImportRunner:
    def __init__(
        self,
        imports: ImportStore,
        customers: CustomerService,
        objects: ObjectStore,
        clock: Callable[[], float] = time.time,
        chunk_rows: int = CHUNK_ROWS,
        threads: int = THREADS,
    ) -> None:
        self.imports = imports
        self.customers = customers
        self.objects = objects
        self.clock = clock
        self.chunk_rows = chunk_rows
        self.threads = threads

    def run(
        self, account: int, import_id: str, time_left: Callable[[], float], reserve: float = RESERVE_SECONDS
    ) -> SliceOutcome | None:
        """One slice of the import (None when there is no such import)."""
        record = self.imports.get(account, import_id)
        if record is None:
            logger.warning("no such import", extra={"account": account, "import_id": import_id})
            return None
        if record.status in ("succeeded", "failed"):
            return SliceOutcome("finished", record)
        if self.objects.size(record.source) is None:
            failed = self._next(record, status="failed", failure="the file is gone", finished_at=self.clock())
            return SliceOutcome("finished" if self.imports.save(failed) else "overtaken", failed)
        if record.status == "queued":
            record = self._next(record, status="running")
            if not self.imports.save(record):
                return SliceOutcome("overtaken", record)
        mapping = ImportMapping.model_validate(record.mapping)
        start = Position(record.offset, record.row, record.line)
        reader = ImportReader(self.objects.open(record.source, record.offset), mapping, record.header, start)
        columns = _columns_of_fields(mapping)
        created_at, first_row = record.created_at, record.row
        items = iter(reader)
        with ThreadPoolExecutor(self.threads, thread_name_prefix="import") as pool:
            while True:
                rows, errors, done = self._chunk(items, reader)
                applied = list(pool.map(lambda row: self._apply(account, row, created_at, columns), rows))
                errors += [result for result in applied if isinstance(result, RowError)]
                record, kept = self._advanced(record, reader.position, applied, errors, done)
                if not self.imports.save(record, kept):
                    logger.info("overtaken by another run", extra={"import_id": import_id})
                    return SliceOutcome("overtaken", record)
                if done or time_left() < reserve:
                    return SliceOutcome("finished" if done else "continue", record, record.row - first_row)

    def _chunk(
        self, items: Iterator[ImportRow | RowError], reader: ImportReader
    ) -> tuple[list[ImportRow], list[RowError], bool]:
        """The next rows (at least chunk_rows, unless the file ends), ending on a complete row."""
        rows: list[ImportRow] = []
        errors: list[RowError] = []
        first = reader.position.row
        for item in items:
            if isinstance(item, ImportRow):
                rows.append(item)
            else:
                errors.append(item)
            if reader.position.row == item.row and item.row - first >= self.chunk_rows:
                return rows, errors, False
        return rows, errors, True

    def _apply(self, account: int, row: ImportRow, created_at: float, columns: dict[str, str]) -> Update | RowError:
        try:
            return self.customers.update(
                account,
                row.ids,
                row.properties,
                row.update_timestamp if row.update_timestamp is not None else created_at,
                source="IMPORT",
            )
        except CustomerError as exc:
            return RowError(row.row, row.line, columns.get(exc.field), str(exc))

    def _advanced(
        self,
        record: ImportRecord,
        position: Position,
        applied: list[Update | RowError],
        errors: list[RowError],
        done: bool,
    ) -> tuple[ImportRecord, list[RowError]]:
        updates = [result for result in applied if isinstance(result, Update)]
        kept = sorted(errors, key=lambda error: (error.row, error.column or ""))[
            : max(0, MAX_ERRORS_KEPT - record.errors_kept)
        ]
        advanced = self._next(
            record,
            offset=position.offset,
            row=position.row,
            line=position.line,
            rows_imported=record.rows_imported + len(updates),
            rows_failed=record.rows_failed + len({error.row for error in errors}),
            customers_created=record.customers_created + sum(update.created for update in updates),
            properties_updated=record.properties_updated + sum(len(update.changed) for update in updates),
            errors_kept=record.errors_kept + len(kept),
        )
        if done:
            advanced = replace(advanced, status="succeeded", finished_at=advanced.updated_at)
        return advanced, kept

    def _next(self, record: ImportRecord, **changes: object) -> ImportRecord:
        return replace(record, **changes, updated_at=self.clock(), version=record.version + 1)  # type: ignore[arg-type]


def _columns_of_fields(mapping: ImportMapping) -> dict[str, str]:
    """The CSV column behind each field the customer service may name in an error."""
    columns = {f"customer_ids.{m.to_id}": m.from_column for m in mapping.ids}
    columns.update({f"properties.{m.to_property}": m.from_column for m in mapping.properties})
    if mapping.update_timestamp is not None:
        columns["update_timestamp"] = mapping.update_timestamp.from_column
    return columns
