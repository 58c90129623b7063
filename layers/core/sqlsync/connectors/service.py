"""What the configuration API does with connectors: checked when saved, secrets to the secret store,
every update a new version (engines are cached per version), validation by connecting."""

from __future__ import annotations

import secrets as random
import socket
import ssl
import time
from datetime import UTC, datetime

from sqlsync.connectors import Target, TargetError, check_driver
from sqlsync.connectors.urls import (
    ConnectorError,
    ConnectorInUseError,
    Secrets,
    check_connector,
    connection_url,
    connector_target,
)
from sqlsync.dialects.connect import TlsOptions
from sqlsync.dialects.tls import ssl_context
from sqlsync.models.connectors import Connector, ConnectorIn, ConnectorOut, FailureKind, TlsStored, ValidationOut
from sqlsync.store.base import ConfigStore
from sqlsync.store.secrets import SecretStore

NO_TLS_WARNING = "TLS is off: the password and the data cross the network unencrypted"
NO_VERIFY_WARNING = "TLS does not verify the server's certificate: a man in the middle would go unnoticed"


class ConnectorService:
    def __init__(self, config: ConfigStore, secret_store: SecretStore) -> None:
        self.config = config
        self.secret_store = secret_store

    def create(self, account_id: int, data: ConnectorIn, now: datetime | None = None) -> Connector:
        at = now or datetime.now(UTC)
        connector_id = random.token_hex(8)
        return self._save(account_id, connector_id, 1, data, {}, None, at, at)

    def update(
        self, account_id: int, connector_id: str, data: ConnectorIn, now: datetime | None = None
    ) -> Connector | None:
        current = self.get(account_id, connector_id)
        if current is None:
            return None
        stored = self.secret_store.get(current.secret_id) if current.secret_id else {}
        at = now or datetime.now(UTC)
        version = current.version + 1
        return self._save(account_id, connector_id, version, data, stored, current.secret_id, current.created_at, at)

    def get(self, account_id: int, connector_id: str) -> Connector | None:
        """The connector, if it belongs to the account: another account's is as good as missing."""
        connector = self.config.get_connector(connector_id)
        return connector if connector is not None and connector.account_id == account_id else None

    def list(self, account_id: int) -> list[Connector]:
        return self.config.list_connectors(account_id)

    def delete(self, account_id: int, connector_id: str) -> bool:
        connector = self.get(account_id, connector_id)
        if connector is None:
            return False
        users = [
            f"integration {i.id}"
            for i in self.config.list_integrations(connector.account_id)
            if i.connector_id == connector_id
        ]
        users += [
            f"export {e.id}" for e in self.config.list_exports(connector.account_id) if e.connector_id == connector_id
        ]
        if users:
            raise ConnectorInUseError("id", f"{', '.join(sorted(users))} use it; delete or move them first")
        self.config.delete_connector(connector_id)
        if connector.secret_id:
            self.secret_store.delete(connector.secret_id)
        return True

    def secrets_of(self, connector: Connector) -> Secrets:
        return self.secret_store.get(connector.secret_id) if connector.secret_id else {}

    def target(self, connector: Connector) -> Target:
        """A new Target for the connector (validation; the worker caches its own per version)."""
        return connector_target(connector, self.secrets_of(connector))

    def validate(self, connector: Connector) -> ValidationOut:
        """Connect, run the dialect's version query, and time it; or say precisely what failed."""
        target = self.target(connector)
        started = time.perf_counter()
        try:
            version = target.server_version()
        except TargetError as exc:
            socket_error = next((cause for cause in _causes(exc) if isinstance(cause, OSError)), None)
            detail = f" ({type(socket_error).__name__}: {socket_error})" if socket_error else ""
            return ValidationOut(ok=False, error=f"{exc}{detail}", error_kind=failure_kind(exc))
        except Exception as exc:  # a driver refusing its arguments: report it, never a 500
            return ValidationOut(ok=False, error=f"{type(exc).__name__}: {exc}", error_kind="other")
        finally:
            target.dispose()
        return ValidationOut(
            ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 1), server_version=version
        )

    def _save(
        self,
        account_id: int,
        connector_id: str,
        version: int,
        data: ConnectorIn,
        stored: Secrets,
        secret_id: str | None,
        created_at: datetime,
        updated_at: datetime,
    ) -> Connector:
        check_connector(data)
        merged = dict(stored)
        if data.password is not None:
            merged["password"] = data.password.get_secret_value()
        if data.tls.key_pem is not None:
            merged["key_pem"] = data.tls.key_pem.get_secret_value()
        if not data.tls.cert_pem:
            merged.pop("key_pem", None)
        merged = {key: value for key, value in merged.items() if value}
        if data.tls.cert_pem and "key_pem" not in merged:
            raise ConnectorError("tls.key_pem", "required with tls.cert_pem")
        if data.tls.enabled:
            check_pems(data, merged.get("key_pem"))
        url = connection_url(data, merged.get("password"))
        try:
            check_driver(url)
        except TargetError as exc:
            raise ConnectorError("type", str(exc)) from None
        if merged:
            secret_id = self.secret_store.put(f"sqlsync/{account_id}/connector/{connector_id}", merged)
        elif secret_id:
            self.secret_store.delete(secret_id)
            secret_id = None
        fields = data.model_dump(exclude={"password", "tls"})
        tls = TlsStored(**data.tls.model_dump(exclude={"key_pem"}), has_key="key_pem" in merged)
        connector = Connector(
            **fields,
            account_id=account_id,
            id=connector_id,
            version=version,
            tls=tls,
            has_password="password" in merged,
            secret_id=secret_id,
            created_at=created_at,
            updated_at=updated_at,
        )
        self.config.put_connector(connector)
        return connector


