"""Writing datasets into the user's PostgreSQL: the table made on the first export and grown with the dataset,
then every batch staged with COPY and upserted, so that exporting the same rows again changes nothing.

The SQL and the COPY data are PostgreSQL's (sqlsync.dialects.postgresql.PostgreSQLExport); this module
decides what runs in which transaction and turns refusals into ExportError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlsync.connectors import Target
from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.postgresql import PostgreSQLDialect, PostgreSQLExport
from sqlsync.export.datasets import Dataset


class ExportError(ValueError):
    """An export refused by sqlsync rather than failed by the database: a missing schema, a table whose key
    does not fit, a value its column cannot hold (named by row and column). Database failures are TargetErrors."""


class ExportWriter:
    def __init__(self, target: Target) -> None:
        dialect = target.base_dialect
        if not isinstance(dialect, PostgreSQLDialect):
            raise ExportError(f"exports write to PostgreSQL only, not to {dialect.name}")
        self.target = target
        self.dialect = dialect

    def prepare(self, schema: str, dataset: Dataset) -> list[str]:
        """Create the dataset's table if missing, and add the columns it lacks (none is ever dropped or
        retyped: a column the dataset no longer has stays, NULL in new rows). Returns what it did."""
        from sqlalchemy import text

        statements = self._statements(schema, dataset)
        done: list[str] = []
        with self.target._guard(), self.target.engine.begin() as connection:
            self._check_schema(connection, statements, schema)
            found = [name for (name,) in connection.execute(text(statements.existing_columns), statements.parameters)]
            if not found:
                _execute(connection, statements.create_table())
                done.append(f"created table {schema}.{dataset.table}")
            else:
                for column in dataset.columns:
                    if column.name not in found:
                        _execute(connection, statements.add_column(column))
                        done.append(f"added column {dataset.table}.{column.name}")
            keys = [set(names) for (names,) in connection.execute(text(statements.unique_keys), statements.parameters)]
            if set(dataset.key) not in keys:
                # Created by someone else, or under another key: ON CONFLICT would have nothing to match on.
                raise ExportError(
                    f"{schema}.{dataset.table} has no primary key or unique index on ({', '.join(dataset.key)}),"
                    " which exports upsert by: add one, or drop the table for the next export to create it"
                )
        return done

    def upsert(self, schema: str, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> int:
        """Insert or update the rows (tuples in the order of dataset.columns) in one transaction; returns
        how many rows were inserted or changed. Of rows with the same key the last one wins. The table must
        have been prepared."""
        statements = self._statements(schema, dataset)
        try:
            chunks = statements.copy_rows(rows)
        except RenderError as exc:
            raise ExportError(str(exc)) from None
        if not chunks:
            return 0
        with self.target._guard(), self.target.engine.begin() as connection:
            _execute(connection, statements.create_staging())
            statements.send_copy(connection, chunks)
            changed = _execute(connection, statements.upsert())
        return changed

    def _statements(self, schema: str, dataset: Dataset) -> PostgreSQLExport:
        try:
            return PostgreSQLExport(self.dialect, schema, dataset)
        except RenderError as exc:  # a schema name holding a NUL: no schema can have it
            raise ExportError(f"the schema {schema!r} cannot exist: {exc}") from None

    @staticmethod
    def _check_schema(connection: Any, statements: PostgreSQLExport, schema: str) -> None:
        from sqlalchemy import text

        if not connection.execute(text(statements.schema_exists), statements.parameters).scalar():
            raise ExportError(
                f"the schema {schema!r} does not exist in the target database, or its user has no privilege on it"
            )


def _execute(connection: Any, sql: str) -> int:
    """Run SQL that holds quoted identifiers and no parameters: passed to the driver as it is, so that a `%`
    or `:` in the user's schema name is never read as a placeholder. Returns the rows it affected."""
    return int(connection.exec_driver_sql(sql, execution_options={"no_parameters": True}).rowcount)
