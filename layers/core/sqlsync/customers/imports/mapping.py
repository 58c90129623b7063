"""What an import does with the columns of its CSV file: which go to which properties and customer ids.

The model checks what it can alone (names, types, duplicates, the timezone); `check_columns` checks it
against the header of the file, once the file is there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from sqlsync.customers.imports.values import PropertyType, TimestampFormat

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
"""A column of the file, or a constant column: matched exactly (case and spaces count)."""

IdType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""A kind of customer id: registered, cookie, email_id..."""


class PropertyMapping(BaseModel):
    """A column whose cells set a customer property."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_column: ColumnName
    to_property: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    type: PropertyType = "string"


class IdMapping(BaseModel):
    """A column whose cells are customer ids of one type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_column: ColumnName
    to_id: IdType


class ConstantColumn(BaseModel):
    """A column added to every row with the same text, usable wherever a column of the file is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ColumnName
    value: str = Field(min_length=1, description="converted like a cell of the file; empty would mean no value")


class UpdateTimestampMapping(BaseModel):
    """The column with the time of each row's update (an older update never overwrites a newer value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_column: ColumnName
    format: TimestampFormat = "auto"


class ImportMapping(BaseModel):
    """How the rows of a CSV file update customers, as the API receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    properties: list[PropertyMapping] = Field(default_factory=list, max_length=1000)
    ids: list[IdMapping] = Field(min_length=1, max_length=100)
    constant_columns: list[ConstantColumn] = Field(default_factory=list, max_length=100)
    timezone: str = Field(default="UTC", description="IANA name; naive timestamps and dates are read in it")
    update_timestamp: UpdateTimestampMapping | None = Field(
        default=None, description="none: every row is stamped with the time the import started"
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @field_validator("properties")
    @classmethod
    def _unique_properties(cls, properties: list[PropertyMapping]) -> list[PropertyMapping]:
        _refuse_repeats("to_property", [mapping.to_property for mapping in properties])
        return properties

    @field_validator("ids")
    @classmethod
    def _unique_ids(cls, ids: list[IdMapping]) -> list[IdMapping]:
        _refuse_repeats("to_id", [mapping.to_id for mapping in ids])
        return ids

    @field_validator("constant_columns")
    @classmethod
    def _unique_constants(cls, columns: list[ConstantColumn]) -> list[ConstantColumn]:
        _refuse_repeats("name", [column.name for column in columns])
        return columns

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"unknown timezone {name!r}: expected an IANA name such as UTC or Europe/Bratislava"
            ) from None
        return name

    @field_validator("delimiter")
    @classmethod
    def _usable_delimiter(cls, delimiter: str) -> str:
        if delimiter in ('"', "\r", "\n"):
            raise ValueError(f"the delimiter cannot be {delimiter!r}: it would make the CSV unreadable")
        return delimiter

    @property
    def zone(self) -> ZoneInfo:
        """The timezone (ZoneInfo caches each zone, so this is cheap)."""
        return ZoneInfo(self.timezone)

    def source_columns(self) -> list[tuple[str, str]]:
        """(field, column) of every column the mapping reads, field as check_columns names it."""
        columns = [(f"mapping.properties[{i}].from_column", m.from_column) for i, m in enumerate(self.properties)]
        columns += [(f"mapping.ids[{i}].from_column", m.from_column) for i, m in enumerate(self.ids)]
        if self.update_timestamp is not None:
            columns.append(("mapping.update_timestamp.from_column", self.update_timestamp.from_column))
        return columns


@dataclass(frozen=True)
class MappingProblem:
    """Why a mapping cannot read a file: the field at fault and what is wrong."""

    field: str
    message: str


MAX_LISTED_COLUMNS = 50
"""Columns named in a "no column" message at most: a file can have thousands."""


def check_columns(mapping: ImportMapping, header: Sequence[str]) -> list[MappingProblem]:
    """What prevents `mapping` from reading a file with this header (empty when nothing does)."""
    places: dict[str, list[int]] = {}
    for number, name in enumerate(header, start=1):
        places.setdefault(name, []).append(number)
    read = {column for _, column in mapping.source_columns()}
    # Only the columns the mapping reads must be unambiguous: an export with two unused "notes" is fine.
    problems = [
        MappingProblem("header", f"the column {name!r} appears more than once in the file: columns {_and(numbers)}")
        for name, numbers in places.items()
        if len(numbers) > 1 and name in read
    ]
    in_file = set(header)
    problems += [
        MappingProblem(
            f"mapping.constant_columns[{index}].name",
            f"the constant column {column.name!r} is also a column of the file: rename it",
        )
        for index, column in enumerate(mapping.constant_columns)
        if column.name in in_file
    ]
    known = in_file | {column.name for column in mapping.constant_columns}
    problems += [
        MappingProblem(field, f"no column {column!r} in the file; its columns: {_listing(header)}")
        for field, column in mapping.source_columns()
        if column not in known
    ]
    return problems


def _listing(header: Sequence[str]) -> str:
    listed = ", ".join(header[:MAX_LISTED_COLUMNS])
    more = len(header) - MAX_LISTED_COLUMNS
    return f"{listed} and {more} more" if more > 0 else listed


def _and(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _refuse_repeats(name: str, values: list[str]) -> None:
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        raise ValueError(f"each {name} may appear once; repeated: {', '.join(map(repr, repeated))}")
