"""Configuration API: connectors, integrations, template preview, sync statistics, action hooks, exports,
data sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.auth import caller_account
from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.api.openapi import API_INFO, document
from sqlsync.connectors import TargetError
from sqlsync.connectors.service import ConnectorService
from sqlsync.connectors.service import public_view as connector_view
from sqlsync.connectors.urls import ConnectorError, ConnectorInUseError
from sqlsync.datasources.exceptions import DataSourceError
from sqlsync.datasources.service import DataSourceService
from sqlsync.export.service import ExportConfigError, ExportService
from sqlsync.hooks.exceptions import HookError
from sqlsync.hooks.service import HookService
from sqlsync.hooks.service import public_view as hook_view
from sqlsync.models.connectors import Connector, ConnectorIn, ConnectorOut, ValidationOut
from sqlsync.models.datasources import DataSource, DataSourceIn, DataSourceOut, RowsIn, SegmentIn
from sqlsync.models.deadletters import DeadLettersOut, RedriveOut
from sqlsync.models.exports import Export, ExportIn, ExportOut
from sqlsync.models.hooks import Hook, HookIn, HookOut, HookStatsOut, HookTestOut, SigningSecretOut
from sqlsync.models.integrations import Integration, IntegrationIn, ResyncIn, ResyncOut, StatsOut
from sqlsync.models.preview import PreviewIn, PreviewOut
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import (
    DynamoDBConfigStore,
    DynamoDBCustomerStore,
    DynamoDBExportStateStore,
    DynamoDBStatsStore,
)
from sqlsync.store.secrets import SecretsManagerStore
from sqlsync.sync.deadletters import DeadLetterError, DeadLetters
from sqlsync.sync.exceptions import InvalidIntegrationError
from sqlsync.sync.integrations import IntegrationService, public_view
from sqlsync.sync.preview import preview
from sqlsync.sync.queue import MessageSink, SQSSink
from sqlsync.sync.targets import TargetResolver

T = TypeVar("T")
logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
# The OpenAPI document is generated from the routes and models below (sqlsync.api.openapi).
app.enable_swagger(path="/v1/docs", **API_INFO)
_service: IntegrationService | None = None
_connectors: ConnectorService | None = None
_sink: MessageSink | None = None
_dead_letters: DeadLetters | None = None
_hooks: HookService | None = None
_exports: ExportService | None = None
_data_sources: DataSourceService | None = None


def found(value: T | None, kind: str, object_id: str) -> T:
    """The value, or a 404 naming what was not found."""
    if value is None:
        raise NotFoundError(f"{kind} {object_id!r} not found")
    return value


def account() -> int:
    """The caller's account: every object the API shows or changes is this account's."""
    return caller_account(app.current_event)


def service() -> IntegrationService:
    global _service
    if _service is None:
        settings = Settings.from_env()
        _service = IntegrationService(
            DynamoDBConfigStore(settings.config_table), DynamoDBStatsStore(settings.stats_table)
        )
    return _service


def connectors() -> ConnectorService:
    global _connectors
    if _connectors is None:
        _connectors = ConnectorService(service().config, SecretsManagerStore())
    return _connectors


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, openapi_json())


def openapi_json() -> str:
    """This function's part of the HTTP API's document (`make openapi` writes the whole to openapi.json)."""
    return json.dumps(document(app, API_INFO), indent=2)


@app.post("/v1/connectors", summary="Create a connector: how to reach a database")
def create_connector(body: ConnectorIn) -> Response[ConnectorOut]:
    connector = connectors().create(account(), body)
    logger.info("connector created", extra={"connector_id": connector.id, "type": connector.type.value})
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, connector_view(connector))


@app.get("/v1/connectors", summary="List the caller's connectors")
def list_connectors() -> list[ConnectorOut]:
    return [connector_view(connector) for connector in connectors().list(account())]


@app.get("/v1/connectors/<connector_id>", summary="Get one connector (secrets masked)")
def get_connector(connector_id: str) -> ConnectorOut:
    return connector_view(_connector(connector_id))


@app.put("/v1/connectors/<connector_id>", summary="Replace a connector; an omitted password or key is kept")
def update_connector(connector_id: str, body: ConnectorIn) -> ConnectorOut:
    connector = found(connectors().update(account(), connector_id, body), "connector", connector_id)
    logger.info("connector updated", extra={"connector_id": connector.id, "version": connector.version})
    return connector_view(connector)


@app.delete("/v1/connectors/<connector_id>", summary="Delete a connector and its secrets")
def delete_connector(connector_id: str) -> Response[str]:
    if not connectors().delete(account(), connector_id):
        raise NotFoundError(f"connector {connector_id!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.post("/v1/connectors/<connector_id>/validate", summary="Connect, ask the server's version, time it")
def validate_connector(connector_id: str) -> ValidationOut:
    result = connectors().validate(_connector(connector_id))
    logger.info("connector validated", extra={"connector_id": connector_id, "ok": result.ok})
    return result


def _integration(integration_id: str) -> Integration:
    return found(service().get(account(), integration_id), "integration", integration_id)


def _connector(connector_id: str) -> Connector:
    return found(connectors().get(account(), connector_id), "connector", connector_id)


@app.post("/v1/integrations", summary="Create a segment-sync integration")
def create_integration(body: IntegrationIn) -> Response[Integration]:
    integration = service().create(account(), body)
    logger.info("integration created", extra={"integration_id": integration.id})
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, public_view(integration))


@app.get("/v1/integrations", summary="List the caller's integrations")
def list_integrations() -> list[Integration]:
    return [public_view(integration) for integration in service().list(account())]


@app.get("/v1/integrations/<integration_id>", summary="Get one integration")
def get_integration(integration_id: str) -> Integration:
    integration = _integration(integration_id)
    return public_view(integration)


@app.put("/v1/integrations/<integration_id>", summary="Replace an integration's settings")
def update_integration(integration_id: str, body: IntegrationIn) -> Integration:
    integration = found(service().update(account(), integration_id, body, sink()), "integration", integration_id)
    logger.info("integration updated", extra={"integration_id": integration.id})
    return public_view(integration)


@app.delete("/v1/integrations/<integration_id>", summary="Delete an integration")
def delete_integration(integration_id: str) -> Response[str]:
    if not service().delete(account(), integration_id):
        raise NotFoundError(f"integration {integration_id!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.post("/v1/integrations/<integration_id>/preview", summary="Render a template for a sample event; nothing runs")
def preview_integration(integration_id: str, body: PreviewIn) -> PreviewOut:
    integration = _integration(integration_id)
    return preview(
        integration, body, account_id=integration.account_id, integration_id=integration.id, config=service().config
    )


@app.post(
    "/v1/integrations/<integration_id>/resync",
    summary="Rebuild the integration's tables from the membership ledger (clear, then add every member)",
)
def resync_integration(integration_id: str, body: ResyncIn) -> Response[ResyncOut]:
    integration = _integration(integration_id)
    queued = service().resync(integration, body, sink())
    logger.info("resync queued", extra={"integration_id": integration_id, "segments": queued.segment_ids})
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, queued)


def sink() -> MessageSink:
    global _sink
    if _sink is None:
        _sink = SQSSink(Settings.from_env().sync_queue_url)
    return _sink


def dead_letters() -> DeadLetters:
    global _dead_letters
    if _dead_letters is None:
        settings = Settings.from_env()
        _dead_letters = DeadLetters(settings.sync_dlq_url, settings.sync_queue_url)
    return _dead_letters


@app.get(
    "/v1/integrations/<integration_id>/dead-letters",
    summary="The integration's messages in the dead-letter queue (looking moves nothing)",
)
def list_dead_letters(
    integration_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_unreadable: Annotated[bool, Query(description="also list bodies that name no integration")] = False,
) -> DeadLettersOut:
    return dead_letters().list(_integration(integration_id), limit, include_unreadable)


@app.post(
    "/v1/integrations/<integration_id>/redrive",
    summary="Move the integration's dead letters back to the sync queue, after a fix",
)
def redrive_integration(integration_id: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> RedriveOut:
    result = dead_letters().redrive(_integration(integration_id), limit)
    logger.info("redriven", extra={"integration_id": integration_id, "moved": result.moved, "left": result.remaining})
    return result


@app.get("/v1/integrations/<integration_id>/stats", summary="Sync statistics per minute")
def integration_stats(
    integration_id: str,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> StatsOut:
    _integration(integration_id)
    start, end = _window(start, end)
    stats: StatsOut = service().statistics(integration_id, start, end)
    return stats


def hooks() -> HookService:
    global _hooks
    if _hooks is None:
        settings = Settings.from_env()
        _hooks = HookService(
            service().config, SecretsManagerStore(), settings.hook_allow_private_destinations, service().stats
        )
    return _hooks


def _hook(hook_id: str) -> Hook:
    return found(hooks().get(account(), hook_id), "hook", hook_id)


@app.post("/v1/hooks", summary="Create an action hook: chosen platform events to HTTP, RabbitMQ or Kafka")
def create_hook(body: HookIn) -> Response[HookOut]:
    hook = hooks().create(account(), body)
    logger.info("hook created", extra={"hook_id": hook.id, "destination": hook.destination.kind})
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, hook_view(hook))


@app.get("/v1/hooks", summary="List the caller's hooks")
def list_hooks() -> list[HookOut]:
    return [hook_view(hook) for hook in hooks().list(account())]


@app.get("/v1/hooks/<hook_id>", summary="Get one hook (secrets masked)")
def get_hook(hook_id: str) -> HookOut:
    return hook_view(_hook(hook_id))


@app.put("/v1/hooks/<hook_id>", summary="Replace a hook; omitted secrets of the same destination are kept")
def update_hook(hook_id: str, body: HookIn) -> HookOut:
    hook = found(hooks().update(account(), hook_id, body), "hook", hook_id)
    logger.info("hook updated", extra={"hook_id": hook.id})
    return hook_view(hook)


@app.delete("/v1/hooks/<hook_id>", summary="Delete a hook and its secrets")
def delete_hook(hook_id: str) -> Response[str]:
    if not hooks().delete(account(), hook_id):
        raise NotFoundError(f"hook {hook_id!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.post("/v1/hooks/<hook_id>/activate", summary="Start forwarding events")
def activate_hook(hook_id: str) -> HookOut:
    return hook_view(found(hooks().set_active(account(), hook_id, True), "hook", hook_id))


@app.post("/v1/hooks/<hook_id>/pause", summary="Stop forwarding events (events that come meanwhile are not kept)")
def pause_hook(hook_id: str) -> HookOut:
    return hook_view(found(hooks().set_active(account(), hook_id, False), "hook", hook_id))


@app.post("/v1/hooks/<hook_id>/clone", summary="Copy a hook, paused, with the same destination and secrets")
def clone_hook(hook_id: str) -> Response[HookOut]:
    hook = found(hooks().clone(account(), hook_id), "hook", hook_id)
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, hook_view(hook))


@app.get("/v1/hooks/<hook_id>/signing-secret", summary="The secret that signs an HTTP hook's requests")
def hook_signing_secret(hook_id: str) -> SigningSecretOut:
    secret = hooks().signing_secret(_hook(hook_id))
    if secret is None:
        raise FieldError("destination.kind", "only HTTP hooks sign their requests", HTTPStatus.CONFLICT)
    return SigningSecretOut(signing_secret=secret)


@app.post("/v1/hooks/<hook_id>/test", summary="Send one sample event to the destination now and say how it went")
def test_hook(hook_id: str) -> HookTestOut:
    result = hooks().test(_hook(hook_id))
    logger.info("hook tested", extra={"hook_id": hook_id, "ok": result.ok})
    return result


@app.get("/v1/hooks/<hook_id>/stats", summary="Delivery statistics per minute: sent, retried, failed")
def hook_stats(
    hook_id: str,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> HookStatsOut:
    _hook(hook_id)
    start, end = _window(start, end)
    return hooks().statistics(hook_id, start, end)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The stats window asked for: `to` defaults to now, `from` to 24 hours before `to`."""
    end = _in_range(_aware(end), "to") if end else datetime.now(UTC)
    start = _in_range(_aware(start), "from") if start else _in_range(end, "to", timedelta(hours=24))
    if start > end:
        raise FieldError("from", "must not be after 'to'", HTTPStatus.BAD_REQUEST)
    return start, end


