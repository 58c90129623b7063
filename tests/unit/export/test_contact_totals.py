"""contacts' counters and last-activity dates from the message activity kept for its profile: sendings counted
once each, the contact exported again when its profile has new activity, and NULL where there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlsync.customers.activity import ActivityLog, contact_totals
from sqlsync.customers.service import CustomerService
from sqlsync.export.sources import ContactsSource, Rows
from sqlsync.store.base import ActivityRecord
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import ingest
from testkit import activity_event

ACCOUNT = 1
NOW = 1_800_000_000.0
FAR = NOW + 10_000
AT = datetime(2026, 11, 22, 10, tzinfo=UTC)
COUNTERS = ("totalsent", "totalreceived", "totalviewed", "totalclicked")
DATES = ("lastsentdate", "lastreceiveddate", "lastvieweddate", "lastclickeddate")


def record(event_type: str, minutes: int, message: int = 9) -> ActivityRecord:
    details = {"campaign": {"id": 7}, "message": {"id": message}}
    return ActivityRecord(
        f"e-{event_type}-{minutes}", event_type, "p-1", (AT + timedelta(minutes=minutes)).timestamp(), details
    )


def test_each_sending_counts_once_and_each_date_is_the_last() -> None:
    totals = contact_totals(
        [
            record("sent", 0),
            record("sent", 1, message=10),
            record("delivered", 2),
            record("open", 5),
            record("uopen", 5),  # the same open, told twice
            record("read", 30),
            record("click", 40),
            record("click_push", 50, message=10),
            record("unsub", 60),  # not counted
        ]
    )

    assert [totals[name] for name in COUNTERS] == [2, 1, 1, 2]
    assert [totals[name] for name in DATES] == [AT + timedelta(minutes=m) for m in (1, 2, 30, 50)]


def test_no_activity_is_zero_counts_without_dates() -> None:
    totals = contact_totals([record("unsub", 0)])

    assert [totals[name] for name in COUNTERS] == [0, 0, 0, 0]
    assert [totals[name] for name in DATES] == [None] * 4


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryCustomerStore()
        self.customers = CustomerService(self.store, clock=lambda: self.now)
        self.log = ActivityLog(self.store, clock=lambda: self.now)

    def activity(self, *events: Any) -> None:
        ingest(list(events), InMemorySink(), activity_log=self.log)

    def contacts(self, after: str = "", limit: int = 100) -> Rows:
        return ContactsSource(self.store).read(ACCOUNT, after, FAR, limit)


def test_a_contact_has_its_profiles_counters_and_one_without_activity_none() -> None:
    world = World()
    world.customers.ensure(ACCOUNT, {"registered": "p-1"})
    world.customers.ensure(ACCOUNT, {"registered": "p-2"})
    world.now += 1
    world.activity(
        activity_event("e1", "sent", profile={"id": "p-1"}), activity_event("e2", "click", profile={"id": "p-1"})
    )

    rows = {row["externalcustomerid"]: row for _, row in world.contacts()}

    assert [rows["p-1"][name] for name in COUNTERS] == [1, 0, 0, 1]
    assert all(name not in rows["p-2"] for name in COUNTERS + DATES)  # NULL in the table


def test_new_activity_exports_the_contact_again_once_per_page() -> None:
    world = World()
    world.customers.ensure(ACCOUNT, {"registered": "p-1"})
    world.customers.ensure(ACCOUNT, {"registered": "p-2"})
    ((_, _), (cursor, _)) = world.contacts()
    world.now += 1
    world.activity(
        activity_event("e1", "open", profile={"id": "p-1"}),
        activity_event("e2", "uopen", profile={"id": "p-1"}),
        activity_event("e3", "open", profile={"id": "unknown"}),  # no customer: no row
    )

    rows = world.contacts(after=cursor)

    assert [(row["externalcustomerid"], row["totalviewed"]) for _, row in rows if row is not None] == [("p-1", 1)]
    assert rows[-1][1] is None  # the unknown profile's open, read past
    assert world.contacts(after=rows[-1][0]) == []


def test_a_page_of_activity_without_customers_is_read_past() -> None:
    world = World()
    world.activity(*[activity_event(f"e{n}", "open", profile={"id": f"unknown-{n}"}) for n in range(5)])
    world.now += 1
    world.customers.ensure(ACCOUNT, {"registered": "p-1"})

    assert [row["externalcustomerid"] for _, row in world.contacts(limit=2)] == ["p-1"]


def test_activity_is_counted_whenever_it_occurred() -> None:
    world = World()
    world.customers.ensure(ACCOUNT, {"registered": "p-1"})
    # received now, dated after the export's `until` (a sender's clock ahead)
    world.activity(activity_event("e1", "click", profile={"id": "p-1"}, occurred_at="2030-01-01T00:00:00Z"))

    ((_, row),) = world.contacts()

    assert (row["totalclicked"], row["lastclickeddate"]) == (1, datetime(2030, 1, 1, tzinfo=UTC))
