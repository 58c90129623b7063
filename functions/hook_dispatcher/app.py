"""Hook dispatcher: a batch of hook-queue messages -> each hook's destination; retries and dead letters are
new messages (sqlsync.hooks.dispatch), so only messages that could not be requeued go back (partial batch)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.hooks.dispatch import HookDispatcher
from sqlsync.hooks.senders import SenderPool
from sqlsync.models.hooks import Hook
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBContentStore, DynamoDBStatsStore
from sqlsync.store.secrets import SecretsManagerStore
from sqlsync.sync.cache import TtlCache
from sqlsync.sync.queue import QueueMessage, SQSSink

logger = Logger()
metrics = Metrics()
_dispatcher: HookDispatcher | None = None
WRAP_UP_SECONDS = 5.0
"""Kept at the end of an invocation to put unsent events back and record statistics."""


class _DataSources:
    """The accounts' data sources (trigger enrichment), made on first use: a batch whose events ask for none
    never loads the database code."""

    def __init__(self, config: DynamoDBConfigStore, secrets: SecretsManagerStore, ttl: float) -> None:
        self.config, self.secrets, self.ttl = config, secrets, ttl
        self._service: Any = None

    def lookup(self, account_id: int, name: str, contacts: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        if self._service is None:
            from sqlsync.datasources.service import DataSourceService
            from sqlsync.sync.targets import TargetResolver

            targets = TargetResolver(self.config, self.secrets, ttl=self.ttl)
            self._service = DataSourceService(self.config, targets.by_connector, source_ttl=self.ttl)
        rows: dict[str, list[dict[str, Any]]] = self._service.lookup(account_id, name, contacts)
        return rows


def dispatcher() -> HookDispatcher:
    """Stores, caches and open connections are made on first use and kept for the life of the warm Lambda."""
    global _dispatcher
    if _dispatcher is None:
        settings = Settings.from_env()
        config = DynamoDBConfigStore(settings.config_table)
        hooks: TtlCache[str, Hook | None] = TtlCache(settings.config_cache_seconds)
        secrets = SecretsManagerStore()
        _dispatcher = HookDispatcher(
            hooks=lambda hook_id: hooks.get(hook_id, config.get_hook),
            senders=SenderPool(secrets, settings.hook_allow_private_destinations),
            stats=DynamoDBStatsStore(settings.stats_table),
            retries=SQSSink(settings.hook_queue_url),
            dead_letters=SQSSink(settings.hook_dlq_url),
            retry_times=settings.hook_retry_times,
            retry_period_seconds=settings.hook_retry_period_seconds,
            contents=DynamoDBContentStore(settings.content_table),
            data_sources=_DataSources(config, secrets, settings.config_cache_seconds),
        )
    return _dispatcher


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    messages = [QueueMessage(record["messageId"], record["body"]) for record in event["Records"]]
    # Sending stops in time to put the rest back and record statistics before the function times out.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - WRAP_UP_SECONDS
    report = dispatcher().process(messages, deadline)
    metrics.add_metric("HookEventsSent", MetricUnit.Count, report.sent)
    metrics.add_metric("HookEventsRetried", MetricUnit.Count, report.retried)
    metrics.add_metric("HookEventsFailed", MetricUnit.Count, report.dead_lettered)
    metrics.add_metric("HookEventsDeferred", MetricUnit.Count, report.deferred)
    logger.info(
        "batch done",
        extra={
            "messages": len(messages),
            "sent": report.sent,
            "retried": report.retried,
            "dead_lettered": report.dead_lettered,
            "dropped": report.dropped,
            "deferred": report.deferred,
            "failed": len(report.failed_message_ids),
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in sorted(report.failed_message_ids)]}