def _in_range(moment: datetime, field: str, back: timedelta = timedelta()) -> datetime:
    """`moment - back`, checked to be a UTC time of years 1-9999 (what the stats buckets can name)."""
    try:
        return (moment - back).astimezone(UTC)
    except OverflowError:
        raise FieldError(field, "out of range: years 1 to 9999 in UTC", HTTPStatus.BAD_REQUEST) from None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _invalid_integration(exc: InvalidIntegrationError) -> Response[str]:
    location = {"line": exc.line, "column": exc.column} if exc.line is not None else {}
    detail: dict[str, Any] = {"field": exc.field, "message": exc.message, **location}
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [detail])


# Exports ---------------------------------------------------------------------------------------------------


def exports() -> ExportService:
    global _exports
    if _exports is None:
        settings = Settings.from_env()
        _exports = ExportService(service().config, DynamoDBExportStateStore(settings.config_table))
    return _exports


def _export(export_id: str) -> Export:
    return found(exports().get(account(), export_id), "export", export_id)


@app.post("/v1/exports", summary="Create a scheduled export of datasets to a PostgreSQL connector")
def create_export(body: ExportIn) -> Response[ExportOut]:
    export = exports().create(account(), body)
    logger.info("export created", extra={"export_id": export.id, "datasets": [str(d) for d in export.datasets]})
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, exports().view(export))


