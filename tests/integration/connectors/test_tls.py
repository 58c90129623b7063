"""TLS to PostgreSQL, verify-full by default, against a real server with certificates this test makes.

The machine's PostgreSQL runs without TLS, and its configuration is not ours to change, so the module starts
a throwaway cluster of the same binaries: TLS on, its certificate signed by a CA generated here, valid for
127.0.0.1 and localhost, listening on 127.0.0.1 and 127.0.0.2 (a loopback address the certificate does not
name). pg_hba.conf admits TLS connections only, so a connection without TLS is refused.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.connectors.pki import CertificateAuthority, Issued, free_port
from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.connect import TlsOptions
from testkit import unavailable

SSL_STATUS = "SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"

pytestmark = pytest.mark.services


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca: CertificateAuthority
    client: Issued

    def url(self, host: str = "127.0.0.1") -> str:
        return f"postgresql+pg8000://postgres@{host}:{self.port}/postgres"


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    if not found:
        unavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    bin_dir = _postgres_bin()
    # initdb refuses to run as root: the cluster then belongs to the postgres account.
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    run_as = ["runuser", "-u", "postgres", "--"] if owner else []

    def run(*command: str) -> None:
        subprocess.run([*run_as, *command], check=True, capture_output=True, timeout=60)

    ca = CertificateAuthority()
    server = ca.issue_server("127.0.0.1", dns=("localhost",), ips=("127.0.0.1",))
    root = Path(tempfile.mkdtemp(prefix="sqlsync-pg-tls-"))
    data = root / "data"
    try:
        if owner:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        for name, text in {"server.crt": server.cert_pem, "server.key": server.key_pem, "ca.crt": ca.cert_pem}.items():
            path = data / name
            path.write_text(text)
            path.chmod(0o600)  # PostgreSQL refuses a key others can read
            if owner:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1,127.0.0.2'\nport = {port}\nunix_socket_directories = '{root}'\n"
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n"
                "fsync = off\nmax_connections = 20\n"
            )
        (data / "pg_hba.conf").write_text(
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all 127.0.0.2/32 trust\n"
        )
        try:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "30", "start")
        except subprocess.CalledProcessError as exc:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            unavailable(f"the TLS test cluster did not start: {exc.stderr.decode()} {log}")
        try:
            yield TlsServer(port, ca, ca.issue_client("sqlsync-client"))
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def ssl_status(target: Target) -> tuple[bool, str | None]:
    with target.engine.connect() as connection:
        ssl, client_dn = connection.exec_driver_sql(SSL_STATUS).one()
    return bool(ssl), client_dn


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_full_with_the_servers_ca_connects(
    connect: Callable[..., Target], tls_server: TlsServer, host: str
) -> None:
    target = connect(tls_server.url(host), TlsOptions(ca_pem=tls_server.ca.cert_pem))

    target.execute(["SELECT 1"])
    assert ssl_status(target) == (True, None)


@pytest.mark.parametrize(
    "ca_pem",
    [pytest.param("other", id="another-ca"), pytest.param(None, id="system-cas")],
)
def test_a_certificate_from_an_untrusted_ca_is_refused(
    connect: Callable[..., Target], tls_server: TlsServer, ca_pem: str | None
) -> None:
    trusted = CertificateAuthority("another CA").cert_pem if ca_pem == "other" else None
    target = connect(tls_server.url(), TlsOptions(ca_pem=trusted))

    with pytest.raises(TargetError, match="certificate") as raised:
        target.execute(["SELECT 1"])
    # A connection failure, not a bad row: the chunk is retried whole, never split.
    assert raised.value.transient


def test_a_host_name_the_certificate_does_not_name_is_refused(
    connect: Callable[..., Target], tls_server: TlsServer
) -> None:
    target = connect(tls_server.url("127.0.0.2"), TlsOptions(ca_pem=tls_server.ca.cert_pem))

    with pytest.raises(TargetError, match="certificate") as raised:
        target.execute(["SELECT 1"])
    assert "127.0.0.2" in str(raised.value)


def test_verify_off_connects_to_any_certificate(connect: Callable[..., Target], tls_server: TlsServer) -> None:
    target = connect(tls_server.url("127.0.0.2"), TlsOptions(verify=False))

    target.execute(["SELECT 1"])
    assert ssl_status(target) == (True, None)


def test_a_client_certificate_is_presented(connect: Callable[..., Target], tls_server: TlsServer) -> None:
    client = tls_server.client
    tls = TlsOptions(ca_pem=tls_server.ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem)
    target = connect(tls_server.url(), tls)

    ssl, client_dn = ssl_status(target)

    assert ssl
    assert client_dn is not None
    assert "CN=sqlsync-client" in client_dn


def test_without_tls_options_no_tls_is_attempted(connect: Callable[..., Target], tls_server: TlsServer) -> None:
    target = connect(tls_server.url(), None)

    # pg_hba.conf admits TLS connections only.
    with pytest.raises(TargetError, match="no encryption"):
        target.execute(["SELECT 1"])
