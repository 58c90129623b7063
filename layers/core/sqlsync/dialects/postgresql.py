"""PostgreSQL: standard_conforming_strings (on since 9.1) so backslashes are plain in '' literals,
E'' literals escape with backslashes, block comments nest, dollar quoting, no NUL in text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions
from sqlsync.dialects.tls import ssl_context

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
