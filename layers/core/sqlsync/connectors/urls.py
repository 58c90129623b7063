"""A connector and its secrets -> the SQLAlchemy URL and connect options of its database."""

from __future__ import annotations

from sqlsync.connectors import Target
from sqlsync.dialects import dialect_for
from sqlsync.dialects.connect import ConnectOptions, TlsOptions
from sqlsync.models.connectors import Connector, ConnectorBase, ConnectorIn, ConnectorType, ContactKey

Secrets = dict[str, str]


class ConnectorError(ValueError):
    """A connector that cannot describe a connection; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConnectorInUseError(ConnectorError):
    """The connector cannot go: integrations write through it."""


def check_connector(connector: ConnectorIn) -> None:
    """What one field cannot say alone: raise ConnectorError naming the field."""
    sqlite = connector.type is ConnectorType.SQLITE
    if not sqlite and connector.protocol == "tcp" and not connector.host:
        raise ConnectorError("host", "required for a tcp connection")
    if connector.protocol == "unix" and not connector.socket_path:
        raise ConnectorError("socket_path", "required when protocol is unix")
    if sqlite and not connector.database:
        raise ConnectorError("database", "the file path is required for sqlite")
    if (connector.contact_key is ContactKey.CUSTOM) != (connector.contact_key_field is not None):
        raise ConnectorError("contact_key_field", "set exactly when contact_key is custom")
    if connector.tls.key_pem is not None and not connector.tls.cert_pem:
        raise ConnectorError("tls.cert_pem", "required with tls.key_pem")
    if connector.tls.enabled:
        # TLS the driver cannot honour is refused here, never dropped at connect.
        tls = TlsOptions(connector.tls.verify, connector.tls.ca_pem, connector.tls.cert_pem)
        refused = dialect_for(connector.type.value).unsupported_tls(tls)
        if refused is not None:
            raise ConnectorError(f"tls.{refused[0]}", refused[1])


def connection_url(connector: ConnectorBase, password: str | None) -> str:
    from sqlalchemy.engine import URL

    dialect = dialect_for(connector.type.value)
    query = dict(connector.options)
    if connector.protocol == "unix":
        if dialect.socket_option is None:
            raise ConnectorError("protocol", f"{connector.type.value} connections cannot use a unix socket")
        query[dialect.socket_option] = connector.socket_path or ""
    tcp = connector.protocol == "tcp" and connector.type.value != "sqlite"
    url = URL.create(
        dialect.driver,
        username=connector.username or None,
        password=password or None,
        host=connector.host or None if tcp else None,
        port=(connector.port or dialect.default_port) if tcp else None,
        database=connector.database or None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def connector_target(connector: Connector, secrets: Secrets) -> Target:
    """A new Target for the connector's database (its engine is made on first use)."""
    return Target(connection_url(connector, secrets.get("password")), connect_options(connector, secrets))


def connect_options(connector: Connector, secrets: Secrets) -> ConnectOptions:
    tls = None
    if connector.tls.enabled:
        tls = TlsOptions(
            verify=connector.tls.verify,
            ca_pem=connector.tls.ca_pem,
            cert_pem=connector.tls.cert_pem,
            key_pem=secrets.get("key_pem"),
        )
    return ConnectOptions(connector.connect_timeout, connector.query_timeout, tls)
