"""Customers through the service, on the in-memory store and on DynamoDB (moto): per-property timestamps,
ids resolved to one customer (collisions refused), tracked events, and racing writers that lose nothing."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from sqlsync.customers.exceptions import CustomerError, CustomerIdCollisionError
from sqlsync.customers.merge import Stamped
from sqlsync.customers.service import CustomerService
from sqlsync.store.base import CustomerRecord, CustomerStore, TrackedEvent
from sqlsync.store.dynamodb import DynamoDBCustomerStore
from sqlsync.store.memory import InMemoryCustomerStore
from testkit import create_customers_table

TABLE = "sqlsync-customers"
NOW = 1_800_000_000.0
ACCOUNT = 7


@pytest.fixture
def store(customer_store: CustomerStore) -> CustomerStore:
    return customer_store


def service_on(store: CustomerStore) -> CustomerService:
    return CustomerService(store, clock=lambda: NOW)


def values(record: CustomerRecord | None) -> dict[str, Any]:
    assert record is not None
    return {name: stamped.value for name, stamped in record.properties.items()}


def test_an_import_snapshot_older_than_tracking_keeps_the_fresher_properties(store: CustomerStore) -> None:
    service = service_on(store)
    # GIVEN tracking at 10:00 set the first name, and an import snapshot from 08:00 arrives at 10:30
    first = service.update(ACCOUNT, {"registered": "mgalik"}, {"first_name": "Marian", "city": "BA"}, 1570010000)
    later = service.update(ACCOUNT, {"registered": "mgalik"}, {"first_name": "Old", "last_name": "Galik"}, 1570002800)

    # THEN only the property tracking had not set is taken from the import
    assert first.created and first.key == "registered:mgalik"
    assert later.changed == {"last_name": Stamped("Galik", 1570002800.0)} and not later.created
    record = service.find(ACCOUNT, "registered", "mgalik")
    assert record is not None and record.version == 2
    assert record.properties == {
        "first_name": Stamped("Marian", 1570010000.0),
        "city": Stamped("BA", 1570010000.0),
        "last_name": Stamped("Galik", 1570002800.0),
    }
    # AND an update older than everything writes nothing at all
    assert service.update(ACCOUNT, {"registered": "mgalik"}, {"first_name": "Older"}, 1.0).changed == {}
    assert service.find(ACCOUNT, "registered", "mgalik").version == 2  # type: ignore[union-attr]


def test_without_a_timestamp_the_server_time_stamps_the_update(store: CustomerStore) -> None:
    service = service_on(store)
    service.update(ACCOUNT, {"registered": "a"}, {"x": 1})
    assert service.find(ACCOUNT, "registered", "a").properties == {"x": Stamped(1, NOW)}  # type: ignore[union-attr]


def test_several_ids_resolve_to_one_customer_whichever_of_them_a_command_names(store: CustomerStore) -> None:
    service = service_on(store)
    # GIVEN a customer first seen by its cookie, then identified
    assert service.update(ACCOUNT, {"cookie": "c-1"}, {"visits": 1}, 100).key == "cookie:c-1"
    attached = service.update(ACCOUNT, {"registered": "mgalik", "cookie": "c-1"}, {"email": "m@x.sk"}, 200)
    service.update(ACCOUNT, {"cookie": "c-2", "registered": "mgalik"}, {"visits": 2}, 300)

    # THEN it stays one customer, under the key it was first known by, with every id it was given
    assert attached.key == "cookie:c-1" and attached.attached == ("registered:mgalik",)
    for id_type, value in (("cookie", "c-1"), ("cookie", "c-2"), ("registered", "mgalik")):
        record = service.find(ACCOUNT, id_type, value)
        assert record is not None and record.key == "cookie:c-1"
        assert record.ids == ("cookie:c-1", "registered:mgalik", "cookie:c-2")
        assert values(record) == {"visits": 2, "email": "m@x.sk"}
    # AND another account does not see it
    assert service.find(ACCOUNT + 1, "registered", "mgalik") is None


def test_a_new_customer_lives_under_its_hard_id_whatever_order_the_ids_came_in(store: CustomerStore) -> None:
    service = service_on(store)
    assert service.update(ACCOUNT, {"cookie": "c", "email_id": "e", "registered": "r"}, {}, 1).key == "registered:r"


def test_ids_of_two_known_customers_are_refused_and_change_nothing(store: CustomerStore) -> None:
    service = service_on(store)
    service.update(ACCOUNT, {"registered": "anna", "cookie": "c-anna"}, {"city": "BA"}, 100)
    service.update(ACCOUNT, {"registered": "boris"}, {"city": "KE"}, 100)

    with pytest.raises(CustomerIdCollisionError) as collision:
        service.update(ACCOUNT, {"registered": "boris", "cookie": "c-anna"}, {"city": "ZA"}, 200)
    assert collision.value.field == "customer_ids"
    assert "cookie:c-anna is customer registered:anna" in collision.value.message
    assert "registered:boris is customer registered:boris" in collision.value.message

    # AND a second registered id for a customer that has one is refused too
    with pytest.raises(CustomerIdCollisionError) as second:
        service.update(ACCOUNT, {"registered": "anna2", "cookie": "c-anna"}, {"city": "ZA"}, 200)
    assert second.value.field == "customer_ids.registered"

    assert values(service.find(ACCOUNT, "registered", "anna")) == {"city": "BA"}
    assert values(service.find(ACCOUNT, "registered", "boris")) == {"city": "KE"}
    assert service.find(ACCOUNT, "registered", "anna2") is None


@pytest.mark.parametrize(
    ("ids", "properties", "at", "field"),
    [
        ({}, {}, 1, "customer_ids"),
        ({"Registered": "x"}, {}, 1, "customer_ids.Registered"),
        ({"registered": ""}, {}, 1, "customer_ids.registered"),
        ({"registered": 12}, {}, 1, "customer_ids.registered"),
        ({"registered": "x"}, {"": 1}, 1, "properties."),
        ({"registered": "x"}, {}, -1, "update_timestamp"),
        ({"registered": "x"}, {}, True, "update_timestamp"),
        ({"registered": "x"}, {}, float("nan"), "update_timestamp"),
        ({"registered": "x"}, {}, "1570001049", "update_timestamp"),
        ({"registered": "x"}, {}, NOW * 1000, "update_timestamp"),  # milliseconds sent as seconds
    ],
)
def test_a_bad_update_names_its_field_and_writes_nothing(
    ids: dict[str, Any], properties: dict[str, Any], at: Any, field: str
) -> None:
    store = InMemoryCustomerStore()
    with pytest.raises(CustomerError) as refused:
        service_on(store).update(ACCOUNT, ids, properties, at)
    assert refused.value.field == field
    assert store.calls["PutItem"] == store.calls["TransactWriteItems"] == 0


def test_tracked_events_create_the_customer_and_are_kept_once_in_time_order(store: CustomerStore) -> None:
    service = service_on(store)
    purchase = {"total": 12.5, "items": [{"sku": "A"}]}
    created = service.track(ACCOUNT, {"registered": "mgalik"}, "purchase", purchase, 200.5)
    service.track(ACCOUNT, {"registered": "mgalik"}, "session_start", {}, 100)
    service.track(ACCOUNT, {"registered": "mgalik"}, "purchase", purchase, 200.5)  # a retried batch
    service.track(ACCOUNT, {"registered": "mgalik", "cookie": "c"}, "view", {"page": "/"}, None)

    assert created.created and created.key == "registered:mgalik"
    assert store.events(ACCOUNT, "registered:mgalik") == [
        TrackedEvent("session_start", 100.0, {}),
        TrackedEvent("purchase", 200.5, purchase),
        TrackedEvent("view", NOW, {"page": "/"}),
    ]
    record = service.find(ACCOUNT, "cookie", "c")
    assert record is not None and record.key == "registered:mgalik" and record.properties == {}


def test_the_common_update_is_one_read_and_one_conditional_write() -> None:
    store = InMemoryCustomerStore()
    service = service_on(store)
    service.update(ACCOUNT, {"registered": "a"}, {"x": 1}, 100)
    store.calls.clear()
    service.update(ACCOUNT, {"registered": "a"}, {"x": 2, "y": 3, "z": 4}, 200)
    assert store.calls == {"GetItem": 1, "PutItem": 1}
    # AND several ids are one batch read; attaching a new one is one transaction
    store.calls.clear()
    service.update(ACCOUNT, {"registered": "a", "cookie": "c"}, {"x": 3}, 300)
    assert store.calls == {"BatchGetItem": 1, "TransactWriteItems": 1}


class Interleaved(InMemoryCustomerStore):
    """Runs `between` once, right before our next write: another writer coming between our read and write."""

    def __init__(self) -> None:
        super().__init__()
        self.between: Callable[[], None] | None = None

    def write(self, account: int, record: CustomerRecord, aliases: Any = ()) -> bool:
        if self.between is not None:
            between, self.between = self.between, None
            between()
        return super().write(account, record, aliases)


def test_a_writer_that_comes_in_between_read_and_write_makes_the_update_merge_again() -> None:
    store = Interleaved()
    service = service_on(store)
    service.update(ACCOUNT, {"registered": "c"}, {"city": "Bratislava"}, 100.0)
    store.between = lambda: service.update(
        ACCOUNT, {"registered": "c"}, {"email": "new@example.com", "city": "Košice"}, 300.0
    )

    # WHEN our update (newer than the stored city, older than the other writer's) meets it
    update = service.update(ACCOUNT, {"registered": "c"}, {"city": "Žilina", "first_name": "Ján"}, 200.0)

    # THEN our write on the old version was refused, and the update merged again over the other writer's
    assert store.calls["PutItem"] == 4  # the first, the other writer's, ours refused, ours again
    assert update.changed == {"first_name": Stamped("Ján", 200.0)}
    assert values(service.find(ACCOUNT, "registered", "c")) == {
        "email": "new@example.com",
        "city": "Košice",
        "first_name": "Ján",
    }


def test_two_writers_creating_the_same_customer_end_with_one() -> None:
    store = Interleaved()
    service = service_on(store)
    store.between = lambda: service.update(ACCOUNT, {"registered": "new"}, {"a": 1}, 100.0)
    service.update(ACCOUNT, {"registered": "new", "cookie": "k"}, {"b": 2}, 100.0)
    record = service.find(ACCOUNT, "cookie", "k")
    assert record is not None and record.key == "registered:new" and values(record) == {"a": 1, "b": 2}


def test_an_id_taken_by_another_customer_between_read_and_write_is_a_collision() -> None:
    store = Interleaved()
    service = service_on(store)
    service.update(ACCOUNT, {"registered": "anna"}, {}, 1.0)
    service.update(ACCOUNT, {"registered": "boris"}, {}, 1.0)
    store.between = lambda: service.update(ACCOUNT, {"registered": "boris", "cookie": "shared"}, {}, 2.0)
    with pytest.raises(CustomerIdCollisionError):
        service.update(ACCOUNT, {"registered": "anna", "cookie": "shared"}, {"x": 1}, 2.0)
    assert values(service.find(ACCOUNT, "registered", "anna")) == {}


def test_tracking_and_an_import_racing_on_the_same_1000_customers_lose_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # DynamoDB applies each request atomically; moto does not across threads, so each request is made
    # atomic here. The two writers still interleave between their reads and writes, as they would on AWS.
    atomic = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic_call_action(self: DynamoHandler) -> Any:
        with atomic:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic_call_action)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        create_customers_table(TABLE)
        service = service_on(DynamoDBCustomerStore(TABLE))
        customers = [f"c{n}" for n in range(1000)]
        rng = random.Random(7)
        tracking = [
            ({"registered": c}, {"first_name": f"t-{c}", "email": f"{c}@t"}, 2000 + rng.random()) for c in customers
        ]
        importing = [
            ({"registered": c}, {"first_name": f"i-{c}", "city": f"city-{c}"}, 1000 + rng.random()) for c in customers
        ]
        contended = 0
        original_write = service.store.write

        def counting_write(*args: Any) -> bool:
            nonlocal contended
            written = original_write(*args)
            contended += not written
            return written

        service.store.write = counting_write  # type: ignore[method-assign]

        in_step = threading.Barrier(2)  # both writers start each customer together, so that they meet

        def run(updates: list[tuple[dict[str, str], dict[str, Any], float]]) -> None:
            for ids, properties, at in updates:
                in_step.wait()
                service.update(ACCOUNT, ids, properties, at)

        threads = [threading.Thread(target=run, args=(updates,)) for updates in (tracking, importing)]
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # threads take turns often, as network waits would make them on AWS
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(switch_interval)

        for customer in customers:
            assert values(service.find(ACCOUNT, "registered", customer)) == {
                "first_name": f"t-{customer}",  # tracking is newer
                "email": f"{customer}@t",
                "city": f"city-{customer}",  # only the import had it
            }
        assert contended > 0  # the writers did meet: the test exercised the retry


def test_the_change_feeds_give_customers_and_events_in_the_order_sqlsync_wrote_them(store: CustomerStore) -> None:
    now = [1000.0]
    service = CustomerService(store, clock=lambda: now[0])

    def at(seconds: float) -> None:
        now[0] = seconds

    at(1001)
    service.update(ACCOUNT, {"registered": "a"}, {"x": 1}, 500, source="IMPORT")
    at(1002)
    service.update(ACCOUNT, {"registered": "b"}, {"x": 1}, 500)
    at(1003)
    service.update(ACCOUNT, {"registered": "a"}, {"x": 2}, 600)  # a changes again: it moves after b
    service.update(ACCOUNT + 1, {"registered": "other"}, {"x": 1}, 600)  # another account's
    at(1004)
    service.track(ACCOUNT, {"registered": "b"}, "view", {"page": "/"}, 900)

    feed = store.changed_customers(ACCOUNT, "", until=1003, limit=10)
    assert [(record.key, record.version) for _, record in feed] == [("registered:b", 1), ("registered:a", 2)]
    (_, b), (cursor, a) = feed
    assert (a.created_at, a.updated_at, a.source, values(a)) == (1001, 1003, "IMPORT", {"x": 2})
    assert (b.created_at, b.source) == (1002, "API")
    # AND the cursor is exclusive, `until` bounds the feed, `limit` cuts it
    assert store.changed_customers(ACCOUNT, cursor, until=2000, limit=10) == []
    assert [r.key for _, r in store.changed_customers(ACCOUNT, "", until=1002.5, limit=10)] == ["registered:b"]
    assert len(store.changed_customers(ACCOUNT, "", until=2000, limit=1)) == 1
    # AND an export that reads a few properties has only those decoded
    service.update(ACCOUNT, {"registered": "b"}, {"email": "b@example.com", "city": "Brno"}, 950)
    ((_, decoded),) = store.changed_customers(ACCOUNT, cursor, until=2000, limit=10, properties={"email", "phone"})
    assert values(decoded) == {"email": "b@example.com"}

    events = store.changed_events(ACCOUNT, "", until=2000, limit=10)
    assert [(home, event.event_type, event.received_at) for _, home, event in events] == [
        ("registered:b", "view", 1004)
    ]
    assert store.changed_events(ACCOUNT, events[0][0], until=2000, limit=10) == []
