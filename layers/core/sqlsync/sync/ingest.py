"""Ingest: validated platform events -> queue messages, each under the SQS size limit.

An event with many profiles is split into several messages that carry the same event id, type, time and
segment and a part of the profiles (sqlsync.sync.wire); the worker treats each part on its own. Validation of
the whole request happens before the first message is sent, so a bad request enqueues nothing.

Order and device events are not queued: ingest keeps them itself (CustomerRecords), after everything else is
checked and before anything is sent. Each one's customer is resolved first, for all of them, so that ids of two
customers refuse the request before any order or device is written. So is message activity, for the accounts
that export it (ActivityLog, given by the caller only then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlsync.customers.exceptions import CustomerError
from sqlsync.models.devices import DeviceEvent
from sqlsync.models.events import SegmentEvent
from sqlsync.models.orders import OrderEvent
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError
from sqlsync.sync.queue import MessageSink
from sqlsync.sync.wire import to_messages

if TYPE_CHECKING:
    from sqlsync.customers.activity import ActivityLog
    from sqlsync.customers.service import CustomerService
    from sqlsync.hooks.fanout import HookFanout
    from sqlsync.models.hooks import ActivityEvent

MAX_ORDER_BYTES = 350 * 1024
"""An order's JSON, kept in one DynamoDB item (400 KB with its other attributes)."""
MAX_RECORDS_PER_REQUEST = 100
"""Order and device events in one request. Ingest writes each itself (a customer lookup and a conditional
write, one after the other): this many stay well within the function's timeout."""


@dataclass(frozen=True)
class IngestResult:
    events: int
    messages: int
    hook_events: int = 0
    """Deliveries queued for action hooks: one per event and hook it passes."""
    orders: int = 0
    """Orders written (an order event older than the order kept writes nothing)."""
    devices: int = 0
    """Devices written (likewise)."""
    activities: int = 0
    """Activity events kept for the activity exports."""


class CustomerRecords:
    """Keeps order and device events in the customers store: each order under its external order id, each device
    under its device id, for the customer its ids name (created without properties when unknown, as a tracked
    event of an unknown customer is)."""

    def __init__(self, customers: CustomerService) -> None:
        self.customers = customers

    def keep(self, events: Sequence[tuple[int, OrderEvent | DeviceEvent]], batch: bool) -> tuple[int, int]:
        """Resolve every event's customer, then write each order or device unless a newer one is kept. Returns
        how many orders and devices were written. `events`: (index in the request, event), for error fields
        such as `events[3].`."""
        from sqlsync.store.base import DeviceRecord, OrderRecord  # the store's dataclasses only once one comes

        homes: list[str] = []
        for index, event in events:
            try:
                homes.append(self.customers.ensure(event.account_id, event.customer_ids).key)
            except CustomerError as exc:
                raise IngestFieldError(f"events[{index}].{exc.field}" if batch else exc.field, exc.message) from None
        orders = devices = 0
        for (_, event), home in zip(events, homes, strict=True):
            now = self.customers.clock()
            if isinstance(event, OrderEvent):
                order = event.order
                kept = OrderRecord(
                    order.external_order_id, home, event.version, order.model_dump(mode="json"), now, now
                )
                orders += self.customers.store.put_order(event.account_id, kept)
            else:
                device = event.device
                record = DeviceRecord(device.device_id, home, event.version, device.model_dump(mode="json"), now, now)
                devices += self.customers.store.put_device(event.account_id, record)
        return orders, devices


def ingest(
    events: Sequence[SegmentEvent | ActivityEvent | OrderEvent | DeviceEvent],
    sink: MessageSink,
    *,
    batch: bool = False,
    hooks: HookFanout | None = None,
    records: CustomerRecords | None = None,
    activity_log: ActivityLog | None = None,
) -> IngestResult:
    """Segment events to the sync queue, activity events to the hook queue (one message per hook they
    pass) and to `activity_log` when given, order and device events to `records` (required when there are any).
    Everything is built and checked before anything is sent. `batch`: the events came as {"events": [...]},
    so errors name `events[k].` first."""
    bodies: list[str] = []
    activity: list[tuple[int, ActivityEvent]] = []
    kept_events: list[tuple[int, OrderEvent | DeviceEvent]] = []
    for index, event in enumerate(events):
        try:
            if isinstance(event, OrderEvent):
                _check_order_size(event)
                kept_events.append((index, event))
            elif isinstance(event, DeviceEvent):
                kept_events.append((index, event))
            elif isinstance(event, SegmentEvent):
                bodies += to_messages(event)
            else:  # an activity event (its model is not imported by the worker)
                activity.append((index, event))
        except IngestFieldError as exc:
            raise (exc.within(f"events[{index}].") if batch else exc) from None
    if len(kept_events) > MAX_RECORDS_PER_REQUEST:
        raise IngestFieldError(
            "events",
            f"{len(kept_events)} order and device events; at most {MAX_RECORDS_PER_REQUEST} in one request",
        )
    plan = hooks.plan(activity, batch) if hooks is not None and activity else None
    orders = devices = 0
    if kept_events:
        if records is None:
            raise ValueError("order and device events need CustomerRecords to keep them")
        orders, devices = records.keep(kept_events, batch)
    kept = activity_log.keep([event for _, event in activity]) if activity_log is not None and activity else 0
    sink.send(bodies)
    if hooks is not None and plan is not None:
        hooks.send(plan)
    return IngestResult(
        events=len(events),
        messages=len(bodies),
        hook_events=plan.events if plan else 0,
        orders=orders,
        devices=devices,
        activities=kept,
    )


def _check_order_size(event: OrderEvent) -> None:
    size = len(event.order.model_dump_json().encode())
    if size > MAX_ORDER_BYTES:
        raise PayloadTooLargeError(
            "order", f"the order is {size} bytes of JSON; one order may take at most {MAX_ORDER_BYTES}"
        )
