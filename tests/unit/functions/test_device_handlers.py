"""Device events through the ingest handler on moto: kept with their customer (not queued), a bad one refused
naming its field, and the exporter's tick writing the devices table into the real PostgreSQL and MariaDB."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sqlsync.store.dynamodb import DynamoDBCustomerStore
from testkit import ROOT, call, create_export, exporter_tick, http, load_function, queued, rows, scratch_schema

ACCOUNT = 1  # the sample's
SAMPLE: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "devices" / "device.json").read_text("utf-8"))


def sample(**device: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    body["device"].update(device)
    return body


def kept(aws: dict[str, str]) -> list[str]:
    store = DynamoDBCustomerStore(aws["CustomersTable"])
    return [record.device_id for _, record in store.changed_devices(ACCOUNT, "", 9e9, 100)]


def test_a_device_event_is_kept_with_its_customer_and_not_queued(aws: dict[str, str]) -> None:
    ingest = load_function("ingest")

    status, answer = call(ingest, http("POST", "/v1/events", SAMPLE))

    assert (status, answer) == (202, {"accepted": 1, "messages": 0, "hook_events": 0})
    assert queued(aws["SyncQueue"]) == [] and queued(aws["HookQueue"]) == []
    assert kept(aws) == [SAMPLE["device"]["device_id"]]
    store = DynamoDBCustomerStore(aws["CustomersTable"])
    assert set(store.read(ACCOUNT, ["registered:c-1"])) == {"registered:c-1"}  # the unknown customer, created


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (sample(device_id=""), "events[1].device.device_id"),
        (sample(application_id=-1), "events[1].device.application_id"),
        ({**SAMPLE, "customer_ids": {}}, "events[1].customer_ids"),
        ({**SAMPLE, "device": {"os_type": "ios"}}, "events[1].device.device_id"),
    ],
)
def test_a_bad_device_event_is_refused_naming_its_field_and_nothing_is_kept(
    aws: dict[str, str], event: dict[str, Any], field: str
) -> None:
    ingest = load_function("ingest")
    other = sample(device_id="d-other")

    status, answer = call(ingest, http("POST", "/v1/events", {"events": [other, event]}))

    assert status == 422 and answer["errors"][0]["field"] == field, answer
    assert kept(aws) == []


@pytest.mark.services
@pytest.mark.parametrize("database", ["postgres_url", "mariadb_url"])
def test_the_exporter_tick_writes_the_devices(
    aws: dict[str, str], database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(database)
    ingest, api = load_function("ingest"), load_function("api")
    with scratch_schema(url, "devices") as schema:
        assert call(ingest, http("POST", "/v1/events", SAMPLE))[0] == 202
        export_id = create_export(api, url, schema, ["contacts", "devices"])

        answer = exporter_tick(load_function("exporter"))

        written = {"contacts": 1, "devices": 1}
        assert answer == {"runs": [{"export_id": export_id, "status": "finished", "rows": written}]}
        ((contact,),) = rows(url, f"SELECT contactid FROM {schema}.contacts")
        columns = "contactid, deviceid, externalcustomerid, applicationid, ostype, pushtoken"
        assert rows(url, f"SELECT {columns} FROM {schema}.devices") == [
            (contact, SAMPLE["device"]["device_id"], "c-1", 12, "android", "fcm:APA91bH-sample-token")
        ]
