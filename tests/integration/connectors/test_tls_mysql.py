"""TLS to MySQL and MariaDB through PyMySQL, verify-full by default, against a real server with certificates this
test makes: the MariaDB counterpart of test_tls.py.

The machine's MariaDB runs without TLS, and its configuration is not ours to change, so the module starts a
throwaway server of the same binaries (--no-defaults: no system my.cnf): TLS on, its certificate signed by a CA
generated here, valid for 127.0.0.1 and localhost, listening on 127.0.0.1 and 127.0.0.2 (a loopback address the
certificate does not name). Its accounts:

- `sqlsync`: no requirement, so whether a session is encrypted is up to the client alone;
- `sqlsync_tls`: REQUIRE SSL, so a connection without TLS is refused (as pg_hba.conf's hostssl does);
- `sqlsync_x509`: REQUIRE SUBJECT and ISSUER, so only the client certificate this test issues is let in.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.connectors.pki import CertificateAuthority, Issued, free_port
from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.connect import TlsOptions
from testkit import unavailable

CLIENT_CN = "sqlsync-client"
CA_NAME = "sqlsync test CA"
DATABASE = "sqlsync"
# Where Debian and the MariaDB packages put the server; PATH alone often lacks the sbin directories.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin"])
START_TIMEOUT = 30.0

pytestmark = pytest.mark.services


@dataclass(frozen=True)
class TlsServer:
    port: int
    ca: CertificateAuthority
    client: Issued

    def url(self, host: str = "127.0.0.1", user: str = "sqlsync") -> str:
        return f"mysql+pymysql://{user}@{host}:{self.port}/{DATABASE}"


def _binary(name: str) -> str:
    found = shutil.which(name, path=SEARCH_PATH)
    if found is None:
        unavailable(f"no {name} on PATH, /usr/sbin or /usr/local/sbin: the MariaDB server is not installed")
    return found


def _admin(socket_path: Path) -> Any:  # pymysql.Connection
    import pymysql

    return pymysql.connect(unix_socket=str(socket_path), user="root", connect_timeout=2, autocommit=True)


def _wait_until_ready(server: subprocess.Popen[bytes], socket_path: Path, log: Path) -> Any:
    """The root connection over the socket once the server accepts it; unavailable() if it never does."""
    import pymysql

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            unavailable(f"the TLS test server exited ({server.returncode}): {_tail(log)}")
        try:
            return _admin(socket_path)
        except pymysql.err.OperationalError:
            if time.monotonic() > deadline:
                unavailable(f"the TLS test server did not start within {START_TIMEOUT:.0f} s: {_tail(log)}")
            time.sleep(0.05)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    install_db, mariadbd = _binary("mariadb-install-db"), _binary("mariadbd")
    user = pwd.getpwuid(os.geteuid()).pw_name
    ca = CertificateAuthority(CA_NAME)
    server_cert = ca.issue_server("127.0.0.1", dns=("localhost",), ips=("127.0.0.1",))
    root = Path(tempfile.mkdtemp(prefix="sqlsync-mariadb-tls-"))
    data, socket_path, log = root / "data", root / "mariadb.sock", root / "error.log"
    try:
        for name, text in {"server.crt": server_cert.cert_pem, "server.key": server_cert.key_pem}.items():
            (root / name).write_text(text)
            (root / name).chmod(0o600)
        (root / "ca.crt").write_text(ca.cert_pem)
        try:
            subprocess.run(
                [
                    install_db,
                    "--no-defaults",  # must come first
                    f"--datadir={data}",
                    f"--user={user}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except subprocess.CalledProcessError as exc:
            unavailable(f"mariadb-install-db failed: {exc.stdout.decode()} {exc.stderr.decode()}")
        port = free_port()
        command = [
            mariadbd,
            "--no-defaults",  # must come first
            f"--datadir={data}",
            f"--port={port}",
            "--bind-address=127.0.0.1,127.0.0.2",
            "--skip-name-resolve",
            f"--socket={socket_path}",
            f"--pid-file={root / 'mariadb.pid'}",
            f"--log-error={log}",
            f"--ssl-ca={root / 'ca.crt'}",
            f"--ssl-cert={root / 'server.crt'}",
            f"--ssl-key={root / 'server.key'}",
            "--innodb-buffer-pool-size=16M",
            "--innodb-fast-shutdown=3",  # a throwaway: shut down without flushing anything
            "--max-connections=20",
        ]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root unless told to
        # Its messages go to --log-error, read when it fails to start.
        server = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            admin = _wait_until_ready(server, socket_path, log)
            with admin.cursor() as cursor:
                for statement in (
                    f"CREATE DATABASE {DATABASE}",
                    "CREATE USER 'sqlsync'@'%'",
                    "CREATE USER 'sqlsync_tls'@'%' REQUIRE SSL",
                    f"CREATE USER 'sqlsync_x509'@'%' REQUIRE SUBJECT '/CN={CLIENT_CN}' AND ISSUER '/CN={CA_NAME}'",
                    f"GRANT ALL ON {DATABASE}.* TO 'sqlsync'@'%', 'sqlsync_tls'@'%', 'sqlsync_x509'@'%'",
                ):
                    cursor.execute(statement)
            admin.close()
            yield TlsServer(port, ca, ca.issue_client(CLIENT_CN))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def ssl_cipher(target: Target) -> str:
    """The TLS cipher of a session of `target`: empty when the session is not encrypted."""
    with target.engine.connect() as connection:
        _name, cipher = connection.exec_driver_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'").one()
    return str(cipher)


def current_user(target: Target) -> str:
    with target.engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT CURRENT_USER()").scalar())


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_full_with_the_servers_ca_connects(
    connect: Callable[..., Target], tls_server: TlsServer, host: str
) -> None:
    target = connect(tls_server.url(host), TlsOptions(ca_pem=tls_server.ca.cert_pem))

    target.execute(["CREATE TABLE verify_full_" + host.replace(".", "_") + " (id INT)"])
    assert ssl_cipher(target) != ""


@pytest.mark.parametrize(
    "ca_pem",
    [pytest.param("other", id="another-ca"), pytest.param(None, id="system-cas")],
)
def test_a_certificate_from_an_untrusted_ca_is_refused(
    connect: Callable[..., Target], tls_server: TlsServer, ca_pem: str | None
) -> None:
    trusted = CertificateAuthority("another CA").cert_pem if ca_pem == "other" else None
    target = connect(tls_server.url(), TlsOptions(ca_pem=trusted))

    with pytest.raises(TargetError, match="certificate verify failed") as raised:
        target.execute(["SELECT 1"])
    # A connection failure, not a bad row: the chunk is retried whole, never split.
    assert raised.value.transient


def test_a_host_name_the_certificate_does_not_name_is_refused(
    connect: Callable[..., Target], tls_server: TlsServer
) -> None:
    target = connect(tls_server.url("127.0.0.2"), TlsOptions(ca_pem=tls_server.ca.cert_pem))

    with pytest.raises(TargetError, match="certificate is not valid for") as raised:
        target.execute(["SELECT 1"])
    assert "127.0.0.2" in str(raised.value)
    assert raised.value.transient


def test_verify_off_connects_to_any_certificate(connect: Callable[..., Target], tls_server: TlsServer) -> None:
    # Neither the host name nor the CA checks out, and no CA is given: only the encryption remains.
    target = connect(tls_server.url("127.0.0.2"), TlsOptions(verify=False))

    target.execute(["SELECT 1"])
    assert ssl_cipher(target) != ""


@pytest.mark.parametrize("verify", [True, False], ids=["verify-full", "verify-off"])
def test_a_client_certificate_is_presented(connect: Callable[..., Target], tls_server: TlsServer, verify: bool) -> None:
    client = tls_server.client
    ca_pem = tls_server.ca.cert_pem if verify else None
    tls = TlsOptions(verify=verify, ca_pem=ca_pem, cert_pem=client.cert_pem, key_pem=client.key_pem)
    target = connect(tls_server.url(user="sqlsync_x509"), tls)

    # The account admits only a certificate with this subject from this issuer.
    target.execute(["SELECT 1"])
    assert current_user(target) == "sqlsync_x509@%"
    assert ssl_cipher(target) != ""


@pytest.mark.parametrize(
    ("client_cert", "refusal"),
    [
        pytest.param(None, "Access denied", id="no-certificate"),
        # The same CA, another subject: TLS succeeds, the account refuses.
        pytest.param("someone-else", "Access denied", id="another-subject"),
        # The same names from another CA: the server's TLS handshake refuses it. In TLS 1.3 the server checks the
        # client's certificate after the client has finished the handshake, so the client reads either the alert
        # or, when it has already sent the login, the connection closed under it.
        pytest.param("another-ca", "unknown ca|EOF occurred", id="another-ca"),
    ],
)
def test_the_x509_account_refuses_any_other_client_certificate(
    connect: Callable[..., Target], tls_server: TlsServer, client_cert: str | None, refusal: str
) -> None:
    if client_cert is None:
        client = None
    elif client_cert == "another-ca":
        client = CertificateAuthority(CA_NAME).issue_client(CLIENT_CN)
    else:
        client = tls_server.ca.issue_client(client_cert)
    tls = TlsOptions(
        ca_pem=tls_server.ca.cert_pem,
        cert_pem=client.cert_pem if client else None,
        key_pem=client.key_pem if client else None,
    )
    target = connect(tls_server.url(user="sqlsync_x509"), tls)

    with pytest.raises(TargetError, match=refusal) as raised:
        target.execute(["SELECT 1"])
    # The server refusing the TLS session is a connection failure; the account refusing the login is not.
    assert raised.value.transient == (client_cert == "another-ca")


def test_without_tls_options_no_tls_is_attempted(connect: Callable[..., Target], tls_server: TlsServer) -> None:
    # The server offers TLS, which PyMySQL would take up unasked (its "preferred" mode, certificate unchecked).
    plain = connect(tls_server.url(), None)
    plain.execute(["SELECT 1"])
    assert ssl_cipher(plain) == ""

    # An account that requires TLS is refused.
    requires_tls = connect(tls_server.url(user="sqlsync_tls"), None)
    with pytest.raises(TargetError, match="Access denied"):
        requires_tls.execute(["SELECT 1"])


# A connector's options reach PyMySQL as connect() keyword arguments, as strings; its tls fields alone say how to
# encrypt. Before sqlsync pinned them, a truthy ssl_verify_cert or ssl_verify_identity made PyMySQL drop our context
# for one of its own, and a truthy ssl_disabled ("false" too) turned TLS off.


@pytest.mark.parametrize(
    ("host", "dsn_option"),
    [
        pytest.param("127.0.0.1", "ssl_verify_cert=false", id="ssl_verify_cert"),
        pytest.param("127.0.0.1", "ssl_check_hostname=false", id="ssl_check_hostname"),
        pytest.param("127.0.0.1", "ssl_ca=/nonexistent/ca.pem", id="ssl_ca"),
        pytest.param("127.0.0.2", "ssl_verify_identity=false", id="ssl_verify_identity"),
    ],
)
def test_dsn_options_do_not_weaken_verification(
    connect: Callable[..., Target], tls_server: TlsServer, host: str, dsn_option: str
) -> None:
    # On 127.0.0.1 a CA that did not sign the server's certificate; on 127.0.0.2 a name the certificate lacks.
    ca_pem = tls_server.ca.cert_pem if host == "127.0.0.2" else CertificateAuthority("another CA").cert_pem
    target = connect(f"{tls_server.url(host)}?{dsn_option}", TlsOptions(ca_pem=ca_pem))

    with pytest.raises(TargetError, match="certificate verify failed"):
        target.execute(["SELECT 1"])


@pytest.mark.parametrize(
    "dsn_option", ["ssl_disabled=true", "ssl_disabled=false", "ssl_verify_cert=true", "ssl_verify_identity=true"]
)
def test_dsn_options_do_not_turn_tls_off_or_replace_its_settings(
    connect: Callable[..., Target], tls_server: TlsServer, dsn_option: str
) -> None:
    client = tls_server.client
    tls = TlsOptions(ca_pem=tls_server.ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem)
    target = connect(f"{tls_server.url(user='sqlsync_x509')}?{dsn_option}", tls)

    # Encrypted, verified against the connector's CA (not the system's) and with its client certificate.
    target.execute(["SELECT 1"])
    assert ssl_cipher(target) != ""
