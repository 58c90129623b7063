"""Ingest: validated platform events -> queue messages, each under the SQS size limit.

An event with many profiles is split into several messages that carry the same event id, type, time and
segment and a part of the profiles; the worker treats each part on its own. Validation of the whole
request happens before the first message is sent, so a bad request enqueues nothing.

Order events are not queued: ingest keeps them itself (OrderBook), after everything else is checked and
before anything is sent. Each order's customer is resolved first, for all of them, so that ids of two
customers refuse the request before any order is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic_core import PydanticSerializationError

from sqlsync.customers.exceptions import CustomerError
from sqlsync.models.events import SegmentEvent
from sqlsync.models.orders import OrderEvent
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError, UnencodableValueError
from sqlsync.sync.queue import MAX_MESSAGE_BYTES, MessageSink

if TYPE_CHECKING:
    from sqlsync.customers.service import CustomerService
    from sqlsync.hooks.fanout import HookFanout
    from sqlsync.models.hooks import ActivityEvent

# Room for the envelope (event fields) and for SQS attributes within the 256 KiB limit.
MESSAGE_BUDGET = MAX_MESSAGE_BYTES - 8 * 1024
MAX_ORDER_BYTES = 350 * 1024
"""An order's JSON, kept in one DynamoDB item (400 KB with its other attributes)."""
MAX_ORDERS_PER_REQUEST = 100
"""Ingest writes each order itself (a customer lookup and a conditional write, one after the other): this
many stay well within the function's timeout."""


@dataclass(frozen=True)
class IngestResult:
    events: int
    messages: int
    hook_messages: int = 0
    orders: int = 0
    """Orders written (an order event older than the order kept writes nothing)."""


class OrderBook:
    """Keeps order events in the customers store: each under its external order id, for the customer its ids
    name (created without properties when unknown, as a tracked event of an unknown customer is)."""

    def __init__(self, customers: CustomerService) -> None:
        self.customers = customers

    def keep(self, orders: Sequence[tuple[int, OrderEvent]], batch: bool) -> int:
        """Resolve every order's customer, then write each order unless a newer one is kept. Returns how many
        were written. `orders`: (index in the request, event), for error fields such as `events[3].`."""
        from sqlsync.store.base import OrderRecord  # the store's dataclasses only once an order comes

        homes: list[str] = []
        for index, event in orders:
            try:
                homes.append(self.customers.ensure(event.account_id, event.customer_ids).key)
            except CustomerError as exc:
                raise IngestFieldError(f"events[{index}].{exc.field}" if batch else exc.field, exc.message) from None
        written = 0
        for (_, event), home in zip(orders, homes, strict=True):
            now = self.customers.clock()
            record = OrderRecord(
                event.order.external_order_id,
                home,
                event.version,
                event.order.model_dump(mode="json"),
                created_at=now,
                updated_at=now,
            )
            written += self.customers.store.put_order(event.account_id, record)
        return written


def to_messages(event: SegmentEvent, budget: int = MESSAGE_BUDGET) -> list[str]:
    """The event as one or more JSON bodies, each at most `budget` bytes."""
    envelope = event.model_dump(mode="json", exclude={"profiles"})
    head = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"profiles":['
    if not event.profiles:
        return [head + "]}"]
    room = budget - len(head.encode()) - 2
    messages: list[str] = []
    parts: list[str] = []
    used = 0
    for index, profile in enumerate(event.profiles):
        try:
            # Typed strings are checked by pydantic; free-form field values are only caught here.
            part = profile.model_dump_json()
        except PydanticSerializationError:
            raise UnencodableValueError(
                f"profiles[{index}].fields", "contains text that is not valid Unicode"
            ) from None
        size = len(part.encode()) + 1
        if size > room:
            raise PayloadTooLargeError(
                f"profiles[{index}]", f"profile {profile.id!r} is {size} bytes; one profile may take at most {room}"
            )
        if parts and used + size > room:
            messages.append(head + ",".join(parts) + "]}")
            parts, used = [], 0
        parts.append(part)
        used += size
    messages.append(head + ",".join(parts) + "]}")
    return messages


def ingest(
    events: Sequence[SegmentEvent | ActivityEvent | OrderEvent],
    sink: MessageSink,
    *,
    batch: bool = False,
    hooks: HookFanout | None = None,
    orders: OrderBook | None = None,
) -> IngestResult:
    """Segment events to the sync queue, activity events to the hook queue (one message per hook they
    pass), order events to `orders` (required when there are any). Everything is built and checked before
    anything is sent. `batch`: the events came as {"events": [...]}, so errors name `events[k].` first."""
    bodies: list[str] = []
    activity: list[tuple[int, ActivityEvent]] = []
    order_events: list[tuple[int, OrderEvent]] = []
    for index, event in enumerate(events):
        try:
            if isinstance(event, OrderEvent):
                _check_order_size(event)
                order_events.append((index, event))
            elif isinstance(event, SegmentEvent):
                bodies += to_messages(event)
            else:  # an activity event (its model is not imported by the worker)
                activity.append((index, event))
        except IngestFieldError as exc:
            raise (exc.within(f"events[{index}].") if batch else exc) from None
    if len(order_events) > MAX_ORDERS_PER_REQUEST:
        raise IngestFieldError(
            "events", f"{len(order_events)} order events; at most {MAX_ORDERS_PER_REQUEST} in one request"
        )
    plan = hooks.plan(activity, batch) if hooks is not None and activity else None
    written = 0
    if order_events:
        if orders is None:
            raise ValueError("order events need an OrderBook to keep them")
        written = orders.keep(order_events, batch)
    sink.send(bodies)
    if hooks is not None and plan is not None:
        hooks.send(plan)
    return IngestResult(
        events=len(events), messages=len(bodies), hook_messages=len(plan.bodies) if plan else 0, orders=written
    )


def _check_order_size(event: OrderEvent) -> None:
    size = len(event.order.model_dump_json().encode())
    if size > MAX_ORDER_BYTES:
        raise PayloadTooLargeError(
            "order", f"the order is {size} bytes of JSON; one order may take at most {MAX_ORDER_BYTES}"
        )
