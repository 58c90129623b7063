"""The devices dataset read from the device events ingest keeps: one row per device id with every vendor
column, the same contactId as the contacts dataset and the customer's registered id; a device that passes to
another customer is the same row, updated."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from sqlsync.customers.service import CustomerService
from sqlsync.export.datasets import DATASETS
from sqlsync.export.sources import ContactsSource, DevicesSource, stable_id
from sqlsync.models.devices import DeviceEvent
from sqlsync.models.ingest import EventsBody
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.exceptions import IngestFieldError
from sqlsync.sync.ingest import MAX_RECORDS_PER_REQUEST, CustomerRecords, ingest
from testkit import ROOT

ACCOUNT = 1
NOW = 1_800_000_000.0
FAR = NOW + 10_000
SAMPLE: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "devices" / "device.json").read_text("utf-8"))


def device_event(event_id: str = "evt-31", **changes: Any) -> DeviceEvent:
    body = copy.deepcopy(SAMPLE)
    body["device"].update(changes.pop("device", {}))
    parsed = TypeAdapter(EventsBody).validate_python({**body, "id": event_id, **changes})
    assert isinstance(parsed, DeviceEvent)
    return parsed


class World:
    def __init__(self) -> None:
        self.store = InMemoryCustomerStore()
        self.records = CustomerRecords(CustomerService(self.store, clock=lambda: NOW))

    def ingest(self, *events: DeviceEvent) -> int:
        return ingest(list(events), InMemorySink(), batch=True, records=self.records).devices

    def rows(self) -> list[dict[str, Any]]:
        return [row for _, row in DevicesSource(self.store).read(ACCOUNT, "", FAR, 100)]


def test_the_devices_dataset_has_every_vendor_column_from_the_device_kept() -> None:
    world = World()
    assert world.ingest(device_event()) == 1

    (row,) = world.rows()

    ((_, contact),) = ContactsSource(world.store).read(ACCOUNT, "", FAR, 10)
    assert row == {
        "appversion": "5.4.1",
        "applicationid": 12,
        "category": "mobile",
        "contactid": contact["contactid"],
        "deviceid": "7f9c1e2a-4b1d-4c2e-9a51-0d3e5f6a7b8c",
        "devicemodel": "Pixel 9",
        "externalcustomerid": "c-1",
        "languagecode": "sk",
        "ostype": "android",
        "osversion": "16",
        "pushtoken": "fcm:APA91bH-sample-token",
        "timezone": "Europe/Bratislava",
    }
    assert set(row) == set(DATASETS["devices"].column_map)


def test_a_device_that_passes_to_another_customer_is_the_same_row_updated() -> None:
    world = World()
    world.ingest(device_event())
    later = device_event("evt-32", occurred_at="2026-11-22T12:00:00Z", customer_ids={"cookie": "ck-7"})
    world.ingest(later, device_event("evt-30", occurred_at="2026-11-22T09:00:00Z", device={"app_version": "1.0"}))

    (row,) = world.rows()

    assert (row["contactid"], row["externalcustomerid"]) == (stable_id(ACCOUNT, "cookie:ck-7"), None)
    assert row["appversion"] == "5.4.1"  # the older event changed nothing


@pytest.mark.parametrize(
    ("device", "field"),
    [
        ({"device_id": ""}, "device.device_id"),
        ({"device_id": "d" * 251}, "device.device_id"),
        ({"application_id": 2**31}, "device.application_id"),
        ({"push_token": "t" * 4097}, "device.push_token"),
        ({"unknown": 1}, "device.unknown"),
    ],
)
def test_a_bad_device_is_refused_naming_its_field(device: dict[str, Any], field: str) -> None:
    body = copy.deepcopy(SAMPLE)
    body["device"].update(device)
    errors = TypeAdapter(EventsBody).validate_python
    with pytest.raises(ValueError, match=field.replace(".", r".*")):
        errors(body)


def test_order_and_device_events_share_the_limit_of_one_request() -> None:
    world = World()
    events = [device_event(f"evt-{n}", device={"device_id": f"d-{n}"}) for n in range(MAX_RECORDS_PER_REQUEST + 1)]

    with pytest.raises(IngestFieldError) as refused:
        world.ingest(*events)

    assert refused.value.field == "events" and "order and device events" in refused.value.message
    assert world.rows() == []
