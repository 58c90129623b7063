"""Connectors: saved with their secrets elsewhere, versioned on update, validated by connecting."""

from __future__ import annotations

from typing import Any

import pytest

from integration.connectors.pki import CertificateAuthority
from sqlsync.connectors.service import NO_TLS_WARNING, ConnectorService, public_view
from sqlsync.connectors.urls import ConnectorError, connect_options, connection_url
from sqlsync.models.connectors import ConnectorIn
from sqlsync.store.memory import InMemoryConfigStore
from sqlsync.store.secrets import InMemorySecretStore

PG = {"name": "crm", "type": "postgresql", "host": "db.example.com", "database": "crm"}


def connector_in(**changes: Any) -> ConnectorIn:
    return ConnectorIn.model_validate({**PG, **changes})


@pytest.fixture
def service() -> ConnectorService:
    return ConnectorService(InMemoryConfigStore(), InMemorySecretStore())


def test_secrets_go_to_the_secret_store_and_nowhere_else(service: ConnectorService) -> None:
    created = service.create(1, connector_in(username="sync", password="s3cret", tls={"enabled": True}))
    stored = service.config.get_connector(created.id)
    assert stored is not None and "s3cret" not in stored.model_dump_json()
    assert stored.has_password and stored.secret_id == "sqlsync/1/connector/" + created.id
    assert service.secrets_of(stored) == {"password": "s3cret"}
    view = public_view(stored)
    assert view.password == "***" and "s3cret" not in view.model_dump_json()
    assert view.warnings == []


def test_without_tls_the_view_warns(service: ConnectorService) -> None:
    assert public_view(service.create(1, connector_in())).warnings == [NO_TLS_WARNING]


def test_an_update_bumps_the_version_and_keeps_an_omitted_password(service: ConnectorService) -> None:
    created = service.create(1, connector_in(password="one"))
    updated = service.update(1, created.id, connector_in(host="db2.example.com"))
    assert updated is not None and updated.version == 2 and updated.host == "db2.example.com"
    assert service.secrets_of(updated) == {"password": "one"}
    removed = service.update(1, created.id, connector_in(password=""))
    assert removed is not None and not removed.has_password and removed.secret_id is None
    assert service.update(1, "missing", connector_in()) is None


def test_another_accounts_connector_is_not_found(service: ConnectorService) -> None:
    created = service.create(1, connector_in(password="x"))
    assert service.get(2, created.id) is None and service.update(2, created.id, connector_in()) is None
    assert not service.delete(2, created.id) and service.list(2) == []
    assert service.get(1, created.id) == created and service.list(1) == [created]


def test_delete_removes_the_secret(service: ConnectorService) -> None:
    created = service.create(1, connector_in(password="x"))
    assert service.delete(1, created.id) and not service.delete(1, created.id)
    assert service.secret_store.get("sqlsync/1/connector/" + created.id) == {}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"host": ""}, "host"),
        ({"protocol": "unix"}, "socket_path"),
        ({"type": "sqlite", "host": "", "database": ""}, "database"),
        ({"contact_key": "custom"}, "contact_key_field"),
        ({"tls": {"enabled": True, "cert_pem": "PEM"}}, "tls.key_pem"),
        ({"tls": {"enabled": True, "key_pem": "PEM"}}, "tls.cert_pem"),
        ({"tls": {"enabled": True, "ca_pem": "not a certificate"}}, "tls.ca_pem"),
        ({"type": "mssql", "tls": {"enabled": True}}, "tls.verify"),  # FreeTDS cannot verify certificates
        ({"type": "mssql", "protocol": "unix", "socket_path": "/s"}, "protocol"),
    ],
)
def test_inconsistent_connectors_name_the_field(service: ConnectorService, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        service.create(1, connector_in(**changes))
    assert caught.value.field == field


def test_urls_and_options_per_type() -> None:
    assert connection_url(connector_in(username="u"), "p@ss") == "postgresql+pg8000://u:p%40ss@db.example.com:5432/crm"
    mysql = connector_in(
        type="mysql", protocol="unix", host="", socket_path="/run/mysqld.sock", options={"charset": "utf8mb4"}
    )
    assert connection_url(mysql, None) == "mysql+pymysql:///crm?charset=utf8mb4&unix_socket=%2Frun%2Fmysqld.sock"
    assert connection_url(connector_in(type="sqlite", host="", database="/tmp/x.db"), None) == "sqlite:////tmp/x.db"


def test_connect_options_carry_timeouts_and_the_tls_key(service: ConnectorService) -> None:
    client = CertificateAuthority().issue_client("sync")
    tls = {"enabled": True, "cert_pem": client.cert_pem, "key_pem": client.key_pem}
    created = service.create(1, connector_in(query_timeout=30, connect_timeout=3, tls=tls))
    assert created.tls.has_key and client.key_pem not in created.model_dump_json()
    options = connect_options(created, service.secrets_of(created))
    assert (options.connect_timeout, options.query_timeout) == (3, 30)
    assert options.tls is not None and options.tls.verify
    assert (options.tls.cert_pem, options.tls.key_pem) == (client.cert_pem, client.key_pem)


@pytest.mark.services
def test_validate_reports_the_version_or_what_failed(service: ConnectorService, postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    good = service.create(1, connector_in(host=url.host, port=url.port, database=url.database, username=url.username))
    result = service.validate(good)
    assert result.ok and result.server_version is not None and "PostgreSQL" in result.server_version
    refused = service.create(1, connector_in(host="127.0.0.1", port=1, username="u", connect_timeout=2))
    result = service.validate(refused)
    assert not result.ok and result.error_kind == "refused", result
    wrong_db = service.create(1, connector_in(host=url.host, port=url.port, database="no_such_db", username="postgres"))
    result = service.validate(wrong_db)
    assert not result.ok and result.error and "no_such_db" in result.error
    no_user = service.create(1, connector_in(host=url.host, port=url.port))
    result = service.validate(no_user)
    assert not result.ok and result.error_kind == "other" and "user" in (result.error or "")
