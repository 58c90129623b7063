"""The orders of the customers store, on both implementations (memory and moto run the same tests, as in
test_stores.py): a conditional write per order that never lets an older event overwrite a newer one, the
first-received time kept across updates, and the orders change feed the exports read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sqlsync.store.base import CustomerStore, OrderRecord, feed_cursor

ACCOUNT = 3


@pytest.fixture
def store(customer_store: CustomerStore) -> CustomerStore:
    return customer_store


def order(external_id: str, version: str, at: float, status: str = "INITIALIZED", **fields: Any) -> OrderRecord:
    body = {"external_order_id": external_id, "status": status, "total_cost": "120.5", **fields}
    return OrderRecord(external_id, "registered:c-1", version, body, created_at=at, updated_at=at)


def test_a_newer_event_replaces_the_order_and_keeps_when_it_was_first_received(store: CustomerStore) -> None:
    assert store.put_order(ACCOUNT, order("A-1", "2026-11-22T10:00:00.000000Z#e1", 1000.0))
    assert store.put_order(ACCOUNT, order("A-1", "2026-11-22T11:00:00.000000Z#e2", 2000.0, status="DELIVERED"))

    kept = store.get_order(ACCOUNT, "A-1")
    assert kept is not None
    assert (kept.version, kept.order["status"], kept.created_at, kept.updated_at) == (
        "2026-11-22T11:00:00.000000Z#e2",
        "DELIVERED",
        1000.0,
        2000.0,
    )


def test_an_older_event_never_overwrites_a_newer_order(store: CustomerStore) -> None:
    newer = order("A-1", "2026-11-22T11:00:00.000000Z#e2", 1000.0, status="DELIVERED")
    assert store.put_order(ACCOUNT, newer)

    # an earlier event delivered late, and one of the same time whose id sorts lower
    assert not store.put_order(ACCOUNT, order("A-1", "2026-11-22T10:00:00.000000Z#e9", 2000.0))
    assert not store.put_order(ACCOUNT, order("A-1", "2026-11-22T11:00:00.000000Z#e1", 2000.0))

    assert store.get_order(ACCOUNT, "A-1") == newer
    assert [record.version for _, record in store.changed_orders(ACCOUNT, "", 3000.0, 10)] == [newer.version]


def test_the_same_event_again_is_written_again_to_the_same_order(store: CustomerStore) -> None:
    first = order("A-1", "2026-11-22T10:00:00.000000Z#e1", 1000.0, items=[{"external_product_id": "sku-1"}])
    assert store.put_order(ACCOUNT, first)
    assert store.put_order(ACCOUNT, replace(first, created_at=1500.0, updated_at=1500.0))  # a redelivery

    assert store.get_order(ACCOUNT, "A-1") == replace(first, updated_at=1500.0)


def test_orders_are_kept_per_account_and_per_external_id(store: CustomerStore) -> None:
    store.put_order(ACCOUNT, order("A-1", "v1", 1000.0))
    store.put_order(ACCOUNT + 1, order("A-1", "v1", 1000.0, status="OTHER ACCOUNT"))

    kept = store.get_order(ACCOUNT, "A-1")
    assert kept is not None and kept.order["status"] == "INITIALIZED"
    assert store.get_order(ACCOUNT, "A-2") is None
    # an order is not a customer: the customer ids of the account are untouched
    assert store.read(ACCOUNT, ["registered:c-1"]) == {}


def test_the_orders_feed_gives_orders_in_the_order_they_were_written(store: CustomerStore) -> None:
    store.put_order(ACCOUNT, order("A-1", "v1", 1001.0))
    store.put_order(ACCOUNT, order("B-2", "v1", 1002.0))
    store.put_order(ACCOUNT, order("A-1", "v2", 1003.0, status="DELIVERED"))  # A-1 changes: it moves after B-2
    store.put_order(ACCOUNT + 1, order("C-3", "v1", 1002.5))  # another account's

    feed = store.changed_orders(ACCOUNT, "", until=1003.0, limit=10)
    assert [(cursor, record.external_order_id) for cursor, record in feed] == [
        (feed_cursor(1002.0, "B-2"), "B-2"),
        (feed_cursor(1003.0, "A-1"), "A-1"),
    ]
    assert feed[1][1].order["status"] == "DELIVERED"
    # the cursor is exclusive, `until` bounds the feed, `limit` cuts it
    assert store.changed_orders(ACCOUNT, feed[1][0], until=5000.0, limit=10) == []
    assert [r.external_order_id for _, r in store.changed_orders(ACCOUNT, "", until=1002.5, limit=10)] == ["B-2"]
    assert [r.external_order_id for _, r in store.changed_orders(ACCOUNT, "", until=5000.0, limit=1)] == ["B-2"]
    # customers and events have feeds of their own
    assert store.changed_customers(ACCOUNT, "", 5000.0, 10) == []
    assert store.changed_events(ACCOUNT, "", 5000.0, 10) == []
