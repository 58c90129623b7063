"""Reading the rows of a customer import from a CSV byte stream, from its start or from a saved position.

An import outlives a Lambda invocation: a job reads some rows, saves `ImportReader.position`, and a later
invocation goes on from that byte offset. So the reader counts bytes itself: it reads the stream one line
(of bytes) at a time, decodes each line alone (UTF-8 never has a newline byte inside a character) and hands
the lines to csv.reader, which asks for no more lines than the record it is reading needs. After each record
the bytes consumed end exactly where the record ends, quoted newlines and \\r\\n included.

A bad row changes nothing: it yields RowErrors (all of its problems, one per column) and no ImportRow, and
the rows after it are read as usual.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlsync.customers.imports.mapping import ImportMapping, check_columns
from sqlsync.customers.imports.values import convert, parse_timestamp

MAX_LINE_BYTES = 1 << 20
"""A longer line is a row error, skipped without being held in memory (a file with no newline at all would
otherwise be read whole)."""

_BOM = "\ufeff"


@dataclass(frozen=True)
class Position:
    """Where reading stopped: what a job saves to resume from."""

    offset: int
    """Byte offset in the file just after the last record read."""
    row: int
    """Data rows read so far (the header is not a data row; blank lines are not rows)."""
    line: int
    """Physical lines consumed so far, the header's included."""


@dataclass(frozen=True)
class ImportRow:
    """A row that can be applied: the customer's ids and the properties it sets."""

    row: int
    """1-based data row number: the first row after the header is 1."""
    line: int
    """1-based physical line where the record starts."""
    ids: dict[str, str]
    """to_id -> value; an id whose cell is empty is not there."""
    properties: dict[str, Any]
    """to_property -> converted value; a property whose cell is empty is not there (the row leaves it as is)."""
    update_timestamp: float | None
    """Unix seconds; None when the mapping has no update_timestamp (the job stamps the row itself)."""


@dataclass(frozen=True)
class RowError:
    """Why a row was not applied."""

    row: int
    line: int
    column: str | None
    """The CSV (or constant) column at fault; None when the whole row is."""
    reason: str


def read_header(stream: BinaryIO, delimiter: str = ",") -> tuple[list[str], Position]:
    """The column names of the file (stream at byte 0; a UTF-8 BOM is skipped) and the position after them."""
    lines = _Lines(stream, Position(0, 0, 0))
    for record in _records(lines, delimiter):
        if record.problem is not None:
            raise ValueError(f"the header cannot be read: {record.problem}")
        return record.fields, lines.position(row=0)
    raise ValueError("the file is empty")


