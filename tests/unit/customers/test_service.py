"""Updates through the store, on the in-memory store and on DynamoDB (moto): per-property timestamps,
and racing writers that lose nothing."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sqlsync.customers.merge import UNKNOWN, Stamped
from sqlsync.customers.service import apply_update
from sqlsync.store.base import CustomerStore
from sqlsync.store.dynamodb import DynamoDBCustomerStore
from sqlsync.store.memory import InMemoryCustomerStore

TABLE = "sqlsync-customers"


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomerStore]:
    if request.param == "memory":
        yield InMemoryCustomerStore()
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield DynamoDBCustomerStore(TABLE)


def test_an_import_snapshot_older_than_tracking_keeps_the_fresher_properties(store: CustomerStore) -> None:
    # GIVEN tracking at 10:00 set the first name, and an import snapshot from 08:00 arrives at 10:30
    apply_update(store, "mgalik", {"first_name": "Marian", "city": "Bratislava"}, 1570010000.0)
    changed = apply_update(store, "mgalik", {"first_name": "Old", "last_name": "Galik"}, 1570002800.0)

    # THEN only the property tracking had not set is taken from the import
    assert changed == {"last_name": Stamped("Galik", 1570002800.0)}
    record = store.get("mgalik")
    assert record is not None and record.version == 2
    assert record.properties == {
        "first_name": Stamped("Marian", 1570010000.0),
        "city": Stamped("Bratislava", 1570010000.0),
        "last_name": Stamped("Galik", 1570002800.0),
    }
    # AND an update older than everything writes nothing at all
    assert apply_update(store, "mgalik", {"first_name": "Older"}, 1.0) == {}
    assert store.get("mgalik").version == 2  # type: ignore[union-attr]


def test_a_write_on_a_stale_version_is_refused(store: CustomerStore) -> None:
    assert store.put_if("c", {"a": Stamped(1, UNKNOWN)}, None) is True
    assert store.put_if("c", {"a": Stamped(2, 5.0)}, None) is False  # not new any more
    assert store.put_if("c", {"a": Stamped(2, 5.0)}, 1) is True
    assert store.put_if("c", {"a": Stamped(3, 6.0)}, 1) is False  # version 2 is stored
    assert store.get("c") == store.get("c") and store.get("c").properties == {"a": Stamped(2, 5.0)}  # type: ignore[union-attr]


def test_two_writers_racing_on_the_same_customers_lose_nothing() -> None:
    # (in memory: moto's conditional writes are not atomic across threads)
    store = InMemoryCustomerStore()
    customers = [f"c{n}" for n in range(1000)]
    rng = random.Random(7)
    tracking = [(c, {"first_name": f"t-{c}", "email": f"{c}@t"}, 2000.0 + rng.random()) for c in customers]
    importing = [(c, {"first_name": f"i-{c}", "city": f"city-{c}"}, 1000.0 + rng.random()) for c in customers]

    def run(updates: list[tuple[str, dict[str, Any], float]]) -> None:
        for customer, properties, at in updates:
            apply_update(store, customer, properties, at)

    threads = [threading.Thread(target=run, args=(updates,)) for updates in (tracking, importing)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for customer in customers:
        record = store.get(customer)
        assert record is not None
        assert {name: stamped.value for name, stamped in record.properties.items()} == {
            "first_name": f"t-{customer}",  # tracking is newer
            "email": f"{customer}@t",
            "city": f"city-{customer}",  # only the import had it
        }


def test_a_writer_that_comes_in_between_read_and_write_makes_the_update_merge_again() -> None:
    # GIVEN a store where, once, another writer updates the customer between our read and our write
    class Interrupted(InMemoryCustomerStore):
        interrupted = True

        def put_if(self, customer_id: str, properties: Any, read_version: int | None) -> bool:
            if not self.interrupted:
                self.interrupted = True
                apply_update(self, customer_id, {"email": "new@example.com", "city": "Košice"}, 300.0)
            return super().put_if(customer_id, properties, read_version)

    store = Interrupted()
    apply_update(store, "c", {"city": "Bratislava"}, 100.0)
    store.interrupted = False

    # WHEN our update (newer than the stored city, older than the other writer's) meets it
    changed = apply_update(store, "c", {"city": "Žilina", "first_name": "Ján"}, 200.0)

    # THEN our write on the old version was refused, and the update merged again over the other writer's
    assert store.calls["PutItem"] == 4  # ours at first, the other writer's, ours refused, ours again
    assert changed == {"first_name": Stamped("Ján", 200.0)}
    assert {name: stamped.value for name, stamped in store.get("c").properties.items()} == {  # type: ignore[union-attr]
        "email": "new@example.com",
        "city": "Košice",
        "first_name": "Ján",
    }
