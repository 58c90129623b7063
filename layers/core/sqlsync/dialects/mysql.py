"""MySQL and MariaDB: the lexing and escaping depend on the session's sql_mode.

Without NO_BACKSLASH_ESCAPES a backslash escapes inside every string literal, so it is doubled and
NUL, CR, LF and Ctrl-Z are written as escapes (as mysql_real_escape_string does). Without ANSI_QUOTES
a double-quoted text is a string literal, otherwise an identifier.

Dataset exports (MySQLExport) depend on neither: their values are the driver's parameters (PyMySQL escapes
them as the server's NO_BACKSLASH_ESCAPES status says, with single quotes), their names quoted with backticks.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from itertools import chain
from typing import TYPE_CHECKING, Any, ClassVar

from sqlsync.dialects.base import EXPORT_INTEGER_RANGES, Dialect, export_integer, export_text, utc_timestamp_text
from sqlsync.dialects.connect import ConnectOptions
from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.tls import ssl_context

if TYPE_CHECKING:
    from sqlsync.export.datasets import Column, Dataset

# Server and client error codes that say nothing about the rows: cannot connect, gone away, lost
# connection, too many connections, lock wait timeout, deadlock, query interrupted, server shutdown,
# statement timeout (MariaDB's max_statement_time 1969, MySQL's max_execution_time 3024).
_TRANSIENT_CODES = frozenset({1040, 1053, 1205, 1213, 1317, 1969, 2002, 2003, 2006, 2013, 2055, 3024})

# Syntax error, unknown table/column/database, access denied: no quoted value can cause these.
_STATEMENT_CODES = frozenset({1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146, 1149})

# PyMySQL's connect() arguments that, when truthy, replace the `ssl` context with one PyMySQL builds itself.
_PYMYSQL_TLS_ARGUMENTS = ("ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert", "ssl_verify_identity")

_BACKSLASH_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\x00": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z", "'": "\\'", '"': '\\"'}
)


class MySQLDialect(Dialect):
    name = "mysql"
    driver = "mysql+pymysql"
    version_query = "SELECT VERSION()"
    default_port = 3306
    socket_option = "unix_socket"
    hash_comments = True
    dash_comment_needs_space = True
    string_quotes: ClassVar[frozenset[str]] = frozenset("'\"")
    identifier_quotes: ClassVar[Mapping[str, str]] = {"`": "`"}

    def __init__(self, *, ansi_quotes: bool = False, no_backslash_escapes: bool = False) -> None:
        super().__init__()
        self.backslash_escapes = not no_backslash_escapes
        self.ansi_quotes = ansi_quotes
        if ansi_quotes:
            # Instance attributes shadow the class data: '"' now quotes identifiers.
            self.string_quotes = frozenset("'")  # type: ignore[misc]
            self.identifier_quotes = {"`": "`", '"': '"'}  # type: ignore[misc]

    @classmethod
    def from_sql_mode(cls, sql_mode: str) -> MySQLDialect:
        modes = {mode.strip().upper() for mode in sql_mode.split(",")}
        return cls(ansi_quotes="ANSI_QUOTES" in modes, no_backslash_escapes="NO_BACKSLASH_ESCAPES" in modes)

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        if backslashes:
            return text.translate(_BACKSLASH_ESCAPES)
        return text.replace(quote, quote + quote)

    def render_string(self, text: str) -> str:
        if self.backslash_escapes:
            return "'" + text.translate(_BACKSLASH_ESCAPES) + "'"
        return "'" + text.replace("'", "''") + "'"

    def inline_string_body(self, var: str) -> str | None:
        # render_string written out, for the compiled template (two calls a value less on the sync path)
        if self.backslash_escapes:
            return f"{var}.translate(_mysql_escapes)"
        return f'{var}.replace("\'", "\'\'")'

    def inline_names(self) -> dict[str, object]:
        return {"_mysql_escapes": _BACKSLASH_ESCAPES}

    def default_schema(self, database: str | None) -> str | None:
        return database or None  # a MySQL schema is a database: the connector's

    def in_transaction(self, dbapi_connection: Any) -> bool | None:
        # PyMySQL keeps the status flags of the server's last OK packet; bit 1 is SERVER_STATUS_IN_TRANS.
        status = getattr(dbapi_connection, "server_status", None)
        return bool(status & 1) if isinstance(status, int) else None

    def refine(self, scalar: Callable[[str], object]) -> Dialect:
        return MySQLDialect.from_sql_mode(str(scalar("SELECT @@SESSION.sql_mode") or ""))

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        # PyMySQL's connect_timeout bounds only the TCP connect; its read_timeout bounds every read from
        # the handshake on, so a host that accepts TCP and never answers fails within connect_timeout.
        # `on_connect` then sets the read and write timeouts for queries.
        # Without TLS options no TLS at all: PyMySQL 1.2 otherwise tries TLS without verifying anything.
        # With them our context, and every PyMySQL argument that would replace it pinned: a connector's DSN
        # options reach connect() as strings, and a truthy ssl_verify_cert/ssl_verify_identity/ssl_ca/ssl_cert/
        # ssl_key makes PyMySQL build its own context instead (our CA and client certificate dropped, the host
        # name unchecked, "ssl_verify_cert=false" verifying nothing), and a truthy ssl_disabled ("false"
        # included) turns TLS off.
        tls: dict[str, object] = (
            {"ssl_disabled": True}
            if options.tls is None
            else {"ssl": ssl_context(options.tls), "ssl_disabled": False, **dict.fromkeys(_PYMYSQL_TLS_ARGUMENTS)}
        )
        return {
            "connect_timeout": options.connect_timeout,
            "read_timeout": options.connect_timeout,
            "write_timeout": options.connect_timeout,
            **tls,
        }

    def on_connect(self, options: ConnectOptions) -> Callable[[Any], None] | None:
        query_timeout = options.query_timeout
        # The socket timeouts stay as a backstop for a server that stops answering mid-query (OperationalError
        # 2013, transient), later than the server's own cancel; with no query timeout, no limit.
        socket_timeout = None if query_timeout is None else query_timeout + options.connect_timeout

        def configure(connection: Any) -> None:
            if query_timeout is not None:
                cursor = connection.cursor()
                cursor.execute("SELECT VERSION()")
                setting = _statement_time_setting(str(cursor.fetchone()[0]), query_timeout)
                if setting:
                    cursor.execute(setting)
                cursor.close()
                connection.commit()  # end the transaction the SELECT opened; SET SESSION outlives it
            # PyMySQL 1.2 reads these attributes before each read and write; it has no public setter.
            connection._read_timeout = socket_timeout
            connection._write_timeout = socket_timeout

        return configure

    def is_transient(self, error: BaseException) -> bool:
        code = _code(error)
        return code is None or code in _TRANSIENT_CODES

    def is_statement_error(self, error: BaseException) -> bool:
        return _code(error) in _STATEMENT_CODES

    def is_conflict(self, error: BaseException) -> bool:
        # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        return _code(error) in (1213, 1205)

    def __repr__(self) -> str:
        return f"<MySQLDialect backslash_escapes={self.backslash_escapes} ansi_quotes={self.ansi_quotes}>"


def _statement_time_setting(version: str, seconds: float) -> str | None:
    """The SET that makes the server itself stop a statement after `seconds`, for this server's version."""
    if "mariadb" in version.lower():
        # MariaDB 10.1+: every statement, in seconds; error 1969 when it strikes.
        return f"SET SESSION max_statement_time = {seconds:.6f}"
    parts = version.split("-", 1)[0].split(".")
    numbers = tuple(int(part) for part in parts[:3] if part.isdigit())
    if numbers >= (5, 7, 8):
        # MySQL 5.7.8+: read-only SELECTs only, in milliseconds; error 3024. Writes rely on the read timeout.
        return f"SET SESSION max_execution_time = {max(1, round(seconds * 1000))}"
    return None


