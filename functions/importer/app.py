"""Importer: runs customer imports from the import queue, one slice per message; a slice that runs out of
time queues the next one (sqlsync.customers.imports.job)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.customers.imports.job import THREADS, ImportRunner
from sqlsync.customers.imports.service import slice_message
from sqlsync.customers.service import CustomerService
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBCustomerStore, DynamoDBImportStore
from sqlsync.store.objects import S3ObjectStore
from sqlsync.sync.queue import MessageSink, SQSSink

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
_runner: ImportRunner | None = None
_queue: MessageSink | None = None
_context: LambdaContext | None = None


def runner() -> ImportRunner:
    global _runner, _queue
    if _runner is None:
        settings = Settings.from_env()
        # One connection per applying thread, and one for the checkpoints.
        customers = CustomerService(DynamoDBCustomerStore(settings.customers_table, connections=THREADS + 1))
        _runner = ImportRunner(
            DynamoDBImportStore(settings.customers_table), customers, S3ObjectStore(settings.imports_bucket)
        )
        _queue = SQSSink(settings.import_queue_url)
    return _runner


def time_left() -> float:
    return _context.get_remaining_time_in_millis() / 1000 if _context is not None else 0.0


def run_slice(record: SQSRecord) -> None:
    message = json.loads(record.body)
    outcome = runner().run(int(message["account"]), str(message["import_id"]), time_left)
    if outcome is None:
        return
    progress = outcome.record
    logger.info(
        "import slice",
        extra={
            "import_id": progress.import_id,
            "state": outcome.state,
            "rows_this_slice": outcome.rows_read,
            "status": progress.status,
            "rows_read": progress.row,
            "rows_imported": progress.rows_imported,
            "rows_failed": progress.rows_failed,
            "bytes_read": progress.offset,
            "bytes_total": progress.bytes_total,
        },
    )
    metrics.add_metric("ImportRows", MetricUnit.Count, outcome.rows_read)
    if outcome.state == "continue":
        assert _queue is not None
        _queue.send([slice_message(progress)])  # a failure here brings this message back: nothing is lost


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    global _context
    _context = context
    return process_partial_response(event=event, record_handler=run_slice, processor=processor, context=context)
