"""Timeouts are enforced: a host that accepts TCP and never answers fails within the connect timeout, and a
slow statement is cancelled by the server at the query timeout. Both are transient: the chunk comes back
whole for a later retry, no row is to blame.

Timing bounds are generous on purpose: they separate "bounded" from "hangs", they are no benchmark.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sqlsync.connectors import Target, TargetError
from sqlsync.dialects.connect import ConnectOptions, TlsOptions

MakeTarget = Callable[[str, ConnectOptions], Target]


@pytest.fixture
def make_target() -> Iterator[MakeTarget]:
    made: list[Target] = []

    def make(url: str, options: ConnectOptions) -> Target:
        made.append(Target(url, options))
        return made[-1]

    yield make
    for target in made:
        target.dispose()


class FreezingProxy:
    """A loopback TCP proxy to a real server that, once frozen, swallows everything the server sends: a
    server (or network) that stops answering in the middle of a session."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, freezes: bool) -> None:
        try:
            while data := source.recv(65536):
                if not (freezes and self.frozen.is_set()):
                    sink.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


def failure(target: Target, statements: list[str]) -> tuple[TargetError, float]:
    started = time.monotonic()
    with pytest.raises(TargetError) as raised:
        target.execute(statements)
    return raised.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        pytest.param("postgresql+pg8000://postgres@127.0.0.1:{port}/postgres", None, id="postgresql"),
        # With TLS, pg8000 first waits for the server's answer to its TLS request.
        pytest.param(
            "postgresql+pg8000://postgres@127.0.0.1:{port}/postgres", TlsOptions(verify=False), id="postgresql-tls"
        ),
        pytest.param("mysql+pymysql://root@127.0.0.1:{port}/", None, id="mysql"),
        pytest.param("mysql+pymysql://root@127.0.0.1:{port}/", TlsOptions(verify=False), id="mysql-tls"),
    ],
)
def test_a_silent_host_fails_within_the_connect_timeout(
    make_target: MakeTarget, blackhole: int, url: str, tls: TlsOptions | None
) -> None:
    connect_timeout = 1.0
    target = make_target(url.format(port=blackhole), ConnectOptions(connect_timeout=connect_timeout, tls=tls))

    error, elapsed = failure(target, ["SELECT 1"])

    assert error.transient
    assert elapsed < connect_timeout * 2 + 1


@pytest.mark.services
def test_postgresql_cancels_a_slow_statement_at_the_query_timeout(make_target: MakeTarget, postgres_url: str) -> None:
    target = make_target(postgres_url, ConnectOptions(connect_timeout=5, query_timeout=1))

    error, elapsed = failure(target, ["SELECT pg_sleep(5)"])

    assert error.transient
    assert not error.statement_level
    # The server cancelled it (SQLSTATE 57014), not the socket's backstop at query + connect timeout.
    assert "57014" in str(error)
    assert "statement timeout" in str(error)
    assert elapsed < 3
    # The connection survives a cancelled statement.
    target.execute(["SELECT 1"])


@pytest.mark.services
def test_mariadb_cancels_a_slow_statement_at_the_query_timeout(make_target: MakeTarget, mariadb_url: str) -> None:
    target = make_target(mariadb_url, ConnectOptions(connect_timeout=5, query_timeout=1))

    error, elapsed = failure(target, ["SELECT SLEEP(5)"])

    assert error.transient
    assert not error.statement_level
    # The server stopped it (error 1969), not PyMySQL's read timeout (2013) at query + connect timeout.
    assert "max_statement_time" in str(error)
    assert elapsed < 3
    target.execute(["SELECT 1"])


@pytest.mark.services
@pytest.mark.parametrize(
    ("fixture", "sleep"),
    [
        pytest.param("postgres_url", "SELECT pg_sleep(1.5)", id="postgresql"),
        pytest.param("mariadb_url", "SELECT SLEEP(1.5)", id="mariadb"),
    ],
)
@pytest.mark.parametrize("query_timeout", [None, 3.0], ids=["no-query-timeout", "query-timeout"])
def test_the_connect_timeout_does_not_cut_a_long_statement(
    make_target: MakeTarget, request: pytest.FixtureRequest, fixture: str, sleep: str, query_timeout: float | None
) -> None:
    # The drivers' read timeouts bound the connect; once connected, a statement may outlast them.
    url: str = request.getfixturevalue(fixture)
    target = make_target(url, ConnectOptions(connect_timeout=0.5, query_timeout=query_timeout))

    target.execute([sleep])


@pytest.mark.services
@pytest.mark.parametrize("fixture", ["postgres_url", "mariadb_url"], ids=["postgresql", "mariadb"])
def test_a_server_that_stops_answering_mid_session_fails_at_query_plus_connect_timeout(
    make_target: MakeTarget, request: pytest.FixtureRequest, fixture: str
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(request.getfixturevalue(fixture))
    proxy = FreezingProxy((url.host or "127.0.0.1", url.port or 0))
    try:
        connect_timeout, query_timeout = 1.0, 1.0
        options = ConnectOptions(connect_timeout=connect_timeout, query_timeout=query_timeout)
        target = make_target(url.set(port=proxy.port).render_as_string(hide_password=False), options)
        target.execute(["SELECT 1"])  # connected, session configured
        proxy.frozen.set()

        # The server's cancel never arrives: the driver's socket timeout is the backstop.
        error, elapsed = failure(target, ["SELECT 1"])

        assert error.transient
        assert connect_timeout + query_timeout - 0.5 < elapsed < (connect_timeout + query_timeout) * 2 + 1
    finally:
        proxy.close()
