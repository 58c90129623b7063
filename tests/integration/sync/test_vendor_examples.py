"""The vendor's template examples, run by the worker on the real MariaDB (verbatim) and, adapted to their
syntax, on the real PostgreSQL and SQLite; hostile values read back exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sqlsync.store.memory import InMemoryLedgerStore, InMemoryStatsStore
from sqlsync.sync import SyncWorker
from testkit import event, hostile_values, integration, messages, rows, run_sql

# From the vendor's documentation. Their removal and clear examples filter on `segment_id` while their
# table defines `segId`; the column name is the table's, the rest is verbatim.
MARIADB = {
    "profiles_added": """INSERT INTO mysegment (segId, clientId, updated)
VALUES
{for $index, $lead = $batch}
({segment_id}, "{$lead.CustomID}", NOW()){autocomma}
{end}
ON DUPLICATE KEY UPDATE
updated = NOW();""",
    "profiles_removed": """DELETE FROM mysegment
WHERE segId = {segment_id}
AND clientId IN ({batch_in "CustomID"})""",
    "segment_cleared": """DELETE FROM mysegment
WHERE segId = {segment_id}""",
    "segment_upserted": """INSERT INTO segments (segment_id,name,updated)
VALUES
({segment_id}, "{segment_name}", NOW())
ON DUPLICATE KEY UPDATE
name = "{segment_name}",
updated = NOW();""",
    "segment_deleted": """DELETE FROM segments
WHERE segment_id = {segment_id}
LIMIT 1""",
}
POSTGRESQL = {
    "profiles_added": """INSERT INTO mysegment (segId, clientId, updated)
VALUES
{for $index, $lead = $batch}
({segment_id}, '{$lead.CustomID}', NOW()){autocomma}
{end}
ON CONFLICT (segId, clientId) DO UPDATE SET updated = NOW();""",
    "profiles_removed": MARIADB["profiles_removed"],
    "segment_cleared": MARIADB["segment_cleared"],
    "segment_upserted": """INSERT INTO segments (segment_id, name, updated)
VALUES ({segment_id}, '{segment_name}', NOW())
ON CONFLICT (segment_id) DO UPDATE SET name = excluded.name, updated = NOW();""",
    "segment_deleted": "DELETE FROM segments WHERE segment_id = {segment_id}",
}
SQLITE = {
    **POSTGRESQL,
    "profiles_added": POSTGRESQL["profiles_added"].replace("NOW()", "CURRENT_TIMESTAMP"),
    "segment_upserted": POSTGRESQL["segment_upserted"].replace("NOW()", "CURRENT_TIMESTAMP"),
}
TABLES = {
    "mysql": [
        "CREATE TABLE mysegment (segId int(11), clientId varchar(255), updated datetime,"
        " PRIMARY KEY (segId, clientId))",
        "CREATE TABLE segments (name varchar(255), segment_id int(11) PRIMARY KEY, updated datetime)",
    ],
    "postgresql": [
        "CREATE TABLE mysegment (segId int, clientId text, updated timestamptz, PRIMARY KEY (segId, clientId))",
        "CREATE TABLE segments (name text, segment_id int PRIMARY KEY, updated timestamptz)",
    ],
    "sqlite": [
        "CREATE TABLE mysegment (segId int, clientId text, updated text, PRIMARY KEY (segId, clientId))",
        "CREATE TABLE segments (name text, segment_id int PRIMARY KEY, updated text)",
    ],
}
HOSTILE = hostile_values()

TARGETS = [
    pytest.param(("mariadb_url", "mysql", MARIADB), id="mariadb-verbatim", marks=pytest.mark.services),
    pytest.param(("postgres_url", "postgresql", POSTGRESQL), id="postgresql", marks=pytest.mark.services),
    pytest.param(("sqlite_url", "sqlite", SQLITE), id="sqlite"),
]


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    fixture, kind, templates = request.param
    url: str = request.getfixturevalue(fixture)
    run_sql(url, "DROP TABLE IF EXISTS mysegment", "DROP TABLE IF EXISTS segments", *TABLES[kind])
    yield url, templates


def sync(url: str, templates: dict[str, str], *events: Any, batch_size: int = 100) -> Any:
    segments = sorted({item.segment.id for item in events})
    config = integration(url, templates, batch_size=batch_size, segment_ids=segments)
    worker = SyncWorker(lambda account_id: [config], InMemoryLedgerStore(), InMemoryStatsStore())
    report = worker.process(messages(events))
    assert not report.failed_message_ids, report.errors_by_integration
    return report


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_segment_lifecycle_with_the_vendor_templates(target: tuple[str, dict[str, str]]) -> None:
    url, templates = target
    # GIVEN a segment created, five profiles added in chunks of two, one removed
    report = sync(
        url,
        templates,
        event("segment.upserted", at=0, segment_name="VIP"),
        event("segment.profiles_added", ["c-1", "c-2", "c-3", "c-4", "c-5"], at=1),
        event("segment.profiles_removed", ["c-2"], at=2),
        event("segment.upserted", at=3, segment_name="VIP's renamed"),
        batch_size=2,
    )
    # THEN the tables hold exactly the members and the segment's latest name
    assert rows(url, "SELECT segId, clientId FROM mysegment ORDER BY clientId") == [
        (17, "c-1"),
        (17, "c-3"),
        (17, "c-4"),
        (17, "c-5"),
    ]
    assert rows(url, "SELECT segment_id, name FROM segments") == [(17, "VIP's renamed")]
    # c-2's add and remove collapse into its newest change: 2 insert chunks, 1 delete, 2 upserts
    assert (report.profiles, report.statements) == (5, 5)
    # WHEN the segment is cleared and deleted
    sync(url, templates, event("segment.cleared", at=4), event("segment.deleted", at=5))
    assert rows(url, "SELECT count(*) FROM mysegment") == [(0,)]
    assert rows(url, "SELECT count(*) FROM segments") == [(0,)]


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_hostile_values_read_back_exactly(target: tuple[str, dict[str, str]]) -> None:
    url, templates = target
    # GIVEN every value of the corpus as a profile field, through the batch insert
    profiles = [(f"p-{index}", {"CustomID": value}) for index, value in enumerate(HOSTILE)]
    sync(url, templates, event("segment.profiles_added", profiles, at=0))
    assert sorted(value for (value,) in rows(url, "SELECT clientId FROM mysegment")) == sorted(HOSTILE)
    # and removing them by batch_in finds every one
    sync(url, templates, event("segment.profiles_removed", profiles, at=1))
    assert rows(url, "SELECT count(*) FROM mysegment") == [(0,)]


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_hostile_segment_names_read_back_exactly(target: tuple[str, dict[str, str]]) -> None:
    url, templates = target
    # Each segment of its own, so that one upsert and one delete per name run the vendor templates
    events = [event("segment.upserted", segment=100 + index, segment_name=name) for index, name in enumerate(HOSTILE)]
    sync(url, templates, *events)
    assert rows(url, "SELECT segment_id, name FROM segments ORDER BY segment_id") == [
        (100 + index, name) for index, name in enumerate(HOSTILE)
    ]
    sync(url, templates, *(event("segment.deleted", at=1, segment=100 + k) for k in range(len(HOSTILE))))
    assert rows(url, "SELECT count(*) FROM segments") == [(0,)]
