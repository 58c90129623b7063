"""The RabbitMQ hook sender against the real broker on this machine (127.0.0.1:5672, guest/guest).

Each test declares its own uniquely named queues and exchanges and deletes them at the end. Connections are
broken for real: by RabbitMQ itself (rabbitmqctl close_connection) or by a relay in front of the broker that
cuts the TCP connection at an exact publisher confirm, so "mid-batch" is deterministic rather than timed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import pytest

from sqlsync.hooks.delivery import Outgoing
from sqlsync.hooks.rabbitmq import RabbitMQSender, validate_rabbitmq_url
from testkit import unavailable

RABBITMQ_URL = os.environ.get("SQLSYNC_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _unavailable(service: str, error: object) -> None:
    unavailable(f"{service} is not reachable: {error}")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The broker's URL; skips the test when RabbitMQ is not running (fails it under SQLSYNC_REQUIRE_SERVICES=1)."""
    import pika
    from pika.adapters.utils.connection_workflow import AMQPConnectorException

    parameters = pika.URLParameters(RABBITMQ_URL)
    parameters.connection_attempts, parameters.socket_timeout, parameters.stack_timeout = 1, 2, 2
    try:
        pika.BlockingConnection(parameters).close()
    except (pika.exceptions.AMQPError, AMQPConnectorException, OSError) as exc:
        _unavailable("RabbitMQ", RuntimeError(f"{parameters.host}:{parameters.port}: {exc!r}"))
    return RABBITMQ_URL


@dataclass
class Received:
    message_id: str
    body: bytes
    content_type: str
    delivery_mode: int


class Broker:
    """The test's own view of the broker: declares scratch queues and exchanges, reads what arrived."""

    def __init__(self, url: str) -> None:
        import pika

        self.url = url
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.queues: list[str] = []
        self.exchanges: list[str] = []

    def queue(self) -> str:
        name = f"sqlsync-test-{uuid.uuid4().hex[:10]}"
        self.channel.queue_declare(name, durable=True)
        self.queues.append(name)
        return name

    def exchange(self) -> str:
        name = f"sqlsync-test-x-{uuid.uuid4().hex[:10]}"
        self.channel.exchange_declare(name, exchange_type="direct", durable=True)
        self.exchanges.append(name)
        return name

    def drain(self, queue: str) -> list[Received]:
        """Every message in the queue, in queue order (acknowledged, so the queue is empty afterwards)."""
        received = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return received
            received.append(Received(properties.message_id, body, properties.content_type, properties.delivery_mode))

    def ids(self, queue: str) -> list[str]:
        return [message.message_id for message in self.drain(queue)]

    def cleanup(self) -> None:
        for queue in self.queues:
            self.channel.queue_delete(queue)
        for exchange in self.exchanges:
            self.channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def broker(rabbitmq_url: str) -> Iterator[Broker]:
    broker = Broker(rabbitmq_url)
    try:
        yield broker
    finally:
        broker.cleanup()


@pytest.fixture
def senders() -> Iterator[Callable[..., RabbitMQSender]]:
    """Makes senders and closes them at the end of the test."""
    made: list[RabbitMQSender] = []

    def make(url: str, **options: Any) -> RabbitMQSender:
        made.append(RabbitMQSender(url, **options))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


def _batch(count: int, prefix: str = "evt") -> list[Outgoing]:
    return [
        Outgoing.of(f"{prefix}-{index}", {"event_type": "segment_enter", "n": index}, key=f"p{index}")
        for index in range(count)
    ]


def _with_port(url: str, port: int, password: str | None = None) -> str:
    """The same URL (user, vhost) pointed at another loopback port, optionally with another password."""
    parts = urlsplit(url)
    userinfo = f"{parts.username}:{password if password is not None else parts.password}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{userinfo}127.0.0.1:{port}", parts.path, parts.query, ""))


