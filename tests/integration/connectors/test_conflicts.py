"""A transaction that loses a race on the real servers is told apart from a target that is down: the
worker runs it again at once instead of failing the whole batch for later."""

from __future__ import annotations

import pytest

from sqlsync.connectors import TargetError, target_for


@pytest.fixture(params=["postgres_url", "mariadb_url"])
def url(request: pytest.FixtureRequest) -> str:
    database: str = request.getfixturevalue(request.param)
    target_for(database).execute(["DROP TABLE IF EXISTS raced", "CREATE TABLE raced (id INT PRIMARY KEY, v INT)"])
    target_for(database).execute(["INSERT INTO raced VALUES (1, 0)"])
    return database


def test_a_lock_another_transaction_holds_is_a_conflict_not_an_outage(url: str) -> None:
    # GIVEN another session holding the row's lock
    holder = target_for(url).engine.connect()
    transaction = holder.begin()
    holder.exec_driver_sql("UPDATE raced SET v = 1 WHERE id = 1")
    try:
        # WHEN our transaction needs the same row and gives up waiting for it
        give_up = (
            ["SET LOCAL lock_timeout = '200ms'"]
            if url.startswith("postgresql")
            else ["SET SESSION innodb_lock_wait_timeout = 1"]
        )
        with pytest.raises(TargetError) as raised:
            target_for(url).execute([*give_up, "UPDATE raced SET v = 2 WHERE id = 1"])
    finally:
        transaction.rollback()
        holder.close()

    # THEN it is a conflict (run it again), transient, and not a statement error
    assert raised.value.conflict and raised.value.transient and not raised.value.statement_level

    # AND once the lock is gone the same transaction goes through
    target_for(url).execute([*give_up, "UPDATE raced SET v = 2 WHERE id = 1"])


def test_a_bad_statement_is_not_a_conflict(url: str) -> None:
    with pytest.raises(TargetError) as raised:
        target_for(url).execute(["UPDATE missing_table SET v = 1"])
    assert not raised.value.conflict and raised.value.statement_level
