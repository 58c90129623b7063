"""The real PostgreSQL and MariaDB of this machine: raw driver connections and scratch databases.

The admin URLs are the ones the tests read (SQLSYNC_TEST_POSTGRES, SQLSYNC_TEST_MARIADB), so one setting
serves both. Each benchmark run gets a database `sqlsync_bench_<random>`, dropped at the end, also when
the benchmark fails or is interrupted.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from bench.common import ServiceUnavailableError

TABLE_COLUMNS = "segId, clientId, updated"
MARIADB_TEMPLATE = (
    "INSERT INTO mysegment (segId, clientId, updated) VALUES "
    '{for $index, $lead = $batch}({segment_id}, "{$lead.CustomID}", NOW()){autocomma}{end} '
    "ON DUPLICATE KEY UPDATE updated = NOW()"
)
POSTGRESQL_TEMPLATE = (
    "INSERT INTO mysegment (segId, clientId, updated) VALUES "
    "{for $index, $lead = $batch}({segment_id}, '{$lead.CustomID}', NOW()){autocomma}{end} "
    "ON CONFLICT (segId, clientId) DO UPDATE SET updated = NOW()"
)


@dataclass(frozen=True)
class Server:
    """One database server: how to reach it raw and through SQLAlchemy, and its flavour of SQL."""

    name: str  # postgresql | mariadb
    admin_url: str

    @property
    def _parts(self) -> tuple[str, int, str, str]:
        parts = urlsplit(self.admin_url)
        default_port = 5432 if self.name == "postgresql" else 3306
        return (
            parts.hostname or "127.0.0.1",
            parts.port or default_port,
            unquote(parts.username or ("postgres" if self.name == "postgresql" else "root")),
            unquote(parts.password or ""),
        )

    def connect(self, database: str | None = None) -> Any:
        """A raw DB-API connection (pg8000 / pymysql), no SQLAlchemy; autocommit off."""
        host, port, user, password = self._parts
        try:
            if self.name == "postgresql":
                import pg8000.dbapi

                return pg8000.dbapi.connect(
                    user=user, password=password or None, host=host, port=port, database=database or "postgres"
                )
            import pymysql

            return pymysql.connect(
                host=host, port=port, user=user, password=password, database=database, charset="utf8mb4"
            )
        except Exception as exc:  # the drivers raise their own families for a refused connection
            raise ServiceUnavailableError(f"{self.name} at {host}:{port} is not reachable: {exc}") from exc

    def sqlalchemy_url(self, database: str) -> str:
        host, port, user, password = self._parts
        driver = "postgresql+pg8000" if self.name == "postgresql" else "mysql+pymysql"
        auth = f"{user}:{password}" if password else user
        return f"{driver}://{auth}@{host}:{port}/{database}"

    def create_table_sql(self, table: str) -> str:
        stamp = "timestamp" if self.name == "postgresql" else "DATETIME"
        return (
            f"CREATE TABLE {table} (segId integer NOT NULL, clientId varchar(64) NOT NULL, "
            f"updated {stamp} NOT NULL, PRIMARY KEY (segId, clientId))"
        )

    def upsert_tail(self) -> str:
        if self.name == "postgresql":
            return " ON CONFLICT (segId, clientId) DO UPDATE SET updated = NOW()"
        return " ON DUPLICATE KEY UPDATE updated = NOW()"

    def vendor_template(self) -> str:
        """The vendor's multi-row INSERT as users write it (MariaDB verbatim, PostgreSQL's quoting)."""
        return POSTGRESQL_TEMPLATE if self.name == "postgresql" else MARIADB_TEMPLATE

    def raw_insert_sql(self, table: str, rows: int) -> str:
        """The same statement shape with the driver's placeholders: one multi-row VALUES, not executemany."""
        values = ", ".join(["(%s, %s, NOW())"] * rows)
        return f"INSERT INTO {table} ({TABLE_COLUMNS}) VALUES {values}" + self.upsert_tail()


def servers() -> list[Server]:
    return [
        Server(
            "postgresql",
            os.environ.get("SQLSYNC_TEST_POSTGRES", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres"),
        ),
        Server("mariadb", os.environ.get("SQLSYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")),
    ]


def _admin(server: Server, sql: str) -> None:
    connection = server.connect()
    try:
        if server.name == "postgresql":
            connection.autocommit = True  # CREATE / DROP DATABASE cannot run in a transaction
        else:
            connection.autocommit(True)
        cursor = connection.cursor()
        cursor.execute(sql)
    finally:
        connection.close()


@contextmanager
def scratch_database(server: Server) -> Iterator[str]:
    """Create `sqlsync_bench_<random>` on the server; yield its name; drop it whatever happens."""
    name = f"sqlsync_bench_{secrets.token_hex(5)}"
    if server.name == "postgresql":
        create, drop = f"CREATE DATABASE {name}", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    else:
        create = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        drop = f"DROP DATABASE IF EXISTS {name}"
    _admin(server, create)
    try:
        yield name
    finally:
        from sqlsync.connectors import target_for

        target_for(server.sqlalchemy_url(name)).dispose()
        _admin(server, drop)


def execute(server: Server, database: str, *statements: str) -> None:
    """Run statements in one transaction on a raw connection."""
    connection = server.connect(database)
    try:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()


def count_rows(server: Server, database: str, table: str) -> int:
    connection = server.connect(database)
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        (count,) = cursor.fetchone()
        return int(count)
    finally:
        connection.close()
