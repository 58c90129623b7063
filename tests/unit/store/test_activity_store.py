"""Message activity in the customers store, on both implementations (memory and moto run the same tests, as in
test_order_store.py): activity events kept under their ids with their own change feed, and the catalog of
messages and broadcasts, written only when an event tells something new, so that its feed moves only then."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from sqlsync.store.base import ActivityRecord, CustomerStore, feed_cursor
from sqlsync.store.dynamodb import DynamoDBCustomerStore
from testkit import create_customers_table

ACCOUNT = 3


@pytest.fixture
def store(customer_store: CustomerStore) -> CustomerStore:
    return customer_store


def activity(event_id: str, received_at: float, event_type: str = "click", **details: object) -> ActivityRecord:
    return ActivityRecord(event_id, event_type, "p-1", 1700000000.5, dict(details), received_at)


def test_activities_come_back_in_the_order_they_were_kept_with_their_details(store: CustomerStore) -> None:
    # more than one BatchWriteItem's worth, kept out of order
    records = [activity(f"evt#{index:03}", 1000.0 + (index * 7) % 40, link=f"https://x/{index}") for index in range(40)]
    store.put_activities(ACCOUNT, records)

    feed = store.changed_activities(ACCOUNT, "", 2000.0, 100)

    assert [record for _, record in feed] == sorted(records, key=lambda record: record.received_at)
    assert [cursor for cursor, _ in feed] == [feed_cursor(record.received_at, record.event_id) for _, record in feed]


def test_the_activity_feed_is_read_after_a_cursor_up_to_a_time_and_per_account(store: CustomerStore) -> None:
    store.put_activities(ACCOUNT, [activity("e1", 1000.0), activity("e2", 1001.0), activity("e3", 1002.0)])
    store.put_activities(ACCOUNT + 1, [activity("e9", 1000.5)])

    first = store.changed_activities(ACCOUNT, "", 1001.0, 10)
    assert [record.event_id for _, record in first] == ["e1", "e2"]
    assert [record.event_id for _, record in store.changed_activities(ACCOUNT, first[0][0], 5000.0, 1)] == ["e2"]


def test_the_same_event_kept_again_is_one_activity_at_its_new_place(store: CustomerStore) -> None:
    store.put_activities(ACCOUNT, [activity("e1", 1000.0, link="a")])
    store.put_activities(ACCOUNT, [activity("e1", 1500.0, link="a")])  # a redelivered request

    assert [
        (record.event_id, record.received_at) for _, record in store.changed_activities(ACCOUNT, "", 2000.0, 10)
    ] == [("e1", 1500.0)]


def test_an_entry_is_written_when_new_and_when_a_value_changes_only(store: CustomerStore) -> None:
    assert store.note_entry(ACCOUNT, "message", 9, {"name": "Promo", "subject": "50% off"}, {}, 1000.0)
    assert not store.note_entry(ACCOUNT, "message", 9, {"name": "Promo"}, {}, 1100.0)  # nothing new
    assert not store.note_entry(ACCOUNT, "message", 9, {}, {}, 1150.0)

    assert store.note_entry(ACCOUNT, "message", 9, {"subject": "60% off", "media_type": "Email"}, {}, 1200.0)

    ((cursor, entry),) = store.changed_entries(ACCOUNT, "message", "", 5000.0, 10)
    assert (entry.entry_id, entry.values, entry.created_at, entry.updated_at) == (
        9,
        {"name": "Promo", "subject": "60% off", "media_type": "Email"},
        1000.0,
        1200.0,
    )
    assert cursor == feed_cursor(1200.0, "9")


def test_once_values_are_kept_from_the_first_event_that_has_them(store: CustomerStore) -> None:
    assert store.note_entry(ACCOUNT, "broadcast", 7, {"name": "Black Friday", "message_id": 9}, {}, 1000.0)
    # the first sending: stored although no value changes
    assert store.note_entry(ACCOUNT, "broadcast", 7, {"name": "Black Friday"}, {"started_at": 1050.25}, 1100.0)
    assert not store.note_entry(ACCOUNT, "broadcast", 7, {"name": "Black Friday"}, {"started_at": 1090.0}, 1200.0)

    ((_, entry),) = store.changed_entries(ACCOUNT, "broadcast", "", 5000.0, 10)
    assert entry.values == {"name": "Black Friday", "message_id": 9, "started_at": 1050.25}
    assert (entry.created_at, entry.updated_at) == (1000.0, 1100.0)


def test_entries_are_kept_per_account_and_kind_and_their_feed_orders_them_by_change(store: CustomerStore) -> None:
    store.note_entry(ACCOUNT, "message", 1, {"name": "a"}, {}, 1000.0)
    store.note_entry(ACCOUNT, "message", 2, {"name": "b"}, {}, 1001.0)
    store.note_entry(ACCOUNT, "broadcast", 1, {"name": "campaign"}, {}, 1002.0)
    store.note_entry(ACCOUNT + 1, "message", 3, {"name": "other account"}, {}, 1003.0)
    store.note_entry(ACCOUNT, "message", 1, {"name": "a, renamed"}, {}, 1004.0)

    feed = store.changed_entries(ACCOUNT, "message", "", 5000.0, 10)
    assert [(entry.entry_id, entry.values["name"]) for _, entry in feed] == [(2, "b"), (1, "a, renamed")]
    assert [entry.entry_id for _, entry in store.changed_entries(ACCOUNT, "message", feed[0][0], 5000.0, 10)] == [1]
    assert [entry.entry_id for _, entry in store.changed_entries(ACCOUNT, "message", "", 1003.0, 10)] == [2]
    assert [entry.values for _, entry in store.changed_entries(ACCOUNT, "broadcast", "", 5000.0, 10)] == [
        {"name": "campaign"}
    ]


def test_a_profiles_activity_of_a_period_is_read_oldest_first_with_both_ends_included(store: CustomerStore) -> None:
    def at(event_id: str, occurred_at: float, profile_id: str = "p-1") -> ActivityRecord:
        return ActivityRecord(event_id, "click", profile_id, occurred_at, {"link": event_id}, 5000.0)

    store.put_activities(
        ACCOUNT,
        [at("late", 1300.0), at("first", 1000.0), at("before", 999.5), at("last", 1200.0), at("other", 1100.0, "p-2")],
    )
    store.put_activities(ACCOUNT + 1, [at("other account", 1100.0)])

    found = store.activities_of(ACCOUNT, "p-1", 1000.0, 1200.0)

    assert [(record.event_id, record.details["link"]) for record in found] == [("first", "first"), ("last", "last")]
    assert store.activities_of(ACCOUNT, "p-9", 0.0, 9999.0) == []


class _DistinctKeysOnly:
    """DynamoDB refuses a BatchWriteItem that names one key twice (ValidationException); moto does not check."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        ((_, requests),) = RequestItems.items()
        keys = [
            (request["PutRequest"]["Item"]["pk"]["S"], request["PutRequest"]["Item"]["sk"]["S"]) for request in requests
        ]
        assert len(set(keys)) == len(keys), "Provided list of item keys contains duplicates"
        return self._client.batch_write_item(RequestItems=RequestItems)


