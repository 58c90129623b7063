"""sqlsync.dialects.tls: the SSLContext a connector's TLS options become, and errors naming the bad PEM."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import pytest

from integration.connectors.pki import CertificateAuthority
from sqlsync.dialects import MySQLDialect, PostgreSQLDialect
from sqlsync.dialects.connect import ConnectOptions, TlsOptions
from sqlsync.dialects.tls import ssl_context


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


def test_verify_full_by_default() -> None:
    context = ssl_context(TlsOptions())

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # No CA given: the system's trust store.
    assert context.cert_store_stats()["x509_ca"] > 0


def test_verify_off_checks_nothing() -> None:
    context = ssl_context(TlsOptions(verify=False))

    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False


def test_a_given_ca_replaces_the_system_store(ca: CertificateAuthority) -> None:
    context = ssl_context(TlsOptions(ca_pem=ca.cert_pem))

    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


def test_client_certificate_loads_and_leaves_no_file(
    ca: CertificateAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN temporary files go to an empty directory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    client = ca.issue_client("sqlsync-client")

    # WHEN the context loads the client certificate
    ssl_context(TlsOptions(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem))

    # THEN the key's copy on disk is gone
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({"ca_pem": "not a certificate"}, "ca_pem", id="ca-garbage"),
        pytest.param({"ca_pem": ""}, "ca_pem", id="ca-empty"),
        pytest.param({"cert_pem": "not a certificate", "key_pem": "KEY"}, "cert_pem", id="cert-garbage"),
        pytest.param({"cert_pem": "CERT", "key_pem": "not a key"}, "key_pem", id="key-garbage"),
        pytest.param({"cert_pem": "CERT"}, "key_pem is missing", id="key-missing"),
        pytest.param({"key_pem": "KEY"}, "cert_pem is missing", id="cert-missing"),
    ],
)
def test_a_bad_pem_is_named(ca: CertificateAuthority, fields: dict[str, str], named: str) -> None:
    client = ca.issue_client("sqlsync-client")
    real = {"CERT": client.cert_pem, "KEY": client.key_pem}
    fields = {name: real.get(value, value) for name, value in fields.items()}

    with pytest.raises(ValueError, match=named):
        ssl_context(TlsOptions(**fields))


def test_a_key_of_another_certificate_is_named(ca: CertificateAuthority) -> None:
    client, other = ca.issue_client("one"), ca.issue_client("other")

    with pytest.raises(ValueError, match="key_pem is not the private key of cert_pem"):
        ssl_context(TlsOptions(cert_pem=client.cert_pem, key_pem=other.key_pem))


def test_an_encrypted_key_is_refused_without_a_prompt(ca: CertificateAuthority) -> None:
    client = ca.issue_client("sqlsync-client")

    with pytest.raises(ValueError, match="key_pem is encrypted"):
        ssl_context(TlsOptions(cert_pem=client.cert_pem, key_pem=client.encrypted_key_pem(b"secret")))


def test_no_error_message_echoes_the_key(ca: CertificateAuthority) -> None:
    client = ca.issue_client("sqlsync-client")
    broken_key = client.key_pem.replace("\n", "\n!", 3)

    with pytest.raises(ValueError) as raised:
        ssl_context(TlsOptions(cert_pem=client.cert_pem, key_pem=broken_key))

    assert "PRIVATE KEY" not in str(raised.value)


# What the drivers receive -----------------------------------------------------------------------------


def test_without_tls_options_the_drivers_do_not_attempt_tls() -> None:
    # pg8000 and PyMySQL would otherwise try TLS unverified when the server offers it.
    assert PostgreSQLDialect().connect_args(ConnectOptions())["ssl_context"] is False
    assert MySQLDialect().connect_args(ConnectOptions())["ssl_disabled"] is True


def test_with_tls_options_the_drivers_get_the_context(ca: CertificateAuthority) -> None:
    options = ConnectOptions(tls=TlsOptions(ca_pem=ca.cert_pem))

    for context in (
        PostgreSQLDialect().connect_args(options)["ssl_context"],
        MySQLDialect().connect_args(options)["ssl"],
    ):
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
