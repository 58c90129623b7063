"""Message activity through the ingest handler on moto: kept only for an account whose exports name an activity
dataset, and written by the exporter's tick into the real PostgreSQL and MariaDB (contact_activities,
messages, broadcasts, and revenue with an order), with the same contactId as the contacts table."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from sqlsync.store.dynamodb import DynamoDBCustomerStore
from testkit import ROOT, call, create_export, exporter_tick, http, load_function, rows, scratch_schema

ACCOUNT = 1  # the sample's
CLICK: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "hooks" / "click.json").read_text("utf-8"))
SENT = {**CLICK, "id": "evt-2000", "type": "sent", "occurred_at": "2026-11-22T09:00:00Z", "event_data": {}}
# The sample order (placed at 10:04:12, after the click) of the clicking profile: revenue of the click's message.
ORDER: dict[str, Any] = {
    **json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8")),
    "customer_ids": {"registered": "p-1"},
}


def kept(aws: dict[str, str]) -> list[str]:
    store = DynamoDBCustomerStore(aws["CustomersTable"])
    return [record.event_id for _, record in store.changed_activities(ACCOUNT, "", 9e9, 100)]


def test_activity_is_not_kept_for_an_account_that_exports_none(aws: dict[str, str]) -> None:
    ingest = load_function("ingest")

    status, answer = call(ingest, http("POST", "/v1/events", {"events": [CLICK, SENT]}))

    assert (status, answer["accepted"]) == (202, 2)
    assert kept(aws) == []


@pytest.mark.services
@pytest.mark.parametrize("database", ["postgres_url", "mariadb_url"])
def test_the_exporter_tick_writes_the_kept_activity(
    aws: dict[str, str], database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(database)
    ingest, api, customers = load_function("ingest"), load_function("api"), load_function("customers")
    with scratch_schema(url, "activity") as schema:
        datasets = ["contacts", "contactActivities", "messages", "broadcasts", "revenue"]
        export_id = create_export(api, url, schema, datasets)
        command = {"name": "customers", "data": {"customer_ids": {"registered": "p-1"}, "properties": {"x": 1}}}
        assert call(customers, http("POST", f"/track/v2/projects/{ACCOUNT}/batch", {"commands": [command]}))[0] == 200

        assert call(ingest, http("POST", "/v1/events", {"events": [SENT, CLICK, ORDER]}))[0] == 202
        assert kept(aws) == ["evt-2000", "evt-2001"]

        answer = exporter_tick(load_function("exporter"))

        written = {"contacts": 1, "contactActivities": 1, "messages": 1, "broadcasts": 1, "revenue": 1}
        assert answer == {"runs": [{"export_id": export_id, "status": "finished", "rows": written}]}
        ((contact, sent, received, clicked),) = rows(
            url, f"SELECT contactid, totalsent, totalreceived, totalclicked FROM {schema}.contacts"
        )
        assert (sent, received, clicked) == (1, 0, 1)  # the contact's counters, from its profile's activity
        columns = "contactid, activitystatus, clickeventlink, messageid, broadcastid, mediatype, externalcustomerid"
        assert rows(url, f"SELECT {columns} FROM {schema}.contact_activities") == [
            (contact, "CLICKED", "https://shop.example.com/sale", 9, 7, "Email", "p-1")
        ]
        assert rows(url, f"SELECT messageid, name, subject, mediatype FROM {schema}.messages") == [
            (9, "Promo", "50% off", "Email")
        ]
        ((broadcast,),) = [rows(url, f"SELECT id, name, messageid, groupid, starteddate FROM {schema}.broadcasts")]
        assert broadcast[:4] == (7, "Black Friday", 9, 17)
        assert broadcast[4].isoformat() == "2026-11-22T09:00:00"
        columns = "contactid, externalorderid, totalcost, activitystatus, messagename, clickeventlink"
        assert rows(url, f"SELECT {columns} FROM {schema}.revenue") == [
            (contact, "A-1001", Decimal("120.5"), "CLICKED", "Promo", "https://shop.example.com/sale")
        ]
