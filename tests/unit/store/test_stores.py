"""One conformance suite for both store implementations, then what only one of them has.

The in-memory fakes stand in for DynamoDB in benchmarks and the local stack, so every behaviour is checked
on both: the store fixtures run each conformance test on memory and on moto.
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from sqlsync.models.events import version_of
from sqlsync.models.integrations import Integration, Templates
from sqlsync.store import (
    ConfigStore,
    LedgerStore,
    Membership,
    StatsBucket,
    StatsDelta,
    StatsStore,
    StoreError,
)
from sqlsync.store.base import ContentStore, HeldEvent, Pending
from sqlsync.store.dynamodb import (
    DynamoDBConfigStore,
    DynamoDBContentStore,
    DynamoDBLedgerStore,
    DynamoDBStatsStore,
)
from sqlsync.store.memory import InMemoryConfigStore, InMemoryContentStore, InMemoryLedgerStore, InMemoryStatsStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeDefinitionTypeDef, KeySchemaElementTypeDef

REGION = "eu-central-1"
CONFIG_TABLE = "sqlsync-config"
LEDGER_TABLE = "sqlsync-ledger"
STATS_TABLE = "sqlsync-stats"
CONTENT_TABLE = "sqlsync-content"


def _string_keys(*names: str) -> list[AttributeDefinitionTypeDef]:
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def _key_schema(hash_key: str, range_key: str) -> list[KeySchemaElementTypeDef]:
    return [{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}]


def create_tables(client: DynamoDBClient) -> None:
    """The key schemas of template.yaml."""
    client.create_table(
        TableName=CONFIG_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=_string_keys("pk", "sk", "gsi1pk", "gsi1sk"),
        KeySchema=_key_schema("pk", "sk"),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": _key_schema("gsi1pk", "gsi1sk"),
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for table in (LEDGER_TABLE, STATS_TABLE):
        client.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=_string_keys("pk", "sk"),
            KeySchema=_key_schema("pk", "sk"),
        )
    client.create_table(
        TableName=CONTENT_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=_string_keys("pk"),
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    """A moto DynamoDB with the three tables; AWS_DEFAULT_REGION lets stores build their own client."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client)
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config_store(backend: str, request: pytest.FixtureRequest) -> ConfigStore:
    if backend == "memory":
        return InMemoryConfigStore()
    return DynamoDBConfigStore(CONFIG_TABLE, request.getfixturevalue("dynamodb"))


@pytest.fixture
def ledger(backend: str, request: pytest.FixtureRequest) -> LedgerStore:
    if backend == "memory":
        return InMemoryLedgerStore()
    return DynamoDBLedgerStore(LEDGER_TABLE, request.getfixturevalue("dynamodb"))


@pytest.fixture
def stats(backend: str, request: pytest.FixtureRequest) -> StatsStore:
    if backend == "memory":
        return InMemoryStatsStore()
    return DynamoDBStatsStore(STATS_TABLE, request.getfixturevalue("dynamodb"))


T0 = datetime(2026, 11, 22, 10, 5, 30, tzinfo=UTC)
ODD_PROFILE_IDS = ["a#b", "profile#x", "cleared", "Пётр 🦀", " spaced ", "x" * 200]


def integration(integration_id: str, account_id: int = 1, *, template_chars: int = 20) -> Integration:
    sql = "INSERT INTO t VALUES ({$lead.Id}) -- " + "x" * template_chars
    return Integration(
        id=integration_id,
        name=f"integration {integration_id}",
        account_id=account_id,
        target_url="sqlite:///target.db",
        segment_ids=[7],
        templates=Templates(profiles_added=sql, profiles_removed=sql),
        created_at=T0,
        updated_at=T0,
    )


def version(second: int, event_id: str = "e") -> str:
    return version_of(T0 + timedelta(seconds=second), event_id)


# --------------------------------------------------------------------------------------------- config


def test_get_integration_returns_what_was_put(config_store: ConfigStore) -> None:
    # GIVEN a stored integration
    stored = integration("i-1")
    config_store.put_integration(stored)

    # WHEN it is read back, and an unknown one is read
    found = config_store.get_integration("i-1")
    missing = config_store.get_integration("i-2")

    # THEN the first equals what was put, the second is None
    assert found == stored
    assert missing is None


def test_put_integration_replaces_and_moves_between_accounts(config_store: ConfigStore) -> None:
    # GIVEN an integration of account 1
    config_store.put_integration(integration("i-1", account_id=1))

    # WHEN it is saved again under account 2
    moved = integration("i-1", account_id=2).model_copy(update={"name": "renamed"})
    config_store.put_integration(moved)

    # THEN only account 2 lists it, with the new name
    assert config_store.get_integration("i-1") == moved
    assert config_store.list_integrations(1) == []
    assert config_store.list_integrations(2) == [moved]


def test_list_integrations_returns_one_account_ordered_by_id_across_pages(config_store: ConfigStore) -> None:
    # GIVEN integrations of two accounts, large enough (about 130 KB each) that DynamoDB pages them
    mine = [integration(f"i-{n}", account_id=5, template_chars=65_000) for n in (3, 1, 2, 9, 8, 7, 6, 5, 4)]
    for item in mine:
        config_store.put_integration(item)
    config_store.put_integration(integration("other", account_id=6))

    # WHEN account 5's integrations are listed
    listed = config_store.list_integrations(5)

    # THEN all of them come back, ordered by id, and none of account 6
    assert [item.id for item in listed] == sorted(item.id for item in mine)
    assert listed == sorted(mine, key=lambda item: item.id)


def test_delete_integration_says_whether_it_existed(config_store: ConfigStore) -> None:
    # GIVEN one stored integration
    config_store.put_integration(integration("i-1"))

    # WHEN it is deleted twice
    first, second = config_store.delete_integration("i-1"), config_store.delete_integration("i-1")

    # THEN only the first deletion found it, and it is gone
    assert (first, second) == (True, False)
    assert config_store.get_integration("i-1") is None
    assert config_store.list_integrations(1) == []