@app.get("/v1/exports", summary="List the caller's exports, with their state")
def list_exports() -> list[ExportOut]:
    return [exports().view(export) for export in exports().list(account())]


@app.get("/v1/exports/<export_id>", summary="Get one export: settings, next run, last run, watermarks")
def get_export(export_id: str) -> ExportOut:
    return exports().view(_export(export_id))


@app.put("/v1/exports/<export_id>", summary="Replace an export's settings (its progress is kept)")
def put_export(export_id: str, body: ExportIn) -> ExportOut:
    export = found(exports().update(account(), export_id, body), "export", export_id)
    return exports().view(export)


@app.delete("/v1/exports/<export_id>", summary="Delete an export (the tables it wrote stay)")
def delete_export(export_id: str) -> Response[str]:
    if not exports().delete(account(), export_id):
        raise NotFoundError(f"export {export_id!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.post("/v1/exports/<export_id>/run", summary="Run an export at the next minute; full=true exports everything again")
def run_export(
    export_id: str,
    full: Annotated[bool, Query(description="start every dataset from the beginning")] = False,
) -> Response[ExportOut]:
    export = found(exports().run_now(account(), export_id, full), "export", export_id)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, exports().view(export))


# Data sources ----------------------------------------------------------------------------------------------


def data_sources() -> DataSourceService:
    global _data_sources
    if _data_sources is None:
        settings = Settings.from_env()
        targets = TargetResolver(service().config, SecretsManagerStore(), ttl=settings.config_cache_seconds)
        _data_sources = DataSourceService(
            service().config, targets.by_connector, DynamoDBCustomerStore(settings.customers_table)
        )
    return _data_sources


