"""RabbitMQ destination of action hooks: one persistent AMQP message per event, to a queue or an exchange.

Publisher confirms make `delivered` mean "the broker has taken it" (routed, and written to disk for durable
queues), so the dispatcher resends only the rest. Delivery is at least once: a connection lost after the
broker took a message but before its confirm arrived sends that message again, and receivers deduplicate
on `message_id` (the event id).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from sqlsync.hooks.delivery import DeliveryResult, Outgoing, quiet_client_library

# The query parameters pika's URLParameters understands; anything else is a typo it would reject at send time.
_URL_OPTIONS = frozenset(
    {
        "blocked_connection_timeout",
        "channel_max",
        "client_properties",
        "connection_attempts",
        "frame_max",
        "heartbeat",
        "locale",
        "retry_delay",
        "socket_timeout",
        "ssl_options",
        "stack_timeout",
        "tcp_options",
    }
)
# AMQP reply codes no second attempt can fix: access refused, not found, precondition failed, not allowed.
_PERMANENT_CODES = frozenset({403, 404, 406, 530})


def validate_rabbitmq_url(url: str) -> None:
    """Raise ValueError, with a message fit for an API error, unless `url` is a usable amqp[s] URL.

    Pure string checks (no pika import): the API validates hook destinations without loading the client.
    Messages never repeat the URL, which may hold a password."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"not a valid RabbitMQ URL: {exc}") from None
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme.lower() not in ("amqp", "amqps"):
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"a RabbitMQ URL starts with amqp:// or amqps:// (got {shown})")
    if not parts.hostname:
        raise ValueError("the RabbitMQ URL has no host: amqp[s]://user:password@host:port/vhost")
    if port == 0:
        raise ValueError("the RabbitMQ URL's port must be a number between 1 and 65535")
    if parts.path.count("/") > 1:
        raise ValueError("the path of a RabbitMQ URL is the virtual host, one segment: write '/' as %2F")
    if parts.fragment:
        raise ValueError("a RabbitMQ URL has no #fragment")
    unknown = sorted(set(parse_qs(parts.query, keep_blank_values=True)) - _URL_OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown RabbitMQ URL parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(_URL_OPTIONS))}"
        )