# --------------------------------------------------------------------------------------------- ledger


def test_claim_stores_an_entry_with_its_fields(ledger: LedgerStore) -> None:
    # GIVEN fields with floats, nesting and unicode
    fields = {"score": 0.1, "tags": ["a", {"b": None}], "name": "Пётр", "big": 2**70, "ok": True}
    entry = Membership("p-1", version(1), "in", fields)

    # WHEN the profile is claimed in an empty ledger
    result = ledger.claim("i-1", 7, entry)

    # THEN it is stored and reads back equal
    assert result is None
    assert ledger.get_members("i-1", 7, ["p-1"]) == {"p-1": entry}


def test_claim_keeps_the_fields_json_it_is_given_instead_of_encoding_the_fields_again(ledger: LedgerStore) -> None:
    # GIVEN claims that bring their fields' JSON text along (as the sync queue carried it), one alone
    fields = {"score": 0.1, "name": "Пётр"}
    ledger.claim_many(
        "i-1",
        7,
        [
            Membership("p-1", version(1), "in", fields, '{"score":0.1,"name":"Пётр"}'),
            Membership("p-2", version(1), "in", {"told": "apart"}, '{"kept":"as given"}'),
        ],
    )
    ledger.claim("i-1", 7, Membership("p-3", version(1), "out", {}, '{"alone":1}'))

    # THEN the text is what the ledger keeps (the second shows it is not encoded from `fields`)
    assert ledger.get_members("i-1", 7, ["p-1", "p-2", "p-3"]) == {
        "p-1": Membership("p-1", version(1), "in", fields),
        "p-2": Membership("p-2", version(1), "in", {"kept": "as given"}),
        "p-3": Membership("p-3", version(1), "out", {"alone": 1}),
    }


def test_claim_refuses_an_older_version_and_returns_the_newer_entry(ledger: LedgerStore) -> None:
    # GIVEN a profile claimed at second 5
    newer = Membership("p-1", version(5), "in", {"n": 5})
    ledger.claim("i-1", 7, newer)

    # WHEN an event of second 3 claims it
    result = ledger.claim("i-1", 7, Membership("p-1", version(3), "out", {"n": 3}))

    # THEN the stored entry comes back and is unchanged
    assert result == newer
    assert ledger.get_members("i-1", 7, ["p-1"]) == {"p-1": newer}


def test_claim_accepts_equal_and_newer_versions(ledger: LedgerStore) -> None:
    # GIVEN a profile claimed at second 5
    ledger.claim("i-1", 7, Membership("p-1", version(5), "in", {"n": 1}))

    # WHEN the same event is redelivered, then a newer one arrives
    redelivered = ledger.claim("i-1", 7, Membership("p-1", version(5), "in", {"n": 2}))
    redelivered_entry = ledger.get_members("i-1", 7, ["p-1"])["p-1"]
    newer = Membership("p-1", version(6, "a"), "out", {})
    newer_result = ledger.claim("i-1", 7, newer)

    # THEN both are stored: redelivery re-applies, newer wins (the event id breaks ties within a time)
    assert redelivered is None
    assert redelivered_entry.fields == {"n": 2}
    assert newer_result is None
    assert ledger.get_members("i-1", 7, ["p-1"]) == {"p-1": newer}


def test_get_members_returns_only_known_profiles_in_large_batches(ledger: LedgerStore) -> None:
    # GIVEN 230 members (more than two BatchGetItem calls hold), some with unusual ids, and a cleared marker
    profile_ids = [f"p-{n}" for n in range(230 - len(ODD_PROFILE_IDS))] + ODD_PROFILE_IDS
    for n, profile_id in enumerate(profile_ids):
        ledger.claim("i-1", 7, Membership(profile_id, version(n), "in", {"n": n}))
    ledger.claim_cleared("i-1", 7, version(1))

    # WHEN they are read with unknown profiles and duplicates among them
    wanted = [*profile_ids, "unknown", "p-0", "cleared", "unknown"]
    found = ledger.get_members("i-1", 7, wanted)

    # THEN exactly the members come back, each with its own entry
    assert set(found) == set(profile_ids)
    assert all(found[profile_id].fields == {"n": n} for n, profile_id in enumerate(profile_ids))
    assert ledger.get_members("i-1", 7, []) == {}


def test_get_versions_reads_only_versions_of_known_profiles(ledger: LedgerStore) -> None:
    # GIVEN 150 members, some with unusual ids
    profile_ids = [f"p-{n}" for n in range(150 - len(ODD_PROFILE_IDS))] + ODD_PROFILE_IDS
    for n, profile_id in enumerate(profile_ids):
        ledger.claim("i-1", 7, Membership(profile_id, version(n), "in", {"big": "x" * 100}))

    # WHEN their versions are read with unknown and duplicate ids among them
    versions = ledger.get_versions("i-1", 7, [*profile_ids, "unknown", "p-0"])

    # THEN each known profile maps to its version
    assert versions == {profile_id: version(n) for n, profile_id in enumerate(profile_ids)}
    assert ledger.get_versions("i-1", 8, profile_ids) == {}


def test_claim_many_is_claim_in_order(ledger: LedgerStore) -> None:
    # GIVEN two stored entries
    ledger.claim("i-1", 7, Membership("p-1", version(5), "in"))
    ledger.claim("i-1", 7, Membership("p-2", version(1), "in"))

    # WHEN 40 claims go at once: an older one, a newer one, and new profiles
    memberships = [Membership("p-1", version(3), "out"), Membership("p-2", version(2), "out")]
    memberships += [Membership(f"n-{n}", version(n), "in") for n in range(38)]
    results = ledger.claim_many("i-1", 7, memberships)

    # THEN the results line up with the claims
    assert results[0] == Membership("p-1", version(5), "in")
    assert results[1:] == [None] * 39
    assert ledger.get_versions("i-1", 7, ["p-1", "p-2", "n-37"]) == {
        "p-1": version(5),
        "p-2": version(2),
        "n-37": version(37),
    }


