"""Target databases: a SQLAlchemy engine per URL, cached for the life of a warm Lambda, and the dialect
refined for the session's settings. Drivers are imported here only, when the first engine is made."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlsync.dialects import Dialect, dialect_for
from sqlsync.dialects.connect import ConnectOptions


class TargetError(Exception):
    """A statement or the connection failed. `transient`: the connection or server failed, retry later;
    `statement_level`: the statement itself is wrong (no row is to blame); otherwise a row is to blame."""

    def __init__(self, message: str, *, transient: bool, statement_level: bool = False, conflict: bool = False) -> None:
        super().__init__(message)
        self.transient = transient or conflict
        self.statement_level = statement_level
        self.conflict = conflict
        """The transaction lost a race (deadlock, serialization, lock wait): run it again now, the target is
        not down."""


@dataclass
class ExecutionResult:
    statements: int
    seconds: float


class Target:
    """One target database, reached through a SQLAlchemy URL."""

    def __init__(self, url: str, options: ConnectOptions | None = None) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.base_dialect = dialect_for(self.url.get_backend_name())
        self.options = options or ConnectOptions()
        self._engine: object | None = None
        self._dialect: Dialect | None = None
        self._lock = threading.Lock()

    @property
    def engine(self):  # type: ignore[no-untyped-def]  # sqlalchemy.Engine, imported lazily
        if self._engine is None:
            from sqlalchemy import create_engine

            with self._lock:
                if self._engine is None:
                    engine = create_engine(self.url, **self.base_dialect.engine_options(self.options))
                    self.base_dialect.configure_pool(engine)
                    on_connect = self.base_dialect.on_connect(self.options)
                    if on_connect is not None:
                        from sqlalchemy import event

                        # Session settings (statement timeout) on every new connection of the pool.
                        event.listen(engine, "connect", lambda dbapi_connection, _record: on_connect(dbapi_connection))
                    self._engine = engine
        return self._engine

    @property
    def dialect(self) -> Dialect:
        """The dialect refined by the session's settings (MySQL's sql_mode...), read on first use."""
        if self._dialect is None:
            with self.connection() as connection:
                self._dialect = self.base_dialect.refine(lambda sql: connection.exec_driver_sql(sql).scalar())
        return self._dialect

    def server_version(self) -> str:
        """Connect and ask the server's version (validation)."""
        with self.connection() as connection:
            return str(connection.exec_driver_sql(self.base_dialect.version_query).scalar())

    def execute(self, statements: Sequence[str]) -> ExecutionResult:
        """Run the statements in one transaction: all commit or none."""
        started = time.perf_counter()
        with self.connection() as connection, connection.begin():
            raw = connection.execution_options(no_parameters=True)
            for statement in statements:
                raw.exec_driver_sql(statement)
        return ExecutionResult(len(statements), time.perf_counter() - started)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled connection (sqlalchemy.Connection), errors translated to TargetError.

        A bare socket error from the driver (pg8000 raises some unwrapped) is no disconnect to SQLAlchemy:
        the connection is invalidated here, else it would go back to the pool as if sound, and be used
        again unchecked within the pool's idle allowance (dialects/pool.py)."""
        with self._guard(), self.engine.connect() as connection:
            try:
                yield connection
            except OSError:
                connection.invalidate()
                raise

    def _guard(self) -> _TranslateErrors:
        return _TranslateErrors(self.base_dialect)

    def dispose(self) -> None:
        if self._engine is not None:
            self.engine.dispose()


class _TranslateErrors:
    """Turns SQLAlchemy's errors into TargetError, asking the dialect whether the rows are to blame."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, OSError):
            # pg8000 lets socket timeouts and TLS failures (ssl.SSLError) escape as bare OSErrors, which
            # SQLAlchemy does not wrap: the connection failed, no row is to blame.
            raise TargetError(self.dialect.describe_error(exc), transient=True) from exc
        if exc is None or not isinstance(exc, sa_exc.SQLAlchemyError):
            return
        statement_level = conflict = False
        if isinstance(exc, sa_exc.DBAPIError):
            cause: BaseException = exc.orig if exc.orig is not None else exc
            conflict = not exc.connection_invalidated and self.dialect.is_conflict(cause)
            transient = exc.connection_invalidated or self.dialect.is_transient(cause)
            statement_level = not transient and self.dialect.is_statement_error(cause)
            message = self.dialect.describe_error(cause)
        else:
            transient = isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError)
            message = str(exc)
        raise TargetError(
            message.strip()[:2000], transient=transient, statement_level=statement_level, conflict=conflict
        ) from exc


def check_driver(url: str) -> None:
    """Raise TargetError unless this deployment can load the URL's SQLAlchemy dialect and DBAPI driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    parsed = make_url(url)
    try:
        parsed.get_dialect().import_dbapi()
    except (ImportError, NoSuchModuleError) as exc:
        raise TargetError(
            f"the driver for {parsed.drivername} is not installed in this deployment ({exc})", transient=False
        ) from None


_targets: dict[str, Target] = {}
_targets_lock = threading.Lock()


def target_for(url: str) -> Target:
    """The cached Target of a URL: one engine (and pool) per URL per warm Lambda."""
    target = _targets.get(url)
    if target is None:
        with _targets_lock:
            target = _targets.setdefault(url, Target(url))
    return target


__all__ = ["ExecutionResult", "Target", "TargetError", "check_driver", "target_for"]
