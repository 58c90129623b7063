"""How to reach a database, beside its URL: timeouts and TLS. A connector's settings become these; each
dialect turns them into its driver's connect arguments (`Dialect.connect_args`), and adapts the driver's
connect() where arguments alone cannot say it (`Dialect.driver_connect`, `DriverModule`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class TlsOptions:
    """TLS to the server. `verify`: check the server's certificate chain and host name (verify-full);
    `ca_pem`: the CA to trust instead of the system's; `cert_pem` + `key_pem`: a client certificate."""

    verify: bool = True
    ca_pem: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None


@dataclass(frozen=True)
class ConnectOptions:
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    # Seconds a statement may run before the server (or the driver) cancels it; None: no limit.
    query_timeout: float | None = None
    tls: TlsOptions | None = None


# A driver's connect() as a dialect adapts it: given the driver's module and the keyword arguments SQLAlchemy
# would pass (the URL's, DSN options included, then the dialect's connect_args), return a DBAPI connection.
DriverConnect = Callable[[Any, dict[str, Any]], Any]


class DriverModule:
    """A driver's DBAPI module with connect() replaced, for `create_engine(module=...)`: SQLAlchemy takes it in
    place of the module it would import and calls its connect(). Every other attribute (exceptions, constants,
    version) is the driver's own. The driver is imported on first use, by SQLAlchemy's dialect for `driver`
    (e.g. "mssql+pymssql"), so nothing is imported before an engine is made.

    Examples
    --------
    >>> module = DriverModule("sqlite", lambda dbapi, kwargs: ("connect", sorted(kwargs)))
    >>> module.connect(database=":memory:")
    ('connect', ['database'])
    >>> module.sqlite_version_info >= (3,)
    True
    """

    def __init__(self, driver: str, connect: DriverConnect) -> None:
        self._driver = driver
        self._connect = connect
        self._module: Any = None

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(f"{self._driver}: connect() takes keyword arguments only")
        return self._connect(self._dbapi(), kwargs)

    def _dbapi(self) -> Any:
        if self._module is None:
            from sqlalchemy.engine import make_url

            self._module = make_url(f"{self._driver}://").get_dialect().import_dbapi()
        return self._module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._dbapi(), name)

    def __repr__(self) -> str:
        return f"<DriverModule {self._driver}>"