def _code(error: BaseException) -> int | None:
    return error.args[0] if error.args and isinstance(error.args[0], int) else None


# Dataset exports (sqlsync.export.writer) ----------------------------------------------------------------------

_EXPORT_TYPES: dict[str, str] = {
    "bigint": "BIGINT",
    "int": "INT",
    # PostgreSQL's numeric has no limits; DECIMAL's are 65 digits, 30 after the point. 38 digits is the most a
    # 128-bit decimal holds (Arrow, Parquet, Spark, Snowflake, SQL Server), so the values move on to those tools
    # unchanged; 28 before the point is beyond any amount of money, 10 after it beyond any currency's subunit or
    # exchange rate. A value with more decimals is rounded half up to 10, as the server itself would.
    "numeric": "DECIMAL(38,10)",
    # TEXT holds 65,535 bytes (16,383 characters of utf8mb4); LONGTEXT as much as PostgreSQL's text.
    "text": "LONGTEXT",
    # DATETIME rather than TIMESTAMP: no conversion by the session's time_zone and no 2038 limit. Values are
    # UTC (an aware datetime is converted), as on PostgreSQL.
    "timestamp": "DATETIME(6)",
    # MariaDB's JSON is LONGTEXT with a json_valid check: values are written with their keys sorted, so that one
    # value always has one text and exporting it again is no change. MySQL's JSON normalizes them itself.
    "json": "JSON",
}
_TEXT_TYPES = frozenset({"text", "varchar", "json"})
_NUMERIC_TYPE = _EXPORT_TYPES["numeric"]
_NUMERIC_QUANTUM = Decimal("1E-10")
_NUMERIC_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)
_NUMERIC_INTEGER_DIGITS = 28
# utf8mb4's binary collations without PAD SPACE, newest first (MySQL 8.0.17+, MariaDB 10.2+): values compare as
# Python's strings do, so that 'a' and 'a ', or 'a' and 'A', are two keys, as on PostgreSQL. Older servers have
# only utf8mb4_bin, which ignores trailing spaces when comparing.
_COLLATIONS = ("utf8mb4_0900_bin", "utf8mb4_nopad_bin", "utf8mb4_bin")
# InnoDB's limit on an index's entries (DYNAMIC rows, the default since MySQL 5.7 and MariaDB 10.2), and what
# each key type takes of it: a varchar(n) of utf8mb4 up to 4n.
_KEY_BYTES = 3072
_KEY_TYPE_BYTES = {"bigint": 8, "int": 4, "timestamp": 8}
# Rows per INSERT, and an upper bound of its size. Beyond a thousand rows a statement is no faster; the size
# stays within the server's max_allowed_packet (read at each upsert), itself at least 1 MiB.
_STATEMENT_ROWS = 1000
_STATEMENT_BYTES = 8 * 1024 * 1024
# Per value at most: a quoted DATETIME(6), a DECIMAL(38,10), a BIGINT, and a separator. A character of text
# takes at most 4 bytes escaped: a 4-byte one is never escaped, an escaped one is ASCII.
_VALUE_BYTES = 48
_CHARACTER_BYTES = 4
# Warnings that say nothing about the values: VALUES() in ON DUPLICATE KEY UPDATE deprecated (MySQL 8.0.20+),
# and a statement unsafe for statement-based binary logging.
_HARMLESS_WARNINGS = frozenset({1287, 1592})
# What converting a value may raise besides RenderError (a ValueError): a datetime moved past year 9999 by its
# zone, a Decimal operation, a JSON value nested too deep.
_VALUE_ERRORS = (ValueError, TypeError, ArithmeticError, RecursionError)
_SESSION = "SELECT @@character_set_client, @@character_set_connection, @@max_allowed_packet"


