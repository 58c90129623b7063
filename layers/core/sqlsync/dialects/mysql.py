"""MySQL and MariaDB: the lexing and escaping depend on the session's sql_mode.

Without NO_BACKSLASH_ESCAPES a backslash escapes inside every string literal, so it is doubled and
NUL, CR, LF and Ctrl-Z are written as escapes (as mysql_real_escape_string does). Without ANSI_QUOTES
a double-quoted text is a string literal, otherwise an identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions

# Server and client error codes that say nothing about the rows: cannot connect, gone away, lost
# connection, too many connections, lock wait timeout, deadlock, query interrupted, server shutdown.
_TRANSIENT_CODES = frozenset({1040, 1053, 1205, 1213, 1317, 2002, 2003, 2006, 2013, 2055})

# Syntax error, unknown table/column/database, access denied: no quoted value can cause these.
_STATEMENT_CODES = frozenset({1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146, 1149})

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
        return {"connect_timeout": max(1, round(options.connect_timeout))}

    def is_transient(self, error: BaseException) -> bool:
        code = _code(error)
        return code is None or code in _TRANSIENT_CODES

    def is_statement_error(self, error: BaseException) -> bool:
        return _code(error) in _STATEMENT_CODES

    def __repr__(self) -> str:
        return f"<MySQLDialect backslash_escapes={self.backslash_escapes} ansi_quotes={self.ansi_quotes}>"


def _code(error: BaseException) -> int | None:
    return error.args[0] if error.args and isinstance(error.args[0], int) else None
