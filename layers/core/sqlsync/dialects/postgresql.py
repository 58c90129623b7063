"""PostgreSQL: standard_conforming_strings (on since 9.1) so backslashes are plain in '' literals,
E'' literals escape with backslashes, block comments nest, dollar quoting, no NUL in text."""

from __future__ import annotations

import json
import math
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlsync.dialects.base import (
    EXPORT_INTEGER_RANGES,
    INT_OR_NONE,
    STR_OR_NONE,
    Dialect,
    execute_unbound,
    export_integer,
    export_text,
    utc_timestamp_text,
)
from sqlsync.dialects.connect import ConnectOptions
from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.tls import ssl_context

if TYPE_CHECKING:
    from sqlsync.export.datasets import Column, Dataset

# SQLSTATE classes that say nothing about the rows: connection exceptions, insufficient resources,
# operator intervention (shutdown, query cancelled by timeout), transaction rollback (deadlock).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40", "58")
# Syntax error, undefined table/column/function, insufficient privilege: values are always quoted
# literals, so none of these can come from a profile.
_STATEMENT_SQLSTATES = frozenset({"42601", "42P01", "42703", "42883", "42501", "3F000"})


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    driver = "postgresql+pg8000"
    default_port = 5432
    socket_option = "unix_sock"
    nested_comments = True
    dollar_quotes = True
    escape_string_prefixes = frozenset("Ee")

    def __init__(self) -> None:
        super().__init__()
        self._forbidden = re.compile("[\x00\ud800-\udfff]")

    def default_schema(self, database: str | None) -> str | None:
        return "public"

    def refine(self, scalar: Callable[[str], object]) -> Dialect:
        if str(scalar("SHOW standard_conforming_strings")).lower() == "on":
            return self
        # Old-style sessions treat backslashes in '' literals as escapes.
        refined = PostgreSQLDialect()
        refined.backslash_escapes = True
        return refined

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        # pg8000's `timeout` is its socket's timeout for every read, the connect and the startup included:
        # it bounds a host that accepts TCP and never answers. `on_connect` then sets it for queries.
        # pg8000 1.31 lets such a timeout, and TLS handshake errors, escape as bare OSErrors (TimeoutError,
        # ssl.SSLError), not as DBAPI errors. Without TLS options no TLS at all: pg8000's default
        # (ssl_context=None) would try TLS without verifying anything.
        return {
            "timeout": options.connect_timeout,
            "ssl_context": ssl_context(options.tls) if options.tls is not None else False,
        }

    def on_connect(self, options: ConnectOptions) -> Callable[[Any], None] | None:
        # The server cancels a statement at statement_timeout (SQLSTATE 57014, transient) and keeps the
        # connection. Set with SET rather than as a startup parameter: PgBouncer refuses unknown ones.
        setting = None if options.query_timeout is None else max(1, round(options.query_timeout * 1000))
        # The socket's own timeout stays as a backstop for a server that stops answering mid-query, later
        # than the server's cancel; with no query timeout, a query may run as long as it needs.
        read_timeout = None if options.query_timeout is None else options.query_timeout + options.connect_timeout

        def configure(connection: Any) -> None:
            if setting is not None:
                cursor = connection.cursor()
                cursor.execute(f"SET statement_timeout = {setting}")
                cursor.close()
                connection.commit()  # pg8000 opened a transaction; a rollback would undo the SET
            connection._usock.settimeout(read_timeout)  # pg8000 1.31: the connection's (TLS) socket

        return configure

    def is_transient(self, error: BaseException) -> bool:
        sqlstate = _sqlstate(error)
        if sqlstate:
            return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)
        # No SQLSTATE: the driver failed before the server answered (refused, reset, timeout).
        return True

    def is_statement_error(self, error: BaseException) -> bool:
        return _sqlstate(error) in _STATEMENT_SQLSTATES

    def in_transaction(self, dbapi_connection: Any) -> bool | None:
        # pg8000 keeps the status of the server's last ReadyForQuery: b"I" idle, b"T" in a transaction,
        # b"E" in a failed one (None before the first query).
        status = getattr(dbapi_connection, "_transaction_status", None)
        return status != b"I" if isinstance(status, bytes) else None

    def is_conflict(self, error: BaseException) -> bool:
        # serialization_failure, deadlock_detected, lock_not_available
        return _sqlstate(error) in ("40001", "40P01", "55P03")

    def describe_error(self, error: BaseException) -> str:
        # pg8000 carries the server's error fields as a dict: M is the message, C the SQLSTATE.
        details = error.args[0] if error.args and isinstance(error.args[0], dict) else None
        if isinstance(error, TimeoutError):
            # pg8000 raises the socket's own error: a silent host, or a server gone quiet mid-statement.
            return "the server did not answer within the timeout"
        if details is None:
            return super().describe_error(error)
        detail = f" ({details['D']})" if details.get("D") else ""
        return f"{details.get('M', 'error')}{detail} [SQLSTATE {details.get('C', '?')}]"

    def __repr__(self) -> str:
        return f"<PostgreSQLDialect backslash_escapes={self.backslash_escapes}>"


