"""Sync worker: a batch of SQS messages -> the integrations' SQL; failed messages go back (partial batch).

Powertools' BatchProcessor handles one record at a time; segment sync needs the whole batch at once (to
group, order and chunk events), so the handler builds the partial-batch response itself.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBLedgerStore, DynamoDBStatsStore
from sqlsync.store.secrets import SecretsManagerStore
from sqlsync.sync.integrations import CachedIntegrations
from sqlsync.sync.queue import QueueMessage, SQSSink
from sqlsync.sync.targets import TargetResolver
from sqlsync.sync.worker import SyncWorker

logger = Logger()
metrics = Metrics()
_worker: SyncWorker | None = None


def worker() -> SyncWorker:
    """Stores, cache and engines are made on first use and kept for the life of the warm Lambda."""
    global _worker
    if _worker is None:
        settings = Settings.from_env()
        config = DynamoDBConfigStore(settings.config_table)
        _worker = SyncWorker(
            CachedIntegrations(config, settings.config_cache_seconds),
            DynamoDBLedgerStore(settings.ledger_table),
            DynamoDBStatsStore(settings.stats_table),
            TargetResolver(config, SecretsManagerStore(), settings.config_cache_seconds),
            queue=SQSSink(settings.sync_queue_url),  # the delayed flushes of batches gathered under a batch_timeout
        )
    return _worker


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The two fields read straight from the event: Powertools' data_classes package imports every event
    # class it has (about 20 ms of each cold start) for an SQSEvent wrapper we would use for this only.
    messages = [QueueMessage(record["messageId"], record["body"]) for record in event["Records"]]
    report = worker().process(messages)
    metrics.add_metric("StatementsExecuted", MetricUnit.Count, report.statements)
    metrics.add_metric("ProfilesSynced", MetricUnit.Count, report.profiles)
    metrics.add_metric("SyncErrors", MetricUnit.Count, report.errors)
    logger.info(
        "batch done",
        extra={
            "messages": len(messages),
            "failed": len(report.failed_message_ids),
            "statements": report.statements,
            "profiles": report.profiles,
            "skipped": report.skipped,
            "errors": report.errors,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(report.failed_message_ids)]}
