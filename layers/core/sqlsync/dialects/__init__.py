"""One module per database; `dialect_for` picks one by name (the SQLAlchemy URL's backend)."""

from __future__ import annotations

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.clickhouse import ClickHouseDialect
from sqlsync.dialects.hive import HiveDialect
from sqlsync.dialects.mssql import MSSQLDialect
from sqlsync.dialects.mysql import MySQLDialect
from sqlsync.dialects.oracle import OracleDialect
from sqlsync.dialects.postgresql import PostgreSQLDialect
from sqlsync.dialects.sqlite import SQLiteDialect

_BY_NAME: dict[str, type[Dialect]] = {
    "sqlite": SQLiteDialect,
    "postgresql": PostgreSQLDialect,
    "mysql": MySQLDialect,
    "mariadb": MySQLDialect,
    "mssql": MSSQLDialect,
    "oracle": OracleDialect,
    "clickhouse": ClickHouseDialect,
    # clickhouse-connect's SQLAlchemy backend
    "clickhousedb": ClickHouseDialect,
    "hive": HiveDialect,
}


class UnsupportedDialectError(ValueError):
    pass


def dialect_for(name: str) -> Dialect:
    """A dialect with the database's default settings (a connector may refine them at connect)."""
    try:
        return _BY_NAME[name]()
    except KeyError:
        supported = ", ".join(sorted(_BY_NAME))
        raise UnsupportedDialectError(f"unsupported database '{name}'; supported: {supported}") from None


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