def test_the_ledger_client_keeps_a_connection_per_claim_thread(dynamodb: DynamoDBClient) -> None:
    # GIVEN a ledger that claims on 32 threads, and the stats store (one calling thread)
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, claim_threads=32)
    stats = DynamoDBStatsStore(STATS_TABLE)

    # WHEN each builds its own client
    # THEN the ledger's pool holds a connection per claim thread and one for its caller; urllib3 would
    # otherwise drop the extra ones and open a new TLS connection for most claims
    assert ledger.client.meta.config.max_pool_connections == 33
    assert stats.client.meta.config.max_pool_connections == 10


def test_entries_are_kept_per_integration_and_segment(ledger: LedgerStore) -> None:
    # GIVEN the same profile claimed in two segments of one integration and in another integration
    ledger.claim("i-1", 7, Membership("p-1", version(1), "in"))
    ledger.claim("i-1", 8, Membership("p-1", version(9), "out"))
    ledger.claim("i-2", 7, Membership("p-1", version(9), "out"))

    # WHEN the first segment is claimed with a version between
    result = ledger.claim("i-1", 7, Membership("p-1", version(5), "out"))

    # THEN the other entries do not interfere
    assert result is None
    assert ledger.get_members("i-1", 7, ["p-1"])["p-1"].version == version(5)


def test_cleared_marker_keeps_the_newest_version(ledger: LedgerStore) -> None:
    # GIVEN a segment never cleared
    assert ledger.get_cleared("i-1", 7) is None

    # WHEN it is cleared at second 5, redelivered, then an older clear arrives
    first = ledger.claim_cleared("i-1", 7, version(5))
    again = ledger.claim_cleared("i-1", 7, version(5))
    older = ledger.claim_cleared("i-1", 7, version(3))

    # THEN the older one gets the stored version back; a newer one replaces it
    assert (first, again, older) == (None, None, version(5))
    assert ledger.get_cleared("i-1", 7) == version(5)
    assert ledger.claim_cleared("i-1", 7, version(8)) is None
    assert ledger.get_cleared("i-1", 7) == version(8)
    assert ledger.get_cleared("i-1", 8) is None


def test_members_filters_strictly_newer_versions(ledger: LedgerStore) -> None:
    # GIVEN members at seconds 0..9 and a cleared marker in the segment, and a member of another segment
    for n in range(10):
        ledger.claim("i-1", 7, Membership(f"p-{n}", version(n), "in" if n % 2 else "out", {"n": n}))
    ledger.claim_cleared("i-1", 7, version(99))
    ledger.claim("i-1", 8, Membership("other", version(50), "in"))

    # WHEN all members are listed, then those newer than second 6
    everyone = list(ledger.members("i-1", 7))
    recent = list(ledger.members("i-1", 7, newer_than=version(6)))

    # THEN the cleared marker is not a member and the filter is strict
    assert sorted(m.profile_id for m in everyone) == sorted(f"p-{n}" for n in range(10))
    assert sorted(m.profile_id for m in recent) == ["p-7", "p-8", "p-9"]
    assert all(m.fields == {"n": int(m.profile_id[2:])} for m in everyone)
    assert list(ledger.members("i-1", 9)) == []


def test_members_and_forget_segment_cross_pages(ledger: LedgerStore) -> None:
    # GIVEN 260 members with 4 KB of fields each (more than one 1 MB query page) and a cleared marker
    for n in range(260):
        ledger.claim("i-1", 7, Membership(f"p-{n:03}", version(n), "in", {"blob": "x" * 4096}))
    ledger.claim_cleared("i-1", 7, version(1))
    ledger.claim("i-1", 8, Membership("survivor", version(1), "in"))

    # WHEN the members are listed, then the segment is forgotten
    listed = list(ledger.members("i-1", 7))
    ledger.forget_segment("i-1", 7)

    # THEN every member was listed once, and afterwards nothing of that segment is left
    assert sorted(m.profile_id for m in listed) == [f"p-{n:03}" for n in range(260)]
    assert list(ledger.members("i-1", 7)) == []
    assert ledger.get_cleared("i-1", 7) is None
    assert ledger.get_members("i-1", 7, ["p-000", "p-259"]) == {}
    assert list(ledger.members("i-1", 8)) == [Membership("survivor", version(1), "in")]


def test_forget_segment_of_an_unknown_segment_does_nothing(ledger: LedgerStore) -> None:
    # GIVEN an empty ledger / WHEN a segment is forgotten / THEN nothing fails
    ledger.forget_segment("i-1", 7)
    assert ledger.get_cleared("i-1", 7) is None


def test_members_since_includes_the_given_version(ledger: LedgerStore) -> None:
    # GIVEN members at seconds 0..5 and one of another segment
    for n in range(6):
        ledger.claim("i-1", 7, Membership(f"p-{n}", version(n), "in" if n % 2 else "out", {"n": n}))
    ledger.claim("i-1", 8, Membership("other", version(9), "in"))

    # WHEN members are listed from second 3 on, and from the start
    recent = list(ledger.members_since("i-1", 7, version(3)))
    everyone = list(ledger.members_since("i-1", 7, ""))

    # THEN second 3 itself is included (members() would leave it out), with its state and fields
    assert sorted(m.profile_id for m in recent) == ["p-3", "p-4", "p-5"]
    assert Membership("p-3", version(3), "in", {"n": 3}) in recent
    assert len(everyone) == 6
    assert [m.profile_id for m in ledger.members("i-1", 7, newer_than=version(3))] == ["p-4", "p-5"]


# ------------------------------------------------------------------------------ paused integrations