def test_the_same_event_twice_in_one_write_is_kept_once(store: CustomerStore) -> None:
    if isinstance(store, DynamoDBCustomerStore):
        store._client = _DistinctKeysOnly(store.client)  # type: ignore[assignment]
    store.put_activities(ACCOUNT, [activity("e1", 1000.0, link="first"), activity("e1", 1000.0, link="second")])

    assert [record.details for _, record in store.changed_activities(ACCOUNT, "", 2000.0, 10)] == [{"link": "second"}]


def test_which_profiles_have_activity_is_told_per_account(store: CustomerStore) -> None:
    store.put_activities(ACCOUNT, [ActivityRecord("e1", "open", "p-1", 1000.0, {}, 1000.0)])
    store.put_activities(ACCOUNT + 1, [ActivityRecord("e2", "open", "p-2", 1000.0, {}, 1000.0)])

    assert store.profiles_with_activity(ACCOUNT, {"p-1", "p-2", "p-3"}) == {"p-1"}
    assert store.profiles_with_activity(ACCOUNT, [f"p-{n}" for n in range(250)]) == {"p-1"}  # several BatchGetItems
    assert store.profiles_with_activity(ACCOUNT, set()) == set()
    # the marker is not activity
    assert [record.event_id for record in store.activities_of(ACCOUNT, "p-1", 0.0, 9e9)] == ["e1"]


def test_keeping_no_activity_writes_nothing(store: CustomerStore) -> None:
    store.put_activities(ACCOUNT, [])

    assert store.changed_activities(ACCOUNT, "", 9e9, 10) == []


def test_a_period_that_ends_before_it_begins_or_before_1970_has_no_activity(store: CustomerStore) -> None:
    store.put_activities(ACCOUNT, [ActivityRecord("e1", "click", "p-1", 1000.0, {}, 5000.0)])

    # DynamoDB refuses a BETWEEN whose bounds are the wrong way round; such a period is simply empty
    assert store.activities_of(ACCOUNT, "p-1", 2000.0, 1000.0) == []
    assert store.activities_of(ACCOUNT, "p-1", -5 * 86400.0, -86400.0) == []
    assert [record.event_id for record in store.activities_of(ACCOUNT, "p-1", -86400.0, 1000.0)] == ["e1"]


def test_kept_activity_and_its_marker_expire_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # DynamoDB's TTL attribute (the in-memory store keeps everything: no read depends on when TTL deletes)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with mock_aws():
        create_customers_table("customers")
        dynamodb = DynamoDBCustomerStore("customers")
        dynamodb.put_activities(ACCOUNT, [activity("e1", 1000.0)], keep_until=1000.0 + 400 * 86400)
        dynamodb.put_activities(ACCOUNT, [activity("e2", 1000.0)])

        items = dynamodb.client.scan(TableName="customers")["Items"]
    expiries = {(item["sk"]["S"].rpartition("#")[2], item.get("expires_at", {}).get("N")) for item in items}
    assert expiries == {("e1", "34561000"), ("e2", None), ("~profile", None)}  # the marker: the last write's
