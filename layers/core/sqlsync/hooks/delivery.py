"""What every hook destination implements: send a batch of outgoing events, say how it went.

The dispatcher (sqlsync.hooks.dispatch) decides what to do with the answer: count it, retry the batch later
(`retryable`, honouring `retry_after`), or give up on it (permanent: recorded, then the dead-letter queue).
Senders never raise for a failed delivery; they raise only for a programming error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from pydantic_core import to_json


class Outgoing(NamedTuple):
    """One event as the destination receives it (a named tuple: the dispatcher makes one per event, and a
    frozen dataclass takes twice as long to make).

    `json` is the JSON object documented in docs/hooks.md (event_type, event_date, ...), encoded once.
    `event_id` is stable across retries, so that receivers can deduplicate. `key` is the profile id (the
    Kafka message key), or None when the event has no profile.
    """

    event_id: str
    json: str
    key: str | None = None

    @staticmethod
    def of(event_id: str, body: dict[str, Any], key: str | None = None) -> Outgoing:
        """From the body as an object: compact UTF-8 JSON, non-ASCII as it is."""
        return Outgoing(event_id, to_json(body, inf_nan_mode="constants").decode(), key)


@dataclass(frozen=True)
class DeliveryResult:
    """How one batch went. `delivered` counts the events the destination accepted (all or none for HTTP;
    a broker may take the first part of a batch before failing: those are not sent again)."""

    ok: bool
    delivered: int
    retryable: bool = False
    """Worth another attempt: a timeout, a connection error, HTTP 408/429/5xx, a broker that went away."""
    detail: str = ""
    """For stats and logs: the status and the start of the body, or the error; never a secret."""
    retry_after: float | None = None
    """Seconds the receiver asked to wait (HTTP 429/503 Retry-After), when it said."""

    @staticmethod
    def success(count: int) -> DeliveryResult:
        return DeliveryResult(ok=True, delivered=count)


class Sender(Protocol):
    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        """Deliver the batch, in order; never raises for a failed delivery (see DeliveryResult)."""

    def close(self) -> None:
        """Release connections (a warm Lambda keeps senders between invocations)."""


def quiet_client_library(name: str) -> None:
    """Broker client libraries (pika, kafka-python) log each failure they hand back to the sender at ERROR,
    several lines and a traceback at a time; the sender reports it once itself (its DeliveryResult: the
    dispatcher's warning, the hook's last_error). Their logger is set to CRITICAL, unless the deployment set
    a level for it."""
    library = logging.getLogger(name)
    if library.level == logging.NOTSET:
        library.setLevel(logging.CRITICAL)