@dataclass(frozen=True)
class MySQLRows:
    """A batch ready to be written: its rows as driver values, one per key."""

    rows: list[tuple[Any, ...]]
    widest: int
    """The size of a row in a statement at most: of the widest text of each column."""
    positions: list[int] | None = None
    """Each row's index among the rows given, when some were dropped for a later one of the same key."""


class MySQLExport:
    """The statements that export one dataset into one database of MySQL or MariaDB (the export's schema is a
    MySQL database), and its rows as the parameters of multi-row INSERT ... ON DUPLICATE KEY UPDATE statements.

    Names are quoted with backticks by the dialect, whatever the sql_mode; catalog lookups take them as bound
    parameters. DDL is not transactional in MySQL (each statement commits): `prepare` checks before it alters.
    """

    # ON DUPLICATE KEY UPDATE updates the row that any unique index matches, not only the key's.
    matches_every_unique_key = True

    def __init__(self, dialect: MySQLDialect, schema: str, dataset: Dataset) -> None:
        self.dialect = dialect
        self.dataset = dataset
        self.schema = schema
        self.table = f"{dialect.quote_identifier(schema)}.{dialect.quote_identifier(dataset.table)}"
        self._catalog_schema = schema
        self._folded_names = False
        self._collation: str | None = None
        self._names = [dialect.quote_identifier(column.name) for column in dataset.columns]
        self._converters = [_converter(column) for column in dataset.columns]
        key = set(dataset.key)
        # Statements with parameters go through the driver's `statement % parameters`: a `%` in a name is `%%`.
        names = ", ".join(self._names)
        self._insert = f"INSERT INTO {self.table.replace('%', '%%')} ({names}) VALUES "
        self._row = "(" + ",".join(["%s"] * len(self._names)) + ")"
        values = [name for name, column in zip(self._names, dataset.columns, strict=True) if column.name not in key]
        # A dataset that is all key: the existing row is left as it is.
        assignments = [f"{name} = VALUES({name})" for name in values] or [f"{self._names[0]} = {self._names[0]}"]
        self._on_duplicate = " ON DUPLICATE KEY UPDATE " + ", ".join(assignments)

    # Catalog ---------------------------------------------------------------------------------------------

    def schema_exists(self, connection: Any) -> bool:
        """Whether the database exists (and its user sees it). Names are compared as the server does: exactly,
        or case-insensitively under lower_case_table_names 1 or 2; the catalog's spelling is kept for the
        lookups that follow."""
        found = connection.exec_driver_sql(
            "SELECT SCHEMA_NAME, @@lower_case_table_names FROM information_schema.SCHEMATA"
            " WHERE LOWER(SCHEMA_NAME) = LOWER(%s)",
            (self.schema,),
        ).all()
        for name, folding in found:
            self._folded_names = int(folding) != 0
            if name == self.schema or (self._folded_names and name.lower() == self.schema.lower()):
                self._catalog_schema = name
                return True
        return False

    def _in_table(self, schema: str, table: str) -> bool:
        if self._folded_names:
            return table.lower() == self.dataset.table and schema == self._catalog_schema
        return table == self.dataset.table and schema == self._catalog_schema

    def existing_columns(self, connection: Any) -> set[str] | None:
        """The table's column names (lower case: MySQL's are case-insensitive), or None if there is no table.
        Raises RenderError if one of the dataset's text columns cannot hold every character (not utf8mb4)."""
        found = connection.exec_driver_sql(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
            (self._catalog_schema, self.dataset.table),
        ).all()
        charsets = {name.lower(): charset for schema, table, name, charset in found if self._in_table(schema, table)}
        if not charsets:
            return None
        for column in self.dataset.columns:
            charset = charsets.get(column.name)
            if column.type in _TEXT_TYPES and charset is not None and charset != "utf8mb4":
                raise RenderError(
                    f"{self.schema}.{self.dataset.table}.{column.name} is in the character set {charset}, which"
                    " cannot hold every character: exports need utf8mb4 (convert the column, or drop the table"
                    " for the next export to create it)"
                )
        return set(charsets)

    def unique_keys(self, connection: Any) -> list[frozenset[str]]:
        """The column sets of the table's unique indexes. A column indexed by a prefix only is named with its
        length, `name(10)`, an expression (MySQL 8) as `(expression)`: neither makes the key's values unique."""
        found = connection.exec_driver_sql(
            "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0",
            (self._catalog_schema, self.dataset.table),
        ).all()
        indexes: dict[str, set[str]] = defaultdict(set)
        for schema, table, index, column, part in found:
            if self._in_table(schema, table):
                name = "(expression)" if column is None else column.lower()
                indexes[index].add(name if part is None else f"{name}({part})")
        return [frozenset(columns) for columns in indexes.values()]

    def _table_collation(self, connection: Any) -> str:
        if self._collation is None:
            sql = "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (%s, %s, %s)"
            found = {name for (name,) in connection.exec_driver_sql(sql, _COLLATIONS)}
            self._collation = next((name for name in _COLLATIONS if name in found), _COLLATIONS[-1])
        return self._collation

    # Statements ------------------------------------------------------------------------------------------

    @staticmethod
    def column_type(column: Column, collation: str) -> str:
        if column.type == "varchar":
            return f"VARCHAR({column.length}) CHARACTER SET utf8mb4 COLLATE {collation}"
        if column.type == "text":
            return f"{_EXPORT_TYPES['text']} CHARACTER SET utf8mb4 COLLATE {collation}"
        return _EXPORT_TYPES[column.type]

    def create_table(self, connection: Any) -> str:
        """CREATE TABLE with the key as primary key (its columns NOT NULL), InnoDB, utf8mb4. Raises RenderError
        if the key cannot be a MySQL primary key (a text column, or more than InnoDB indexes)."""
        key = set(self.dataset.key)
        width = 0
        for column in self.dataset.columns:
            if column.name in key:
                if column.type == "text":
                    raise RenderError(
                        f"{self.dataset.name}: MySQL cannot make the text column {column.name} part of a primary"
                        " key (only a prefix of it); a varchar(n) can be"
                    )
                width += _KEY_TYPE_BYTES.get(column.type) or _CHARACTER_BYTES * (column.length or 0)
        if width > _KEY_BYTES:
            raise RenderError(
                f"{self.dataset.name}: the key ({', '.join(self.dataset.key)}) takes up to {width} bytes, more than"
                f" the {_KEY_BYTES} of an InnoDB index"
            )
        collation = self._table_collation(connection)
        definitions = ", ".join(
            f"{name} {self.column_type(column, collation)}{' NOT NULL' if column.name in key else ''}"
            for name, column in zip(self._names, self.dataset.columns, strict=True)
        )
        primary_key = ", ".join(self.dialect.quote_identifier(name) for name in self.dataset.key)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ({definitions}, PRIMARY KEY ({primary_key}))"
            f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
        )

    def add_column(self, connection: Any, column: Column) -> str:
        """ALTER TABLE ... ADD COLUMN, nullable and without a default: the rows already there get NULL (MySQL
        8.0.12+ and MariaDB 10.3+ add it in place). MySQL has no ADD COLUMN IF NOT EXISTS: the catalog said
        the column is missing."""
        name = self.dialect.quote_identifier(column.name)
        return (
            f"ALTER TABLE {self.table} ADD COLUMN {name} {self.column_type(column, self._table_collation(connection))}"
        )

    # Rows ------------------------------------------------------------------------------------------------

    def encode(self, rows: Sequence[Sequence[Any]]) -> MySQLRows | None:
        """The rows as driver values, one row per key: the last one of a key wins (as on PostgreSQL), so that a
        statement never meets its own rows. None for no rows. Raises RenderError naming the row and column of a
        value MySQL cannot hold in its column."""
        columns = self.dataset.columns
        name = self.dataset.name
        lengths = list(map(len, rows))
        if lengths.count(len(columns)) != len(rows):
            index = next(index for index, length in enumerate(lengths) if length != len(columns))
            raise RenderError(f"{name} rows[{index}]: {lengths[index]} values for the {len(columns)} columns")
        if not rows:
            return None
        # Column by column, so that the loops over values run in C (map, zip), the converters alone in Python.
        values: list[list[Any]] = []
        for column, convert, column_values in zip(columns, self._converters, zip(*rows, strict=True), strict=True):
            try:
                values.append(list(map(convert, column_values)))
            except _VALUE_ERRORS:
                raise self._value_error(column, convert, column_values) from None
        positions = {column.name: index for index, column in enumerate(columns)}
        key_values = [values[positions[key]] for key in self.dataset.key]
        for key, found in zip(self.dataset.key, key_values, strict=True):
            if None in found:
                raise RenderError(f"{name} rows[{found.index(None)}]: the key column {key} is NULL")
        widest = 0
        for column, texts in zip(columns, values, strict=True):
            if column.type in _TEXT_TYPES:
                # Looked for once in the whole column; only when there is one, in each value to name it.
                if self.dialect.first_forbidden("".join(filter(None, texts))) >= 0:
                    raise self._forbidden_error(column, texts)
                widest += max(map(len, filter(None, texts)), default=0)
        encoded = list(zip(*values, strict=True))
        keys: Sequence[object] = key_values[0] if len(key_values) == 1 else list(zip(*key_values, strict=True))
        last = dict(zip(keys, range(len(encoded)), strict=True))
        kept = list(last.values()) if len(last) < len(encoded) else None
        if kept is not None:
            encoded = [encoded[index] for index in kept]
        return MySQLRows(encoded, _VALUE_BYTES * len(columns) + _CHARACTER_BYTES * widest, kept)

    def _value_error(self, column: Column, convert: Callable[[Any], Any], values: Sequence[Any]) -> RenderError:
        for index, value in enumerate(values):
            try:
                convert(value)
            except _VALUE_ERRORS as exc:
                return RenderError(f"{self.dataset.name} rows[{index}], column {column.name}: {exc}")
        raise AssertionError("a value failed once, then passed")

    def _forbidden_error(self, column: Column, texts: Sequence[str | None]) -> RenderError:
        for index, text in enumerate(texts):
            found = -1 if text is None else self.dialect.first_forbidden(text)
            if text is not None and found >= 0:
                return RenderError(
                    f"{self.dataset.name} rows[{index}], column {column.name}: MySQL cannot store the character"
                    f" U+{ord(text[found]):04X} in text; the value is refused, not altered"
                )
        raise AssertionError("a forbidden character in the column, and in no value")

    def write(self, connection: Any, batch: MySQLRows) -> int:
        """Upsert the rows in multi-row INSERT ... ON DUPLICATE KEY UPDATE statements on a SQLAlchemy connection
        (in its transaction). Returns how many rows were inserted or changed: a row whose values are all the
        same is not written (InnoDB leaves it untouched) and not counted.

        The count comes from what the server says of each statement: its affected rows (1 per insert, 2 per
        change, and 1 per unchanged row with CLIENT_FOUND_ROWS, which SQLAlchemy always sets, 0 without) less
        its duplicates ("Records: 3  Duplicates: 1  Warnings: 0": the changed rows, plus the unchanged ones
        with CLIENT_FOUND_ROWS). Either way, inserted + changed."""
        client, charset, packet = connection.exec_driver_sql(_SESSION).one()
        for setting, value in (("character_set_client", client), ("character_set_connection", charset)):
            if value != "utf8mb4":
                raise RenderError(
                    f"the connection's {setting} is {value}, which cannot carry every character: exports need"
                    " utf8mb4 (PyMySQL's default: remove charset= from the connector's URL, or make it utf8mb4)"
                )
        limit = min(int(packet), _STATEMENT_BYTES) - len(self._insert) - len(self._on_duplicate)
        rows = batch.rows
        if batch.widest * _STATEMENT_ROWS <= limit:
            chunks = [
                (start, min(start + _STATEMENT_ROWS, len(rows))) for start in range(0, len(rows), _STATEMENT_ROWS)
            ]
        else:  # long texts: each row's own size decides
            chunks = _chunks([self._row_size(row) for row in rows], limit)
        changed = 0
        for start, end in chunks:
            chunk = rows[start:end]
            if len(chunk) == 1:
                # The server sends its counts for a multi-row INSERT only: the row twice, the second time a
                # duplicate of the first with the same values, so unchanged (1 affected and 1 duplicate with
                # CLIENT_FOUND_ROWS, 0 and 0 without), and the count is the row's alone.
                chunk = chunk * 2
            sql = self._insert + ",".join([self._row] * len(chunk)) + self._on_duplicate
            result = connection.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
            records, duplicates, warnings = _insert_info(result)
            if records != len(chunk):
                raise RenderError(f"the server counted {records} rows of an INSERT of {len(chunk)}: nothing is written")
            if warnings:
                self._check_warnings(connection, batch, start, end)
            changed += int(result.rowcount) - duplicates
        return changed

    def _row_size(self, row: tuple[Any, ...]) -> int:
        characters = sum(len(value) for value in row if type(value) is str)
        return _VALUE_BYTES * len(row) + _CHARACTER_BYTES * characters

    def _check_warnings(self, connection: Any, batch: MySQLRows, start: int, end: int) -> None:
        """Without STRICT_TRANS_TABLES in the sql_mode the server stores a value it cannot hold as another (cut,
        clamped, zeroed) and warns: the batch is refused instead, its transaction rolled back. Values are checked
        before; only a table narrower than the dataset (the user's own) can come to this."""
        for _level, code, message in connection.exec_driver_sql("SHOW WARNINGS").all():
            if int(code) not in _HARMLESS_WARNINGS:
                row = re.search(r"at row (\d+)", str(message))
                where = ""
                if row:  # the statement's row, counted from 1
                    index = start + min(int(row.group(1)), end - start) - 1
                    where = f" rows[{index if batch.positions is None else batch.positions[index]}]"
                raise RenderError(
                    f"{self.dataset.name}{where}: MySQL changed a value rather than refuse it ({code}: {message});"
                    " nothing is written (the session's sql_mode has no STRICT_TRANS_TABLES)"
                )


