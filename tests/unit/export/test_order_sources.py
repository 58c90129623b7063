"""The orders and orderItems datasets read from the orders ingest keeps: the same contact id as the contacts
dataset, the vendor's order id as a stable number, one row per item, and pages that end at an order's end."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from sqlsync.customers.service import CustomerService
from sqlsync.export.datasets import DATASETS
from sqlsync.export.runner import table_rows
from sqlsync.export.sources import ContactsSource, OrderItemsSource, OrdersSource, order_id, stable_id
from sqlsync.models.ingest import EventsBody
from sqlsync.models.orders import OrderEvent
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import CustomerRecords, ingest
from testkit import ROOT

ACCOUNT = 1
NOW = 1_800_000_000.0
SAMPLE: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8"))


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryCustomerStore()
        self.book = CustomerRecords(CustomerService(self.store, clock=lambda: self.now))

    def order(self, external_id: str, event_id: str = "evt-1", **changes: Any) -> None:
        body = copy.deepcopy(SAMPLE)
        body["order"].update(external_order_id=external_id, **changes)
        parsed = TypeAdapter(EventsBody).validate_python({**body, "id": event_id})
        assert isinstance(parsed, OrderEvent)
        ingest([parsed], InMemorySink(), records=self.book)


def test_the_orders_dataset_has_every_vendor_column_from_the_order_kept() -> None:
    world = World()
    world.order("A-1001")

    ((cursor, row),) = OrdersSource(world.store).read(ACCOUNT, "", NOW, 10)

    ((_, contact),) = ContactsSource(world.store).read(ACCOUNT, "", NOW, 10)
    assert row["contactid"] == contact["contactid"] == stable_id(ACCOUNT, "registered:c-1")
    assert row["orderid"] == order_id(ACCOUNT, "A-1001") == stable_id(ACCOUNT, "order#A-1001")
    assert row == {
        "contactid": contact["contactid"],
        "deliveryaddress": "Hlavná 1, 811 01 Bratislava",
        "deliverymethod": "courier",
        "discount": Decimal("0"),
        "email": "anna@example.com",
        "externalorderid": "A-1001",
        "firstname": "Anna",
        "lastname": "Nováková",
        "ordercreateddate": datetime.fromtimestamp(NOW, UTC),
        "orderdate": datetime(2026, 11, 22, 10, 4, 12, tzinfo=UTC),
        "orderid": row["orderid"],
        "paymentmethod": "card",
        "phone": "+421900000000",
        "status": "INITIALIZED",
        "totalcost": Decimal("120.5"),
    }
    assert set(row) == set(DATASETS["orders"].column_map)
    # the 63-bit id survives the runner's fitting into the bigint column
    (fitted,) = table_rows(DATASETS["orders"], [(cursor, row)])
    assert row["orderid"] in fitted and row["orderid"] > 2**31


def test_an_updated_order_keeps_its_created_date_and_order_id() -> None:
    world = World()
    world.order("A-1001", date="2026-11-22T11:04:12+01:00")
    world.now = NOW + 3600
    world.order("A-1001", "evt-2", status="DELIVERED")

    rows = OrdersSource(world.store).read(ACCOUNT, "", NOW + 3600, 10)

    assert [(r["orderid"], r["status"], r["ordercreateddate"]) for _, r in rows] == [
        (order_id(ACCOUNT, "A-1001"), "DELIVERED", datetime.fromtimestamp(NOW, UTC))
    ]


def test_order_items_are_one_row_per_product_with_the_orders_id_and_date() -> None:
    world = World()
    second = {"external_product_id": "sku-2", "cost": "9.99", "quantity": 1}
    world.order("A-1001", items=[*SAMPLE["order"]["items"], second])

    rows = [row for _, row in OrderItemsSource(world.store).read(ACCOUNT, "", NOW, 10)]

    common = {"orderid": order_id(ACCOUNT, "A-1001"), "orderdate": datetime(2026, 11, 22, 10, 4, 12, tzinfo=UTC)}
    assert rows == [
        {
            **common,
            "cost": Decimal("60.25"),
            "description": "Porcelain, 250 ml",
            "externalproductid": "sku-1",
            "imageurl": "https://shop.example.com/i/sku-1.jpg",
            "name": "Tea cup",
            "quantity": 2,
            "url": "https://shop.example.com/p/sku-1",
        },
        {
            **common,
            "cost": Decimal("9.99"),
            "description": None,
            "externalproductid": "sku-2",
            "imageurl": None,
            "name": None,
            "quantity": 1,
            "url": None,
        },
    ]
    assert all(set(row) == set(DATASETS["orderItems"].column_map) for row in rows)


def test_an_item_page_ends_at_an_orders_end_and_reads_on_past_orders_without_items() -> None:
    world = World()
    item = SAMPLE["order"]["items"][0]
    for n in range(5):  # more orders without items than a page holds
        world.now += 1
        world.order(f"empty-{n}", items=[])
    world.now += 1
    world.order("three", items=[{**item, "external_product_id": f"p{n}"} for n in range(3)])
    world.now += 1
    world.order("one", items=[item])
    source = OrderItemsSource(world.store)

    first = source.read(ACCOUNT, "", world.now, 2)
    # the whole of "three", though the page asked for 2 rows: a cursor is an order's
    assert [row["externalproductid"] for _, row in first] == ["p0", "p1", "p2"]
    assert len({cursor for cursor, _ in first}) == 1
    rest = source.read(ACCOUNT, first[-1][0], world.now, 2)
    assert [row["externalproductid"] for _, row in rest] == ["sku-1"]
    assert source.read(ACCOUNT, rest[-1][0], world.now, 2) == []