def test_no_pending_mark_until_a_hold(ledger: LedgerStore) -> None:
    # GIVEN members and a held event but no mark / WHEN read / THEN there is nothing pending
    ledger.claim("i-1", 7, Membership("p-1", version(1), "in"))
    assert ledger.get_pending("i-1", 7) is None
    ledger.hold_event("i-1", 7, "upsert", version(1), "{}")
    assert ledger.get_pending("i-1", 7) is None


def test_mark_pending_keeps_the_oldest_version_and_counts_holds(ledger: LedgerStore) -> None:
    # GIVEN holds at seconds 5, 8 (newer), 2 (older, delivered late) and 2 again
    results = [ledger.mark_pending("i-1", 7, version(second), "config-1") for second in (5, 8, 2, 2)]

    # WHEN the mark is read
    pending = ledger.get_pending("i-1", 7)

    # THEN it starts at the oldest and counts each hold; other segments have none
    assert results == [True] * 4
    assert pending is not None and (pending.since, pending.holds) == (version(2), 4)
    assert (pending.clear, pending.upsert) == (None, None)
    assert ledger.get_pending("i-1", 8) is None
    assert ledger.get_pending("i-2", 7) is None


def test_held_events_keep_the_newest_of_each_kind(ledger: LedgerStore) -> None:
    # GIVEN a clear at 5, then an older clear, a newer upsert and an older upsert, then a mark
    first = ledger.hold_event("i-1", 7, "clear", version(5), '{"clear": 5}')
    older = ledger.hold_event("i-1", 7, "clear", version(3), '{"clear": 3}')
    upsert = ledger.hold_event("i-1", 7, "upsert", version(9), '{"upsert": 9}')
    older_upsert = ledger.hold_event("i-1", 7, "upsert", version(4), '{"upsert": 4}')
    again = ledger.hold_event("i-1", 7, "clear", version(5), '{"clear": "5 again"}')
    ledger.mark_pending("i-1", 7, version(3), "config-1")

    # WHEN the pending mark is read
    pending = ledger.get_pending("i-1", 7)

    # THEN each kind holds its newest event (an equal version passes, as for claims)
    assert (first, older, upsert, older_upsert, again) == (True, False, True, False, True)
    assert pending is not None
    assert pending.clear == HeldEvent(version(5), '{"clear": "5 again"}')
    assert pending.upsert == HeldEvent(version(9), '{"upsert": 9}')


def test_drop_held_event_removes_only_the_version_read(ledger: LedgerStore) -> None:
    # GIVEN a held clear at 5 that a newer one replaced, and a held upsert at 9
    ledger.hold_event("i-1", 7, "clear", version(5), "old")
    ledger.hold_event("i-1", 7, "clear", version(6), "new")
    ledger.hold_event("i-1", 7, "upsert", version(9), "upsert")
    ledger.mark_pending("i-1", 7, version(5), "config-1")

    # WHEN a catch-up that read the older clear drops it, and the upsert it read
    ledger.drop_held_event("i-1", 7, "clear", version(5))
    ledger.drop_held_event("i-1", 7, "upsert", version(9))
    ledger.drop_held_event("i-1", 7, "upsert", version(9))

    # THEN the newer clear stays, the upsert is gone
    pending = ledger.get_pending("i-1", 7)
    assert pending is not None and pending.clear == HeldEvent(version(6), "new") and pending.upsert is None


def test_finish_pending_refuses_when_a_hold_came_meanwhile(ledger: LedgerStore) -> None:
    # GIVEN a mark read by a catch-up, then one more hold
    ledger.mark_pending("i-1", 7, version(5), "config-1")
    read = ledger.get_pending("i-1", 7)
    assert read is not None
    ledger.mark_pending("i-1", 7, version(7), "config-1")

    # WHEN the catch-up finishes with the count it read, then with the current one
    stale = ledger.finish_pending("i-1", 7, read.holds)
    current = ledger.get_pending("i-1", 7)
    assert current is not None
    finished = ledger.finish_pending("i-1", 7, current.holds)

    # THEN only the second removes the mark; finishing again finds nothing
    assert (stale, finished) == (False, True)
    assert current.since == version(5)
    assert ledger.get_pending("i-1", 7) is None
    assert ledger.finish_pending("i-1", 7, current.holds) is False


def test_hold_counts_are_never_reused(ledger: LedgerStore) -> None:
    # GIVEN a catch-up that read a mark (one hold), and another that finished it meanwhile
    ledger.mark_pending("i-1", 7, version(5), "config-1")
    first_read = ledger.get_pending("i-1", 7)
    assert first_read is not None and ledger.finish_pending("i-1", 7, first_read.holds)

    # WHEN a new hold marks the segment again
    ledger.mark_pending("i-1", 7, version(9), "config-1")

    # THEN the first catch-up's count does not match the new mark (no ABA): it cannot remove it
    assert ledger.finish_pending("i-1", 7, first_read.holds) is False
    pending = ledger.get_pending("i-1", 7)
    assert pending is not None and pending.since == version(9) and pending.holds == 2


def test_a_hold_under_a_configuration_older_than_the_resume_is_refused(ledger: LedgerStore) -> None:
    # GIVEN a segment held under configuration "2026-01-02", then resumed under "2026-01-03"
    assert ledger.mark_pending("i-1", 7, version(5), "2026-01-02")
    ledger.note_resumed("i-1", 7, "2026-01-03")
    ledger.note_resumed("i-1", 7, "2026-01-01")  # an older resume never lowers it
    before = ledger.get_pending("i-1", 7)

    # WHEN workers hold under the stale paused configuration, and under a later pause
    stale = ledger.mark_pending("i-1", 7, version(1), "2026-01-02")
    later_pause = ledger.mark_pending("i-1", 7, version(8), "2026-01-04")

    # THEN the stale hold is refused and changes nothing; the later pause is held
    assert (stale, later_pause) == (False, True)
    after = ledger.get_pending("i-1", 7)
    assert before is not None and after is not None
    assert (after.since, after.holds) == (version(5), before.holds + 1)
    # AND the resumed stamp outlives the mark
    assert ledger.finish_pending("i-1", 7, after.holds)
    assert ledger.mark_pending("i-1", 7, version(9), "2026-01-02") is False
    assert ledger.get_pending("i-1", 7) is None


