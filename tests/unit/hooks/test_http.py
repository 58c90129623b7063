"""sqlsync.hooks.http: batches POSTed to a real HTTP server on 127.0.0.1, and checked there with a Standard
Webhooks verifier written here from the spec (https://www.standardwebhooks.com/), not from the sender."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integration.connectors.pki import CertificateAuthority, free_port
from sqlsync.hooks.addresses import DestinationRefused
from sqlsync.hooks.delivery import Outgoing
from sqlsync.hooks.http import (
    HttpSender,
    check_headers,
    new_signing_secret,
    parse_retry_after,
    validate_signing_secret,
)

# The secret of the Standard Webhooks spec's example (24 bytes).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Generous, so that a loaded CI machine never times out a healthy receiver; the hang test sets its own.
TIMEOUT = 10.0
HANG_TIMEOUT = 0.5


# --- A Standard Webhooks verifier, from the spec -------------------------------------------------------


def verifies(secret: str, headers: dict[str, str], body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver does: HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}" with the base64
    key after whsec_, compared in constant time with each "v1,<base64>" of webhook-signature."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def test_the_verifier_agrees_with_the_specs_example() -> None:
    # The example of the Standard Webhooks spec, and its expected signature.
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    content = b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}'
    signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert signature == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


# --- The receiver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    client_port: int


class Receiver:
    """A real threaded HTTP/1.1 server on 127.0.0.1. Answers with the queued replies, then with `otherwise`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self.replies: list[Reply] = []
        self.otherwise = Reply()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def url(self, host: str = "127.0.0.1", path: str = "/hook", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def take(self, headers: dict[str, str], body: bytes, client_port: int) -> Reply:
        with self._lock:
            self.received.append(Received(headers, body, client_port))
            return self.replies.pop(0) if self.replies else self.otherwise

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = receiver.take(headers, body, self.client_address[1])
            if reply.delay:
                receiver.stopping.wait(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                self.close_connection = True  # the sender gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()
    # Whatever a test sent, every request the receiver got carries a valid signature.
    assert all(verifies(SECRET, request.headers, request.body) for request in server.received)


@pytest.fixture
def senders() -> Iterator[list[HttpSender]]:
    made: list[HttpSender] = []
    yield made
    for sender in made:
        sender.close()


@pytest.fixture
def make_sender(senders: list[HttpSender]) -> Any:
    def make(url: str, headers: dict[str, str] | None = None, timeout: float = TIMEOUT, **options: Any) -> HttpSender:
        options.setdefault("allow_private", True)
        sender = HttpSender(url, headers, SECRET, timeout, **options)
        senders.append(sender)
        return sender

    return make


def events(*bodies: dict[str, Any]) -> list[Outgoing]:
    return [Outgoing.of(f"evt_{index}_{body.get('n', '')}", body) for index, body in enumerate(bodies)]


BATCH = events(
    {"event_type": "profile.updated", "name": "Zoë Ørsted", "city": "東京", "n": 1},
    {"event_type": "profile.created", "emoji": "🎉", "quote": 'say "hi"\n', "n": 2},
    {"event_type": "profile.deleted", "n": 3},
)


# --- Delivery --------------------------------------------------------------------------------------


def test_a_batch_arrives_as_one_signed_json_array(receiver: Receiver, make_sender: Any) -> None:
    sender = make_sender(receiver.url(), {"Authorization": "Bearer t0ken-value", "X-Tenant": "acme"})

    # WHEN a batch of three events is sent
    result = sender.send(BATCH)

    # THEN the receiver got one request with the bodies, in order, non-ASCII intact
    assert result.ok and result.delivered == 3 and not result.retryable
    [request] = receiver.received
    assert json.loads(request.body.decode("utf-8")) == [json.loads(event.json) for event in BATCH]
    assert "Zoë Ørsted".encode() in request.body and "東京".encode() in request.body
    assert b", " not in request.body and b": " not in request.body  # compact separators
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer t0ken-value" and request.headers["x-tenant"] == "acme"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"

    # AND the signature verifies, the timestamp is now, and a tampered body does not verify
    assert verifies(SECRET, request.headers, request.body)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    tampered = request.body.replace(b'"n":3', b'"n":4')
    assert tampered != request.body and not verifies(SECRET, request.headers, tampered)
    assert not verifies(SECRET, request.headers, request.body + b" ")
    assert not verifies(new_signing_secret(), request.headers, request.body)


def test_the_hooks_headers_cannot_replace_the_senders(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN headers that try to set the content type and the signature
    forged = {"Content-Type": "text/plain", "webhook-id": "msg_forged", "Webhook-Signature": "v1,Zm9yZ2Vk"}
    sender = make_sender(receiver.url(), {**forged, "Host": "elsewhere.example", "X-Kept": "yes"})

    # WHEN a batch is sent
    assert sender.send(BATCH[:1]).ok

    # THEN the sender's own headers went out, and the others too
    [request] = receiver.received
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_") and request.headers["webhook-id"] != "msg_forged"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["x-kept"] == "yes"
    assert verifies(SECRET, request.headers, request.body)


def test_a_retried_batch_carries_the_same_webhook_id(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN a receiver that fails the first two requests
    receiver.reply(Reply(500, b"database is down"), Reply(503, b""))
    sender = make_sender(receiver.url())

    # WHEN the same batch is sent until it is accepted
    results = [sender.send(BATCH) for _ in range(3)]

    # THEN the failures are retryable, with the status and the body in the detail
    assert [(result.ok, result.retryable) for result in results] == [(False, True), (False, True), (True, False)]
    assert results[0].detail == "HTTP 500: database is down" and results[0].retry_after is None
    assert results[1].detail == "HTTP 503"
    assert results[2].delivered == 3

    # AND every attempt carried the same webhook-id, and verifies
    ids = {request.headers["webhook-id"] for request in receiver.received}
    assert len(receiver.received) == 3 and len(ids) == 1
    assert all(verifies(SECRET, request.headers, request.body) for request in receiver.received)

    # WHEN another batch is sent, THEN it has another id
    assert sender.send(BATCH[:2]).ok
    assert receiver.received[-1].headers["webhook-id"] not in ids


def test_a_receiver_that_hangs_is_retryable_within_the_timeout(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN a receiver that answers long after the sender's timeout
    receiver.reply(Reply(200, delay=30))
    sender = make_sender(receiver.url(), timeout=HANG_TIMEOUT)

    # WHEN a batch is sent
    started = time.monotonic()
    result = sender.send(BATCH)
    elapsed = time.monotonic() - started

    # THEN the sender gives up after about its timeout, and the batch can be retried
    assert HANG_TIMEOUT * 0.9 <= elapsed < HANG_TIMEOUT + 5.0
    assert not result.ok and result.retryable and result.delivered == 0
    assert "ReadTimeoutError" in result.detail and "timed out" in result.detail

    # AND the connection is not reused half-answered: the next batch goes through (a retry on a loaded machine
    # can itself time out, so it gets a few tries before the test calls it broken)
    assert any(sender.send(BATCH).ok for _ in range(3))


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds(receiver: Receiver, make_sender: Any, status: int) -> None:
    receiver.reply(Reply(status, b"slow down", {"Retry-After": "7"}))

    result = make_sender(receiver.url()).send(BATCH)

    assert not result.ok and result.retryable and result.retry_after == 7.0
    assert result.detail == f"HTTP {status}: slow down"


def test_retry_after_as_an_http_date(receiver: Receiver, make_sender: Any) -> None:
    receiver.reply(Reply(429, b"", {"Retry-After": formatdate(time.time() + 30, usegmt=True)}))

    result = make_sender(receiver.url()).send(BATCH)

    assert not result.ok and result.retryable
    assert result.retry_after is not None and 28 <= result.retry_after <= 31


def test_retry_after_is_read_only_for_429_and_503(receiver: Receiver, make_sender: Any) -> None:
    receiver.reply(Reply(500, b"", {"Retry-After": "7"}), Reply(408, b""))
    sender = make_sender(receiver.url())

    first, second = sender.send(BATCH), sender.send(BATCH)

    assert first.retryable and first.retry_after is None
    assert second.retryable and second.detail == "HTTP 408"


def test_a_client_error_is_permanent_and_says_why(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN a receiver that refuses the batch, with a long explanation that echoes a header
    explanation = "unknown field 'city' (Authorization: Bearer t0ken-value) " + "x" * 1000
    receiver.reply(Reply(400, explanation.encode()), Reply(404, "pas trouvé".encode()))
    sender = make_sender(receiver.url(), {"Authorization": "Bearer t0ken-value"})

    # WHEN a batch is sent
    result = sender.send(BATCH)

    # THEN it is not retried, and the detail has the start of the body, without the header's value
    assert not result.ok and not result.retryable and result.delivered == 0
    assert result.detail.startswith("HTTP 400: unknown field 'city' (Authorization: ***) xxx")
    assert "t0ken-value" not in result.detail and len(result.detail) <= len("HTTP 400: ") + 500

    # AND another client error, another body
    assert sender.send(BATCH).detail == "HTTP 404: pas trouvé"


def test_a_redirect_is_permanent_and_not_followed(receiver: Receiver, make_sender: Any) -> None:
    receiver.reply(Reply(302, b"", {"Location": receiver.url(path="/elsewhere")}))

    result = make_sender(receiver.url()).send(BATCH)

    assert not result.ok and not result.retryable
    assert result.detail == "HTTP 302: redirects are not followed"
    assert len(receiver.received) == 1


def test_a_private_receiver_is_refused_without_allow_private(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN a sender for a receiver on 127.0.0.1, private destinations not allowed
    sender = make_sender(receiver.url(), allow_private=False)

    # WHEN a batch is sent
    result = sender.send(BATCH)

    # THEN it fails for good, saying why, and nothing reached the receiver
    assert not result.ok and not result.retryable
    assert result.detail == "127.0.0.1 is a loopback address: private destinations are not allowed here"
    assert receiver.received == []

    # AND the same goes for a name that resolves to loopback
    named = make_sender(receiver.url(host="localhost"), allow_private=False).send(BATCH)
    assert not named.ok and not named.retryable and "localhost resolves to 127.0.0.1" in named.detail
    assert receiver.received == []


def test_the_metadata_service_is_refused_even_with_allow_private(make_sender: Any) -> None:
    result = make_sender("http://169.254.169.254/latest/meta-data/", allow_private=True).send(BATCH)

    assert not result.ok and not result.retryable and "never allowed" in result.detail


def test_connection_and_dns_failures_are_retryable(make_sender: Any) -> None:
    refused = make_sender(f"http://127.0.0.1:{free_port()}/hook").send(BATCH)
    assert not refused.ok and refused.retryable and "NewConnectionError" in refused.detail

    unresolved = make_sender("http://nothing.invalid/hook").send(BATCH)
    assert not unresolved.ok and unresolved.retryable
    assert unresolved.detail.startswith("cannot resolve the host nothing.invalid")


def test_the_connection_is_kept_between_batches(receiver: Receiver, make_sender: Any) -> None:
    sender = make_sender(receiver.url())

    # WHEN batches are sent one after the other
    assert sender.send(BATCH).ok and sender.send(BATCH).ok

    # THEN they went over the same connection
    assert receiver.received[0].client_port == receiver.received[1].client_port

    # WHEN an answer's body is longer than the sender reads, THEN the next batch opens a new connection
    receiver.reply(Reply(500, b"e" * 100_000))
    assert sender.send(BATCH).retryable
    assert sender.send(BATCH).ok
    assert receiver.received[3].client_port != receiver.received[2].client_port

    # WHEN the sender is closed, THEN it can still send, over a new connection
    sender.close()
    assert sender.send(BATCH).ok
    assert receiver.received[4].client_port != receiver.received[3].client_port


def test_an_empty_batch_sends_nothing(receiver: Receiver, make_sender: Any) -> None:
    result = make_sender(receiver.url()).send([])

    assert result.ok and result.delivered == 0 and receiver.received == []


def test_older_secrets_sign_too(receiver: Receiver, make_sender: Any) -> None:
    # GIVEN a secret being rotated out
    older = new_signing_secret()
    sender = make_sender(receiver.url(), older_signing_secrets=[older])

    # WHEN a batch is sent, THEN receivers verify it with either secret
    assert sender.send(BATCH).ok
    [request] = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verifies(SECRET, request.headers, request.body) and verifies(older, request.headers, request.body)


# --- HTTPS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture
def tls_receiver(ca: CertificateAuthority, tmp_path: Any) -> Iterator[Receiver]:
    issued = ca.issue_server("localhost", dns=("localhost",))
    (tmp_path / "cert.pem").write_text(issued.cert_pem)
    (tmp_path / "key.pem").write_text(issued.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = Receiver(tls=context)
    yield server
    server.stop()
    assert all(verifies(SECRET, request.headers, request.body) for request in server.received)


def test_https_goes_to_the_checked_address_and_verifies_the_host_name(
    tls_receiver: Receiver, ca: CertificateAuthority, make_sender: Any
) -> None:
    # GIVEN a receiver whose certificate names localhost, and not 127.0.0.1
    url = tls_receiver.url(host="localhost", scheme="https")

    # WHEN a batch is sent to localhost, THEN the certificate matches the name, though the connection went to
    # the address the policy checked
    assert make_sender(url, ca_pem=ca.cert_pem).send(BATCH).ok
    [request] = tls_receiver.received
    assert request.headers["host"] == f"localhost:{tls_receiver.port}"
    assert verifies(SECRET, request.headers, request.body)

    # WHEN it is sent to 127.0.0.1, or without trusting the CA, THEN TLS refuses the certificate
    by_address = make_sender(tls_receiver.url(scheme="https"), ca_pem=ca.cert_pem).send(BATCH)
    assert by_address.retryable and "SSLError" in by_address.detail
    untrusted = make_sender(url).send(BATCH)
    assert untrusted.retryable and "CERTIFICATE_VERIFY_FAILED" in untrusted.detail
    assert len(tls_receiver.received) == 1


# --- Secrets, headers, Retry-After -------------------------------------------------------------------


def test_new_signing_secrets_are_32_random_bytes() -> None:
    secret = new_signing_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert validate_signing_secret(secret) == base64.b64decode(secret.removeprefix("whsec_"))
    assert new_signing_secret() != secret


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"),
        ("whsec_", "must encode 24 to 64 bytes, not 0"),
        ("whsec_not base64!", "followed by valid base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "followed by valid base64"),  # bad padding
        ("whsec_" + base64.b64encode(b"k" * 16).decode(), "must encode 24 to 64 bytes, not 16"),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), "must encode 24 to 64 bytes, not 65"),
    ],
)
def test_bad_signing_secrets_are_refused_without_quoting_them(secret: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        validate_signing_secret(secret)
    assert secret.removeprefix("whsec_") not in str(refused.value) or secret == "whsec_"

    with pytest.raises(ValueError, match=says):
        HttpSender("https://example.com/", None, secret)


def test_the_specs_secret_is_accepted() -> None:
    assert len(validate_signing_secret(SECRET)) == 24


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"Content-Type": "text/plain"}, "the header Content-Type is set by the sender"),
        ({"WEBHOOK-SIGNATURE": "v1,x"}, "the header WEBHOOK-SIGNATURE is set by the sender"),
        ({"Host": "example.com"}, "the header Host is set by the sender"),
        ({"X-Bad": "a\r\nX-Injected: 1"}, "the value of the header X-Bad must be printable ASCII"),
        ({"Bad Name": "v"}, "not a valid HTTP header name"),
        ({"": "v"}, "not a valid HTTP header name"),
    ],
)
def test_headers_a_hook_cannot_send(headers: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        check_headers(headers)


def test_malformed_headers_refuse_the_sender() -> None:
    with pytest.raises(ValueError, match="the value of the header X-Bad"):
        HttpSender("https://example.com/", {"X-Bad": "line\nbreak"}, SECRET)
    check_headers({"Authorization": "Bearer x", "X-Tab": "a\tb"})


def test_bad_urls_refuse_the_sender() -> None:
    with pytest.raises(DestinationRefused, match="must start with http:// or https://"):
        HttpSender("ftp://example.com/", None, SECRET)
    with pytest.raises(ValueError, match="timeout"):
        HttpSender("https://example.com/", None, SECRET, timeout_seconds=0)


def test_retry_after_values() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == 90.0
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0.0  # a past date: no wait
    assert parse_retry_after("Tue Nov 14 22:15:00 2023", now) == 100.0  # asctime, in UTC
    for unreadable in (None, "", "-5", "1.5", "soon", "Mon, 99 Foo 2024 00:00:00 GMT", "٣"):
        assert parse_retry_after(unreadable, now) is None, unreadable
