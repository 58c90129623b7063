"""MySQL and MariaDB: the lexing and escaping depend on the session's sql_mode.

Without NO_BACKSLASH_ESCAPES a backslash escapes inside every string literal, so it is doubled and
NUL, CR, LF and Ctrl-Z are written as escapes (as mysql_real_escape_string does). Without ANSI_QUOTES
a double-quoted text is a string literal, otherwise an identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions
from sqlsync.dialects.tls import ssl_context

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
