"""The SQS event-source mapping, locally: poll a queue, batch, invoke the function, delete what succeeded.

One `SqsPoller` per function with an SQS event (template.yaml's `Events: {Type: SQS}`), on a thread of its
own, does what Lambda's poller does for a standard queue:

* collect up to BatchSize messages (ReceiveMessage calls of at most 10, the first a long poll) for up to
  MaximumBatchingWindowInSeconds, counted from the first message received (locally the window is
  usually overridden: 1 s by default, see `python -m sqlsync.local --batch-window`), and stop early at
  Lambda's 6 MB invocation payload;
* invoke the function with the SQS event (`Records` shaped as Lambda delivers them);
* with ReportBatchItemFailures, delete every message not named in `batchItemFailures`; a response that
  names a message outside the batch (or is not a valid response) fails the whole batch, as in Lambda;
  without it, a successful invocation deletes the whole batch;
* a handler that raises fails every message of the batch.

Failed messages are not deleted: Lambda leaves them invisible until the queue's VisibilityTimeout ends
(360 s here); locally they come back after `retry_delay` seconds (ChangeMessageVisibility). Dead-letter
queues are SQS's business, and moto's SQS does it as AWS does: a receive that finds a message already
received maxReceiveCount times moves it to the RedrivePolicy's deadLetterTargetArn instead of returning
it (moto.sqs.models.SQSBackend.receive_message). The poller therefore never moves messages itself.

One poller thread per event source, and invocations of one function are serialized (see
`runtime.LocalFunction`): the worker's ledger uses DynamoDB conditional writes, which moto does not
evaluate atomically across threads, so running one worker at a time keeps them correct. (The worker's own
claim threads write distinct keys.)

Examples
--------
>>> record = sqs_record(
...     {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
...      "Attributes": {"ApproximateReceiveCount": "1"}},
...     "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
>>> record["messageId"], record["eventSource"], record["attributes"]["ApproximateReceiveCount"]
('m1', 'aws:sqs', '1')
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sqlsync.local.cfn import SqsSource
from sqlsync.local.runtime import Invocable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

__all__ = ["BatchResult", "SqsPoller", "failed_ids", "sqs_record"]

logger = logging.getLogger(__name__)

MAX_RECEIVE_MESSAGES = 10
"""ReceiveMessage's MaxNumberOfMessages limit."""
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation payload limit; the event source stops batching there."""
_IDLE_SLEEP = 0.05


@dataclass(frozen=True)
class BatchResult:
    """One invocation: how many messages it carried, which failed, and the exception if it raised."""

    messages: int
    failed: frozenset[str]
    error: str | None = None


def _message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = b64(value["BinaryValue"])
    return attribute


def sqs_record(message: MessageTypeDef | Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event, from a ReceiveMessage message (with all system and message attributes)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class InvalidBatchResponseError(ValueError):
    """The function's response is not a valid partial batch response: Lambda fails the whole batch."""


def failed_ids(response: Any, batch_ids: Sequence[str]) -> set[str]:
    """The message ids a ReportBatchItemFailures response names as failed.

    None, "", {} and an empty `batchItemFailures` mean success. A failure without an itemIdentifier, or
    with one that is not in the batch, makes the response invalid (InvalidBatchResponseError).

    >>> failed_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ["a", "b"])
    {'b'}
    """
    if response is None or response == "" or response == {}:
        return set()
    if not isinstance(response, Mapping):
        raise InvalidBatchResponseError(f"expected an object, got {type(response).__name__}")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponseError("batchItemFailures is not a list")
    failed: set[str] = set()
    known = set(batch_ids)
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in known:
            raise InvalidBatchResponseError(f"itemIdentifier {identifier!r} is not a message of this batch")
        failed.add(identifier)
    return failed


