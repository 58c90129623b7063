"""HTTP hook destinations: one signed POST per batch, sent only where the address policy allows.

The body is the JSON array of the batch's event bodies, in order. It is signed the Standard Webhooks way
(https://www.standardwebhooks.com/), so receivers can verify it with that project's libraries: headers
`webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated list of
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the bytes of the hook's `whsec_` secret.
The webhook-id comes from the batch's event ids: a retried batch carries the same id, so a receiver that
saw it already can drop it.

The host is resolved and checked (sqlsync.hooks.addresses) before every delivery, and the request goes to
the checked address, not to the name again: a DNS answer that changed after the check cannot redirect it.
TLS still verifies the certificate against the host name. Redirects are not followed: they could lead
anywhere.

urllib3 is imported when a sender is made: the API uses this module's secret and header checks without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from json.encoder import encode_basestring_ascii as _ascii_string
from typing import TYPE_CHECKING, Any

from sqlsync.hooks.addresses import (
    DestinationRefused,
    HostNotResolved,
    IPAddress,
    check_host,
    parse_http_url,
)
from sqlsync.hooks.delivery import DeliveryResult, Outgoing

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse, PoolManager, Timeout

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
NEW_SECRET_BYTES = 32

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
RESERVED_HEADERS = frozenset({*SIGNATURE_HEADERS, "content-type", "content-length", "transfer-encoding", "host"})
"""Headers the sender sets itself: a hook's own headers cannot replace them."""

USER_AGENT = "sqlsync-hooks/1"
DETAIL_BODY_CHARS = 500
_READ_BODY_BYTES = 4 * DETAIL_BODY_CHARS
"""Enough of a response body for the detail; a longer body is not read (the connection is closed instead)."""

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
_RETRYABLE_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})


