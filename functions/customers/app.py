"""Customers: real-time tracking (POST /track/v2/projects/{project_id}/batch) and a customer's properties
(GET /api/customers/{customer_id}), every property with the time of its last update (docs/customers.md)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.auth import caller_account
from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.customers.exceptions import CustomerError
from sqlsync.customers.service import CustomerService
from sqlsync.customers.tracking import run_batch
from sqlsync.customers.views import customer_view
from sqlsync.models.customers import CustomerOut, TrackBatchIn
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBCustomerStore

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
_service: CustomerService | None = None


def service() -> CustomerService:
    global _service
    if _service is None:
        _service = CustomerService(DynamoDBCustomerStore(Settings.from_env().customers_table))
    return _service


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
    record = service().find(caller_account(app.current_event), id_type, customer_id)
    if record is None:
        raise NotFoundError(f"customer {id_type}:{customer_id} not found")
    return CustomerOut.model_validate(customer_view(record, include_timestamps))


def _customer_error(exc: CustomerError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


install_error_handlers(app, {CustomerError: _customer_error})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