def _data_source(name: str) -> DataSource:
    return found(data_sources().get(account(), name), "data source", name)


@app.post("/v1/data-sources", summary="Create a data source: a table of a connector's database, keyed by contact")
def create_data_source(body: DataSourceIn) -> Response[DataSourceOut]:
    source = data_sources().create(account(), body)
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, data_sources().view(source))


@app.get("/v1/data-sources", summary="List the caller's data sources")
def list_data_sources() -> list[DataSourceOut]:
    return [data_sources().view(source) for source in data_sources().list_sources(account())]


@app.get("/v1/data-sources/<name>", summary="Get one data source, with its table's columns")
def get_data_source(name: str) -> DataSourceOut:
    return data_sources().view(_data_source(name))


@app.put("/v1/data-sources/<name>", summary="Replace a data source's settings (its name stays)")
def put_data_source(name: str, body: DataSourceIn) -> DataSourceOut:
    return data_sources().view(found(data_sources().update(account(), name, body), "data source", name))


@app.delete("/v1/data-sources/<name>", summary="Delete a data source (the table stays)")
def delete_data_source(name: str) -> Response[str]:
    if not data_sources().delete(account(), name):
        raise NotFoundError(f"data source {name!r} not found")
    return Response(HTTPStatus.NO_CONTENT, content_types.APPLICATION_JSON, "")


