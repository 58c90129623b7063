"""sqlsync.local.poller against moto's SQS: batching, partial failures, redelivery, the dead-letter queue."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from sqlsync.local.cfn import SqsSource
from sqlsync.local.poller import SqsPoller

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

ROOT = Path(__file__).resolve().parents[3]
MAX_RECEIVE_COUNT = 2


class Worker:
    """A function that records its batches; `respond` decides the response from the message bodies."""

    name = "worker"

    def __init__(self, respond: Callable[[list[dict[str, Any]]], Any] = lambda records: None) -> None:
        self.respond = respond
        self.batches: list[list[dict[str, Any]]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.batches.append(event["Records"])
        return self.respond(event["Records"])

    def bodies(self) -> list[list[str]]:
        return [[record["body"] for record in batch] for batch in self.batches]


def fail_bodies(*bodies: str) -> Callable[[list[dict[str, Any]]], Any]:
    def respond(records: list[dict[str, Any]]) -> Any:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] in bodies]}

    return respond


class Queues:
    def __init__(self, sqs: SQSClient) -> None:
        self.sqs = sqs
        self.dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
        self.url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "360", "RedrivePolicy": redrive})[
            "QueueUrl"
        ]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def poller(self, worker: Worker, *, batch_size: int = 10, window: float = 0, report: bool = True) -> SqsPoller:
        source = SqsSource("Q", batch_size, 300, report)  # the template's window, overridden below
        return SqsPoller(
            worker,
            self.sqs,
            self.url,
            self.arn,
            source,
            batch_window=window,
            retry_delay=0,
            poll_wait=1,
            max_receive_count=MAX_RECEIVE_COUNT,
        )

    def dead_letters(self) -> list[str]:
        response = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return sorted(message["Body"] for message in response.get("Messages", []))


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield Queues(boto3.client("sqs", region_name="us-east-1"))


def test_records_have_lambdas_shape(queues: Queues) -> None:
    # GIVEN a message with a string and a binary attribute
    queues.sqs.send_message(
        QueueUrl=queues.url,
        MessageBody='{"a": 1}',
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "x"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    worker = Worker()
    # WHEN the poller delivers it
    queues.poller(worker).poll_once(wait=False)
    # THEN the record has every key of a recorded Lambda SQS event, with the right values
    sample = json.loads((ROOT / "events" / "lambda" / "sync_worker_sqs.json").read_text())["Records"][0]
    ((record,),) = worker.batches
    assert record.keys() == sample.keys()
    assert record["attributes"].keys() >= sample["attributes"].keys()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["body"] == '{"a": 1}'
    assert record["md5OfBody"] == hashlib.md5(b'{"a": 1}').hexdigest()
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        queues.arn,
        "us-east-1",
    )
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "x", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }


def test_batch_size_above_ten_takes_several_receives(queues: Queues) -> None:
    queues.send(*(str(i) for i in range(25)))
    worker = Worker()
    result = queues.poller(worker, batch_size=25, window=0.5).poll_once(wait=False)
    assert result is not None and result.messages == 25
    assert sorted(worker.bodies()[0], key=int) == [str(i) for i in range(25)]


def test_without_a_window_one_receive_makes_a_batch(queues: Queues) -> None:
    queues.send("a", "b", "c", "d", "e")
    worker = Worker()
    poller = queues.poller(worker, batch_size=3, window=0)
    while poller.poll_once(wait=False) is not None:
        pass
    assert [len(batch) for batch in worker.bodies()] == [3, 2]


def test_the_window_collects_messages_that_arrive_later(queues: Queues) -> None:
    # GIVEN one message now and two more 0.3 s later, within a 1 s window
    queues.send("early")
    sender = threading.Timer(0.3, queues.send, ("late-1", "late-2"))
    sender.start()
    worker = Worker()
    started = time.monotonic()
    # WHEN the poller collects a batch
    result = queues.poller(worker, batch_size=10, window=1.0).poll_once()
    sender.join()
    # THEN all three are in one invocation, made when the window closed
    assert result is not None and sorted(worker.bodies()[0]) == ["early", "late-1", "late-2"]
    assert 0.9 <= time.monotonic() - started < 2.5


def test_a_full_batch_does_not_wait_for_the_window(queues: Queues) -> None:
    queues.send("a", "b")
    started = time.monotonic()
    result = queues.poller(Worker(), batch_size=2, window=30).poll_once()
    assert result is not None and result.messages == 2
    assert time.monotonic() - started < 2


def test_partial_failures_come_back_and_the_rest_is_deleted(queues: Queues) -> None:
    queues.send("good-1", "bad", "good-2")
    worker = Worker(fail_bodies("bad"))
    poller = queues.poller(worker)
    first = poller.poll_once(wait=False)
    assert first is not None and first.messages == 3 and len(first.failed) == 1
    # The failed message is redelivered (retry delay 0), alone, with its receive count raised.
    second = poller.poll_once(wait=False)
    assert second is not None and worker.bodies()[1] == ["bad"]
    assert worker.batches[1][0]["attributes"]["ApproximateReceiveCount"] == "2"


def test_a_handler_that_raises_fails_the_whole_batch(queues: Queues) -> None:
    def explode(records: list[dict[str, Any]]) -> Any:
        raise RuntimeError("boom")

    queues.send("a", "b")
    poller = queues.poller(Worker(explode))
    result = poller.poll_once(wait=False)
    assert result is not None and len(result.failed) == 2 and result.error == "RuntimeError: boom"
    assert poller.drain(timeout=0.2) is False  # both are back in the queue


def test_a_failure_naming_a_message_outside_the_batch_fails_the_batch(queues: Queues) -> None:
    queues.send("a", "b")
    result = queues.poller(Worker(lambda records: {"batchItemFailures": [{"itemIdentifier": "nope"}]})).poll_once(
        wait=False
    )
    assert result is not None and len(result.failed) == 2


def test_without_report_batch_item_failures_success_deletes_everything(queues: Queues) -> None:
    queues.send("a", "bad")
    poller = queues.poller(Worker(fail_bodies("bad")), report=False)
    result = poller.poll_once(wait=False)
    assert result is not None and not result.failed
    assert poller.drain(timeout=0.5)


def test_a_message_that_keeps_failing_ends_in_the_dead_letter_queue(queues: Queues) -> None:
    # GIVEN a worker that always fails "poison", and maxReceiveCount 2
    queues.send("fine", "poison")
    worker = Worker(fail_bodies("poison"))
    poller = queues.poller(worker)
    # WHEN the poller runs on its thread until the queue is empty
    poller.start()
    try:
        assert poller.drain(timeout=10)
    finally:
        poller.stop()
    # THEN poison was delivered exactly maxReceiveCount times, then SQS moved it to the DLQ
    deliveries = [body for batch in worker.bodies() for body in batch]
    assert deliveries.count("poison") == MAX_RECEIVE_COUNT and deliveries.count("fine") == 1
    assert queues.dead_letters() == ["poison"]
    assert list(poller.failures.values()) == [MAX_RECEIVE_COUNT]


def test_drain_waits_for_in_flight_messages(queues: Queues) -> None:
    queues.send("a")
    poller = queues.poller(Worker())
    queues.sqs.receive_message(QueueUrl=queues.url, VisibilityTimeout=30)  # someone else holds it
    assert poller.drain(timeout=0.2) is False


def test_stop_returns_promptly_and_releases_nothing_it_did_not_take(queues: Queues) -> None:
    poller = queues.poller(Worker())
    poller.start()
    time.sleep(0.1)
    started = time.monotonic()
    poller.stop()
    assert time.monotonic() - started < 2.5
    assert poller.drain(timeout=0.1)