def check_pems(data: ConnectorIn, key_pem: str | None) -> None:
    """Load the TLS material as a connection would, so that a bad PEM fails the save, naming its field."""
    tls = TlsOptions(data.tls.verify, data.tls.ca_pem, data.tls.cert_pem, key_pem)
    try:
        ssl_context(tls)
    except ValueError as exc:
        message = str(exc)
        field = next((name for name in ("ca_pem", "cert_pem", "key_pem") if message.startswith(name)), "key_pem")
        raise ConnectorError(f"tls.{field}", message) from None


def public_view(connector: Connector) -> ConnectorOut:
    warnings = []
    if connector.type.value != "sqlite" and connector.protocol == "tcp":
        if not connector.tls.enabled:
            warnings.append(NO_TLS_WARNING)
        elif not connector.tls.verify:
            warnings.append(NO_VERIFY_WARNING)
    return ConnectorOut(**connector.model_dump(), password="***" if connector.has_password else None, warnings=warnings)


def failure_kind(error: BaseException) -> FailureKind:
    """What kind of failure a connection error is, for a user to act on: the socket-level cause when the
    driver kept one (pg8000's message says "timeout" even when the port refused), else its words."""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLError):
            return "tls"
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, TimeoutError):
            return "timeout"
    text = str(error).lower()
    kinds: list[tuple[FailureKind, tuple[str, ...]]] = [
        ("driver", ("driver for",)),
        ("tls", ("ssl", "tls", "certificate")),
        ("dns", ("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution")),
        ("refused", ("connection refused", "errno 111")),
        # MSSQL 18456 "Login failed", Oracle ORA-01017 "... logon denied", HiveServer2 "Error validating the login"
        ("auth", ("password", "authentication", "access denied", "28p01", "1045", "login failed", "logon denied")),
        ("auth", ("ora-01017", "validating the login")),
        ("timeout", ("timed out", "timeout")),
    ]
    for kind, needles in kinds:
        if any(needle in text for needle in needles):
            return kind
    return "other"


def _causes(error: BaseException) -> list[BaseException]:
    """The error, what caused it, and the DBAPI error SQLAlchemy wrapped, transitively."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return seen
