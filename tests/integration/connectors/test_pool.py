"""The pool's checks on the real servers: no ping and no rollback around back-to-back transactions, a
ping (and a new connection) after an idle spell, a rollback only for a connection left in a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sqlsync.connectors import Target, TargetError, target_for
from sqlsync.dialects import pool


class _Spied:
    def __init__(self, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pings = self.rollbacks = 0
        dialect = target.engine.dialect
        ping, rollback = dialect.do_ping, dialect.do_rollback

        def counted_ping(dbapi_connection: Any) -> Any:
            self.pings += 1
            return ping(dbapi_connection)

        def counted_rollback(dbapi_connection: Any) -> Any:
            self.rollbacks += 1
            return rollback(dbapi_connection)

        monkeypatch.setattr(dialect, "do_ping", counted_ping)
        monkeypatch.setattr(dialect, "do_rollback", counted_rollback)


@pytest.fixture(params=["postgres_url", "mariadb_url"])
def url(request: pytest.FixtureRequest) -> str:
    database: str = request.getfixturevalue(request.param)
    target_for(database).execute(["DROP TABLE IF EXISTS pooled", "CREATE TABLE pooled (id INT PRIMARY KEY)"])
    return database


@pytest.fixture
def target(url: str) -> Iterator[Target]:
    """A Target of its own, its one pooled connection made (SQLAlchemy's first connect rolls back)."""
    made = Target(url)
    made.execute(["SELECT 1"])
    yield made
    made.dispose()


def _session_id(target: Target, url: str) -> int:
    query = "SELECT pg_backend_pid()" if url.startswith("postgresql") else "SELECT CONNECTION_ID()"
    with target.engine.connect() as connection:
        return int(connection.exec_driver_sql(query).scalar_one())


def _kill(url: str, session: int) -> None:
    statement = f"SELECT pg_terminate_backend({session})" if url.startswith("postgresql") else f"KILL {session}"
    target_for(url).execute([statement])


def _ids(url: str) -> list[int]:
    with target_for(url).engine.connect() as connection:
        return [row[0] for row in connection.exec_driver_sql("SELECT id FROM pooled ORDER BY id")]


def test_back_to_back_transactions_are_neither_pinged_nor_rolled_back(
    target: Target, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    spied = _Spied(target, monkeypatch)
    for number in range(3):
        target.execute([f"INSERT INTO pooled VALUES ({number})"])
    assert (spied.pings, spied.rollbacks) == (0, 0)
    assert _ids(url) == [0, 1, 2]


def test_an_idle_connection_is_pinged_and_replaced_when_the_server_dropped_it(
    target: Target, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    spied = _Spied(target, monkeypatch)
    _kill(url, _session_id(target, url))
    monkeypatch.setattr(pool, "IDLE_BEFORE_PING_SECONDS", 0.0)  # every connection counts as idle

    target.execute(["INSERT INTO pooled VALUES (1)"])

    assert spied.pings == 1 and _ids(url) == [1]


def test_without_the_idle_ping_a_dropped_connection_fails_the_transaction(
    target: Target, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # The ping is what saves the test above: within the idle allowance the dead connection is used as it is.
    _kill(url, _session_id(target, url))
    monkeypatch.setattr(pool, "IDLE_BEFORE_PING_SECONDS", 3600.0)
    with pytest.raises(TargetError) as raised:
        target.execute(["INSERT INTO pooled VALUES (1)"])
    assert raised.value.transient
    target.execute(["INSERT INTO pooled VALUES (2)"])  # the pool has let the dead connection go
    assert _ids(url) == [2]


def test_a_connection_returned_inside_a_transaction_is_rolled_back(
    target: Target, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    spied = _Spied(target, monkeypatch)
    raw = target.engine.raw_connection()
    raw.cursor().execute("INSERT INTO pooled VALUES (7)")
    raw.close()  # back to the pool with the INSERT uncommitted

    assert spied.rollbacks == 1
    target.execute(["INSERT INTO pooled VALUES (8)"])  # the same connection, clean: 7 is gone
    assert _ids(url) == [8]
