"""Writing datasets into the user's database: the table made on the first export and grown with the dataset,
then every batch upserted, so that exporting the same rows again changes nothing.

The SQL and the encoding of values are the dialect's (PostgreSQLExport in sqlsync.dialects.postgresql: COPY
into a staging table and INSERT ... ON CONFLICT; MySQLExport in sqlsync.dialects.mysql: multi-row INSERT ...
ON DUPLICATE KEY UPDATE); this module decides what runs in which transaction, checks the table against the
dataset, and turns refusals into ExportError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlsync.connectors import Target
from sqlsync.dialects.base import Dialect, execute_unbound
from sqlsync.dialects.exceptions import RenderError
from sqlsync.export.datasets import Column, Dataset

Batch = TypeVar("Batch")


class ExportError(ValueError):
    """An export refused by sqlsync rather than failed by the database: a missing schema, a table whose key
    does not fit, a value its column cannot hold (named by row and column). Database failures are TargetErrors."""


class DatasetExport(Protocol[Batch]):
    """What a dialect gives the writer to export one dataset into one schema (a database, on MySQL).

    Names are quoted by the dialect in statements, and bound as parameters in catalog lookups. Refusals are
    RenderErrors. `connection` is a SQLAlchemy connection, in the writer's transaction."""

    # Whether the upsert updates the row that any unique index matches (MySQL's ON DUPLICATE KEY UPDATE), not
    # only the key's (PostgreSQL's ON CONFLICT (key)): another unique index would let a row overwrite another.
    matches_every_unique_key: bool

    def schema_exists(self, connection: Any) -> bool: ...

    def existing_columns(self, connection: Any) -> set[str] | None:
        """The table's columns, as the dataset names them; None if there is no table."""
        ...

    def unique_keys(self, connection: Any) -> list[frozenset[str]]: ...

    def create_table(self, connection: Any) -> str: ...

    def add_column(self, connection: Any, column: Column) -> str: ...

    def encode(self, rows: Sequence[Sequence[Any]]) -> Batch | None:
        """The rows, checked and ready to write (one per key, the last one winning); None if there are none."""
        ...

    def write(self, connection: Any, batch: Batch) -> int:
        """Upsert the batch; returns how many rows were inserted or changed."""
        ...


# The databases exports write to, by dialect name.
_DATABASES = {"postgresql": "PostgreSQL", "mysql": "MySQL (or MariaDB)"}


def _unsupported(dialect: Dialect) -> ExportError:
    return ExportError(f"exports write to {' and '.join(_DATABASES.values())}, not to {dialect.name}")


def _dataset_export(dialect: Dialect, schema: str, dataset: Dataset) -> DatasetExport[Any]:
    """The dialect's DatasetExport, from the dialect's module (imported only then): it holds every difference
    of its database."""
    if dialect.name == "postgresql":
        from sqlsync.dialects.postgresql import PostgreSQLDialect, PostgreSQLExport

        if isinstance(dialect, PostgreSQLDialect):
            return PostgreSQLExport(dialect, schema, dataset)
    if dialect.name == "mysql":
        from sqlsync.dialects.mysql import MySQLDialect, MySQLExport

        if isinstance(dialect, MySQLDialect):
            return MySQLExport(dialect, schema, dataset)
    raise _unsupported(dialect)


class ExportWriter:
    def __init__(self, target: Target) -> None:
        dialect = target.base_dialect
        if dialect.name not in _DATABASES:
            raise _unsupported(dialect)
        self.target = target
        self.dialect = dialect

    def prepare(self, schema: str, dataset: Dataset) -> list[str]:
        """Create the dataset's table if missing, and add the columns it lacks (none is ever dropped or
        retyped: a column the dataset no longer has stays, NULL in new rows). Returns what it did.

        The table is checked before it is altered: MySQL commits each ALTER at once."""
        export = self._export(schema, dataset)
        done: list[str] = []
        try:
            with self.target.connection() as connection, connection.begin():
                if not export.schema_exists(connection):
                    raise ExportError(
                        f"the schema {schema!r} does not exist in the target database, or its user has no privilege"
                        " on it"
                    )
                found = export.existing_columns(connection)
                if found is None:
                    execute_unbound(connection, export.create_table(connection))
                    done.append(f"created table {schema}.{dataset.table}")
                _check_keys(connection, export, schema, dataset)  # created by someone else, or under another key
                for column in dataset.columns:
                    if found is not None and column.name not in found:
                        execute_unbound(connection, export.add_column(connection, column))
                        done.append(f"added column {dataset.table}.{column.name}")
        except RenderError as exc:
            raise ExportError(str(exc)) from None
        return done

    def upsert(self, schema: str, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> int:
        """Insert or update the rows (tuples in the order of dataset.columns) in one transaction; returns
        how many rows were inserted or changed. Of rows with the same key the last one wins. The table must
        have been prepared."""
        export = self._export(schema, dataset)
        try:
            batch = export.encode(rows)
            if batch is None:
                return 0
            with self.target.connection() as connection, connection.begin():
                return export.write(connection, batch)
        except RenderError as exc:
            raise ExportError(str(exc)) from None

    def _export(self, schema: str, dataset: Dataset) -> DatasetExport[Any]:
        try:
            return _dataset_export(self.dialect, schema, dataset)
        except RenderError as exc:  # a schema name holding a NUL or a lone surrogate: no schema can have it
            raise ExportError(f"the schema {schema!r} cannot exist: {exc}") from None


def _check_keys(connection: Any, export: DatasetExport[Any], schema: str, dataset: Dataset) -> None:
    keys = export.unique_keys(connection)
    key = frozenset(dataset.key)
    if key not in keys:
        # The upsert would have nothing to match rows on.
        raise ExportError(
            f"{schema}.{dataset.table} has no primary key or unique index on ({', '.join(dataset.key)}),"
            " which exports upsert by: add one, or drop the table for the next export to create it"
        )
    # An index on the key's columns and more is harmless: a row it matches is the one the key matches.
    others = [columns for columns in keys if not key <= columns] if export.matches_every_unique_key else []
    if others:
        raise ExportError(
            f"{schema}.{dataset.table} has a unique index on ({', '.join(sorted(others[0]))}) besides the key"
            f" ({', '.join(dataset.key)}): the upsert would update the row that index matches, overwriting"
            " another row; drop the index, or add the key's columns to it"
        )
