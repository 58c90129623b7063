"""Ingest keeps order events itself: each order under its external id for the customer its ids name (created
when unknown, as tracking does), a newer event replacing the whole order and an older one changing nothing;
a request refused for its customer ids writes no order and enqueues nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from sqlsync.customers.service import CustomerService
from sqlsync.models.ingest import EventsBody, events_of
from sqlsync.models.orders import OrderEvent
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.exceptions import IngestFieldError, PayloadTooLargeError
from sqlsync.sync.ingest import MAX_ORDER_BYTES, MAX_RECORDS_PER_REQUEST, CustomerRecords, ingest
from testkit import ROOT, event

ACCOUNT = 1
NOW = 1_800_000_000.0
SAMPLE: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8"))


def order_event(event_id: str = "evt-9", occurred_at: str = "2026-11-22T10:05:00Z", **order: Any) -> OrderEvent:
    body = copy.deepcopy(SAMPLE)
    body["order"].update(order)
    parsed = TypeAdapter(EventsBody).validate_python({**body, "id": event_id, "occurred_at": occurred_at})
    assert isinstance(parsed, OrderEvent)
    return parsed


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryCustomerStore()
        self.customers = CustomerService(self.store, clock=lambda: self.now)
        self.book = CustomerRecords(self.customers)
        self.sink = InMemorySink()

    def ingest(self, *events: Any, batch: bool = True) -> int:
        return ingest(list(events), self.sink, batch=batch, records=self.book).orders


def test_an_order_of_an_unknown_customer_creates_the_customer_without_properties() -> None:
    world = World()

    assert world.ingest(order_event()) == 1

    customer = world.customers.find(ACCOUNT, "registered", "c-1")
    assert customer is not None and customer.properties == {} and customer.source == "API"
    kept = world.store.get_order(ACCOUNT, "A-1001")
    assert kept is not None
    assert (kept.home, kept.created_at, kept.updated_at) == ("registered:c-1", NOW, NOW)
    assert kept.order["total_cost"] == "120.5" and kept.order["items"][0]["external_product_id"] == "sku-1"
    assert world.sink.bodies == []  # orders are not queued


def test_an_order_names_a_known_customer_by_any_of_its_ids() -> None:
    world = World()
    world.customers.update(ACCOUNT, {"registered": "c-1", "cookie": "ck-7"}, {"first_name": "Anna"})
    cookie_only = order_event()
    cookie_only = cookie_only.model_copy(update={"customer_ids": {"cookie": "ck-7"}})

    world.ingest(cookie_only)

    kept = world.store.get_order(ACCOUNT, "A-1001")
    assert kept is not None and kept.home == "registered:c-1"
    customer = world.customers.find(ACCOUNT, "registered", "c-1")
    assert customer is not None and customer.version == 1  # known, nothing to attach: not written again


def test_a_newer_event_replaces_the_order_and_a_late_older_one_changes_nothing() -> None:
    world = World()
    world.ingest(order_event("evt-1", "2026-11-22T10:00:00Z"))
    world.now = NOW + 60
    assert world.ingest(order_event("evt-2", "2026-11-22T12:00:00Z", status="DELIVERED", items=[])) == 1
    world.now = NOW + 120
    assert world.ingest(order_event("evt-0", "2026-11-22T11:00:00Z", status="IN PROGRESS")) == 0

    kept = world.store.get_order(ACCOUNT, "A-1001")
    assert kept is not None
    assert (kept.order["status"], kept.order["items"], kept.created_at, kept.updated_at) == (
        "DELIVERED",
        [],
        NOW,  # first received
        NOW + 60,
    )


def test_ids_of_two_customers_refuse_the_request_before_any_order_or_message() -> None:
    world = World()
    world.customers.update(ACCOUNT, {"registered": "c-1"}, {"x": 1})
    world.customers.update(ACCOUNT, {"cookie": "ck-2"}, {"x": 1})
    fine = order_event()
    clashing = order_event().model_copy(update={"customer_ids": {"registered": "c-1", "cookie": "ck-2"}})

    with pytest.raises(IngestFieldError) as refused:
        world.ingest(event("segment.cleared"), fine, clashing)

    assert refused.value.field == "events[2].customer_ids"
    assert "belong to different customers" in refused.value.message
    assert world.store.get_order(ACCOUNT, "A-1001") is None
    assert world.sink.bodies == []
    with pytest.raises(IngestFieldError, match=r"^customer_ids: "):  # a single event: no events[k]
        world.ingest(clashing, batch=False)


def test_an_order_too_large_for_one_item_is_refused_naming_it() -> None:
    world = World()
    item = SAMPLE["order"]["items"][0]
    items = [{**item, "external_product_id": f"sku-{n}", "description": "é" * 1000} for n in range(200)]
    large = order_event(items=items)

    with pytest.raises(
        PayloadTooLargeError, match=rf"^events\[1\]\.order: the order is \d+ bytes .* {MAX_ORDER_BYTES}"
    ):
        world.ingest(order_event("evt-1"), large)
    assert world.store.get_order(ACCOUNT, "A-1001") is None


def test_order_events_need_customer_records() -> None:
    with pytest.raises(ValueError, match="CustomerRecords"):
        ingest(events_of(order_event()), InMemorySink())


def test_more_order_events_than_one_request_may_carry_are_refused_before_any_is_kept() -> None:
    world = World()
    orders = [order_event(f"evt-{n}", external_order_id=f"A-{n}") for n in range(MAX_RECORDS_PER_REQUEST + 1)]

    with pytest.raises(IngestFieldError) as refused:
        world.ingest(*orders)

    assert refused.value.field == "events" and f"at most {MAX_RECORDS_PER_REQUEST}" in refused.value.message
    assert world.store.get_order(ACCOUNT, "A-0") is None
    assert world.ingest(*orders[:MAX_RECORDS_PER_REQUEST]) == MAX_RECORDS_PER_REQUEST
