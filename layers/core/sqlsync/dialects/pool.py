"""How a target's connection pool checks and resets its connections, in fewer round trips.

SQLAlchemy's `pool_pre_ping` pings at every checkout and its reset-on-return rolls back at every
checkin: two round trips around every transaction, which for the sync worker's chunks (one statement
and a COMMIT) doubles the conversation with the database. Here a connection is pinged at checkout only
after an idle spell (a Lambda frozen between invocations, a server's idle timeout), and rolled back at
checkin only when the driver says a transaction is open or cannot say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

IDLE_BEFORE_PING_SECONDS = 1.0
"""A connection back in the pool for less than this is used as it is: the next chunk of the same batch."""

_RETURNED_AT = "sqlsync_returned_at"

InTransaction = Callable[[Any], "bool | None"]


def configure(engine: Any, in_transaction: InTransaction) -> None:
    """Install the checks on an engine made with `pool_pre_ping=False, pool_reset_on_return=None`."""
    from sqlalchemy import event, exc

    dialect = engine.dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)  # `info` starts empty with each new DBAPI connection
        if returned_at is None or time.monotonic() - returned_at < IDLE_BEFORE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: the pool drops this connection and connects again
            raise exc.DisconnectionError(f"the pooled connection is gone: {error}") from error

    def reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        # transaction_was_reset: SQLAlchemy's Connection rolled back itself (the default reset skips it too).
        if state.transaction_was_reset or in_transaction(dbapi_connection) is False:
            return
        dialect.do_rollback(dbapi_connection)

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "reset", reset)
