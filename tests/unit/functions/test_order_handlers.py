"""Order events through the ingest handler on moto: kept in the customers table (not queued), a bad one
refused naming its field, and the exporter's tick writing orders and their items into the real PostgreSQL."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from sqlsync.store.dynamodb import DynamoDBCustomerStore
from testkit import ROOT, Context, call, http, load_function, queued, rows, run_sql

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

    assert (status, answer) == (202, {"accepted": 2, "messages": 1, "hook_messages": 0})
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
def test_the_exporter_tick_writes_the_ingested_orders_and_items_into_postgresql(
    aws: dict[str, str], postgres_url: str
) -> None:
    ingest, api, exporter = load_function("ingest"), load_function("api"), load_function("exporter")
    exporter.runner().lag = 0.0  # the test does not wait for the index's lag
    schema = f"orders_{uuid.uuid4().hex[:8]}"
    run_sql(postgres_url, f"CREATE SCHEMA {schema}")
    try:
        assert call(ingest, http("POST", "/v1/events", SAMPLE))[0] == 202
        url = make_url(postgres_url)
        body = {"name": "pg", "type": "postgresql", "host": url.host, "port": url.port, "database": url.database}
        body |= {"username": url.username, "password": "unused-with-trust"}
        status, connector = call(api, http("POST", "/v1/connectors", body))
        assert status == 201, connector
        export = {"name": "orders", "connector_id": connector["id"], "target_schema": schema}
        export["datasets"] = ["contacts", "orders", "orderItems"]
        status, created = call(api, http("POST", "/v1/exports", export))
        assert status == 201, created

        answer = exporter.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())

        rows_written = {"contacts": 1, "orders": 1, "orderItems": 1}
        assert answer == {"runs": [{"export_id": created["id"], "status": "finished", "rows": rows_written}]}
        ((contact,),) = rows(postgres_url, f"SELECT contactid FROM {schema}.contacts")
        assert rows(postgres_url, f"SELECT contactid, externalorderid, totalcost, lastname FROM {schema}.orders") == [
            (contact, "A-1001", Decimal("120.5"), "Nováková")
        ]
        assert rows(postgres_url, f"SELECT externalproductid, quantity, cost FROM {schema}.order_items") == [
            ("sku-1", 2, Decimal("60.25"))
        ]
    finally:
        run_sql(postgres_url, f"DROP SCHEMA {schema} CASCADE")
