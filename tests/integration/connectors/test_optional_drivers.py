"""The optional drivers (layers/drivers) against loopback servers that fail the way networks do.

No MSSQL, Oracle, ClickHouse or Hive server can run on this machine, so what is proven here is what the
drivers do before a server would answer, through the real drivers and the real ConnectorService: a closed
port is "refused", a host that accepts and never answers is "timeout" within the connector's connect timeout
(each driver bounds it differently: FreeTDS's login timeout with a fixed TDS version, a deadline around
oracledb's connect, clickhouse-connect's read timeout, the Thrift socket's timeout), and a name that does
not resolve is "dns". And for the drivers that take our TLS settings, a loopback TLS server with a throwaway
CA shows that TLS is really used: the handshake completes with the connector's CA and client certificate,
and fails on a certificate for another host unless verification is off.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from integration.connectors.pki import CertificateAuthority, Issued
from sqlsync.connectors.service import ConnectorService
from sqlsync.models.connectors import Connector, ConnectorIn, ValidationOut
from sqlsync.store.memory import InMemoryConfigStore
from sqlsync.store.secrets import InMemorySecretStore

CONNECT_TIMEOUT = 1.0
# A bounded failure takes the connect timeout and a little; an unbounded one takes FreeTDS's TDS-version
# fallbacks (7 s here), oracledb's wait (forever) or clickhouse-connect's default read timeout (300 s).
SLACK = 1.0
# How long to wait for a validation that hangs before failing the test rather than hanging with it.
HANG = 20.0

DATABASE = {"mssql": "master", "oracle": "XE", "clickhouse": "default", "hive": "default"}
TYPES = sorted(DATABASE)
TLS_TYPES = ["clickhouse", "hive", "oracle"]  # pymssql's FreeTDS takes neither CA nor verification


@pytest.fixture
def service() -> ConnectorService:
    return ConnectorService(InMemoryConfigStore(), InMemorySecretStore())


def save(service: ConnectorService, kind: str, host: str, port: int, **changes: Any) -> Connector:
    data = {
        "name": f"{kind} test",
        "type": kind,
        "host": host,
        "port": port,
        "database": DATABASE[kind],
        "username": "sync",
        "connect_timeout": CONNECT_TIMEOUT,
        **changes,
    }
    if kind != "hive":  # PyHive takes a password only with auth=LDAP or CUSTOM; oracledb insists on one
        data["password"] = "secret"
    return service.create(1, ConnectorIn.model_validate(data))


def validate(service: ConnectorService, connector: Connector) -> tuple[ValidationOut, float]:
    """ConnectorService.validate and how long it took; the test fails, rather than hangs, past HANG."""
    outcome: list[ValidationOut] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: outcome.append(service.validate(connector)), daemon=True)
    worker.start()
    worker.join(HANG)
    if not outcome:
        pytest.fail(f"validating {connector.type.value} still hangs after {HANG:g} s")
    return outcome[0], time.monotonic() - started


# (a), (b), (c): refused, silent, unresolvable ---------------------------------------------------------------


@pytest.mark.parametrize("kind", TYPES)
def test_a_closed_port_is_refused(service: ConnectorService, closed_port: int, kind: str) -> None:
    result, elapsed = validate(service, save(service, kind, "127.0.0.1", closed_port))

    assert not result.ok
    assert result.error_kind == "refused", result.error
    assert elapsed < CONNECT_TIMEOUT + SLACK


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("kind", TYPES)
def test_a_silent_host_times_out_within_the_connect_timeout(
    service: ConnectorService, blackhole: int, kind: str, tls: bool
) -> None:
    # With TLS the driver first waits for the TLS handshake (FreeTDS for the server's prelogin answer).
    settings = {"tls": {"enabled": True, "verify": False}} if tls else {}
    result, elapsed = validate(service, save(service, kind, "127.0.0.1", blackhole, **settings))

    assert not result.ok
    assert result.error_kind == "timeout", result.error
    # The timeout struck, not something sooner; and no later than the connect timeout allows.
    assert CONNECT_TIMEOUT * 0.9 <= elapsed < CONNECT_TIMEOUT + SLACK, (elapsed, result.error)


@pytest.mark.parametrize("kind", TYPES)
def test_a_name_that_does_not_resolve_is_dns(service: ConnectorService, kind: str) -> None:
    # FreeTDS reports "Unknown error" for it; the MSSQL dialect resolves the name itself to tell.
    result, elapsed = validate(service, save(service, kind, "sqlsync-test.invalid", 1234))

    assert not result.ok
    assert result.error_kind == "dns", result.error
    assert elapsed < CONNECT_TIMEOUT + SLACK


# TLS is really used -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handshake:
    client: str  # the client certificate's common name, "" when none was presented
    received: bytes  # what the client sent over TLS once the handshake was done


@dataclass
class TlsListener:
    """A loopback TLS server that completes handshakes, notes the client certificate and the client's first
    bytes, and closes the session: no database behind it, so every validation fails, but only after TLS has
    done (or refused) its part."""

    port: int
    ca: CertificateAuthority
    client: Issued
    handshakes: list[Handshake] = field(default_factory=list)

    def sent_data(self) -> list[Handshake]:
        """The sessions over which the client sent something: it trusted the server."""
        return [handshake for handshake in self.handshakes if handshake.received]


def _serve(
    listener: socket.socket, context: ssl.SSLContext, handshakes: list[Handshake], stop: threading.Event
) -> None:
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        raw.settimeout(5)
        try:
            connection = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # the client refused our certificate (or hung up): no handshake
            continue
        with connection:
            peer = connection.getpeercert() or {}
            names = dict(item[0] for item in peer.get("subject", ()))
            connection.settimeout(0.5)
            try:
                received = connection.recv(65536)
            except (ssl.SSLError, OSError):
                received = b""  # the client checked our certificate after the handshake, and left
            handshakes.append(Handshake(str(names.get("commonName", "")), received))
            with contextlib.suppress(ssl.SSLError, OSError):
                connection.unwrap()  # close_notify: a clean end of the session, not a TLS error


@pytest.fixture
def tls_listener() -> Iterator[TlsListener]:
    """A server certificate for "localhost" only (python-oracledb matches host names, never IP addresses);
    client certificates of the same CA are asked for."""
    ca = CertificateAuthority()
    server = ca.issue_server("sqlsync test server", dns=("localhost",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "server.pem"), Path(directory, "server.key")
        cert.write_text(server.cert_pem)
        key.write_text(server.key_pem)
        context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=ca.cert_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    found = TlsListener(listener.getsockname()[1], ca, ca.issue_client("sqlsync-client"))
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(listener, context, found.handshakes, stop), daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize("kind", TLS_TYPES)
def test_tls_completes_with_the_connectors_ca_and_client_certificate(
    service: ConnectorService, tls_listener: TlsListener, kind: str
) -> None:
    tls = {
        "enabled": True,
        "ca_pem": tls_listener.ca.cert_pem,
        "cert_pem": tls_listener.client.cert_pem,
        "key_pem": tls_listener.client.key_pem,
    }
    result, _ = validate(service, save(service, kind, "localhost", tls_listener.port, tls=tls))

    assert not result.ok  # no database behind the handshake
    assert result.error_kind != "tls", result.error
    # verify-full passed (our CA, the host name in the certificate), the client certificate went along, and
    # the driver went on to speak its protocol over TLS.
    assert [handshake.client for handshake in tls_listener.sent_data()][:1] == ["sqlsync-client"], result.error


@pytest.mark.parametrize("kind", TLS_TYPES)
def test_tls_refuses_a_server_the_ca_did_not_sign(
    service: ConnectorService, tls_listener: TlsListener, kind: str
) -> None:
    other = CertificateAuthority("another CA")
    tls = {"enabled": True, "ca_pem": other.cert_pem}
    result, _ = validate(service, save(service, kind, "localhost", tls_listener.port, tls=tls))

    assert result.error_kind == "tls", result.error
    assert tls_listener.sent_data() == []


@pytest.mark.parametrize("kind", TLS_TYPES)
def test_tls_checks_the_host_name_unless_verification_is_off(
    service: ConnectorService, tls_listener: TlsListener, kind: str
) -> None:
    # 127.0.0.1 reaches the server, but its certificate names only "localhost". (urllib3 matches the name
    # once the handshake is done, so the server may see one; never a byte of the session.)
    tls = {"enabled": True, "ca_pem": tls_listener.ca.cert_pem}
    verified, _ = validate(service, save(service, kind, "127.0.0.1", tls_listener.port, tls=tls))

    assert verified.error_kind == "tls", verified.error
    assert tls_listener.sent_data() == []

    unverified, _ = validate(service, save(service, kind, "127.0.0.1", tls_listener.port, tls={**tls, "verify": False}))

    assert unverified.error_kind != "tls", unverified.error
    assert tls_listener.sent_data(), unverified.error


# Hive end to end: a HiveServer2 of our own -------------------------------------------------------------------


class FakeHiveServer2:
    """HiveServer2's Thrift service (TCLIService, as PyHive ships it), answering just enough for a session:
    OpenSession, statements, one string column of results. It records what the client asked, so the session
    configuration (the query timeout) and the statements run can be checked. NOSASL, plain or TLS."""

    VERSION = "3.1.3 (fake)"

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        from TCLIService import TCLIService

        self.configurations: list[dict[str, str]] = []
        self.statements: list[str] = []
        self._fetched: set[bytes] = set()
        self._processor = TCLIService.Processor(self)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._context = context
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._session, args=(client,), daemon=True).start()

    def _session(self, client: socket.socket) -> None:
        from thrift.protocol.TBinaryProtocol import TBinaryProtocol
        from thrift.transport.TSocket import TSocket
        from thrift.transport.TTransport import TBufferedTransport, TTransportException

        client.settimeout(5)
        try:
            connection = self._context.wrap_socket(client, server_side=True) if self._context else client
        except (ssl.SSLError, OSError):
            client.close()
            return
        sock = TSocket()
        sock.setHandle(connection)
        transport = TBufferedTransport(sock)
        protocol = TBinaryProtocol(transport)
        with contextlib.suppress(TTransportException, OSError):
            while True:
                self._processor.process(protocol, protocol)
        connection.close()

    # TCLIService (Thrift's method names) -------------------------------------------------------------------

    @staticmethod
    def _ok() -> Any:
        from TCLIService import ttypes

        return ttypes.TStatus(ttypes.TStatusCode.SUCCESS_STATUS)

    @staticmethod
    def _handle() -> Any:
        from TCLIService import ttypes

        return ttypes.THandleIdentifier(guid=os.urandom(16), secret=os.urandom(16))

    def OpenSession(self, request: Any) -> Any:
        from TCLIService import ttypes

        self.configurations.append(dict(request.configuration or {}))
        return ttypes.TOpenSessionResp(
            status=self._ok(),
            serverProtocolVersion=request.client_protocol,
            sessionHandle=ttypes.TSessionHandle(self._handle()),
        )

    def ExecuteStatement(self, request: Any) -> Any:
        from TCLIService import ttypes

        self.statements.append(request.statement)
        handle = ttypes.TOperationHandle(
            self._handle(),
            ttypes.TOperationType.EXECUTE_STATEMENT,
            request.statement.lstrip().upper().startswith("SELECT"),
        )
        return ttypes.TExecuteStatementResp(status=self._ok(), operationHandle=handle)

    def GetResultSetMetadata(self, request: Any) -> Any:
        from TCLIService import ttypes

        string = ttypes.TTypeDesc([ttypes.TTypeEntry(ttypes.TPrimitiveTypeEntry(ttypes.TTypeId.STRING_TYPE))])
        schema = ttypes.TTableSchema([ttypes.TColumnDesc("_c0", string, 1)])
        return ttypes.TGetResultSetMetadataResp(status=self._ok(), schema=schema)

    def FetchResults(self, request: Any) -> Any:
        from TCLIService import ttypes

        # One row for each operation: the first fetch gets it, the next one nothing.
        key = request.operationHandle.operationId.guid
        values = [] if key in self._fetched else [self.VERSION]
        self._fetched.add(key)
        column = ttypes.TColumn(stringVal=ttypes.TStringColumn(values, b"\x00"))
        return ttypes.TFetchResultsResp(status=self._ok(), hasMoreRows=False, results=ttypes.TRowSet(0, [], [column]))

    def CloseOperation(self, request: Any) -> Any:
        from TCLIService import ttypes

        return ttypes.TCloseOperationResp(status=self._ok())

    def CloseSession(self, request: Any) -> Any:
        from TCLIService import ttypes

        return ttypes.TCloseSessionResp(status=self._ok())


def _server_context(ca: CertificateAuthority) -> ssl.SSLContext:
    server = ca.issue_server("sqlsync test server", dns=("localhost",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "server.pem"), Path(directory, "server.key")
        cert.write_text(server.cert_pem)
        key.write_text(server.key_pem)
        context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_hive_validates_and_runs_statements_through_sqlalchemy_and_pyhive(service: ConnectorService, tls: bool) -> None:
    ca = CertificateAuthority()
    hive = FakeHiveServer2(_server_context(ca) if tls else None)
    try:
        settings: dict[str, Any] = {"options": {"auth": "NOSASL"}, "query_timeout": 30}
        if tls:
            settings["tls"] = {"enabled": True, "ca_pem": ca.cert_pem}
        saved = save(service, "hive", "localhost", hive.port, **settings)

        result, _ = validate(service, saved)
        target = service.target(saved)
        try:
            target.execute(["INSERT INTO segment_members VALUES ('a')", "INSERT INTO segment_members VALUES ('b')"])
        finally:
            target.dispose()
    finally:
        hive.close()

    assert result.ok, result.error
    assert result.server_version == FakeHiveServer2.VERSION
    # The session asked the server to stop a statement at the query timeout.
    assert hive.configurations and all(config == {"hive.query.timeout.seconds": "30"} for config in hive.configurations)
    assert "SELECT version()" in hive.statements
    assert hive.statements[-2:] == [
        "INSERT INTO segment_members VALUES ('a')",
        "INSERT INTO segment_members VALUES ('b')",
    ]
