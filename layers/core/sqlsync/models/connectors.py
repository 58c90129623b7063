"""Connectors: how to reach a user's database. Secrets (password, TLS private key) travel only in
requests; they are kept in Secrets Manager, and what is stored and returned carries none of them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints


def _ascii(text: str) -> str:
    """PEM is ASCII (RFC 7468); the ssl module refuses anything else with a TypeError, not a ValueError."""
    if not text.isascii():
        raise ValueError("a PEM is ASCII text")
    return text


Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Pem = Annotated[str, StringConstraints(min_length=1, max_length=65_536), AfterValidator(_ascii)]


class ConnectorType(StrEnum):
    MYSQL = "mysql"
    POSTGRESQL = "postgresql"
    MSSQL = "mssql"
    ORACLE = "oracle"
    CLICKHOUSE = "clickhouse"
    HIVE = "hive"
    SQLITE = "sqlite"


class ContactKey(StrEnum):
    """The column that identifies a contact in the user's tables (eSputnik's unique contact key)."""

    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL_ID = "external_id"
    CUSTOM = "custom"


class TlsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    verify: bool = Field(default=True, description="check the server's certificate and host name (verify-full)")
    ca_pem: Pem | None = Field(default=None, description="CA certificate to trust (PEM); default: the system's")
    cert_pem: Pem | None = Field(default=None, description="client certificate (PEM)")
    key_pem: SecretStr | None = Field(default=None, description="client private key (PEM); write-only")


class ConnectorBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str = Field(default="", max_length=2000)
    type: ConnectorType
    host: Annotated[str, StringConstraints(max_length=253, pattern=r"^[A-Za-z0-9._:\-\[\]]*$")] = ""
    port: int | None = Field(default=None, ge=1, le=65535, description="default: the database's usual port")
    database: Annotated[str, StringConstraints(max_length=1024)] = Field(
        default="", description="database name (a file path for sqlite)"
    )
    protocol: Literal["tcp", "unix"] = "tcp"
    socket_path: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="the server's unix socket, when protocol is unix"
    )
    username: Annotated[str, StringConstraints(max_length=256)] = ""
    connect_timeout: float = Field(default=10.0, gt=0, le=300, description="seconds")
    query_timeout: float | None = Field(default=None, gt=0, le=3600, description="seconds; none: no limit")
    options: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], str] = Field(
        default_factory=dict, max_length=50, description="additional DSN options, passed to the driver"
    )
    contact_key: ContactKey = ContactKey.EMAIL
    contact_key_field: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        default=None, description="the column, when contact_key is custom"
    )


class ConnectorIn(ConnectorBase):
    """POST /v1/connectors and PUT /v1/connectors/{id}. On update, an omitted password or key keeps the
    stored one; an empty password removes it."""

    password: SecretStr | None = Field(default=None, description="write-only; kept in Secrets Manager")
    tls: TlsIn = Field(default_factory=TlsIn)


class TlsStored(BaseModel):
    enabled: bool = False
    verify: bool = True
    ca_pem: str | None = None
    cert_pem: str | None = None
    has_key: bool = False


class Connector(ConnectorBase):
    """As stored in the config table: no secret in it, only where the secret is."""

    account_id: int = Field(ge=0, description="the account of the API key that created it")
    id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    version: int = Field(ge=1, description="increases on every update; engines are cached per version")
    tls: TlsStored = Field(default_factory=TlsStored)
    has_password: bool = False
    secret_id: str | None = Field(default=None, description="the Secrets Manager secret holding the secrets")
    created_at: datetime
    updated_at: datetime


class ConnectorOut(Connector):
    """What the API returns: the stored connector (no secret in it), whether secrets are set, warnings."""

    password: Literal["***"] | None = Field(default=None, description="'***' when a password is set")
    warnings: list[str] = Field(default_factory=list)


FailureKind = Literal["dns", "refused", "auth", "tls", "timeout", "driver", "other"]


class ValidationOut(BaseModel):
    ok: bool
    latency_ms: float | None = None
    server_version: str | None = None
    error: str | None = None
    error_kind: FailureKind | None = None
