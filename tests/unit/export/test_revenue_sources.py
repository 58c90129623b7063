"""The revenue dataset: orders attributed to the last click of their customer in a message within five days
before the order (the click's profile id is the customer's registered id); the row carries the click's
message columns and the order's, and is made again with the order."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from sqlsync.customers.activity import ATTRIBUTION_SECONDS, ActivityLog
from sqlsync.customers.service import CustomerService
from sqlsync.export.datasets import DATASETS
from sqlsync.export.sources import RevenueSource, message_instance_id, sources
from sqlsync.models.ingest import EventsBody
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import CustomerRecords, ingest
from testkit import ROOT, activity_event

ACCOUNT = 1
NOW = 1_800_000_000.0
FAR = NOW + 10_000
ORDER: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8"))
PLACED = datetime(2026, 11, 22, 10, 4, 12, tzinfo=UTC)  # the sample order's date


def order_event(event_id: str = "evt-9", customer: str = "c-1", occurred_at: str | None = None, **order: Any) -> Any:
    body = copy.deepcopy(ORDER)
    body["order"].update(order)
    body |= {"id": event_id, "customer_ids": {"registered": customer}}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return TypeAdapter(EventsBody).validate_python(body)


def click(event_id: str, before: timedelta, event_type: str = "click", profile: str = "c-1", **fields: Any) -> Any:
    at = (PLACED - before).isoformat()
    return activity_event(event_id, event_type, occurred_at=at, profile={"id": profile}, **fields)


class World:
    def __init__(self) -> None:
        self.store = InMemoryCustomerStore()
        customers = CustomerService(self.store, clock=lambda: NOW)
        self.records = CustomerRecords(customers)
        self.log = ActivityLog(self.store, clock=lambda: NOW)

    def ingest(self, *events: Any) -> None:
        ingest(list(events), InMemorySink(), records=self.records, activity_log=self.log)

    def rows(self, limit: int = 100) -> list[dict[str, Any]]:
        return [row for _, row in RevenueSource(self.store).read(ACCOUNT, "", FAR, limit) if row is not None]


def test_an_order_after_a_click_is_revenue_of_that_message() -> None:
    world = World()
    world.ingest(click("evt-1", timedelta(hours=2)), order_event())

    (row,) = world.rows()

    ((_, contact),) = sources(world.store)["contacts"].read(ACCOUNT, "", FAR, 10)
    assert row == {
        "activitystatus": "CLICKED",
        "clickeventlink": "https://shop.example.com/sale",
        "contactid": contact["contactid"],
        "mediatype": "Email",
        "messageinstanceid": message_instance_id(ACCOUNT, 7, 9, "c-1"),
        "messagename": "Promo",
        "activitydatetime": PLACED - timedelta(hours=2),
        "utmcampaign": "bf-26",
        "externalcustomerid": "c-1",
        "externalorderid": "A-1001",
        "orderdate": PLACED,
        "totalcost": Decimal("120.5"),
    }
    assert set(row) <= set(DATASETS["revenue"].column_map)
    assert all(row[name] is not None for name in DATASETS["revenue"].key)


def test_the_last_click_within_five_days_before_the_order_wins() -> None:
    world = World()
    world.ingest(
        click("evt-old", timedelta(seconds=ATTRIBUTION_SECONDS + 1), message={"id": 1, "name": "too old"}),
        click("evt-sms", timedelta(days=3), "click_sms", message={"id": 2, "name": "sms"}),
        click("evt-last", timedelta(days=1), "uclick_push", message={"id": 3, "name": "push"}),
        click("evt-open", timedelta(hours=1), "open", message={"id": 4, "name": "opened, not clicked"}),
        click("evt-after", -timedelta(minutes=5), message={"id": 5, "name": "after the order"}),
        click("evt-other", timedelta(hours=1), profile="c-2", message={"id": 6, "name": "another customer"}),
        order_event(),
    )

    ((row),) = world.rows()

    assert (row["messagename"], row["mediatype"]) == ("push", "MobilePush")


def test_an_order_without_a_click_in_the_window_is_no_revenue_and_the_feed_is_read_past_it() -> None:
    world = World()
    world.ingest(click("evt-1", timedelta(days=6)), order_event("evt-9", external_order_id="A-1"))
    world.ingest(order_event("evt-10", customer="c-9", external_order_id="A-2"))  # never clicked
    world.ingest(click("evt-2", timedelta(hours=1), profile="c-3"), order_event("evt-11", customer="c-3"))

    assert [row["externalorderid"] for row in world.rows(limit=1)] == ["A-1001"]


def test_a_customer_without_a_registered_id_has_no_revenue() -> None:
    world = World()
    anonymous = copy.deepcopy(ORDER)
    anonymous["customer_ids"] = {"cookie": "ck-1"}
    world.ingest(click("evt-1", timedelta(hours=1), profile="ck-1"), TypeAdapter(EventsBody).validate_python(anonymous))

    assert world.rows() == []


def test_a_changed_order_is_the_same_row_with_its_new_total() -> None:
    world = World()
    world.ingest(click("evt-1", timedelta(hours=1)), order_event())
    first = world.rows()
    world.ingest(order_event("evt-10", total_cost="99.9", occurred_at="2026-11-22T11:00:00Z"))

    (row,) = world.rows()

    assert row["totalcost"] == Decimal("99.9")
    assert [row[name] for name in DATASETS["revenue"].key] == [first[0][name] for name in DATASETS["revenue"].key]