class SqsPoller:
    """Feeds a function from a queue like Lambda's SQS event source mapping (see the module docstring).

    `batch_window` overrides the source's MaximumBatchingWindowInSeconds (None keeps it); `retry_delay`
    is how long a failed message stays invisible; `poll_wait` is the long poll of the first receive of a
    batch (WaitTimeSeconds), which also bounds how long `stop` waits.
    """

    def __init__(
        self,
        function: Invocable,
        client: SQSClient,
        queue_url: str,
        queue_arn: str,
        source: SqsSource,
        *,
        batch_window: float | None = None,
        retry_delay: int = 1,
        poll_wait: int = 1,
        region: str = "us-east-1",
        max_receive_count: int | None = None,
    ) -> None:
        self.function = function
        self.client = client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = source.batch_size
        self.batch_window = float(source.max_batching_window_seconds if batch_window is None else batch_window)
        self.report_batch_item_failures = source.report_batch_item_failures
        self.retry_delay = retry_delay
        self.poll_wait = poll_wait
        self.region = region
        self.max_receive_count = max_receive_count
        self.batches: list[BatchResult] = []
        """Every invocation so far, oldest first."""
        self.failures: Counter[str] = Counter()
        """Failed deliveries per message id, for messages not (yet) deleted."""
        self._stop = threading.Event()
        self._busy = threading.Lock()
        self._thread: threading.Thread | None = None

    # Thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"poller-{self.function.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current receive or invocation; messages collected but not delivered go back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (BotoCoreError, ClientError):
                logger.exception("%s: polling %s failed; retrying", self.function.name, self.queue_url)
                self._stop.wait(1.0)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the queue has no visible, delayed or in-flight message; False when `timeout` ran out."""
        deadline = time.monotonic() + timeout
        while True:
            with self._busy:  # not between a receive and its deletes
                attributes = self.client.get_queue_attributes(
                    QueueUrl=self.queue_url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed",
                    ],
                )["Attributes"]
            if all(int(count) == 0 for count in attributes.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_IDLE_SLEEP)

    # One batch ---------------------------------------------------------------------------

    def poll_once(self, wait: bool = True) -> BatchResult | None:
        """Collect one batch and deliver it; None when nothing arrived (or the poller is stopping).

        `wait=False` returns at once when the queue is empty (no long poll), for tests."""
        messages = self._collect(wait)
        if not messages:
            return None
        with self._busy:
            if self._stop.is_set():
                self._change_visibility(messages, 0)
                return None
            return self._deliver(messages)

    def _receive(self, count: int, wait_seconds: int) -> list[MessageTypeDef]:
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _collect(self, wait: bool) -> list[MessageTypeDef]:
        messages: dict[str, MessageTypeDef] = {}
        size = 0
        deadline: float | None = None
        while len(messages) < self.batch_size and not self._stop.is_set():
            if deadline is None:
                wait_seconds = self.poll_wait if wait else 0
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait_seconds = 0
            received = self._receive(min(MAX_RECEIVE_MESSAGES, self.batch_size - len(messages)), wait_seconds)
            if not received:
                if deadline is None and not wait:
                    break
                if deadline is not None:
                    self._stop.wait(min(_IDLE_SLEEP, max(0.0, deadline - time.monotonic())))
                continue
            if deadline is None:
                deadline = time.monotonic() + self.batch_window
            overflow: list[MessageTypeDef] = []
            for message in received:
                body_size = len(message["Body"].encode())
                if messages and size + body_size > MAX_INVOKE_PAYLOAD_BYTES:
                    overflow.append(message)
                    continue
                messages[message["MessageId"]] = message
                size += body_size
            if overflow:
                self._change_visibility(overflow, 0)
                break
        return list(messages.values())

    def _deliver(self, messages: list[MessageTypeDef]) -> BatchResult:
        ids = [message["MessageId"] for message in messages]
        event = {"Records": [sqs_record(message, self.queue_arn, self.region) for message in messages]}
        started = time.monotonic()
        error: str | None = None
        try:
            response = self.function.invoke(event)
        except Exception as exc:
            logger.exception("%s raised: every message of the batch fails", self.function.name)
            failed, error = set(ids), f"{type(exc).__name__}: {exc}"
        else:
            failed = set()
            if self.report_batch_item_failures:
                try:
                    failed = failed_ids(response, ids)
                except InvalidBatchResponseError as exc:
                    logger.error("%s: invalid partial batch response (%s): the batch fails", self.function.name, exc)
                    failed, error = set(ids), str(exc)
        self._delete([message for message in messages if message["MessageId"] not in failed])
        self._retry_later([message for message in messages if message["MessageId"] in failed])
        result = BatchResult(len(messages), frozenset(failed), error)
        self.batches.append(result)
        logger.info(
            "%s: %d message(s), %d failed (%.2f s)",
            self.function.name,
            len(messages),
            len(failed),
            time.monotonic() - started,
        )
        return result

    def _delete(self, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), MAX_RECEIVE_MESSAGES):
            chunk = messages[start : start + MAX_RECEIVE_MESSAGES]
            response = self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                logger.error("%s: could not delete a message: %s", self.function.name, failure.get("Message"))
        for message in messages:
            self.failures.pop(message["MessageId"], None)

    def _retry_later(self, messages: list[MessageTypeDef]) -> None:
        self._change_visibility(messages, self.retry_delay)
        for message in messages:
            self.failures[message["MessageId"]] += 1
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "0"))
            if self.max_receive_count is not None and receives >= self.max_receive_count:
                logger.warning(
                    "%s: message %s failed on receive %d of %d; SQS moves it to the dead-letter queue",
                    self.function.name,
                    message["MessageId"],
                    receives,
                    self.max_receive_count,
                )

    def _change_visibility(self, messages: list[MessageTypeDef], seconds: int) -> None:
        for start in range(0, len(messages), MAX_RECEIVE_MESSAGES):
            chunk = messages[start : start + MAX_RECEIVE_MESSAGES]
            self.client.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": seconds}
                    for i, message in enumerate(chunk)
                ],
            )