def test_forget_segment_forgets_the_pending_mark_and_held_events(ledger: LedgerStore) -> None:
    # GIVEN a paused segment with a member, a mark and held events
    ledger.claim("i-1", 7, Membership("p-1", version(1), "in"))
    ledger.hold_event("i-1", 7, "clear", version(2), "c")
    ledger.hold_event("i-1", 7, "upsert", version(3), "u")
    ledger.mark_pending("i-1", 7, version(1), "config-1")

    # WHEN the segment is forgotten
    ledger.forget_segment("i-1", 7)

    # THEN nothing is pending, and a new hold starts afresh
    assert ledger.get_pending("i-1", 7) is None
    ledger.mark_pending("i-1", 7, version(4), "config-1")
    assert ledger.get_pending("i-1", 7) == Pending(since=version(4), holds=1)


# ---------------------------------------------------------------------------------------------- stats


def test_stats_add_up_per_minute_and_query_oldest_first(stats: StatsStore) -> None:
    # GIVEN counters added twice in one minute, once in the next, once for another integration
    stats.add("i-1", T0, StatsDelta(statements=1, profiles=10))
    stats.add("i-1", T0 + timedelta(seconds=20), StatsDelta(statements=2, profiles=5, errors=1))
    stats.add("i-1", T0 + timedelta(minutes=1), StatsDelta(statements=1))
    stats.add("i-2", T0, StatsDelta(statements=100))

    # WHEN the integration's minutes are queried
    buckets = stats.query("i-1", T0 - timedelta(hours=1), T0 + timedelta(hours=1))

    # THEN there is one bucket per minute, oldest first, with summed counters
    assert buckets == [
        StatsBucket("2026-11-22T10:05Z", statements=3, profiles=15, errors=1),
        StatsBucket("2026-11-22T10:06Z", statements=1, profiles=0, errors=0),
    ]


def test_stats_query_bounds_are_inclusive_minutes(stats: StatsStore) -> None:
    # GIVEN buckets at minutes 10:05 .. 10:09
    for minute in range(5):
        stats.add("i-1", T0 + timedelta(minutes=minute), StatsDelta(statements=minute))

    # WHEN queried from inside 10:06 to inside 10:08, with an offset timezone, and reversed
    plus_two = timezone(timedelta(hours=2))
    start = (T0 + timedelta(minutes=1, seconds=25)).astimezone(plus_two)
    inside = stats.query("i-1", start, T0 + timedelta(minutes=3))
    reversed_range = stats.query("i-1", T0 + timedelta(minutes=3), T0)

    # THEN whole minutes 10:06 .. 10:08 come back; a reversed range is empty
    assert [b.bucket for b in inside] == ["2026-11-22T10:06Z", "2026-11-22T10:07Z", "2026-11-22T10:08Z"]
    assert reversed_range == []


def test_stats_keep_the_last_error_truncated(stats: StatsStore) -> None:
    # GIVEN an error of 5000 characters, then a later add without error in the same minute
    stats.add("i-1", T0, StatsDelta(errors=1, last_error="é" * 5000))
    stats.add("i-1", T0 + timedelta(seconds=10), StatsDelta(statements=1))

    # WHEN the minute is queried
    (bucket,) = stats.query("i-1", T0, T0)

    # THEN the error is kept, cut to 2000 characters, with its time
    assert bucket.last_error == "é" * 2000
    assert bucket.last_error_at == "2026-11-22T10:05:30.000+00:00"
    assert (bucket.errors, bucket.statements) == (1, 1)


