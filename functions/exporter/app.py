"""Exporter: every minute (EventBridge), runs the exports whose time has come (sqlsync.export.runner). An
export that needs longer than one invocation goes on at the next tick from its saved cursor."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.export.runner import ExportRunner
from sqlsync.export.sources import sources
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBCustomerStore, DynamoDBExportStateStore
from sqlsync.store.secrets import SecretsManagerStore
from sqlsync.sync.targets import TargetResolver

logger = Logger()
metrics = Metrics()
_runner: ExportRunner | None = None


def runner() -> ExportRunner:
    global _runner
    if _runner is None:
        settings = Settings.from_env()
        config = DynamoDBConfigStore(settings.config_table)
        # One engine per connector version for the life of the warm Lambda: runs reuse their connections.
        targets = TargetResolver(config, SecretsManagerStore(), ttl=settings.config_cache_seconds)
        _runner = ExportRunner(
            config,
            DynamoDBExportStateStore(settings.config_table),
            sources(DynamoDBCustomerStore(settings.customers_table)),
            lambda export: targets.by_connector(export.connector_id, export.account_id),
        )
    return _runner


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    reports = runner().run_due(lambda: context.get_remaining_time_in_millis() / 1000)
    for report in reports:
        logger.info(
            "export run",
            extra={"export_id": report.export_id, "status": report.status, "rows": report.rows, "error": report.error},
        )
        metrics.add_metric("ExportRows", MetricUnit.Count, sum(report.rows.values()))
        if report.status == "failed":
            metrics.add_metric("ExportsFailed", MetricUnit.Count, 1)
    return {"runs": [{"export_id": r.export_id, "status": r.status, "rows": r.rows} for r in reports]}