def _sqlstate(error: BaseException) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return str(details.get("C", ""))


# Dataset exports (sqlsync.export.writer) ----------------------------------------------------------------------

_EXPORT_TYPES: dict[str, str] = {
    "bigint": "bigint",
    "int": "integer",
    "numeric": "numeric",
    "text": "text",
    # Values are UTC (an aware datetime is converted): the zone is not stored, as in the vendor's export.
    "timestamp": "timestamp without time zone",
    # jsonb rather than json: it has equality, which the upsert needs to leave unchanged rows alone.
    "json": "jsonb",
}
_STAGING_TABLE = "sqlsync_export_staging"
# COPY's text format: tab-separated fields, \N for NULL, and a backslash escapes itself and the characters
# that would end a field or a row. An empty field is an empty string, never NULL.
_COPY_NULL = "\\N"
_COPY_ROWS_PER_CHUNK = 5000
_COPY_STREAM_OPTION = "sqlsync_copy_stream"
# What converting a value may raise besides RenderError (a ValueError): a datetime moved past year 9999 by
# its zone, a signalling NaN, a JSON value nested too deep.
_VALUE_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)


class PostgreSQLExport:
    """One dataset exported into one schema of PostgreSQL (sqlsync.export.writer's DatasetExport): its rows sent
    as COPY data into a staging table, then upserted from there with INSERT ... ON CONFLICT.

    Every identifier is quoted by the dialect; catalog lookups take the schema and table as bound parameters
    (`:schema`, `:table`, for SQLAlchemy's text()), never in the SQL text.
    """

    # ON CONFLICT (key) updates only the row the key matches.
    matches_every_unique_key = False

    _SCHEMA_EXISTS = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :schema"
    # One row per column; a table with no columns gives one row with a NULL name; a missing table none.
    _EXISTING_COLUMNS = (
        "SELECT c.column_name FROM information_schema.tables t LEFT JOIN information_schema.columns c"
        " ON c.table_schema = t.table_schema AND c.table_name = t.table_name"
        " WHERE t.table_schema = :schema AND t.table_name = :table"
    )
    # The column sets of the unique indexes ON CONFLICT can use as its arbiter: not partial, not on
    # expressions, not deferrable.
    _UNIQUE_KEYS = (
        "SELECT array_agg(CAST(a.attname AS text)) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)"
        " WHERE n.nspname = :schema AND c.relname = :table AND i.indisunique AND i.indimmediate"
        " AND i.indpred IS NULL AND i.indexprs IS NULL GROUP BY i.indexrelid"
    )

    def __init__(self, dialect: PostgreSQLDialect, schema: str, dataset: Dataset) -> None:
        self.dialect = dialect
        self.dataset = dataset
        self.parameters = {"schema": schema, "table": dataset.table}
        self.table = f"{dialect.quote_identifier(schema)}.{dialect.quote_identifier(dataset.table)}"
        # pg_temp: the session's own schema, so that no table of the user's can be meant instead.
        self._staging = f"pg_temp.{dialect.quote_identifier(_STAGING_TABLE)}"
        self._names = [dialect.quote_identifier(column.name) for column in dataset.columns]

    # Catalog -----------------------------------------------------------------------------------------------

    def _query(self, connection: Any, sql: str) -> Any:
        from sqlalchemy import text

        return connection.execute(text(sql), self.parameters)

    def schema_exists(self, connection: Any) -> bool:
        return bool(self._query(connection, self._SCHEMA_EXISTS).scalar())

    def existing_columns(self, connection: Any) -> set[str] | None:
        # A table without columns gives one NULL name: the table exists, and every column is missing.
        found = [name for (name,) in self._query(connection, self._EXISTING_COLUMNS)]
        return set(found) if found else None

    def unique_keys(self, connection: Any) -> list[frozenset[str]]:
        return [frozenset(names) for (names,) in self._query(connection, self._UNIQUE_KEYS)]

    # Statements --------------------------------------------------------------------------------------------

    @staticmethod
    def column_type(column: Column) -> str:
        if column.type == "varchar":
            return f"varchar({column.length})"
        return _EXPORT_TYPES[column.type]

    def _definitions(self) -> str:
        return ", ".join(
            f"{name} {self.column_type(column)}" for name, column in zip(self._names, self.dataset.columns, strict=True)
        )

    def _key(self) -> str:
        return ", ".join(self.dialect.quote_identifier(name) for name in self.dataset.key)

    def create_table(self, connection: Any = None) -> str:
        # A primary key makes its columns NOT NULL: rows are refused before COPY if they lack a key value.
        return f"CREATE TABLE IF NOT EXISTS {self.table} ({self._definitions()}, PRIMARY KEY ({self._key()}))"

    def add_column(self, connection: Any, column: Column) -> str:
        # Nullable, no default: the rows already there get NULL, without a table rewrite.
        name = self.dialect.quote_identifier(column.name)
        return f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS {name} {self.column_type(column)}"

    def create_staging(self) -> str:
        # Temporary (no WAL), private to the session, and gone at the end of the transaction.
        return f"CREATE TEMPORARY TABLE {self._staging} ({self._definitions()}) ON COMMIT DROP"

    def copy_staging(self) -> str:
        return f"COPY {self._staging} ({', '.join(self._names)}) FROM STDIN WITH (FORMAT text)"

    def upsert(self) -> str:
        """INSERT from the staging table; a row whose key exists is updated only if a value differs, so
        that exporting the same rows again writes nothing (no new row version) and counts nothing."""
        columns = ", ".join(self._names)
        insert = f"INSERT INTO {self.table} AS existing ({columns}) SELECT {columns} FROM {self._staging}"
        key = set(self.dataset.key)
        values = [
            name for name, column in zip(self._names, self.dataset.columns, strict=True) if column.name not in key
        ]
        if not values:
            return f"{insert} ON CONFLICT ({self._key()}) DO NOTHING"
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in values)
        stored = ", ".join(f"existing.{name}" for name in values)
        exported = ", ".join(f"EXCLUDED.{name}" for name in values)
        return (
            f"{insert} ON CONFLICT ({self._key()}) DO UPDATE SET {assignments}"
            f" WHERE ({stored}) IS DISTINCT FROM ({exported})"
        )

    # Rows --------------------------------------------------------------------------------------------------

    def encode(self, rows: Sequence[Sequence[Any]]) -> list[bytes] | None:
        return self.copy_rows(rows) or None

    def write(self, connection: Any, batch: list[bytes]) -> int:
        """COPY the batch into a new staging table, then upsert from it; returns the rows inserted or changed."""
        execute_unbound(connection, self.create_staging())
        self.send_copy(connection, batch)
        return execute_unbound(connection, self.upsert())

    def copy_rows(self, rows: Sequence[Sequence[Any]]) -> list[bytes]:
        """The rows as COPY text-format data (UTF-8, in chunks), one row per key: the last one of a key wins,
        as ON CONFLICT cannot touch a row twice in one statement. Raises RenderError naming the row and
        column of a value PostgreSQL cannot hold in its column."""
        columns = self.dataset.columns
        name = self.dataset.name
        lengths = list(map(len, rows))
        if lengths.count(len(columns)) != len(rows):
            index = next(index for index, length in enumerate(lengths) if length != len(columns))
            raise RenderError(f"{name} rows[{index}]: {lengths[index]} values for the {len(columns)} columns")
        if not rows:
            return []
        # Column by column, so that the loops over values run in C (map, zip), the converters alone in Python.
        fields: list[list[str]] = []
        for column, values in zip(columns, zip(*rows, strict=True), strict=True):
            plain = _plain_fields(column, values)
            if plain is not None:
                fields.append(plain)
                continue
            convert = _copy_converter(column)
            try:
                fields.append(list(map(convert, values)))
            except _VALUE_ERRORS:
                raise self._value_error(column, values) from None
        positions = {column.name: index for index, column in enumerate(columns)}
        key_fields = [fields[positions[key]] for key in self.dataset.key]
        for key, key_values in zip(self.dataset.key, key_fields, strict=True):
            if _COPY_NULL in key_values:
                raise RenderError(f"{name} rows[{key_values.index(_COPY_NULL)}]: the key column {key} is NULL")
        lines = list(map("\t".join, zip(*fields, strict=True)))
        keys: Iterable[object] = key_fields[0] if len(key_fields) == 1 else zip(*key_fields, strict=True)
        unique = dict(zip(keys, lines, strict=True))
        if len(unique) < len(lines):
            lines = list(unique.values())
        chunks = [
            "\n".join(lines[start : start + _COPY_ROWS_PER_CHUNK]) + "\n"
            for start in range(0, len(lines), _COPY_ROWS_PER_CHUNK)
        ]
        # Looked for once in the whole data; only when there is one, in each value to name it.
        if any(self.dialect.first_forbidden(chunk) >= 0 for chunk in chunks):
            raise self._forbidden_error(fields)
        return [chunk.encode("utf-8") for chunk in chunks]

    def _value_error(self, column: Column, values: Sequence[Any]) -> RenderError:
        convert = _copy_converter(column)
        for index, value in enumerate(values):
            try:
                convert(value)
            except _VALUE_ERRORS as exc:
                return RenderError(f"{self.dataset.name} rows[{index}], column {column.name}: {exc}")
        raise AssertionError("a value failed once, then passed")

    def _forbidden_error(self, fields: Sequence[Sequence[str]]) -> RenderError:
        for column, texts in zip(self.dataset.columns, fields, strict=True):
            for index, text in enumerate(texts):
                found = self.dialect.first_forbidden(text)
                if found >= 0:
                    return RenderError(
                        f"{self.dataset.name} rows[{index}], column {column.name}: PostgreSQL cannot store the"
                        f" character U+{ord(text[found]):04X} in text; the value is refused, not altered"
                    )
        raise AssertionError("a forbidden character in the data, and in no value")

    def send_copy(self, connection: Any, chunks: Iterable[bytes]) -> int:
        """Run the COPY into the staging table on a SQLAlchemy connection, sending `chunks`.

        pg8000 takes COPY data as cursor.execute's `stream` argument, which SQLAlchemy does not pass: a
        do_execute hook on the engine passes it when the execution options carry it. Going through
        SQLAlchemy keeps its error handling (wrapped errors, connections invalidated on disconnect)."""
        from sqlalchemy import event

        # pg8000 1.31 leaves Nagle's algorithm on, and sends the COPY data and then CopyDone in two writes:
        # the second waits for the server's delayed ACK, 40 ms per COPY on Linux. libpq sets TCP_NODELAY too.
        driver_socket = getattr(connection.connection.dbapi_connection, "_usock", None)
        if driver_socket is not None and driver_socket.family in (socket.AF_INET, socket.AF_INET6):
            driver_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        engine = connection.engine
        if not event.contains(engine, "do_execute", _execute_with_stream):
            event.listen(engine, "do_execute", _execute_with_stream)
        # Options for this statement only (Connection.execution_options would set them for the connection);
        # with no_parameters SQLAlchemy would call do_execute_no_params, which the hook does not see.
        options = {_COPY_STREAM_OPTION: chunks, "no_parameters": False}
        result = connection.exec_driver_sql(self.copy_staging(), execution_options=options)
        return int(result.rowcount)