def _masked(url: str) -> str:
    """The URL as a detail may show it: password replaced by ***, query (which may hold TLS secrets) dropped."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, _ = userinfo.partition(":")
    netloc = f"{user}:***@{hostport}" if has_password else f"{user}@{hostport}" if userinfo else hostport
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _Failure(Exception):
    """Why this send stops here. `lost`: the connection or channel broke, so a fresh one may get further."""

    def __init__(self, detail: str, *, retryable: bool, lost: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.lost = lost

    def result(self, delivered: int) -> DeliveryResult:
        return DeliveryResult(ok=False, delivered=delivered, retryable=self.retryable, detail=self.detail)


class RabbitMQSender:
    """Publishes hook events to one queue (through the default exchange) or to one exchange with a routing key.

    The connection outlives send() calls, as a warm Lambda keeps the sender: each send first checks that it is
    still alive. Messages are published one at a time, each waiting for its confirm, so that the count of
    confirmed messages is exact and their order in the queue is the batch's.
    """

    def __init__(
        self,
        url: str,
        *,
        queue: str | None = None,
        exchange: str | None = None,
        routing_key: str = "",
        timeout_seconds: float = 10,
    ) -> None:
        validate_rabbitmq_url(url)
        if (queue is None) == (exchange is None):
            raise ValueError("give exactly one of queue or exchange")
        if queue == "" or exchange == "":
            # "" is a server-named queue, or the default exchange: neither is a destination one can name.
            raise ValueError("the queue or exchange name must not be empty")
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be positive")
        import pika  # type: ignore[import-untyped, unused-ignore]

        quiet_client_library("pika")
        self._url = url
        self._queue = queue
        self._exchange = exchange
        self._routing_key = queue if queue is not None else routing_key
        self._timeout = float(timeout_seconds)
        self._parameters = pika.URLParameters(url)
        parts = urlsplit(url)
        self._set_defaults(self._parameters, set(parse_qs(parts.query)))
        self._user = unquote(parts.username) if parts.username is not None else self._parameters.credentials.username
        self._password = unquote(parts.password or "")
        self._vhost: str = self._parameters.virtual_host
        self._connection: Any = None
        self._channel: Any = None
        # pika's BlockingConnection is not thread-safe: one send (or close) at a time.
        self._lock = threading.Lock()

    @property
    def destination(self) -> str:
        """Where the messages go, for details and the broker's connection list."""
        if self._queue is not None:
            return f"queue {self._queue!r}"
        return f"exchange {self._exchange!r} (routing key {self._routing_key!r})"

    def _set_defaults(self, parameters: Any, given: set[str]) -> None:
        """Bound every wait by timeout_seconds, unless the URL says otherwise; one connection attempt (the
        dispatcher retries); a connection name operators can find in the management UI."""
        defaults: dict[str, float] = {
            "socket_timeout": self._timeout,
            "stack_timeout": self._timeout,
            "blocked_connection_timeout": self._timeout,
            "connection_attempts": 1,
        }
        for name, value in defaults.items():
            if name not in given:
                setattr(parameters, name, value)
        properties = dict(parameters.client_properties or {})
        properties.setdefault("connection_name", f"sqlsync hooks -> {self.destination}")
        parameters.client_properties = properties

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        """Publish the batch in order. A connection or channel lost mid-batch is opened again once, and the
        publishing goes on from the first unconfirmed message."""
        if not batch:
            return DeliveryResult.success(0)
        bodies = [item.json.encode() for item in batch]
        with self._lock:
            try:
                return self._send(batch, bodies)
            except BaseException:  # an unexpected error from pika: the connection's state is unknown
                self._discard()
                raise

    def close(self) -> None:
        with self._lock:
            self._discard()

    def _send(self, batch: Sequence[Outgoing], bodies: list[bytes]) -> DeliveryResult:
        delivered = 0
        reopened = False
        while True:
            try:
                channel = self._ready_channel()
                for index in range(delivered, len(batch)):
                    self._publish(channel, batch[index].event_id, bodies[index])
                    delivered += 1
                return DeliveryResult.success(delivered)
            except _Failure as failure:
                if failure.lost:
                    self._discard()
                if not failure.lost or reopened:
                    return failure.result(delivered)
                reopened = True

    def _ready_channel(self) -> Any:
        """The open channel, in confirm mode, to a destination that exists; a dead connection is replaced."""
        if self._connection is not None and not self._alive():
            self._discard()
        if self._connection is None:
            self._connection = self._connect()
        if self._channel is None or not self._channel.is_open:
            self._channel = None
            self._channel = self._open_channel()
        return self._channel

    def _alive(self) -> bool:
        """Read what the broker sent meanwhile (a close, a heartbeat): a connection it dropped while the Lambda
        was frozen shows up here rather than in the middle of the next batch."""
        from pika.exceptions import AMQPError  # type: ignore[import-untyped, unused-ignore]

        if not self._connection.is_open:
            return False
        try:
            self._connection.process_data_events(time_limit=0)
        except (AMQPError, OSError, ValueError):  # ValueError: pika's I/O loop already closed
            return False
        return bool(self._connection.is_open)

    def _connect(self) -> Any:
        from pika import BlockingConnection
        from pika.adapters.utils.connection_workflow import (  # type: ignore[import-untyped, unused-ignore]
            AMQPConnectorException,
        )
        from pika.exceptions import (  # type: ignore[import-untyped, unused-ignore]
            AMQPError,
            AuthenticationError,
            ConnectionClosedByBroker,
            ProbableAccessDeniedError,
            ProbableAuthenticationError,
        )

        where = _masked(self._url)
        try:
            return BlockingConnection(self._parameters)
        except ProbableAuthenticationError:
            self._login_refused(where)
        except ProbableAccessDeniedError:
            self._vhost_refused(where)
        except AuthenticationError as exc:  # no authentication mechanism in common with the broker
            raise _Failure(f"cannot authenticate at {where}: {self._describe(exc)}", retryable=False) from None
        except ConnectionClosedByBroker as exc:
            if exc.reply_code == 403:
                self._login_refused(where)
            if exc.reply_code == 530:
                self._vhost_refused(where)
            raise _Failure(f"cannot connect to {where}: {self._describe(exc)}", retryable=True) from None
        except ssl.SSLCertVerificationError as exc:
            raise _Failure(f"TLS certificate of {where} refused: {exc.verify_message}", retryable=False) from None
        except (AMQPError, AMQPConnectorException, OSError) as exc:
            raise _Failure(f"cannot connect to {where}: {self._describe(exc)}", retryable=True) from None

    def _login_refused(self, where: str) -> NoReturn:
        raise _Failure(
            f"authentication failed for user {self._user!r} at {where}: wrong user name or password",
            retryable=False,
        ) from None

    def _vhost_refused(self, where: str) -> NoReturn:
        raise _Failure(
            f"vhost {self._vhost!r} does not exist, or user {self._user!r} may not use it, at {where}",
            retryable=False,
        ) from None

    def _open_channel(self) -> Any:
        """A channel in confirm mode, after a passive declare of the destination: publishing to a queue or
        exchange that does not exist would otherwise drop the messages (queue) or close the channel (exchange)."""
        from pika.exceptions import AMQPError, ChannelClosedByBroker

        try:
            channel = self._connection.channel()
            channel.confirm_delivery()
            if self._queue is not None:
                channel.queue_declare(self._queue, passive=True)
            else:
                channel.exchange_declare(self._exchange, passive=True)
        except ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                kind, name = ("queue", self._queue) if self._queue is not None else ("exchange", self._exchange)
                raise _Failure(f"{kind} {name!r} does not exist in vhost {self._vhost!r}", retryable=False) from None
            self._refused(exc)
        except (AMQPError, OSError) as exc:
            raise _Failure(f"lost the connection: {self._describe(exc)}", retryable=True, lost=True) from None
        return channel

    def _publish(self, channel: Any, event_id: str, body: bytes) -> None:
        """Publish one message and wait for its confirm. mandatory: an unroutable message comes back instead of
        vanishing (a deleted queue, an exchange without a binding for the routing key)."""
        import pika
        from pika.exceptions import AMQPError, ChannelClosedByBroker, NackError, UnroutableError

        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent, message_id=event_id
        )
        try:
            channel.basic_publish(self._exchange or "", self._routing_key, body, properties=properties, mandatory=True)
        except UnroutableError:
            if self._queue is not None:
                reason = f"queue {self._queue!r} does not exist in vhost {self._vhost!r}"
            else:
                reason = f"exchange {self._exchange!r} has no binding for routing key {self._routing_key!r}"
            raise _Failure(f"unroutable: {reason} (event {event_id} returned)", retryable=False) from None
        except NackError:
            raise _Failure(
                f"the broker refused event {event_id} (nack): a full queue that rejects publishes, or a broker error",
                retryable=True,
            ) from None
        except ChannelClosedByBroker as exc:
            if exc.reply_code in _PERMANENT_CODES:
                self._refused(exc)
            raise _Failure(f"channel closed: {self._describe(exc)}", retryable=True, lost=True) from None
        except (AMQPError, OSError) as exc:
            raise _Failure(f"lost the connection: {self._describe(exc)}", retryable=True, lost=True) from None

    def _refused(self, exc: Any) -> NoReturn:
        raise _Failure(
            f"{self.destination} refused by the broker: {exc.reply_code} {exc.reply_text}", retryable=False
        ) from None

    def _describe(self, exc: BaseException) -> str:
        """The cause in a few words, without the password: pika's messages do not hold it, this makes sure (of
        passwords of 4 characters or more: masking a shorter one would mangle ordinary words)."""
        from pika.adapters.utils.connection_workflow import (
            AMQPConnectionWorkflowFailed,
            AMQPConnectorPhaseErrorBase,
            AMQPConnectorStackTimeout,
        )
        from pika.exceptions import AMQPConnectionError, ChannelClosed, ConnectionClosed, IncompatibleProtocolError

        while True:
            if isinstance(exc, AMQPConnectionWorkflowFailed) and exc.exceptions:
                exc = exc.exceptions[-1]
            elif isinstance(exc, AMQPConnectorPhaseErrorBase):
                exc = exc.exception
            elif type(exc) is AMQPConnectionError and len(exc.args) == 1 and isinstance(exc.args[0], BaseException):
                exc = exc.args[0]
            else:
                break
        if isinstance(exc, AMQPConnectorStackTimeout):
            text = f"no AMQP handshake within {self._timeout:g} s"
        elif isinstance(exc, IncompatibleProtocolError):  # pika's name for "closed before the handshake ended"
            text = "the server closed the connection during the AMQP handshake"
        elif isinstance(exc, ConnectionClosed | ChannelClosed):
            text = f"{exc.reply_code} {exc.reply_text}"
        elif isinstance(exc, TimeoutError):
            text = f"timed out after {self._timeout:g} s"
        elif isinstance(exc, OSError) and exc.strerror:
            text = exc.strerror
        else:
            text = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return text.replace(self._password, "***") if len(self._password) >= 4 else text

    def _discard(self) -> None:
        """Forget the connection, closing it if it still can be: a broken one must not be reused."""
        from pika.exceptions import AMQPError

        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(AMQPError, OSError):
                connection.close()