class ImportReader:
    """The rows of an import from `start` on; `stream` begins exactly at start.offset (the caller seeks, or asks
    S3 for that byte range). Raises ValueError when the mapping does not fit the header (check_columns)."""

    def __init__(self, stream: BinaryIO, mapping: ImportMapping, header: Sequence[str], start: Position) -> None:
        problems = check_columns(mapping, header)
        if problems:
            details = "; ".join(f"{problem.field}: {problem.message}" for problem in problems)
            raise ValueError(f"the mapping does not fit the file: {details}")
        self._stream = stream
        self._mapping = mapping
        self._zone = mapping.zone
        self._width = len(header)
        self._index = {name: index for index, name in enumerate(header)}
        self._constants = {column.name: column.value for column in mapping.constant_columns}
        self._position = start

    @property
    def position(self) -> Position:
        """Just after the last record whose items were all yielded: resuming there repeats and skips nothing.

        It moves when a record's last item is yielded, so while the several RowErrors of one row are being
        yielded it is still before that row (`position.row == item.row` once the row is complete). A job that
        stops in the middle of a row's errors gets them all again when it resumes."""
        return self._position

    def __iter__(self) -> Iterator[ImportRow | RowError]:
        lines = _Lines(self._stream, self._position)
        row = self._position.row
        for record in _records(lines, self._mapping.delimiter):
            row += 1
            items = self._items(record, row)
            yield from items[:-1]
            self._position = lines.position(row)
            yield items[-1]
        self._position = lines.position(row)  # past the blank lines at the end, if any

    def _items(self, record: _Record, row: int) -> list[ImportRow | RowError]:
        """The ImportRow of a record, or all of its RowErrors."""
        if record.problem is not None:
            return [RowError(row, record.line, None, record.problem)]
        if len(record.fields) != self._width:
            return [RowError(row, record.line, None, f"expected {self._width} fields, found {len(record.fields)}")]

        def cell(column: str) -> str:
            index = self._index.get(column)
            return record.fields[index] if index is not None else self._constants[column]

        problems: dict[str, list[str]] = {}
        update_timestamp = None
        if (stamp := self._mapping.update_timestamp) is not None:
            if (text := cell(stamp.from_column)) == "":
                problems.setdefault(stamp.from_column, []).append("update_timestamp: empty")
            else:
                try:
                    update_timestamp = parse_timestamp(text, stamp.format, self._zone)
                except ValueError as error:
                    problems.setdefault(stamp.from_column, []).append(f"update_timestamp: {error}")
        properties: dict[str, Any] = {}
        for mapping in self._mapping.properties:
            if (text := cell(mapping.from_column)) == "":
                continue  # no value in this row: the property is left as it is
            try:
                properties[mapping.to_property] = convert(text, mapping.type, self._zone)
            except ValueError as error:
                problems.setdefault(mapping.from_column, []).append(f"{mapping.to_property}: {error}")
        ids = {mapping.to_id: text for mapping in self._mapping.ids if (text := cell(mapping.from_column)) != ""}

        errors: list[ImportRow | RowError] = [
            RowError(row, record.line, column, "; ".join(reasons)) for column, reasons in problems.items()
        ]
        if not ids:
            columns = ", ".join(dict.fromkeys(mapping.from_column for mapping in self._mapping.ids))
            errors.append(RowError(row, record.line, None, f"no customer id: the id columns ({columns}) are empty"))
        return errors or [ImportRow(row, record.line, ids, properties, update_timestamp)]


@dataclass(frozen=True)
class _Record:
    """A non-blank CSV record: its fields, or why it cannot be read."""

    line: int
    fields: list[str]
    problem: str | None


class _LineTooLong(Exception):
    pass


class _Lines:
    """The stream's lines as text, for csv.reader, counting the bytes and physical lines consumed."""

    def __init__(self, stream: BinaryIO, start: Position) -> None:
        self._stream = stream
        self.offset = start.offset
        self.line = start.line
        self.undecodable: str | None = None
        """Why the record being read is not text (its first line that is not UTF-8); reset for each record."""

    def position(self, row: int) -> Position:
        return Position(self.offset, row, self.line)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        starts_file = self.offset == 0
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.line += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest_of_line()
            raise _LineTooLong(f"line {self.line} is longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            if self.undecodable is None:
                self.undecodable = f"line {self.line} is not UTF-8 text ({error.reason} at byte {error.start + 1})"
            # Still parsed, so that the record ends where it ends and the next one is read as usual.
            text = raw.decode("utf-8", errors="replace")
        return text.removeprefix(_BOM) if starts_file else text

    def _skip_rest_of_line(self) -> None:
        while chunk := self._stream.readline(MAX_LINE_BYTES):
            self.offset += len(chunk)
            if chunk.endswith(b"\n"):
                return


def _records(lines: _Lines, delimiter: str) -> Iterator[_Record]:
    """The non-blank records of `lines`, each yielded once its last line is consumed (and no line more)."""
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        line = lines.line + 1
        lines.undecodable = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            # The reader starts each record afresh: the next one begins on the line after the bad one.
            yield _Record(line, [], f"not valid CSV: {error}")
            continue
        except _LineTooLong as error:
            yield _Record(line, [], str(error))
            continue
        if fields:  # a blank line is an empty record
            yield _Record(line, fields, lines.undecodable)
