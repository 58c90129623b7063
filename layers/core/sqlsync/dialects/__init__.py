"""One module per database; `dialect_for` picks one by name (the SQLAlchemy URL's backend).

A dialect's module is imported when it is first asked for: a worker uses one or two of them, and each
costs import time at every cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sqlsync.dialects.base import Dialect

if TYPE_CHECKING:
    from sqlsync.dialects.clickhouse import ClickHouseDialect
    from sqlsync.dialects.hive import HiveDialect
    from sqlsync.dialects.mssql import MSSQLDialect
    from sqlsync.dialects.mysql import MySQLDialect
    from sqlsync.dialects.oracle import OracleDialect
    from sqlsync.dialects.postgresql import PostgreSQLDialect
    from sqlsync.dialects.sqlite import SQLiteDialect

_CLASSES: dict[str, tuple[str, str]] = {
    "SQLiteDialect": ("sqlite", "SQLiteDialect"),
    "PostgreSQLDialect": ("postgresql", "PostgreSQLDialect"),
    "MySQLDialect": ("mysql", "MySQLDialect"),
    "MSSQLDialect": ("mssql", "MSSQLDialect"),
    "OracleDialect": ("oracle", "OracleDialect"),
    "ClickHouseDialect": ("clickhouse", "ClickHouseDialect"),
    "HiveDialect": ("hive", "HiveDialect"),
}
_BY_NAME: dict[str, str] = {
    "sqlite": "SQLiteDialect",
    "postgresql": "PostgreSQLDialect",
    "mysql": "MySQLDialect",
    "mariadb": "MySQLDialect",
    "mssql": "MSSQLDialect",
    "oracle": "OracleDialect",
    "clickhouse": "ClickHouseDialect",
    # clickhouse-connect's SQLAlchemy backend
    "clickhousedb": "ClickHouseDialect",
    "hive": "HiveDialect",
}


class UnsupportedDialectError(ValueError):
    pass


def dialect_class(class_name: str) -> type[Dialect]:
    module, name = _CLASSES[class_name]
    found: type[Dialect] = getattr(import_module(f"sqlsync.dialects.{module}"), name)
    return found


def dialect_for(name: str) -> Dialect:
    """A dialect with the database's default settings (a connector may refine them at connect)."""
    try:
        class_name = _BY_NAME[name]
    except KeyError:
        supported = ", ".join(sorted(_BY_NAME))
        raise UnsupportedDialectError(f"unsupported database '{name}'; supported: {supported}") from None
    return dialect_class(class_name)()


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return dialect_class(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClickHouseDialect",
    "Dialect",
    "HiveDialect",
    "MSSQLDialect",
    "MySQLDialect",
    "OracleDialect",
    "PostgreSQLDialect",
    "SQLiteDialect",
    "UnsupportedDialectError",
    "dialect_for",
]
