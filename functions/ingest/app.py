"""Ingest: POST /v1/events -> segment events on the sync queue, activity events on the hook queue (one message
per hook they pass), order events kept in the customers table (for the orders exports). The hot path: no
database driver here."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.api.auth import caller_account
from sqlsync.api.errors import FieldError, error_response, install_error_handlers
from sqlsync.hooks.fanout import HookFanout
from sqlsync.models.hooks import Hook
from sqlsync.models.ingest import EventBatch, EventsBody, events_of
from sqlsync.models.orders import OrderEvent
from sqlsync.settings import Settings
from sqlsync.sync.cache import TtlCache
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError
from sqlsync.sync.ingest import OrderBook, ingest
from sqlsync.sync.queue import MessageSink, SQSSink

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)
_sink: MessageSink | None = None
_fanout: HookFanout | None = None
_orders: OrderBook | None = None


def sink() -> MessageSink:
    """The queue client, made on first use and kept for the life of the warm Lambda."""
    global _sink
    if _sink is None:
        _sink = SQSSink(Settings.from_env().sync_queue_url)
    return _sink


def fanout() -> HookFanout:
    """Each account's hooks, read through a cache: a changed hook takes effect within its TTL."""
    global _fanout
    if _fanout is None:
        # On first use, as SQSSink's client: segment-only traffic never imports boto3 beyond what sending needs.
        from sqlsync.store.dynamodb import DynamoDBConfigStore, DynamoDBContentStore

        settings = Settings.from_env()
        config = DynamoDBConfigStore(settings.config_table)
        cache: TtlCache[int, list[Hook]] = TtlCache(settings.config_cache_seconds)
        sources: TtlCache[int, frozenset[str]] = TtlCache(settings.config_cache_seconds)
        _fanout = HookFanout(
            lambda account: cache.get(account, config.list_hooks),
            SQSSink(settings.hook_queue_url),
            DynamoDBContentStore(settings.content_table),
            timedelta(hours=settings.hook_content_retention_hours),
            data_sources_of=lambda account: sources.get(account, config.data_source_names),
        )
    return _fanout


def order_book() -> OrderBook:
    """Where order events are kept: the customers table, resolved through the customers service."""
    global _orders
    if _orders is None:
        # On first use: traffic without orders never builds the customers store.
        from sqlsync.customers.service import CustomerService
        from sqlsync.store.dynamodb import DynamoDBCustomerStore

        _orders = OrderBook(CustomerService(DynamoDBCustomerStore(Settings.from_env().customers_table)))
    return _orders


@app.post(
    "/v1/events",
    summary="Accept platform events: segment events for sync, activity events for hooks, orders for exports",
)
def post_events(body: Annotated[EventsBody, Body()]) -> Response[dict[str, int]]:
    events = events_of(body)
    account = caller_account(app.current_event)
    for index, event in enumerate(events):
        if event.account_id != account:
            field = f"events[{index}].account_id" if isinstance(body, EventBatch) else "account_id"
            raise FieldError(field, f"not the account of this API key ({account})", HTTPStatus.FORBIDDEN)
    has_orders = any(isinstance(event, OrderEvent) for event in events)
    result = ingest(
        events, sink(), batch=isinstance(body, EventBatch), hooks=fanout(), orders=order_book() if has_orders else None
    )
    metrics.add_metric("EventsIngested", MetricUnit.Count, result.events)
    logger.info(
        "enqueued",
        extra={
            "events": result.events,
            "messages": result.messages,
            "hook_messages": result.hook_messages,
            "orders": result.orders,
        },
    )
    return Response(
        HTTPStatus.ACCEPTED,
        content_types.APPLICATION_JSON,
        {"accepted": result.events, "messages": result.messages, "hook_messages": result.hook_messages},
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
