"""The contactActivities, messages and broadcasts datasets read from the activity ingest keeps: the vendor's
statuses and channels, the contact of the profile (the same contactId as the contacts dataset), one message
instance per campaign, message and profile, and pages that read on past events that make no row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlsync.customers.activity import ActivityLog
from sqlsync.customers.service import CustomerService
from sqlsync.export.datasets import DATASETS
from sqlsync.export.runner import table_rows
from sqlsync.export.sources import (
    ContactActivitiesSource,
    ContactsSource,
    message_instance_id,
    sources,
    stable_id,
)
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import ingest
from testkit import activity_event as activity

ACCOUNT = 1
NOW = 1_800_000_000.0
FAR = NOW + 10_000
OCCURRED = datetime(2026, 11, 22, 10, 0, 5, 123456, UTC)


class World:
    def __init__(self) -> None:
        self.store = InMemoryCustomerStore()
        self.customers = CustomerService(self.store, clock=lambda: NOW)
        self.log = ActivityLog(self.store, clock=lambda: NOW)

    def ingest(self, *events: Any) -> None:
        ingest(list(events), InMemorySink(), activity_log=self.log)

    def activities(self, limit: int = 100, after: str = "") -> list[tuple[str, dict[str, Any]]]:
        return ContactActivitiesSource(self.store).read(ACCOUNT, after, FAR, limit)


def test_a_click_is_a_contact_activity_row_with_the_vendor_columns() -> None:
    world = World()
    world.ingest(activity("evt-1"))

    ((_, row),) = world.activities()

    assert row == {
        "activitystatus": "CLICKED",
        "broadcastid": 7,
        "clickeventlink": "https://shop.example.com/sale",
        "contactid": stable_id(ACCOUNT, "registered:p-1"),
        "statusdescription": None,
        "externalcustomerid": "p-1",
        "mediatype": "Email",
        "messageinstanceid": message_instance_id(ACCOUNT, 7, 9, "p-1"),
        "messagename": "Promo",
        "messageid": 9,
        "activitydatetime": OCCURRED,
        "utmcampaign": "bf-26",
    }
    # every column it fills is one of the dataset's; the rest stay NULL
    assert set(row) <= set(DATASETS["contactActivities"].column_map)
    assert len(table_rows(DATASETS["contactActivities"], world.activities())[0]) == 22


def test_the_events_of_one_sending_share_its_message_instance_and_each_status_is_a_row() -> None:
    world = World()
    world.ingest(
        activity("evt-1", "delivered"),
        activity("evt-2", "open"),
        activity("evt-3", "bounced", profile={"id": "p-2"}, event_data={"reason": "550 no such user"}),
    )

    rows = [row for _, row in world.activities()]

    assert [(row["activitystatus"], row["externalcustomerid"]) for row in rows] == [
        ("DELIVERED", "p-1"),
        ("RECEIVED", "p-1"),
        ("UNDELIVERED", "p-2"),
    ]
    assert rows[0]["messageinstanceid"] == rows[1]["messageinstanceid"] != rows[2]["messageinstanceid"]
    assert rows[0]["mediatype"] is None  # a delivery event does not tell the channel
    assert rows[2]["statusdescription"] == "550 no such user"


def test_the_contact_is_the_customer_whose_registered_id_is_the_profile_id() -> None:
    world = World()
    tracked = world.customers.ensure(ACCOUNT, {"registered": "p-1"})
    # first known by a cookie: its home is the cookie, its registered id points at it
    cookie_first = world.customers.ensure(ACCOUNT, {"cookie": "c-9"})
    world.customers.ensure(ACCOUNT, {"cookie": "c-9", "registered": "p-2"})
    world.ingest(activity("evt-1"), activity("evt-2", profile={"id": "p-2"}), activity("evt-3", profile={"id": "p-3"}))

    contacts = {
        row["externalcustomerid"]: row["contactid"] for _, row in ContactsSource(world.store).read(ACCOUNT, "", FAR, 10)
    }
    world.store.calls.clear()
    rows = {row["externalcustomerid"]: row["contactid"] for _, row in world.activities()}

    assert rows["p-1"] == contacts["p-1"] == stable_id(ACCOUNT, tracked.key)
    assert (
        rows["p-2"] == contacts["p-2"] == stable_id(ACCOUNT, cookie_first.key) != stable_id(ACCOUNT, "registered:p-2")
    )
    # not known yet: the contactId tracking will give it
    assert rows["p-3"] == stable_id(ACCOUNT, "registered:p-3")
    assert world.store.calls["BatchGetItem"] == 1  # one lookup for the page's profiles


def test_sent_events_make_no_row_and_a_page_of_them_is_read_past() -> None:
    world = World()
    world.ingest(*[activity(f"evt-{index}", "sent") for index in range(5)])
    world.log.clock = lambda: NOW + 1
    world.ingest(activity("evt-click"))

    page = world.activities(limit=3)

    assert [row["activitystatus"] for _, row in page] == ["CLICKED"]
    assert world.activities(after=page[-1][0]) == []


def test_an_activity_without_campaign_or_message_still_has_a_key() -> None:
    world = World()
    world.ingest(activity("evt-1", "subscribed", campaign=None, message=None, event_data={}))

    ((_, row),) = world.activities()

    assert (row["activitystatus"], row["broadcastid"], row["messageid"]) == ("SUBSCRIPTION_CHANGED", None, None)
    assert row["messageinstanceid"] == message_instance_id(ACCOUNT, None, None, "p-1")
    assert all(row[name] is not None for name in DATASETS["contactActivities"].key)


def test_messages_and_broadcasts_rows() -> None:
    world = World()
    world.ingest(activity("evt-1", "sent", occurred_at="2026-11-22T09:00:00Z"), activity("evt-2", "open"))

    ((_, message),) = sources(world.store)["messages"].read(ACCOUNT, "", FAR, 10)
    ((_, broadcast),) = sources(world.store)["broadcasts"].read(ACCOUNT, "", FAR, 10)

    written = datetime.fromtimestamp(NOW, UTC)
    assert message == {
        "mediatype": "Email",
        "messageid": 9,
        "name": "Promo",
        "subject": "50% off",
        "updatedate": written,
    }
    assert broadcast == {
        "createddate": written,
        "groupid": 17,
        "id": 7,
        "mediatype": "Email",
        "messageid": 9,
        "name": "Black Friday",
        "starteddate": datetime(2026, 11, 22, 9, tzinfo=UTC),
        "updateddate": written,
    }
    for name, row in (("messages", message), ("broadcasts", broadcast)):
        assert set(row) <= set(DATASETS[name].column_map)


def test_a_broadcast_not_seen_sending_has_no_start() -> None:
    world = World()
    world.ingest(activity("evt-1", "click"))

    ((_, broadcast),) = sources(world.store)["broadcasts"].read(ACCOUNT, "", FAR, 10)

    assert broadcast["starteddate"] is None
