"""Message activity kept by ingest for the activity exports: which events are kept, what each keeps, and what
the events say of their messages and broadcasts (written only when something is new)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlsync.customers.activity import KEPT_TYPES, MAX_ID, VENDOR_STATUS, ActivityLog
from sqlsync.models.hooks import ActivityEvent, HookEventType
from sqlsync.store.memory import InMemoryCustomerStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import ingest
from testkit import activity_event as activity

ACCOUNT = 1
NOW = 1_800_000_000.0
FAR = NOW + 10_000


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryCustomerStore()
        self.log = ActivityLog(self.store, clock=lambda: self.now)

    def ingest(self, *events: ActivityEvent) -> int:
        return ingest(list(events), InMemorySink(), activity_log=self.log).activities

    def entries(self, kind: Any) -> dict[int, dict[str, Any]]:
        return {entry.entry_id: entry.values for _, entry in self.store.changed_entries(ACCOUNT, kind, "", FAR, 100)}


def test_an_activity_event_is_kept_with_what_the_exports_read() -> None:
    world = World()

    assert world.ingest(activity("evt-1")) == 1

    ((_, record),) = world.store.changed_activities(ACCOUNT, "", FAR, 10)
    assert (record.event_id, record.event_type, record.profile_id, record.received_at) == ("evt-1", "click", "p-1", NOW)
    assert record.occurred_at == datetime(2026, 11, 22, 10, 0, 5, 123456, UTC).timestamp()
    assert record.details == {
        "campaign": {"id": 7, "name": "Black Friday", "subid": "bf-26"},
        "message": {"id": 9, "name": "Promo"},
        "link": "https://shop.example.com/sale",
    }  # the sample's browser, resource and database are not kept


def test_every_message_type_is_kept_and_no_other() -> None:
    world = World()
    events = [activity(f"evt-{kind}", kind) for kind in HookEventType]

    assert world.ingest(*events) == len(KEPT_TYPES)

    kept = {record.event_type for _, record in world.store.changed_activities(ACCOUNT, "", FAR, 100)}
    assert kept == set(KEPT_TYPES) == set(VENDOR_STATUS) | {"sent"}
    assert not kept & {"pixel", "profile_imported", "profile_updated"}


def test_test_events_events_without_a_profile_and_events_before_1970_are_not_kept() -> None:
    world = World()

    old = activity("evt-3", occurred_at="1969-07-20T20:17:00Z")  # hooks take it; exports keep unix seconds
    assert world.ingest(activity("evt-1", is_test=True), activity("evt-2", profile=None), old) == 0

    assert world.store.changed_activities(ACCOUNT, "", FAR, 10) == []
    assert world.entries("message") == {}


def test_an_undelivered_message_keeps_its_reason() -> None:
    world = World()

    world.ingest(activity("evt-1", "bounced", event_data={"reason": "550 mailbox unavailable", "error": "ignored"}))

    ((_, record),) = world.store.changed_activities(ACCOUNT, "", FAR, 10)
    assert record.details["description"] == "550 mailbox unavailable"
    assert "link" not in record.details


def test_the_events_name_their_message_and_broadcast_and_the_first_sending_starts_it() -> None:
    world = World()

    world.ingest(activity("evt-1", "delivered"), activity("evt-2", "sent", occurred_at="2026-11-22T09:00:00Z"))

    assert world.entries("message") == {9: {"name": "Promo", "subject": "50% off"}}
    assert world.entries("broadcast") == {
        7: {
            "name": "Black Friday",
            "message_id": 9,
            "group_id": 17,
            "started_at": datetime(2026, 11, 22, 9, tzinfo=UTC).timestamp(),
        }
    }


def test_a_channel_once_known_is_not_forgotten_by_a_delivery_event() -> None:
    world = World()
    world.ingest(activity("evt-1", "click_sms"))
    world.now += 60

    world.ingest(activity("evt-2", "delivered"), activity("evt-3", "sent"))

    assert world.entries("message")[9]["media_type"] == "SMS"
    assert world.entries("broadcast")[7]["media_type"] == "SMS"


def test_an_entry_is_written_again_only_when_an_event_changes_it() -> None:
    world = World()
    world.ingest(activity("evt-1"))
    world.now += 60
    world.ingest(activity("evt-2", "open"))  # the same names: the messages feed stays where it was

    ((_, entry),) = world.store.changed_entries(ACCOUNT, "message", "", FAR, 10)
    assert entry.updated_at == NOW

    world.now += 60
    world.ingest(activity("evt-3", message={"id": 9, "name": "Promo", "subject": "Last day: 50% off"}))

    ((_, entry),) = world.store.changed_entries(ACCOUNT, "message", "", FAR, 10)
    assert (entry.values["subject"], entry.created_at, entry.updated_at) == ("Last day: 50% off", NOW, NOW + 120)


def test_one_request_notes_each_entry_once_with_its_last_event() -> None:
    world = World()

    world.ingest(
        activity("evt-1", campaign={"id": 7, "name": "Old name"}),
        activity("evt-2", campaign={"id": 7, "name": "New name"}),
    )

    assert world.store.calls["UpdateItem"] == 2  # one message, one broadcast
    assert world.entries("broadcast")[7]["name"] == "New name"


def test_ids_beyond_a_bigint_are_left_out() -> None:
    world = World()

    world.ingest(activity("evt-1", campaign={"id": MAX_ID + 1, "name": "huge"}, message={"id": MAX_ID, "name": "m"}))

    ((_, record),) = world.store.changed_activities(ACCOUNT, "", FAR, 10)
    assert "campaign" not in record.details
    assert world.entries("broadcast") == {}
    assert list(world.entries("message")) == [MAX_ID]


def test_long_texts_are_cut_to_the_widest_column() -> None:
    world = World()

    world.ingest(activity("evt-1", event_data={"link_url": "https://x/" + "a" * 2000}))

    ((_, record),) = world.store.changed_activities(ACCOUNT, "", FAR, 10)
    assert len(record.details["link"]) == 1000


def test_without_an_activity_log_ingest_keeps_nothing() -> None:
    world = World()

    result = ingest([activity("evt-1")], InMemorySink())

    assert result.activities == 0
    assert world.store.changed_activities(ACCOUNT, "", FAR, 10) == []


def test_an_event_id_sent_twice_in_one_request_is_one_activity_the_last() -> None:
    world = World()

    kept = world.ingest(activity("evt-1", "click"), activity("evt-1", "click", occurred_at="2026-11-22T11:00:00Z"))

    assert kept == 1
    ((_, record),) = world.store.changed_activities(ACCOUNT, "", FAR, 10)
    assert record.occurred_at == datetime(2026, 11, 22, 11, tzinfo=UTC).timestamp()


def test_many_messages_and_broadcasts_of_one_request_are_all_noted() -> None:
    world = World()

    world.ingest(*[activity(f"evt-{n}", campaign={"id": n, "name": f"c{n}"}, message={"id": n}) for n in range(30)])

    assert set(world.entries("broadcast")) == set(world.entries("message")) == set(range(30))
    assert world.store.calls["UpdateItem"] == 60


class _RecordingStore(InMemoryCustomerStore):
    def __init__(self) -> None:
        super().__init__()
        self.kept_until: list[float | None] = []

    def put_activities(self, account: int, records: Any, keep_until: float | None = None) -> None:
        self.kept_until.append(keep_until)
        super().put_activities(account, records, keep_until)


def test_activity_is_kept_for_the_retention_from_when_it_is_received() -> None:
    store = _RecordingStore()

    ActivityLog(store, clock=lambda: NOW, retention=400 * 86400.0).keep([activity("evt-1")])
    ActivityLog(store, clock=lambda: NOW).keep([activity("evt-2")])

    assert store.kept_until == [NOW + 400 * 86400.0, None]