def new_signing_secret() -> str:
    """A fresh secret for a hook, in the Standard Webhooks format: whsec_ and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode("ascii")


def validate_signing_secret(secret: str) -> bytes:
    """The HMAC key inside a whsec_ secret; ValueError saying what is wrong (never quoting the secret)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"the signing secret must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the signing secret must be {SECRET_PREFIX} followed by valid base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(
            f"the signing secret must encode {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes, not {len(key)}"
        )
    return key


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse headers a hook cannot send (ValueError naming the header, never its value): a name or value
    HTTP does not allow, or one of the headers the sender sets itself."""
    for name, value in headers.items():
        _check_header(name, value)
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"the header {name} is set by the sender and cannot be given")


def webhook_id(batch: Sequence[Outgoing]) -> str:
    """The same for the same events in the same order, whatever the attempt: receivers deduplicate on it."""
    # json.dumps of the list of ids, written out: the same text, without its per-call setup.
    ids = "[" + ", ".join([_ascii_string(event.event_id) for event in batch]) + "]"
    digest = hashlib.sha256(ids.encode("ascii")).hexdigest()
    return "msg_" + digest[:32]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta seconds, or an HTTP date (a past date is 0). None
    when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # asctime and "-0000" dates: HTTP dates are all in UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpSender:
    """Deliver batches to one HTTP(S) endpoint. Keeps its connections between batches (a warm Lambda keeps
    the sender); `close()` drops them."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        signing_secret: str,
        timeout_seconds: float = 10.0,
        allow_private: bool = False,
        *,
        older_signing_secrets: Sequence[str] = (),
        ca_pem: str | None = None,
    ) -> None:
        """`headers` are the hook's own (names it cannot set are left out, the sender's win); malformed ones
        raise ValueError, as do a bad URL or secret: the API refuses them first. `older_signing_secrets`
        also sign, while receivers move to a new secret. `ca_pem` replaces the system's trusted CAs."""
        import urllib3

        if not timeout_seconds > 0:
            raise ValueError("the timeout must be a positive number of seconds")
        self._destination = parse_http_url(url)
        self._keys = [validate_signing_secret(secret) for secret in (signing_secret, *older_signing_secrets)]
        own = dict(headers or {})
        for name, value in own.items():
            _check_header(name, value)
        self._headers = {} if any(name.lower() == "user-agent" for name in own) else {"User-Agent": USER_AGENT}
        self._headers.update((name, value) for name, value in own.items() if name.lower() not in RESERVED_HEADERS)
        self._header_values = sorted({value for value in own.values() if len(value) >= 4}, key=len, reverse=True)
        self._allow_private = allow_private
        # One bound for the whole request (the dispatcher counts on it to stop before its deadline).
        self._timeout: Timeout = urllib3.Timeout(total=timeout_seconds)
        self._tls: dict[str, Any] = {}
        if self._destination.scheme == "https":
            self._tls = {
                "cert_reqs": "CERT_REQUIRED",
                "server_hostname": self._destination.host,
                "assert_hostname": self._destination.host,
            }
            if ca_pem is not None:
                self._tls["ca_cert_data"] = ca_pem
        self._pool: PoolManager = urllib3.PoolManager(num_pools=4, maxsize=1, block=False, retries=False)

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        """POST the batch as one JSON array; see the module docstring for what the receiver gets. A body
        JSON cannot encode raises (TypeError, ValueError): the events are built by the platform."""
        from urllib3.exceptions import HTTPError, NewConnectionError

        if not batch:
            return DeliveryResult.success(0)
        payload = ("[" + ",".join([event.json for event in batch]) + "]").encode()
        try:
            addresses = check_host(self._destination.host, self._destination.port, self._allow_private)
        except HostNotResolved as exc:
            return DeliveryResult(ok=False, delivered=0, retryable=True, detail=str(exc))
        except DestinationRefused as exc:
            return DeliveryResult(ok=False, delivered=0, retryable=False, detail=str(exc))
        headers = self._signed_headers(webhook_id(batch), payload)
        result = DeliveryResult(ok=False, delivered=0, retryable=True, detail="no address to connect to")
        for address in addresses:
            try:
                return self._post(address, payload, headers, len(batch))
            except NewConnectionError as exc:
                # Refused or unreachable before a byte was sent: the host's next address may answer.
                result = self._failure(exc)
            except (HTTPError, OSError) as exc:
                return self._failure(exc)
        return result

    def close(self) -> None:
        self._pool.clear()

    def _signed_headers(self, message_id: str, payload: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        prefix = f"{message_id}.{timestamp}.".encode()
        signatures = " ".join("v1," + _signature(key, prefix, payload) for key in self._keys)
        return {
            **self._headers,
            "Host": self._destination.authority,
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signatures,
        }

    def _post(self, address: IPAddress, payload: bytes, headers: dict[str, str], count: int) -> DeliveryResult:
        pool = self._pool.connection_from_host(
            str(address), self._destination.port, self._destination.scheme, pool_kwargs=self._tls
        )
        response = pool.urlopen(
            "POST",
            self._destination.target,
            body=payload,
            headers=headers,
            retries=False,
            redirect=False,
            timeout=self._timeout,
            preload_content=False,
            assert_same_host=False,
        )
        start = _read_start(response)
        status = response.status
        if 200 <= status < 300:
            return DeliveryResult.success(count)
        if 300 <= status < 400:
            return DeliveryResult(ok=False, delivered=0, detail=f"HTTP {status}: redirects are not followed")
        text = self._redact(start.decode("utf-8", errors="replace")[:DETAIL_BODY_CHARS])
        retry_after = (
            parse_retry_after(response.headers.get("Retry-After")) if status in _RETRY_AFTER_STATUSES else None
        )
        return DeliveryResult(
            ok=False,
            delivered=0,
            retryable=status in _RETRYABLE_STATUSES or 500 <= status < 600,
            detail=f"HTTP {status}: {text}" if text else f"HTTP {status}",
            retry_after=retry_after,
        )

    def _failure(self, exc: Exception) -> DeliveryResult:
        return DeliveryResult(
            ok=False, delivered=0, retryable=True, detail=self._redact(f"{type(exc).__name__}: {exc}")
        )

    def _redact(self, text: str) -> str:
        """The hook's header values (tokens, passwords) out of a detail: a receiver may echo them back. Values
        under 4 characters stay: blanking them would blank ordinary words."""
        for value in self._header_values:
            text = text.replace(value, "***")
        return text


def _signature(key: bytes, prefix: bytes, payload: bytes) -> str:
    """Base64 HMAC-SHA256 of prefix + payload, without copying the payload to join them."""
    mac = hmac.new(key, prefix, hashlib.sha256)
    mac.update(payload)
    return base64.b64encode(mac.digest()).decode("ascii")


def _read_start(response: BaseHTTPResponse) -> bytes:
    """The start of the body, for the detail. A body read in full leaves the connection for the next batch;
    a longer one, or one that fails, closes it (reading it all could take long)."""
    from urllib3.exceptions import HTTPError

    start = b""
    try:
        start = response.read(_READ_BODY_BYTES)
    except (HTTPError, OSError):
        pass
    finally:
        if not response.closed:
            response.close()
        response.release_conn()
    return start


def _check_header(name: str, value: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"the header name {name!r} is not a valid HTTP header name")
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"the value of the header {name} must be printable ASCII on one line")