@app.get("/v1/data-sources/<name>/rows", summary="A contact's rows: {data: {<name>: [rows]}}, as templates read them")
def get_data_source_rows(
    name: str, contact: Annotated[str, Query(min_length=1, max_length=512, description="the contact key")]
) -> dict[str, Any]:
    source = _data_source(name)
    return {"data": {source.name: data_sources().rows(source, [contact])[contact]}}


@app.post("/v1/data-sources/<name>/rows", summary="Many contacts' rows at once (at most 500)")
def post_data_source_rows(name: str, body: RowsIn) -> dict[str, Any]:
    source = _data_source(name)
    rows = data_sources().rows(source, body.contacts)
    return {"results": [{"contact": contact, "data": {source.name: rows[contact]}} for contact in body.contacts]}


@app.post("/v1/data-sources/<name>/segment", summary="The known customers whose rows pass the conditions")
def segment_data_source(name: str, body: SegmentIn) -> dict[str, Any]:
    source = _data_source(name)
    return data_sources().segment(source, body.conditions, body.match == "all", body.limit)


def _invalid_data_source(exc: DataSourceError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


def _database_failed(exc: TargetError) -> Response[str]:
    logger.warning("a connector's database failed", extra={"error": str(exc)})
    return error_response(HTTPStatus.BAD_GATEWAY, f"the connector's database failed: {exc}")


def _invalid_export(exc: ExportConfigError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


def _invalid_hook(exc: HookError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


def _invalid_connector(exc: ConnectorError) -> Response[str]:
    status = HTTPStatus.CONFLICT if isinstance(exc, ConnectorInUseError) else HTTPStatus.UNPROCESSABLE_ENTITY
    return error_response(status, str(exc), [{"field": exc.field, "message": exc.message}])


def _dead_letters_failed(exc: DeadLetterError) -> Response[str]:
    logger.error("dead-letter queue call failed", extra={"error": str(exc)})
    message = f"{exc}; what was done is in 'partial', and calling again is safe"
    body = {"statusCode": 502, "message": message, "partial": exc.partial.model_dump(mode="json")}
    return Response(HTTPStatus.BAD_GATEWAY, content_types.APPLICATION_JSON, json.dumps(body))


install_error_handlers(
    app,
    {
        InvalidIntegrationError: _invalid_integration,
        ConnectorError: _invalid_connector,
        HookError: _invalid_hook,
        ExportConfigError: _invalid_export,
        DataSourceError: _invalid_data_source,
        TargetError: _database_failed,
        DeadLetterError: _dead_letters_failed,
    },
)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
