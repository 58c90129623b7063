"""Order events through the ingest handler on moto: kept in the customers table (not queued), a bad one
refused naming its field, and the exporter's tick writing orders and their items into the real PostgreSQL and
MariaDB."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from sqlsync.store.dynamodb import DynamoDBCustomerStore
from testkit import ROOT, call, create_export, exporter_tick, http, load_function, queued, rows, scratch_schema

ACCOUNT = 1  # the sample's
SAMPLE: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8"))


def sample(**order: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["order"].update(order)
    return body


def test_an_order_event_is_kept_with_its_customer_and_not_queued(aws: dict[str, str]) -> None:
    ingest = load_function("ingest")
    segment = json.loads((ROOT / "events" / "platform" / "cleared.json").read_text("utf-8"))

    status, answer = call(ingest, http("POST", "/v1/events", {"events": [segment, SAMPLE]}))

    assert (status, answer) == (202, {"accepted": 2, "messages": 1, "hook_events": 0})
    assert len(queued(aws["SyncQueue"])) == 1 and queued(aws["HookQueue"]) == []
    store = DynamoDBCustomerStore(aws["CustomersTable"])
    kept = store.get_order(ACCOUNT, "A-1001")
    assert kept is not None and kept.home == "registered:c-1" and kept.order["items"][0]["cost"] == "60.25"
    assert set(store.read(ACCOUNT, ["registered:c-1"])) == {"registered:c-1"}  # the unknown customer, created

    # a later status update replaces it; the same event again changes nothing
    delivered = {**sample(status="DELIVERED"), "id": "evt-10", "occurred_at": "2026-11-22T12:00:00Z"}
    assert call(ingest, http("POST", "/v1/events", delivered))[0] == 202
    assert call(ingest, http("POST", "/v1/events", SAMPLE))[0] == 202
    kept = store.get_order(ACCOUNT, "A-1001")
    assert kept is not None and kept.order["status"] == "DELIVERED"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (sample(total_cost=-1), "events[1].order.total_cost"),
        (sample(items=[{"external_product_id": "sku-1", "cost": "x", "quantity": 1}]), "events[1].order.items[0].cost"),
        ({**SAMPLE, "customer_ids": {}}, "events[1].customer_ids"),
        ({**SAMPLE, "account_id": 2}, "events[1].account_id"),
    ],
)
def test_a_bad_order_event_is_refused_naming_its_field_and_nothing_is_kept(
    aws: dict[str, str], event: dict[str, Any], field: str
) -> None:
    ingest = load_function("ingest")
    other = {**SAMPLE, "order": {**SAMPLE["order"], "external_order_id": "B-1"}}

    status, answer = call(ingest, http("POST", "/v1/events", {"events": [other, event]}))

    assert status in (403, 422) and answer["errors"][0]["field"] == field, answer
    assert answer["message"].startswith(f"{field}: ")
    assert DynamoDBCustomerStore(aws["CustomersTable"]).get_order(ACCOUNT, "B-1") is None


def test_customer_ids_of_two_customers_are_refused_naming_the_event(aws: dict[str, str]) -> None:
    ingest, customers = load_function("ingest"), load_function("customers")
    commands = [
        {"name": "customers", "data": {"customer_ids": {"registered": "c-1"}, "properties": {"x": 1}}},
        {"name": "customers", "data": {"customer_ids": {"cookie": "ck-2"}, "properties": {"x": 1}}},
    ]
    assert call(customers, http("POST", f"/track/v2/projects/{ACCOUNT}/batch", {"commands": commands}))[0] == 200

    clashing = {**SAMPLE, "customer_ids": {"registered": "c-1", "cookie": "ck-2"}}
    status, answer = call(ingest, http("POST", "/v1/events", {"events": [clashing]}))

    assert (status, answer["errors"][0]["field"]) == (422, "events[0].customer_ids")
    assert DynamoDBCustomerStore(aws["CustomersTable"]).get_order(ACCOUNT, "A-1001") is None


@pytest.mark.services
@pytest.mark.parametrize("database", ["postgres_url", "mariadb_url"])
def test_the_exporter_tick_writes_the_ingested_orders_and_items(
    aws: dict[str, str], database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(database)
    ingest, api = load_function("ingest"), load_function("api")
    with scratch_schema(url, "orders") as schema:
        assert call(ingest, http("POST", "/v1/events", SAMPLE))[0] == 202
        export_id = create_export(api, url, schema, ["contacts", "orders", "orderItems"])

        answer = exporter_tick(load_function("exporter"))

        written = {"contacts": 1, "orders": 1, "orderItems": 1}
        assert answer == {"runs": [{"export_id": export_id, "status": "finished", "rows": written}]}
        ((contact,),) = rows(url, f"SELECT contactid FROM {schema}.contacts")
        assert rows(url, f"SELECT contactid, externalorderid, totalcost, lastname FROM {schema}.orders") == [
            (contact, "A-1001", Decimal("120.5"), "Nováková")
        ]
        assert rows(url, f"SELECT externalproductid, quantity, cost FROM {schema}.order_items") == [
            ("sku-1", 2, Decimal("60.25"))
        ]
