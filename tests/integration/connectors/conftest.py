"""Fixtures shared by the connector tests: loopback servers that misbehave the way real networks do, and
Targets made with TLS options and disposed of after the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from sqlsync.connectors import Target
from sqlsync.dialects.connect import ConnectOptions, TlsOptions


@pytest.fixture
def blackhole() -> Iterator[int]:
    """The port of a loopback server that accepts connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def connect() -> Iterator[Callable[[str, TlsOptions | None], Target]]:
    """Makes a Target for a URL with these TLS options (None: no TLS) and a 5 s connect timeout."""
    made: list[Target] = []

    def make(url: str, tls: TlsOptions | None) -> Target:
        made.append(Target(url, ConnectOptions(connect_timeout=5, tls=tls)))
        return made[-1]

    yield make
    for target in made:
        target.dispose()
