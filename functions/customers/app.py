"""Customers: real-time tracking (POST /track/v2/projects/{project_id}/batch), a customer's properties
(GET /api/customers/{customer_id}), every property with the time of its last update, and imports
(/v1/imports: created here, run by the importer function). See docs/customers.md."""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.auth import caller_account
from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.customers.exceptions import CustomerError
from sqlsync.customers.imports.service import ImportService, import_view
from sqlsync.customers.service import CustomerService
from sqlsync.customers.tracking import run_batch
from sqlsync.customers.views import customer_view
from sqlsync.models.customers import CustomerOut, ImportIn, TrackBatchIn
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBCustomerStore, DynamoDBImportStore
from sqlsync.store.objects import S3ObjectStore
from sqlsync.sync.queue import SQSSink

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
_service: CustomerService | None = None
_imports: ImportService | None = None


def service() -> CustomerService:
    global _service
    if _service is None:
        _service = CustomerService(DynamoDBCustomerStore(Settings.from_env().customers_table))
    return _service


def imports() -> ImportService:
    global _imports
    if _imports is None:
        settings = Settings.from_env()
        _imports = ImportService(
            DynamoDBImportStore(settings.customers_table),
            S3ObjectStore(settings.imports_bucket),
            SQSSink(settings.import_queue_url),
        )
    return _imports


def account() -> int:
    return caller_account(app.current_event)


def project_account(project_id: str) -> int:
    """The project is the account of the API key: a caller tracks into its own account only."""
    account = caller_account(app.current_event)
    if project_id != str(account):
        raise FieldError("project_id", f"not the project of this API key ({account})", HTTPStatus.FORBIDDEN)
    return account


@app.post("/track/v2/projects/<project_id>/batch", summary="Run tracking commands, each with its own result")
def track_batch(project_id: str, body: Annotated[TrackBatchIn, Body()]) -> dict[str, Any]:
    results = run_batch(service(), project_account(project_id), body.commands)
    failed = sum(not result["success"] for result in results)
    metrics.add_metric("TrackingCommands", MetricUnit.Count, len(results))
    metrics.add_metric("TrackingCommandsFailed", MetricUnit.Count, failed)
    if failed:
        logger.info("commands failed", extra={"commands": len(results), "failed": failed})
    # {"success": true} says the batch was read; each command's own outcome is in its result.
    return {"success": True, "results": results}


@app.get("/api/customers/<customer_id>", summary="A customer's properties, optionally with their timestamps")
def get_customer(
    customer_id: str,
    include_timestamps: Annotated[bool, Query(description="1: each property as {value, last_update}")] = False,
    id_type: Annotated[str, Query(description="The type of customer_id: registered, cookie, ...")] = "registered",
) -> CustomerOut:
    record = service().find(account(), id_type, customer_id)
    if record is None:
        raise NotFoundError(f"customer {id_type}:{customer_id} not found")
    return CustomerOut.model_validate(customer_view(record, include_timestamps))


@app.post("/v1/imports", summary="Import customers from a CSV file, by a mapping of its columns")
def create_import(body: Annotated[ImportIn, Body()]) -> Response[dict[str, Any]]:
    record = imports().create(account(), body.mapping, body.csv, body.upload_key)
    return Response(HTTPStatus.ACCEPTED, content_types.APPLICATION_JSON, import_view(record))


@app.post("/v1/imports/uploads", summary="A URL to PUT a large CSV file to, for POST /v1/imports upload_key")
def create_upload() -> dict[str, Any]:
    return imports().upload(account())


@app.get("/v1/imports", summary="The account's imports, newest first")
def list_imports() -> dict[str, Any]:
    return {"imports": [import_view(record) for record in imports().list_imports(account())]}


@app.get("/v1/imports/<import_id>", summary="An import's status, progress and counters")
def get_import(import_id: str) -> dict[str, Any]:
    record = imports().get(account(), import_id)
    if record is None:
        raise NotFoundError(f"import {import_id!r} not found")
    return import_view(record)


@app.get("/v1/imports/<import_id>/errors", summary="The rows an import could not apply: row, line, column, reason")
def get_import_errors(
    import_id: str,
    after_row: Annotated[int, Query(ge=0, description="Rows up to this one are skipped (paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if imports().get(account(), import_id) is None:
        raise NotFoundError(f"import {import_id!r} not found")
    errors = imports().errors(account(), import_id, after_row, limit)
    return {
        "errors": [dataclasses.asdict(error) for error in errors],
        "next_after_row": errors[-1].row if len(errors) == limit else None,
    }


def _customer_error(exc: CustomerError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


install_error_handlers(app, {CustomerError: _customer_error})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