def _chunks(sizes: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """(start, end) of the rows of each statement: at most _STATEMENT_ROWS, and at most `limit` bytes unless a
    row alone is larger (the server refuses it then, beyond max_allowed_packet)."""
    chunks: list[tuple[int, int]] = []
    start = total = 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= _STATEMENT_ROWS or total + size > limit):
            chunks.append((start, index))
            start, total = index, 0
        total += size
    chunks.append((start, len(sizes)))
    return chunks


_INFO_NUMBERS = re.compile(rb"(\d+)\D+(\d+)\D+(\d+)\D*\Z")


def _insert_info(result: Any) -> tuple[int, int, int]:
    """(records, duplicates, warnings) of a multi-row INSERT, from the info text of the server's OK packet
    ("Records: 3  Duplicates: 1  Warnings: 0", in the server's lc_messages language: the numbers are read in
    their order, from the end, past the length byte MariaDB puts first). PyMySQL keeps it on the cursor's
    result only (as `message`); it has no public accessor, as mysqlclient has (`info()`)."""
    message = getattr(getattr(result.context.cursor, "_result", None), "message", None)
    found = _INFO_NUMBERS.search(message) if isinstance(message, bytes) else None
    if found is None:  # refused, and rolled back, rather than counted wrong
        raise RenderError(f"the driver gave no row counts for the INSERT ({message!r}): nothing is written")
    records, duplicates, warnings = map(int, found.groups())
    return records, duplicates, warnings