def _rabbitmqctl(*arguments: str) -> str:
    """Run rabbitmqctl on the broker's node; skip when it cannot (not installed, or not allowed to)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot close connections from the broker side")
    done = subprocess.run(["rabbitmqctl", "-q", *arguments], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"rabbitmqctl {arguments[0]} failed: {done.stderr.strip()[:200]}")
    return done.stdout


@dataclass
class BrokerConnection:
    pid: str
    peer_port: int
    client_properties: str


def _broker_connections() -> list[BrokerConnection]:
    listed = _rabbitmqctl("list_connections", "--no-table-headers", "pid", "peer_port", "client_properties")
    return [
        BrokerConnection(pid, int(port), properties)
        for pid, port, properties in (line.split("\t", 2) for line in listed.splitlines() if line)
    ]


def _named(name: str) -> list[BrokerConnection]:
    return [listed for listed in _broker_connections() if f'{{"connection_name","{name}"}}' in listed.client_properties]


def _close_from_broker(pid: str) -> None:
    _rabbitmqctl("close_connection", pid, "closed by the sqlsync tests")


class ConfirmCutter:
    """A TCP relay in front of the broker that breaks its first connection at the n-th publisher confirm (and,
    with cut_again_at, its second one at that confirm).

    how="before": cut instead of forwarding that confirm (the broker has the message, the sender cannot know);
    how="after": forward it, then cut when the sender sends its next message (which never reaches the broker);
    how="broker": forward it, hold the sender's next message back and have RabbitMQ itself close the connection
    (rabbitmqctl close_connection): the sender gets the broker's Connection.Close (320 CONNECTION_FORCED).
    Other connections are relayed; when refuse_reconnect, those made while `refusing` is set are closed at once.
    """

    def __init__(
        self,
        target: tuple[str, int],
        cut_at: int,
        how: Literal["after", "before", "broker"],
        refuse_reconnect: bool = False,
        cut_again_at: int | None = None,
    ) -> None:
        self.target, self.how, self.refuse_reconnect = target, how, refuse_reconnect
        self.cut_points = [cut_at] if cut_again_at is None else [cut_at, cut_again_at]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0
        self.refused = 0
        self.refusing = threading.Event()
        self.cut = threading.Event()
        self.broker_closed = threading.Event()
        self.error: BaseException | None = None
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.stop = threading.Event()
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *arguments: Any) -> None:
        thread = threading.Thread(target=target, args=arguments, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            if self.refusing.is_set():
                self.refused += 1
                self._shut(client)
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            for end in (client, upstream):  # frame by frame: Nagle's algorithm would add 40 ms per confirm
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets += [client, upstream]
            self.connections += 1
            cut_at = self.cut_points[self.connections - 1] if self.connections <= len(self.cut_points) else None
            holding = threading.Event()
            self._spawn(self._from_client, client, upstream, holding)
            self._spawn(self._from_broker, upstream, client, cut_at, holding)

    def _from_client(self, client: socket.socket, upstream: socket.socket, holding: threading.Event) -> None:
        broken = False
        try:
            while data := client.recv(65536):
                if not holding.is_set():
                    upstream.sendall(data)
                elif not broken:  # the sender's next message after the chosen confirm: never forwarded
                    broken = True
                    self._break(upstream, client)
                    if self.how == "after":
                        return
        except OSError:
            pass
        self._shut(client, upstream)

    def _from_broker(
        self, upstream: socket.socket, client: socket.socket, cut_at: int | None, holding: threading.Event
    ) -> None:
        """Relay the broker's frames one by one, counting Basic.Ack methods (class 60, method 80) and noting a
        Connection.Close (10, 50)."""
        buffer, acks = b"", 0
        try:
            while data := upstream.recv(65536):
                buffer += data
                while len(buffer) >= 7:
                    kind, _channel, size = struct.unpack_from(">BHI", buffer)
                    if len(buffer) < 8 + size:
                        break
                    frame, buffer = buffer[: 8 + size], buffer[8 + size :]
                    method = struct.unpack_from(">HH", frame, 7) if kind == 1 else None
                    if cut_at is not None and method == (10, 50):
                        self.broker_closed.set()
                    if cut_at is not None and method == (60, 80):
                        acks += 1
                        if acks == cut_at and self.how == "before":
                            self._break(upstream, client)
                            return
                        if acks == cut_at:
                            holding.set()  # before the confirm goes: the sender answers it at once
                    client.sendall(frame)
        except OSError:
            pass
        self._shut(upstream, client)

    def _break(self, upstream: socket.socket, client: socket.socket) -> None:
        if self.refuse_reconnect:
            self.refusing.set()
        self.cut.set()
        if self.how != "broker":
            self._shut(upstream, client)
            return
        try:
            port = upstream.getsockname()[1]
            [pid] = [listed.pid for listed in _broker_connections() if listed.peer_port == port]
            _close_from_broker(pid)
        except BaseException as exc:  # pytest.skip too: recorded for the test; the sender must not hang
            self.error = exc
            self._shut(upstream, client)

    @staticmethod
    def _shut(*ends: socket.socket) -> None:
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stop.set()
        self._shut(self.listener, *self.sockets)
        for thread in self.threads:
            thread.join(timeout=5)
        for end in (self.listener, *self.sockets):
            end.close()


@pytest.fixture
def cutter(rabbitmq_url: str) -> Iterator[Callable[..., ConfirmCutter]]:
    made: list[ConfirmCutter] = []

    def make(cut_at: int, how: Literal["after", "before", "broker"], **options: Any) -> ConfirmCutter:
        parts = urlsplit(rabbitmq_url)
        made.append(ConfirmCutter((parts.hostname or "127.0.0.1", parts.port or 5672), cut_at, how, **options))
        return made[-1]

    yield make
    for relay in made:
        relay.close()


# --- The URL and the options, checked before any connection -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://guest:guest@host/", "starts with amqp:// or amqps:// (got http://)"),
        ("guest:guest@host", "starts with amqp:// or amqps://"),
        ("amqp:///vhost", "has no host"),
        ("amqp://host:99999/", "port must be a number between 1 and 65535"),
        ("amqp://host/a/b", "one segment"),
        ("amqp://host/?heartbeats=5", "unknown RabbitMQ URL parameter(s) heartbeats"),
    ],
)
def test_validate_rabbitmq_url_rejects_with_a_readable_message(url: str, message: str) -> None:
    # Given a URL that is not a usable amqp[s] URL; When it is validated; Then the message says why
    with pytest.raises(ValueError) as raised:
        validate_rabbitmq_url(url)
    assert message in str(raised.value)


def test_validate_rabbitmq_url_accepts_amqp_and_amqps_and_never_echoes_the_password() -> None:
    # Given good URLs, with a vhost, TLS and pika's own options; When validated; Then they pass
    for url in ("amqp://u:p@host/%2F", "AMQPS://u:p@host:5671/prod?heartbeat=30", "amqp://host"):
        validate_rabbitmq_url(url)
    # And a refused URL with a password does not repeat it
    with pytest.raises(ValueError) as raised:
        validate_rabbitmq_url("amqp://user:hunter2secret@host/a/b")
    assert "hunter2secret" not in str(raised.value)


def test_sender_needs_exactly_one_destination() -> None:
    # Given neither or both of queue and exchange, or an empty name; When a sender is made; Then ValueError
    for options in ({}, {"queue": "q", "exchange": "x"}, {"queue": ""}, {"exchange": ""}):
        with pytest.raises(ValueError):
            RabbitMQSender("amqp://guest:guest@127.0.0.1/", **options)


# --- Delivery ---------------------------------------------------------------------------------------------------


@pytest.mark.services
def test_queue_receives_one_message_per_event_in_order_with_the_documented_format(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a durable queue and a sender for it
    queue = broker.queue()
    sender = senders(rabbitmq_url, queue=queue)
    body = {"event_type": "segment_enter", "profile": {"name": "Zoë", "city": "Zürich"}, "n": 1}
    batch = [Outgoing.of("evt-a", body, key="p1"), *_batch(4)]

    # When a batch is sent
    result = sender.send(batch)

    # Then every event is confirmed, and the queue holds one persistent JSON message per event, in order,
    # with the event id as message_id and the body as compact UTF-8 JSON (non-ASCII not escaped)
    assert (result.ok, result.delivered, result.detail) == (True, 5, "")
    received = broker.drain(queue)
    assert [message.message_id for message in received] == [item.event_id for item in batch]
    assert received[0].body == '{"event_type":"segment_enter","profile":{"name":"Zoë","city":"Zürich"},"n":1}'.encode()
    assert [json.loads(message.body) for message in received] == [json.loads(item.json) for item in batch]
    assert {(message.content_type, message.delivery_mode) for message in received} == {("application/json", 2)}


def test_an_empty_batch_is_delivered_without_connecting(senders: Callable[..., RabbitMQSender]) -> None:
    # Given a sender whose broker does not even exist; When it sends nothing; Then nothing fails
    result = senders("amqp://guest:guest@127.0.0.1:1/", queue="q").send([])
    assert (result.ok, result.delivered) == (True, 0)


@pytest.mark.services
def test_exchange_and_routing_key_deliver_to_the_bound_queue_only(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a direct exchange with one queue bound for "vip" and another for "other"
    exchange, vip, other = broker.exchange(), broker.queue(), broker.queue()
    broker.channel.queue_bind(vip, exchange, routing_key="vip")
    broker.channel.queue_bind(other, exchange, routing_key="other")

    # When a batch is sent to the exchange with routing key "vip"
    result = senders(rabbitmq_url, exchange=exchange, routing_key="vip").send(_batch(3))

    # Then the "vip" queue has the three events in order, and the other queue nothing
    assert (result.ok, result.delivered) == (True, 3)
    assert broker.ids(vip) == ["evt-0", "evt-1", "evt-2"]
    assert broker.ids(other) == []


# --- Permanent failures: another attempt cannot help -------------------------------------------------------------


@pytest.mark.services
def test_a_missing_queue_is_a_permanent_failure_naming_it(
    rabbitmq_url: str, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a queue that does not exist
    queue = f"sqlsync-test-missing-{uuid.uuid4().hex[:8]}"

    # When a batch is sent to it
    result = senders(rabbitmq_url, queue=queue).send(_batch(2))

    # Then the failure is permanent, nothing was delivered, and the detail names the queue and the vhost
    assert (result.ok, result.retryable, result.delivered) == (False, False, 0)
    assert result.detail == f"queue '{queue}' does not exist in vhost '/'"


@pytest.mark.services
def test_a_queue_deleted_under_a_warm_sender_is_reported_not_silently_dropped(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a sender that delivered to a queue, which is then deleted (the connection stays open)
    queue = broker.queue()
    sender = senders(rabbitmq_url, queue=queue)
    assert sender.send(_batch(1)).ok
    broker.channel.queue_delete(queue)

    # When the next batch is sent
    result = sender.send(_batch(2, "late"))

    # Then the broker returned the message (mandatory) instead of dropping it: a permanent failure
    assert (result.ok, result.retryable, result.delivered) == (False, False, 0)
    assert result.detail.startswith(f"unroutable: queue '{queue}' does not exist in vhost '/'")


@pytest.mark.services
def test_an_unroutable_routing_key_is_a_permanent_failure(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given an exchange with a queue bound for "vip" only
    exchange, queue = broker.exchange(), broker.queue()
    broker.channel.queue_bind(queue, exchange, routing_key="vip")

    # When a batch is sent with routing key "nobody"
    result = senders(rabbitmq_url, exchange=exchange, routing_key="nobody").send(_batch(2))

    # Then it is a permanent failure saying the message was unroutable, and nothing reached the queue
    assert (result.ok, result.retryable, result.delivered) == (False, False, 0)
    assert result.detail.startswith(f"unroutable: exchange '{exchange}' has no binding for routing key 'nobody'")
    assert broker.ids(queue) == []


@pytest.mark.services
def test_a_missing_exchange_is_permanent_and_a_channel_closed_by_it_is_replaced(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a warm sender whose exchange is deleted: publishing to it makes the broker close the channel (404)
    exchange, queue = broker.exchange(), broker.queue()
    broker.channel.queue_bind(queue, exchange, routing_key="k")
    sender = senders(rabbitmq_url, exchange=exchange, routing_key="k")
    assert sender.send(_batch(1, "before")).ok
    broker.channel.exchange_delete(exchange)

    # When a batch is sent, Then it fails permanently, naming the exchange
    gone = sender.send(_batch(1, "during"))
    assert (gone.ok, gone.retryable, gone.delivered) == (False, False, 0)
    assert f"exchange '{exchange}'" in gone.detail
    assert "NOT_FOUND" in gone.detail or "does not exist" in gone.detail

    # And once the exchange is back, the same sender delivers again on a fresh channel
    broker.channel.exchange_declare(exchange, exchange_type="direct", durable=True)
    broker.channel.queue_bind(queue, exchange, routing_key="k")
    assert sender.send(_batch(2, "after")).ok
    assert broker.ids(queue) == ["before-0", "after-0", "after-1"]


@pytest.mark.services
def test_a_wrong_password_is_permanent_and_never_shown(
    rabbitmq_url: str, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given the broker's URL with a wrong password
    url = _with_port(rabbitmq_url, urlsplit(rabbitmq_url).port or 5672, password="Wr0ng-pa55word")

    # When a batch is sent
    result = senders(url, queue="any").send(_batch(1))

    # Then the failure is permanent, says authentication failed, and masks the password
    assert (result.ok, result.retryable, result.delivered) == (False, False, 0)
    assert "authentication failed for user 'guest'" in result.detail
    assert "Wr0ng-pa55word" not in result.detail and ":***@" in result.detail


@pytest.mark.services
def test_an_unknown_vhost_is_permanent(rabbitmq_url: str, senders: Callable[..., RabbitMQSender]) -> None:
    # Given the broker's URL with a vhost that does not exist
    parts = urlsplit(rabbitmq_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/sqlsync-no-such-vhost", "", ""))

    # When a batch is sent, Then the failure is permanent and names the vhost
    result = senders(url, queue="any").send(_batch(1))
    assert (result.ok, result.retryable, result.delivered) == (False, False, 0)
    assert result.detail.startswith(
        f"vhost 'sqlsync-no-such-vhost' does not exist, or user '{parts.username}' may not use it"
    )


# --- Retryable failures: the broker is away ---------------------------------------------------------------------


@pytest.mark.services
def test_a_closed_port_is_retryable(
    rabbitmq_url: str, senders: Callable[..., RabbitMQSender], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a loopback port nothing listens on
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]

    # When a batch is sent there
    with caplog.at_level(logging.DEBUG):
        result = senders(_with_port(rabbitmq_url, port, password="s3cret-pw"), queue="any").send(_batch(2))

    # Then the failure is retryable, says the connection was refused, and masks the password
    assert (result.ok, result.retryable, result.delivered) == (False, True, 0)
    assert "Connection refused" in result.detail
    assert "s3cret-pw" not in result.detail
    # AND pika's own errors about it (seven lines and a traceback) stay out of the logs: the result says it
    assert [record.getMessage() for record in caplog.records if record.name.startswith("pika")] == []


@pytest.mark.services
def test_a_silent_server_times_out_within_timeout_seconds_and_is_retryable(
    rabbitmq_url: str, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a server that accepts connections (the kernel's backlog) but never says a word
    with socket.create_server(("127.0.0.1", 0)) as silent:
        sender = senders(_with_port(rabbitmq_url, silent.getsockname()[1]), queue="any", timeout_seconds=0.5)

        # When a batch is sent there
        started = time.monotonic()
        result = sender.send(_batch(1))
        elapsed = time.monotonic() - started

    # Then it gives up after about timeout_seconds, retryable
    assert (result.ok, result.retryable, result.delivered) == (False, True, 0)
    assert "no AMQP handshake within 0.5 s" in result.detail
    assert elapsed < 3


# --- Broken connections lose nothing ------------------------------------------------------------------------------


@pytest.mark.services
@pytest.mark.parametrize(
    ("how", "expected_duplicates"),
    [
        pytest.param("after", [], id="cut-after-a-confirm"),
        pytest.param("before", ["evt-4"], id="cut-before-a-confirm"),
        pytest.param("broker", [], id="closed-by-rabbitmq"),
    ],
)
def test_a_connection_broken_mid_batch_is_reopened_once_and_loses_nothing(
    rabbitmq_url: str,
    broker: Broker,
    senders: Callable[..., RabbitMQSender],
    cutter: Callable[..., ConfirmCutter],
    how: Literal["after", "before", "broker"],
    expected_duplicates: list[str],
) -> None:
    # Given a sender that reaches the broker through a relay breaking its connection at the 5th confirm
    if how == "broker" and shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed: cannot close connections from the broker side")
    queue = broker.queue()
    relay = cutter(cut_at=5, how=how)
    sender = senders(_with_port(rabbitmq_url, relay.port), queue=queue)
    batch = _batch(20)

    # When a batch of 20 is sent
    result = sender.send(batch)

    # Then the sender opened a second connection and went on from the first unconfirmed message: every event
    # is in the queue, in order. Only a message whose confirm was lost with the connection is there twice
    # (at least once: receivers deduplicate on message_id); when the confirm arrived, nothing is duplicated.
    if relay.error is not None:
        raise relay.error
    assert relay.cut.is_set() and relay.connections == 2
    assert relay.broker_closed.is_set() == (how == "broker")
    assert (result.ok, result.delivered) == (True, 20), result.detail
    ids = broker.ids(queue)
    assert list(dict.fromkeys(ids)) == [item.event_id for item in batch]
    assert [event_id for event_id in ids[5:] if event_id in ids[:5]] == expected_duplicates


@pytest.mark.services
def test_when_the_reconnect_fails_too_only_the_confirmed_count_as_delivered(
    rabbitmq_url: str,
    broker: Broker,
    senders: Callable[..., RabbitMQSender],
    cutter: Callable[..., ConfirmCutter],
) -> None:
    # Given a relay that cuts the connection after the 5th confirm, then turns new connections away
    queue = broker.queue()
    relay = cutter(cut_at=5, how="after", refuse_reconnect=True)
    sender = senders(_with_port(rabbitmq_url, relay.port), queue=queue)
    batch = _batch(12)

    # When a batch of 12 is sent through it
    result = sender.send(batch)

    # Then the batch is retryable, with exactly the 5 confirmed messages counted as delivered
    assert (result.ok, result.retryable, result.delivered) == (False, True, 5)
    assert "closed the connection during the AMQP handshake" in result.detail
    assert (relay.connections, relay.refused) == (1, 1)

    # And when the broker is reachable again, the same sender delivers the rest the dispatcher resends:
    # every event is in the queue exactly once, in order
    relay.refusing.clear()
    assert sender.send(batch[result.delivered :]).ok
    assert broker.ids(queue) == [item.event_id for item in batch]


@pytest.mark.services
def test_a_connection_lost_twice_in_one_batch_is_retryable_and_the_sender_recovers(
    rabbitmq_url: str,
    broker: Broker,
    senders: Callable[..., RabbitMQSender],
    cutter: Callable[..., ConfirmCutter],
) -> None:
    # Given a relay that cuts its first connection at the 3rd confirm and its second at the 2nd
    queue = broker.queue()
    relay = cutter(cut_at=3, how="after", cut_again_at=2)
    sender = senders(_with_port(rabbitmq_url, relay.port), queue=queue)
    batch = _batch(10)

    # When a batch of 10 is sent: the sender reopens once, then gives up on the second loss
    result = sender.send(batch)

    # Then it is retryable with the 3 + 2 confirmed messages counted as delivered
    assert (result.ok, result.retryable, result.delivered) == (False, True, 5)
    assert relay.connections == 2

    # And the next send (the dispatcher's retry of the rest) does not trip on the broken connection
    assert sender.send(batch[result.delivered :]).ok
    assert broker.ids(queue) == [item.event_id for item in batch]


@pytest.mark.services
def test_a_warm_connection_closed_by_the_broker_between_sends_is_replaced(
    rabbitmq_url: str, broker: Broker, senders: Callable[..., RabbitMQSender]
) -> None:
    # Given a sender that delivered twice: it kept one connection, named after its destination
    queue = broker.queue()
    sender = senders(rabbitmq_url, queue=queue)
    assert sender.send(_batch(2, "first")).ok
    assert sender.send(_batch(2, "second")).ok
    name = f"sqlsync hooks -> queue '{queue}'"
    [connection] = _named(name)

    # When RabbitMQ closes that connection while the sender is idle (as a warm Lambda's can be)
    _close_from_broker(connection.pid)
    result = sender.send(_batch(3, "third"))

    # Then the next send notices, reconnects and delivers everything exactly once, in order
    assert (result.ok, result.delivered) == (True, 3), result.detail
    assert broker.ids(queue) == [
        f"{prefix}-{n}" for prefix, count in (("first", 2), ("second", 2), ("third", 3)) for n in range(count)
    ]
    [replacement] = _named(name)
    assert replacement.pid != connection.pid

    # And close() closes it; closing twice is harmless
    sender.close()
    sender.close()
    assert _named(name) == []
