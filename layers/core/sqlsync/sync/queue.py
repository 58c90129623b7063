"""Where ingest puts messages: SQS in AWS and the local stack, a list in unit tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlsync.sync.exceptions import EnqueueError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# SQS limits: 10 entries per SendMessageBatch, 256 KiB for one message and for a whole batch.
MAX_BATCH_ENTRIES = 10
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class QueueMessage:
    """A message as an SQS event source hands it to a function."""

    message_id: str
    body: str


class MessageSink(Protocol):
    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        """Enqueue every body, invisible for `delay_seconds` (at most 900), or raise EnqueueError naming how
        many could not be sent."""


class InMemorySink:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.delays: list[int] = []
        """The delay each body was sent with, in the order of `bodies`."""

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        self.bodies.extend(bodies)
        self.delays.extend([delay_seconds] * len(bodies))


class SQSSink:
    def __init__(self, queue_url: str, client: SQSClient | None = None, attempts: int = 3) -> None:
        self.queue_url = queue_url
        self._client = client
        self.attempts = attempts

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def send(self, bodies: Sequence[str], delay_seconds: int = 0) -> None:
        for batch in _batches(bodies):
            self._send_batch(batch, delay_seconds)

    def _send_batch(self, bodies: list[str], delay_seconds: int) -> None:
        entries = {str(uuid.uuid4()): body for body in bodies}
        for attempt in range(self.attempts):
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": entry_id, "MessageBody": body, "DelaySeconds": delay_seconds}
                    for entry_id, body in entries.items()
                ],
            )
            failed = {item["Id"] for item in response.get("Failed", []) if not item.get("SenderFault")}
            permanent = [item for item in response.get("Failed", []) if item.get("SenderFault")]
            if permanent:
                raise EnqueueError(f"the queue refused {len(permanent)} message(s): {permanent[0].get('Message')}")
            entries = {entry_id: body for entry_id, body in entries.items() if entry_id in failed}
            if not entries:
                return
            time.sleep(0.1 * 2**attempt)
        raise EnqueueError(f"{len(entries)} message(s) could not be enqueued after {self.attempts} attempts")


def _batches(bodies: Sequence[str]) -> list[list[str]]:
    """Group bodies into SendMessageBatch calls within the entry count and total size limits."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode())
        if current and (len(current) == MAX_BATCH_ENTRIES or size + body_size > MAX_MESSAGE_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(body)
        size += body_size
    if current:
        batches.append(current)
    return batches
