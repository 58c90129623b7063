"""Ingest: POST /v1/events -> segment events on the sync queue, activity events on the hook queue (one message
per hook they pass, and message activity kept for the accounts that export it), order and device events kept in
the customers table (for the orders and devices exports). The hot path: no database driver here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.auth import caller_account
from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.customers.activity import ACTIVITY_DATASETS, ActivityLog
from sqlsync.hooks.fanout import HookFanout
from sqlsync.models.devices import DeviceEvent
from sqlsync.models.hooks import ActivityEvent, Hook
from sqlsync.models.ingest import EventBatch, EventsBody, events_of
from sqlsync.models.orders import OrderEvent
from sqlsync.settings import Settings
from sqlsync.sync.cache import TtlCache
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError
from sqlsync.sync.ingest import CustomerRecords, ingest
from sqlsync.sync.queue import MessageSink, SQSSink

if TYPE_CHECKING:
    from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBCustomerStore

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
_sink: MessageSink | None = None
_fanout: HookFanout | None = None
_records: CustomerRecords | None = None
_activity_log: ActivityLog | None = None
_exported: Callable[[int], frozenset[str]] | None = None


def sink() -> MessageSink:
    """The queue client, made on first use and kept for the life of the warm Lambda."""
    global _sink
    if _sink is None:
        _sink = SQSSink(Settings.from_env().sync_queue_url)
    return _sink


@cache
def config_store() -> DynamoDBConfigStore:
    """The config table, for the account's hooks and exports: one client, made on first use."""
    from sqlsync.store.dynamodb import DynamoDBConfigStore

    return DynamoDBConfigStore(Settings.from_env().config_table)


@cache
def customer_store() -> DynamoDBCustomerStore:
    """The customers table, for orders, devices and message activity: one client, made on first use (traffic
    without them never builds it)."""
    from sqlsync.store.dynamodb import DynamoDBCustomerStore

    return DynamoDBCustomerStore(Settings.from_env().customers_table)


def fanout() -> HookFanout:
    """Each account's hooks, read through a cache: a changed hook takes effect within its TTL."""
    global _fanout
    if _fanout is None:
        # On first use, as SQSSink's client: segment-only traffic never imports boto3 beyond what sending needs.
        from sqlsync.store.dynamodb import DynamoDBContentStore

        settings = Settings.from_env()
        config = config_store()
        hooks: TtlCache[int, list[Hook]] = TtlCache(settings.config_cache_seconds)
        sources: TtlCache[int, frozenset[str]] = TtlCache(settings.config_cache_seconds)
        _fanout = HookFanout(
            lambda account: hooks.get(account, config.list_hooks),
            SQSSink(settings.hook_queue_url),
            DynamoDBContentStore(settings.content_table),
            timedelta(hours=settings.hook_content_retention_hours),
            data_sources_of=lambda account: sources.get(account, config.data_source_names),
        )
    return _fanout


def activity_log(account: int) -> ActivityLog | None:
    """Where message activity is kept, for an account with an export of a dataset made of it; else None (activity
    is not kept: no write on the way of hook-only traffic). An export created later sees the activity from then:
    within the config cache's TTL."""
    global _activity_log, _exported
    if _exported is None:
        config = config_store()
        cache: TtlCache[int, frozenset[str]] = TtlCache(Settings.from_env().config_cache_seconds)

        def datasets(of: int) -> frozenset[str]:
            return frozenset(name for export in config.list_exports(of) for name in export.datasets)

        _exported = lambda of: cache.get(of, datasets)  # noqa: E731
    if not ACTIVITY_DATASETS & _exported(account):
        return None
    if _activity_log is None:
        retention = Settings.from_env().activity_retention_days * 86400.0
        _activity_log = ActivityLog(customer_store(), retention=retention)
    return _activity_log


def customer_records() -> CustomerRecords:
    """Where order and device events are kept: the customers table, resolved through the customers service."""
    global _records
    if _records is None:
        from sqlsync.customers.service import CustomerService

        _records = CustomerRecords(CustomerService(customer_store()))
    return _records


@app.post(
    "/v1/events",
    summary="Accept platform events: segment events for sync, activity events for hooks, orders and devices kept",
    responses={
        202: {
            "description": "Accepted: the events (`accepted`), sync queue messages (`messages`), deliveries "
            "queued for action hooks (`hook_events`)",
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "integer"}}}
            },
        }
    },
)
def post_events(body: Annotated[EventsBody, Body()]) -> Response[dict[str, int]]:
    events = events_of(body)
    account = caller_account(app.current_event)
    for index, event in enumerate(events):
        if event.account_id != account:
            field = f"events[{index}].account_id" if isinstance(body, EventBatch) else "account_id"
            raise FieldError(field, f"not the account of this API key ({account})", HTTPStatus.FORBIDDEN)
    has_records = any(isinstance(event, OrderEvent | DeviceEvent) for event in events)
    has_activity = any(isinstance(event, ActivityEvent) for event in events)
    result = ingest(
        events,
        sink(),
        batch=isinstance(body, EventBatch),
        hooks=fanout(),
        records=customer_records() if has_records else None,
        activity_log=activity_log(account) if has_activity else None,
    )
    metrics.add_metric("EventsIngested", MetricUnit.Count, result.events)
    logger.info(
        "enqueued",
        extra={
            "events": result.events,
            "messages": result.messages,
            "hook_events": result.hook_events,
            "orders": result.orders,
            "devices": result.devices,
            "activities": result.activities,
        },
    )
    return Response(
        HTTPStatus.ACCEPTED,
        content_types.APPLICATION_JSON,
        {"accepted": result.events, "messages": result.messages, "hook_events": result.hook_events},
    )


def _too_large(exc: PayloadTooLargeError) -> Response[str]:
    return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc), [{"field": exc.field, "message": exc.message}])


def _unprocessable(exc: IngestFieldError) -> Response[str]:
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc), [{"field": exc.field, "message": exc.message}])


install_error_handlers(
    app,
    {
        PayloadTooLargeError: _too_large,
        # The rest: an unencodable value, an unknown data source, customer ids an order cannot be kept under.
        IngestFieldError: _unprocessable,
    },
)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
