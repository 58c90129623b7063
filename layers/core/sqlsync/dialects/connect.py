"""How to reach a database, beside its URL: timeouts and TLS. A connector's settings become these; each
dialect turns them into its driver's connect arguments (`Dialect.connect_args`)."""

from __future__ import annotations

from dataclasses import dataclass

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