def _converter(column: Column) -> Callable[[Any], Any]:
    """The function turning a column's value into the driver's value for MySQL (RenderError if it cannot).

    Timestamps and numbers are given as their text, '2024-03-01 09:30:15.000250' and '0.1000000000', which the
    server reads exactly into DATETIME and DECIMAL: PyMySQL escapes a str several times faster than it formats
    a datetime or a Decimal. One value has one text, so that keys are told apart as the server does."""
    if column.type in EXPORT_INTEGER_RANGES:
        return _integer_value(column.type)
    if column.type == "numeric":
        return _numeric_value
    if column.type == "timestamp":
        return _timestamp_value
    if column.type == "json":
        return _json_value
    if column.length is not None:
        return _varchar_value(column.length)
    return _text_value


def _integer_value(column_type: str) -> Callable[[Any], int | None]:
    name = _EXPORT_TYPES[column_type]

    def value(given: Any) -> int | None:
        return None if given is None else export_integer(given, column_type, name)

    return value


def _numeric_value(given: Any) -> str | None:
    if given is None:
        return None
    kind = type(given)
    number: Decimal
    if kind is Decimal:
        number = given
    elif kind is float:
        if not math.isfinite(given):
            raise RenderError(f"{given} is not a number the export stores")
        number = Decimal(repr(given))  # the shortest decimal reading back as the float: 0.1, not 0.1000000000000000055
    elif kind is int:
        number = Decimal(given)
    elif isinstance(given, bool) or not isinstance(given, int | float | Decimal):
        raise RenderError(f"numeric expects an int, float or Decimal, not {type(given).__name__}")
    else:
        return _numeric_value(float(given) if isinstance(given, float) else Decimal(given))
    if not number.is_finite():  # not math.isfinite: a Decimal past float's range is finite all the same
        raise RenderError(f"{given} is not a number the export stores")
    if number and number.adjusted() >= _NUMERIC_INTEGER_DIGITS:
        raise RenderError(f"{given} is out of range for {_NUMERIC_TYPE}")
    rounded = number.quantize(_NUMERIC_QUANTUM, context=_NUMERIC_CONTEXT)
    if rounded and rounded.adjusted() >= _NUMERIC_INTEGER_DIGITS:  # 99...9.99999999999 rounds up to 10**28
        raise RenderError(f"{given} is out of range for {_NUMERIC_TYPE}")
    return format(rounded, "f")


def _timestamp_value(given: Any) -> str | None:
    return None if given is None else utc_timestamp_text(given)


def _dumps(value: Any, sort_keys: bool) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=sort_keys)


def _json_value(given: Any) -> str | None:
    if given is None:
        return None  # SQL NULL; JSON's null is the json column's value "null"
    try:
        try:
            return _dumps(given, sort_keys=True)
        except TypeError:
            # Keys of several types (1 and "a") cannot be sorted until they are JSON's strings.
            return _dumps(json.loads(_dumps(given, sort_keys=False)), sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise RenderError(f"not JSON: {exc}") from None


def _text_value(given: Any) -> str | None:
    if type(given) is str or given is None:
        return given
    return export_text(given)


def _varchar_value(length: int) -> Callable[[Any], str | None]:
    def value(given: Any) -> str | None:
        # VARCHAR(n) counts characters, as len() does
        return None if given is None else export_text(given, length)

    return value
