"""Configuration API: integrations, template preview and sync statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.models.integrations import Integration, IntegrationIn, StatsOut
from sqlsync.models.preview import PreviewIn, PreviewOut
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBStatsStore
from sqlsync.sync.exceptions import InvalidIntegrationError
from sqlsync.sync.integrations import IntegrationService, public_view
from sqlsync.sync.preview import preview

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
_service: IntegrationService | None = None


def service() -> IntegrationService:
    global _service
    if _service is None:
        settings = Settings.from_env()
        _service = IntegrationService(
            DynamoDBConfigStore(settings.config_table), DynamoDBStatsStore(settings.stats_table)
        )
    return _service


@app.post("/v1/integrations", summary="Create a segment-sync integration")
def create_integration(body: IntegrationIn) -> Response[Integration]:
    integration = service().create(body)
    logger.info("integration created", extra={"integration_id": integration.id})
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, public_view(integration))


@app.get("/v1/integrations", summary="List the integrations of an account")
def list_integrations(account_id: Annotated[int, Query(ge=0)]) -> list[Integration]:
    return [public_view(integration) for integration in service().list(account_id)]


@app.get("/v1/integrations/<integration_id>", summary="Get one integration")
def get_integration(integration_id: str) -> Integration:
    integration = service().get(integration_id)
    if integration is None:
        raise NotFoundError(f"integration {integration_id!r} not found")
    return public_view(integration)


@app.delete("/v1/integrations/<integration_id>", summary="Delete an integration")
def delete_integration(integration_id: str) -> Response[str]:
    if not service().delete(integration_id):
        raise NotFoundError(f"integration {integration_id!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.post("/v1/integrations/<integration_id>/preview", summary="Render a template for a sample event; nothing runs")
def preview_integration(integration_id: str, body: PreviewIn) -> PreviewOut:
    integration = service().get(integration_id)
    if integration is None:
        raise NotFoundError(f"integration {integration_id!r} not found")
    return preview(integration, body, integration.id)


@app.get("/v1/integrations/<integration_id>/stats", summary="Sync statistics per minute")
def integration_stats(
    integration_id: str,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> StatsOut:
    if service().get(integration_id) is None:
        raise NotFoundError(f"integration {integration_id!r} not found")
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(hours=24)
    if start > end:
        raise FieldError("from", "must not be after 'to'", HTTPStatus.BAD_REQUEST)
    stats: StatsOut = service().statistics(integration_id, start, end)
    return stats


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _invalid_integration(exc: InvalidIntegrationError) -> Response[str]:
    location = {"line": exc.line, "column": exc.column} if exc.line is not None else {}
    detail: dict[str, Any] = {"field": exc.field, "message": exc.message, **location}
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [detail])


install_error_handlers(app, {InvalidIntegrationError: _invalid_integration})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
