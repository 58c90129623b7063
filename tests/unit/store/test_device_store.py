"""The devices of the customers store, on both implementations: kept under their device id as orders are under
theirs (an older event never overwrites a newer one, the first-received time kept), and their change feed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sqlsync.store.base import CustomerStore, DeviceRecord, feed_cursor

ACCOUNT = 3


@pytest.fixture
def store(customer_store: CustomerStore) -> CustomerStore:
    return customer_store


def device(device_id: str, version: str, at: float, home: str = "registered:c-1", **fields: object) -> DeviceRecord:
    return DeviceRecord(device_id, home, version, {"device_id": device_id, **fields}, created_at=at, updated_at=at)


def test_a_newer_event_replaces_the_device_and_keeps_when_it_was_first_received(store: CustomerStore) -> None:
    assert store.put_device(ACCOUNT, device("d-1", "2026-11-22T10:00:00.000000Z#e1", 1000.0, app_version="5.4"))
    newer = device("d-1", "2026-11-22T11:00:00.000000Z#e2", 2000.0, home="registered:c-2", app_version="5.5")
    assert store.put_device(ACCOUNT, newer)

    ((cursor, kept),) = store.changed_devices(ACCOUNT, "", 3000.0, 10)
    assert kept == replace(newer, created_at=1000.0)
    assert cursor == feed_cursor(2000.0, "d-1")


def test_an_older_event_never_overwrites_a_newer_device(store: CustomerStore) -> None:
    newer = device("d-1", "2026-11-22T11:00:00.000000Z#e2", 1000.0, app_version="5.5")
    assert store.put_device(ACCOUNT, newer)

    assert not store.put_device(ACCOUNT, device("d-1", "2026-11-22T10:00:00.000000Z#e9", 2000.0, app_version="5.4"))

    assert [record for _, record in store.changed_devices(ACCOUNT, "", 3000.0, 10)] == [newer]


def test_devices_are_kept_per_account_and_read_after_a_cursor_up_to_a_time(store: CustomerStore) -> None:
    store.put_device(ACCOUNT, device("d-1", "v1", 1000.0))
    store.put_device(ACCOUNT, device("d-2", "v1", 1001.0))
    store.put_device(ACCOUNT, device("d-3", "v1", 1002.0))
    store.put_device(ACCOUNT + 1, device("d-9", "v1", 1000.5))

    first = store.changed_devices(ACCOUNT, "", 1001.0, 10)
    assert [record.device_id for _, record in first] == ["d-1", "d-2"]
    assert [record.device_id for _, record in store.changed_devices(ACCOUNT, first[0][0], 5000.0, 1)] == ["d-2"]
