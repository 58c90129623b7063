"""PostgreSQL: standard_conforming_strings (on since 9.1) so backslashes are plain in '' literals,
E'' literals escape with backslashes, block comments nest, dollar quoting, no NUL in text."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions

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
        return {"timeout": options.connect_timeout}

    def is_transient(self, error: BaseException) -> bool:
        sqlstate = _sqlstate(error)
        if sqlstate:
            return sqlstate.startswith(_TRANSIENT_SQLSTATE_CLASSES)
        # No SQLSTATE: the driver failed before the server answered (refused, reset, timeout).
        return True

    def is_statement_error(self, error: BaseException) -> bool:
        return _sqlstate(error) in _STATEMENT_SQLSTATES

    def describe_error(self, error: BaseException) -> str:
        # pg8000 carries the server's error fields as a dict: M is the message, C the SQLSTATE.
        details = error.args[0] if error.args and isinstance(error.args[0], dict) else None
        if details is None:
            return super().describe_error(error)
        detail = f" ({details['D']})" if details.get("D") else ""
        return f"{details.get('M', 'error')}{detail} [SQLSTATE {details.get('C', '?')}]"

    def __repr__(self) -> str:
        return f"<PostgreSQLDialect backslash_escapes={self.backslash_escapes}>"


def _sqlstate(error: BaseException) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return str(details.get("C", ""))