# ------------------------------------------------------------------------------ DynamoDB specifics


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialize moto's request handling.

    DynamoDB applies a conditional write atomically per item; moto checks the condition and writes
    without a lock, and lost about one update in five runs of 800 threaded claims. The concurrency test
    is about our code, so it gets DynamoDB's atomicity.
    """
    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def atomic_call_action(self: DynamoHandler) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic_call_action)


@pytest.mark.usefixtures("atomic_moto")
def test_concurrent_claims_keep_the_newest_version(dynamodb: DynamoDBClient) -> None:
    # GIVEN 8 workers sharing one store, each claiming random versions of the same 50 profiles
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, dynamodb)
    profiles = [f"p-{n}" for n in range(50)]
    results: list[list[tuple[str, str, Membership | None]]] = [[] for _ in range(8)]

    def worker(number: int) -> None:
        rng = random.Random(number)
        for claim_number in range(100):
            profile_id, second = rng.choice(profiles), rng.randrange(10_000)
            claimed = Membership(profile_id, version(second, f"w{number}-{claim_number}"), "in", {"w": number})
            results[number].append((profile_id, claimed.version, ledger.claim("i-1", 7, claimed)))

    # WHEN they run at once
    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN each profile holds its newest claim, whole (fields of the same claim)
    claims = [claim for per_worker in results for claim in per_worker]
    newest: dict[str, str] = {}
    for profile_id, claimed_version, _ in claims:
        newest[profile_id] = max(newest.get(profile_id, ""), claimed_version)
    stored = ledger.get_members("i-1", 7, profiles)
    assert {profile_id: entry.version for profile_id, entry in stored.items()} == newest
    assert all(entry.fields == {"w": int(entry.version.split("#w")[1].split("-")[0])} for entry in stored.values())
    # AND a refused claim always names a strictly newer entry; the newest claim was never refused
    for profile_id, claimed_version, result in claims:
        assert result is None or (result.profile_id == profile_id and result.version > claimed_version)
        assert result is None or claimed_version != newest[profile_id]
    # AND within one worker, after a claim was stored, an older claim of that profile is refused
    for per_worker in results:
        seen: dict[str, str] = {}
        for profile_id, claimed_version, result in per_worker:
            if claimed_version < seen.get(profile_id, ""):
                assert result is not None and result.version >= seen[profile_id]
            if result is None:
                seen[profile_id] = max(seen.get(profile_id, ""), claimed_version)
    # AND an older claim made afterwards returns the final entry
    for profile_id, entry in stored.items():
        assert ledger.claim("i-1", 7, Membership(profile_id, version(-1), "out")) == entry


@pytest.mark.usefixtures("atomic_moto")
def test_concurrent_holds_keep_the_oldest_version_and_count_every_hold(dynamodb: DynamoDBClient) -> None:
    # GIVEN 6 workers holding random versions of one segment, older and newer ones mixed
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, dynamodb)
    held: list[list[str]] = [[] for _ in range(6)]

    def hold(number: int) -> None:
        rng = random.Random(number)
        for _ in range(30):
            held[number].append(version(rng.randrange(1000), f"w{number}"))
            assert ledger.mark_pending("i-1", 7, held[number][-1], "config-1")

    # WHEN they run at once
    threads = [threading.Thread(target=hold, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN the mark holds the oldest version of all and counted every hold
    pending = ledger.get_pending("i-1", 7)
    assert pending is not None
    assert (pending.since, pending.holds) == (min(min(versions) for versions in held), 180)


def test_items_have_the_layout_of_template_yaml(dynamodb: DynamoDBClient) -> None:
    # GIVEN one record of each kind written through the stores
    DynamoDBConfigStore(CONFIG_TABLE, dynamodb).put_integration(integration("i-1", account_id=4))
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, dynamodb)
    ledger.claim("i-1", 7, Membership("a#b", version(1), "out", {"x": 1.5}))
    ledger.claim_cleared("i-1", 7, version(2))
    DynamoDBStatsStore(STATS_TABLE, dynamodb).add("i-1", T0, StatsDelta(statements=2, last_error="boom"))

    # WHEN the raw items are read
    def scan(table: str) -> list[dict[str, Any]]:
        return sorted(dynamodb.scan(TableName=table)["Items"], key=lambda item: item["sk"]["S"])

    config, ledger_items, stats_items = scan(CONFIG_TABLE), scan(LEDGER_TABLE), scan(STATS_TABLE)

    # THEN keys and attributes are the documented ones
    assert {name: value for name, value in config[0].items() if name != "body"} == {
        "pk": {"S": "integration#i-1"},
        "sk": {"S": "integration"},
        "gsi1pk": {"S": "account#4"},
        "gsi1sk": {"S": "integration#i-1"},
    }
    assert ledger_items == [
        {"pk": {"S": "i-1#7"}, "sk": {"S": "cleared"}, "version": {"S": version(2)}},
        {
            "pk": {"S": "i-1#7"},
            "sk": {"S": "profile#a#b"},
            "version": {"S": version(1)},
            "state": {"S": "out"},
            "fields": {"S": '{"x":1.5}'},
        },
    ]
    expires = int((datetime(2026, 11, 22, 10, 5, tzinfo=UTC) + timedelta(days=90)).timestamp())
    assert stats_items == [
        {
            "pk": {"S": "i-1"},
            "sk": {"S": "2026-11-22T10:05Z"},
            "statements": {"N": "2"},
            "profiles": {"N": "0"},
            "errors": {"N": "0"},
            "expires_at": {"N": str(expires)},
            "last_error": {"S": "boom"},
            "last_error_at": {"S": "2026-11-22T10:05:30.000+00:00"},
        }
    ]


def test_paused_items_have_the_documented_layout(dynamodb: DynamoDBClient) -> None:
    # GIVEN a held upsert, a mark with two holds, and a resumed stamp
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, dynamodb)
    ledger.hold_event("i-1", 7, "upsert", version(3), '{"id":"e"}')
    ledger.mark_pending("i-1", 7, version(3), "config-2")
    ledger.mark_pending("i-1", 7, version(1), "config-2")
    ledger.note_resumed("i-1", 7, "config-1")

    # WHEN the raw items are read, then again after the catch-up finished
    def scan() -> list[dict[str, Any]]:
        return sorted(dynamodb.scan(TableName=LEDGER_TABLE)["Items"], key=lambda item: item["sk"]["S"])

    held = scan()
    ledger.finish_pending("i-1", 7, 2)
    finished = scan()

    # THEN keys and attributes are the ones DynamoDBLedgerStore documents; the count and stamp stay
    assert held == [
        {"pk": {"S": "i-1#7"}, "sk": {"S": "held#upsert"}, "version": {"S": version(3)}, "body": {"S": '{"id":"e"}'}},
        {
            "pk": {"S": "i-1#7"},
            "sk": {"S": "pending"},
            "since": {"S": version(1)},
            "holds": {"N": "2"},
            "resumed": {"S": "config-1"},
        },
    ]
    assert finished[1] == {
        "pk": {"S": "i-1#7"},
        "sk": {"S": "pending"},
        "holds": {"N": "2"},
        "resumed": {"S": "config-1"},
    }


def _paused_workload(ledger: LedgerStore) -> None:
    ledger.claim("i-1", 7, Membership("p-1", version(1), "in"))
    ledger.hold_event("i-1", 7, "clear", version(4), "c")
    ledger.hold_event("i-1", 7, "clear", version(2), "older")
    ledger.hold_event("i-1", 7, "upsert", version(5), "u")
    ledger.mark_pending("i-1", 7, version(4), "config-1")
    ledger.mark_pending("i-1", 7, version(6), "config-1")
    ledger.mark_pending("i-1", 7, version(2), "config-1")  # lowers the mark: a second call
    ledger.note_resumed("i-1", 7, "config-2")
    ledger.note_resumed("i-1", 7, "config-0")
    ledger.mark_pending("i-1", 7, version(1), "config-1")  # stale: refused with the first call
    ledger.get_pending("i-1", 7)
    list(ledger.members_since("i-1", 7, version(2)))
    ledger.drop_held_event("i-1", 7, "clear", version(4))
    ledger.drop_held_event("i-1", 7, "upsert", version(1))
    ledger.finish_pending("i-1", 7, 1)
    ledger.finish_pending("i-1", 7, 3)
    ledger.get_pending("i-1", 7)
    ledger.forget_segment("i-1", 7)


def test_memory_ledger_counts_the_calls_paused_integrations_make(dynamodb: DynamoDBClient) -> None:
    # GIVEN the paused-integration workload on the memory ledger and on a counted DynamoDB client
    made: Counter[str] = Counter()
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: made.update([model.name]))
    memory = InMemoryLedgerStore()

    # WHEN it runs on both
    _paused_workload(memory)
    _paused_workload(DynamoDBLedgerStore(LEDGER_TABLE, dynamodb))

    # THEN the fake counted what DynamoDB was sent (forget_segment deletes the mark and held upsert too)
    assert memory.calls == Counter(UpdateItem=13, DeleteItem=2, BatchGetItem=2, Query=2, BatchWriteItem=1)
    assert memory.calls == made


def test_client_is_created_on_first_use(dynamodb: DynamoDBClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a store built without a client
    made: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real_client(service, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(boto3, "client", counting_client)
    store = DynamoDBConfigStore(CONFIG_TABLE)
    assert made == []

    # WHEN it is used twice
    store.put_integration(integration("i-1"))
    found = store.get_integration("i-1")

    # THEN one client was made, on first use
    assert made == ["dynamodb"]
    assert found == integration("i-1")


def test_boto3_errors_become_store_errors(dynamodb: DynamoDBClient) -> None:
    # GIVEN stores on a table that does not exist
    ledger = DynamoDBLedgerStore("missing", dynamodb)
    operations: list[Callable[[], object]] = [
        lambda: ledger.claim("i-1", 7, Membership("p-1", version(1), "in")),
        lambda: ledger.get_members("i-1", 7, ["p-1"]),
        lambda: list(ledger.members("i-1", 7)),
        lambda: ledger.get_cleared("i-1", 7),
        lambda: DynamoDBStatsStore("missing", dynamodb).add("i-1", T0, StatsDelta()),
        lambda: DynamoDBConfigStore("missing", dynamodb).delete_integration("i-1"),
    ]
    for operation in operations:
        # WHEN an operation runs / THEN it raises StoreError caused by boto3's ClientError
        with pytest.raises(StoreError) as raised:
            operation()
        assert type(raised.value.__cause__).__name__ == "ResourceNotFoundException"


class _Throttling:
    """A client that leaves half of each batch unprocessed `throttled_calls` times, as DynamoDB may."""

    def __init__(self, client: DynamoDBClient, throttled_calls: int) -> None:
        self._client = client
        self.left = throttled_calls
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls["BatchGetItem"] += 1
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        if self.left <= 0 or len(keys) < 2:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.left -= 1
        half = len(keys) // 2
        processed: Any = {**request, "Keys": keys[:half]}
        response: Any = self._client.batch_get_item(RequestItems={table: processed})
        response["UnprocessedKeys"] = {table: {**request, "Keys": keys[half:]}}
        return response

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls["BatchWriteItem"] += 1
        ((table, requests),) = RequestItems.items()
        if self.left <= 0 or len(requests) < 2:
            return self._client.batch_write_item(RequestItems=RequestItems)
        self.left -= 1
        half = len(requests) // 2
        response: Any = self._client.batch_write_item(RequestItems={table: requests[:half]})
        response["UnprocessedItems"] = {table: requests[half:]}
        return response


def test_unprocessed_batch_items_are_retried(dynamodb: DynamoDBClient) -> None:
    # GIVEN 150 members, and a client that throttles the next three batch calls
    for n in range(150):
        DynamoDBLedgerStore(LEDGER_TABLE, dynamodb).claim("i-1", 7, Membership(f"p-{n}", version(n), "in"))
    throttling = _Throttling(dynamodb, throttled_calls=3)
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, throttling)  # type: ignore[arg-type]
    ledger.base_delay = 0.001

    # WHEN all members are read, then the segment is forgotten with two more throttled calls
    found = ledger.get_members("i-1", 7, [f"p-{n}" for n in range(150)])
    throttling.left = 2
    ledger.forget_segment("i-1", 7)

    # THEN the unprocessed parts were sent again until done
    assert len(found) == 150
    assert throttling.calls == Counter(BatchGetItem=2 + 3, BatchWriteItem=6 + 2)
    assert list(DynamoDBLedgerStore(LEDGER_TABLE, dynamodb).members("i-1", 7)) == []


def test_batches_that_stay_unprocessed_raise_store_error(dynamodb: DynamoDBClient) -> None:
    # GIVEN a client that always leaves half a batch unprocessed
    ledger = DynamoDBLedgerStore(LEDGER_TABLE, _Throttling(dynamodb, throttled_calls=1000))  # type: ignore[arg-type]
    ledger.base_delay = 0.001

    # WHEN a batch is read / THEN it gives up after max_attempts with a StoreError
    with pytest.raises(StoreError, match="unprocessed after 6 attempts"):
        ledger.get_members("i-1", 7, [f"p-{n}" for n in range(100)])


# ------------------------------------------------------------------------------- call counters


def _ledger_workload(ledger: LedgerStore) -> None:
    for n in range(60):
        ledger.claim("i-1", 7, Membership(f"p-{n}", version(n), "in"))
    ledger.claim("i-1", 7, Membership("p-0", version(-1), "out"))
    ledger.get_members("i-1", 7, [f"p-{n}" for n in range(250)] + ["p-0"])
    ledger.get_members("i-1", 7, [])
    ledger.claim_cleared("i-1", 7, version(5))
    ledger.get_cleared("i-1", 7)
    list(ledger.members("i-1", 7, newer_than=version(30)))
    ledger.forget_segment("i-1", 7)


def _stats_workload(stats: StatsStore) -> None:
    stats.add("i-1", T0, StatsDelta(statements=1))
    stats.add("i-1", T0, StatsDelta(errors=1, last_error="x"))
    stats.query("i-1", T0, T0)
    stats.query("i-1", T0, T0 - timedelta(minutes=1))


def _config_workload(config: ConfigStore) -> None:
    config.put_integration(integration("i-1"))
    config.get_integration("i-1")
    config.list_integrations(1)
    config.delete_integration("i-1")
    config.delete_integration("i-1")


def test_memory_stores_count_the_calls_dynamodb_makes(dynamodb: DynamoDBClient) -> None:
    # GIVEN the same workloads for the memory stores and for the DynamoDB stores on a counted client
    made: Counter[str] = Counter()
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: made.update([model.name]))
    memory_ledger, memory_stats, memory_config = (
        InMemoryLedgerStore(),
        InMemoryStatsStore(),
        InMemoryConfigStore(),
    )

    # WHEN each workload runs on both
    _ledger_workload(memory_ledger)
    _stats_workload(memory_stats)
    _config_workload(memory_config)
    _ledger_workload(DynamoDBLedgerStore(LEDGER_TABLE, dynamodb))
    _stats_workload(DynamoDBStatsStore(STATS_TABLE, dynamodb))
    _config_workload(DynamoDBConfigStore(CONFIG_TABLE, dynamodb))

    # THEN the fakes counted what DynamoDB was sent, 100 keys per BatchGetItem and 25 deletes per write
    assert memory_ledger.calls == Counter(UpdateItem=62, BatchGetItem=3, GetItem=1, Query=2, BatchWriteItem=3)
    assert memory_stats.calls == Counter(UpdateItem=2, Query=1)
    assert memory_config.calls == Counter(PutItem=1, GetItem=1, Query=1, DeleteItem=2)
    assert memory_ledger.calls + memory_stats.calls + memory_config.calls == made


def test_segment_state_keeps_the_newest_upsert_or_delete_version(ledger: LedgerStore) -> None:
    # GIVEN an upsert at second 5, redelivered, then an older one
    first = ledger.claim_segment("i-1", 7, version(5, "up"))
    again = ledger.claim_segment("i-1", 7, version(5, "up"))
    older = ledger.claim_segment("i-1", 7, version(3, "up"))

    # THEN the older one is told the stored version; a newer one (a delete) replaces it; segments apart
    assert (first, again, older) == (None, None, version(5, "up"))
    assert ledger.claim_segment("i-1", 7, version(8, "del")) is None
    assert ledger.claim_segment("i-1", 7, version(6, "up")) == version(8, "del")
    assert ledger.claim_segment("i-1", 8, version(1, "up")) is None

    # WHEN the segment is forgotten, its state goes with it
    ledger.forget_segment("i-1", 7)
    assert ledger.claim_segment("i-1", 7, version(1, "up")) is None


def test_a_flush_timer_runs_until_due_or_stopped(ledger: LedgerStore) -> None:
    t = [version(second).split("#")[0] for second in range(0, 100, 10)]  # stamps, 10 s apart

    # GIVEN a timer started at t0, due at t3
    assert ledger.start_flush_timer("i-1", 7, due=t[3], now=t[0]) is True

    # THEN it is running until its due time, for this segment only
    assert ledger.start_flush_timer("i-1", 7, due=t[4], now=t[1]) is False
    assert ledger.start_flush_timer("i-1", 7, due=t[6], now=t[3]) is False
    assert ledger.start_flush_timer("i-1", 8, due=t[4], now=t[1]) is True

    # WHEN it is past due (its flush was lost), or stopped (its flush started), the next hold starts one
    assert ledger.start_flush_timer("i-1", 7, due=t[7], now=t[4]) is True
    ledger.stop_flush_timer("i-1", 7)
    ledger.stop_flush_timer("i-1", 9)  # stopping none is fine
    assert ledger.start_flush_timer("i-1", 7, due=t[8], now=t[5]) is True

    # AND forgetting the segment forgets its timer
    ledger.forget_segment("i-1", 7)
    assert ledger.start_flush_timer("i-1", 7, due=t[9], now=t[5]) is True


@pytest.fixture
def contents(backend: str, request: pytest.FixtureRequest) -> ContentStore:
    if backend == "memory":
        return InMemoryContentStore()
    request.getfixturevalue("dynamodb")
    return DynamoDBContentStore(CONTENT_TABLE)


def test_message_contents_are_kept_until_they_expire(contents: ContentStore) -> None:
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    html = {"subject": "Zoë", "html": "<p>" + "lorem ipsum " * 20_000 + "</p>"}  # 240 KB, compresses well

    # GIVEN two contents kept for 72 hours and one that cannot be kept (too large even compressed)
    assert contents.put((1, 9, "p1"), html, at + timedelta(hours=72)) is True
    assert contents.put((1, 9, "p2"), {"text": "short"}, at + timedelta(hours=72)) is True
    random_bytes = os.urandom(400_000).hex()
    assert contents.put((1, 9, "p3"), {"blob": random_bytes}, at + timedelta(hours=72)) is False

    # THEN they are read back as they were, per key, until they expire (whatever the TTL has not deleted)
    found = contents.get_many([(1, 9, "p1"), (1, 9, "p2"), (1, 9, "p3"), (2, 9, "p1")], at + timedelta(hours=71))
    assert found == {(1, 9, "p1"): html, (1, 9, "p2"): {"text": "short"}}
    assert contents.get_many([(1, 9, "p1")], at + timedelta(hours=73)) == {}
