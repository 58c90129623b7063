"""SQLite: the embedded default target. Standard SQL quoting; no boolean type."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions


class SQLiteDialect(Dialect):
    name = "sqlite"
    driver = "sqlite"
    version_query = "SELECT sqlite_version()"
    identifier_quotes: ClassVar = {'"': '"', "`": "`", "[": "]"}
    true_literal = "1"
    false_literal = "0"

    def __init__(self) -> None:
        super().__init__()
        # Python's sqlite3 refuses SQL text holding a NUL ("the query contains a null character").
        self._forbidden = re.compile("[\x00\ud800-\udfff]")

    def engine_options(self, options: ConnectOptions) -> dict[str, object]:
        # A local file: SQLAlchemy's default SQLite pool, no network to time out or go stale.
        return {}

    def configure_pool(self, engine: Any) -> None:
        return None  # SQLAlchemy's default reset; nothing to ping

    def is_transient(self, error: BaseException) -> bool:
        # sqlite3 reports both "no such table" and "database is locked" as OperationalError.
        message = str(error).lower()
        return "locked" in message or "busy" in message or "unable to open" in message

    def is_statement_error(self, error: BaseException) -> bool:
        message = str(error).lower()
        return message.startswith(("no such table", "no such column", "no such function")) or "syntax error" in message