def _execute_with_stream(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    stream = context.execution_options.get(_COPY_STREAM_OPTION)
    if stream is None:
        return None
    cursor.execute(statement, parameters, stream=stream)
    return True


_COPY_SPECIAL = ("\\", "\n", "\r", "\t")


def _plain_fields(column: Column, values: Sequence[Any]) -> list[str] | None:
    """A column's COPY fields when the converter would return every value as it is, or as str() writes it: texts
    that fit and need no escape, ints in range, NULLs. Checked with C loops over the whole column (most columns
    of most chunks are such), so that the converter runs per value only in the others; None there."""
    kinds = set(map(type, values))
    if column.type in ("text", "varchar") and kinds <= STR_OR_NONE:
        texts = list(filter(None, values))
        if column.length is not None and max(map(len, texts), default=0) > column.length:
            return None
        joined = "".join(texts)
        if any(special in joined for special in _COPY_SPECIAL):
            return None
        return [_COPY_NULL if value is None else value for value in values]
    if column.type in EXPORT_INTEGER_RANGES and kinds <= INT_OR_NONE:
        numbers = [value for value in values if value is not None]
        low, high = EXPORT_INTEGER_RANGES[column.type]
        if numbers and not low <= min(numbers) <= max(numbers) <= high:
            return None
        return [_COPY_NULL if value is None else str(value) for value in values]
    return None


def _copy_converter(column: Column) -> Callable[[Any], str]:
    """The function turning a column's value into its COPY text field (RenderError if it cannot)."""
    if column.type in EXPORT_INTEGER_RANGES:
        return _integer_field(column.type)
    if column.type == "numeric":
        return _numeric_field
    if column.type == "timestamp":
        return _timestamp_field
    if column.type == "json":
        return _json_field
    if column.length is not None:
        return _varchar_field(column.length)
    return _text_field


def _escape(text: str) -> str:
    if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text


def _integer_field(column_type: str) -> Callable[[Any], str]:
    name = _EXPORT_TYPES[column_type]

    def field(value: Any) -> str:
        return _COPY_NULL if value is None else str(export_integer(value, column_type, name))

    return field


def _numeric_field(value: Any) -> str:
    if value is None:
        return _COPY_NULL
    kind = type(value)
    if kind is Decimal:
        if not value.is_finite():  # not math.isfinite: a Decimal past float's range is finite all the same
            raise RenderError(f"{value} is not a number the export stores")
        return str(value)
    if kind is float:
        if not math.isfinite(value):
            raise RenderError(f"{value} is not a number the export stores")
        return repr(value)
    if kind is int:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RenderError(f"numeric expects an int, float or Decimal, not {type(value).__name__}")
    return _numeric_field(float(value) if isinstance(value, float) else Decimal(value))


def _timestamp_field(value: Any) -> str:
    return _COPY_NULL if value is None else utc_timestamp_text(value)


def _json_field(value: Any) -> str:
    if value is None:
        return _COPY_NULL  # SQL NULL; JSON's null is the json column's value "null"
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise RenderError(f"not JSON: {exc}") from None
    # json.dumps escapes a NUL as \u0000, which jsonb refuses; a text holding a backslash then u0000 looks the
    # same here, so only then are the strings themselves looked at.
    if "\\u0000" in text and _holds_nul(value):
        raise RenderError("PostgreSQL cannot store the character U+0000 in jsonb; the value is refused, not altered")
    return _escape(text)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    return False


def _text_field(value: Any) -> str:
    if type(value) is str:
        return _escape(value)
    return _COPY_NULL if value is None else _escape(export_text(value))


def _varchar_field(length: int) -> Callable[[Any], str]:
    def field(value: Any) -> str:
        return _COPY_NULL if value is None else _escape(export_text(value, length))

    return field
