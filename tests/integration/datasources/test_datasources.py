"""Data sources on the real PostgreSQL and MariaDB: checked against the catalog when saved, read by contact
with JSON-typed values, and segmented by conditions whose values are always bound."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from sqlsync.connectors import Target, target_for
from sqlsync.customers.service import CustomerService
from sqlsync.datasources.exceptions import DataSourceError
from sqlsync.datasources.service import DataSourceService
from sqlsync.hooks.delivery import DeliveryResult, Outgoing
from sqlsync.hooks.dispatch import HookDispatcher
from sqlsync.hooks.fanout import HookFanout
from sqlsync.models.connectors import ConnectorType
from sqlsync.models.datasources import Condition, DataSourceIn
from sqlsync.models.events import Profile
from sqlsync.models.hooks import ActivityEvent, DataSourceRequest, Hook, HookEventType, HttpDestination
from sqlsync.store.memory import InMemoryConfigStore, InMemoryCustomerStore, InMemoryStatsStore
from sqlsync.sync.exceptions import UnknownNameError
from sqlsync.sync.queue import InMemorySink, QueueMessage
from testkit import connector, run_sql

pytestmark = pytest.mark.services

ACCOUNT = 8


@dataclass
class Database:
    url: str
    type: ConnectorType
    schema: str | None
    table: str  # qualified, quoted for the set-up statements


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        schema = f"ds_{uuid.uuid4().hex[:8]}"
        run_sql(url, f'CREATE SCHEMA "{schema}"')
        db = Database(url, ConnectorType.POSTGRESQL, schema, f'"{schema}".promo_codes')
        run_sql(
            url,
            f"CREATE TABLE {db.table} (id integer PRIMARY KEY, email text, name text, birthday date, "
            "issued timestamp, value numeric(10,2), promo_code text, note text)",
        )
        yield db
        run_sql(url, f'DROP SCHEMA "{schema}" CASCADE')
    else:
        url = request.getfixturevalue("mariadb_url")
        table = f"promo_{uuid.uuid4().hex[:8]}"
        db = Database(url, ConnectorType.MYSQL, None, f"`{table}`")
        run_sql(
            url,
            f"CREATE TABLE {db.table} (id integer PRIMARY KEY, email varchar(100), name varchar(100), birthday date, "
            "issued datetime, value decimal(10,2), promo_code varchar(50), note varchar(100))",
        )
        yield db
        run_sql(url, f"DROP TABLE {db.table}")


def table_name(db: Database) -> str:
    return db.table.strip('"`').rpartition(".")[2].strip('"')


def fill(db: Database) -> None:
    run_sql(
        db.url,
        f"INSERT INTO {db.table} VALUES "
        "(2, 'dina@example.com', 'Dina Kozak', '2020-09-02', '2026-11-20 10:00:00', 12.50, 'AAAA-BBBB-DDDD', NULL), "
        "(3, 'dina@example.com', 'Dina Kozak', '2020-09-02', '2026-11-21 10:00:00', 5.00, 'CCCC', '100% off'), "
        "(4, 'ivan@example.com', 'Ivan O''Brien', NULL, NULL, 7.25, 'EEEE', 'x_y'), "
        "(5, 'ghost@example.com', 'Ghost', NULL, NULL, 1.00, 'FFFF', NULL)",
    )


@pytest.fixture
def world(database: Database) -> tuple[DataSourceService, InMemoryConfigStore, Database]:
    config = InMemoryConfigStore()
    config.put_connector(connector("db", ACCOUNT, database.type))
    customers = InMemoryCustomerStore()
    people = CustomerService(customers)
    for email in ("dina@example.com", "ivan@example.com"):  # ghost@ is in the table, not a customer
        people.update(ACCOUNT, {"email_id": email}, {"seen": True})

    def connector_target(connector_id: str, account_id: int) -> Target:
        assert (connector_id, account_id) == ("db", ACCOUNT)
        return target_for(database.url)

    fill(database)
    return DataSourceService(config, connector_target, customers), config, database


def source_in(db: Database, **changes: Any) -> DataSourceIn:
    fields = {
        "name": "promo_codes",
        "connector_id": "db",
        "schema_name": db.schema,
        "table": table_name(db),
        "customer_id_type": "email_id",
    }
    return DataSourceIn(**{**fields, **changes})


def test_rows_by_contact_are_json_typed_as_templates_read_them(world: Any) -> None:
    service, _, db = world
    source = service.create(ACCOUNT, source_in(db))
    assert source.contact_column == "email"  # the connector's contact key
    rows = service.rows(source, ["dina@example.com", "nobody@example.com"])
    assert rows["nobody@example.com"] == []
    first, second = rows["dina@example.com"]
    assert first == {
        "id": 2,
        "email": "dina@example.com",
        "name": "Dina Kozak",
        "birthday": "2020-09-02T00:00:00Z",
        "issued": "2026-11-20T10:00:00Z",
        "value": 12.5,
        "promo_code": "AAAA-BBBB-DDDD",
        "note": None,
    }
    assert second["id"] == 3 and second["value"] == 5
    shown = service.view(source)
    assert set(shown.columns) == {"id", "email", "name", "birthday", "issued", "value", "promo_code", "note"}


@pytest.mark.parametrize(
    ("conditions", "match_all", "expected"),
    [
        ([Condition(field="value", op="gt", value=6)], True, ["dina@example.com", "ivan@example.com"]),
        ([Condition(field="name", op="eq", value="Ivan O'Brien")], True, ["ivan@example.com"]),
        ([Condition(field="note", op="contains", value="% off")], True, ["dina@example.com"]),
        ([Condition(field="note", op="contains", value="_")], True, ["ivan@example.com"]),  # _ is not a wildcard
        ([Condition(field="birthday", op="is_null")], True, ["ivan@example.com"]),  # ghost is no customer
        (
            [
                Condition(field="promo_code", op="in", value=["CCCC", "EEEE"]),
                Condition(field="value", op="lt", value=6),
            ],
            True,
            ["dina@example.com"],
        ),
        (
            [Condition(field="promo_code", op="eq", value="EEEE"), Condition(field="value", op="eq", value=12.5)],
            False,
            ["dina@example.com", "ivan@example.com"],
        ),
    ],
)
def test_a_segment_is_the_known_customers_whose_rows_pass(
    world: Any, conditions: list[Condition], match_all: bool, expected: list[str]
) -> None:
    service, _, db = world
    source = service.create(ACCOUNT, source_in(db))
    result = service.segment(source, conditions, match_all, limit=100)
    assert result["contacts"] == expected


def test_the_unknown_contact_in_the_table_is_matched_but_not_returned(world: Any) -> None:
    service, _, db = world
    source = service.create(ACCOUNT, source_in(db))
    result = service.segment(source, [Condition(field="value", op="gte", value=1)], True, limit=100)
    assert (result["matched"], result["known"], result["truncated"]) == (3, 2, False)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"table": "nope"}, "table"),
        ({"table": "promo_codes; DROP TABLE x"}, "table"),
        ({"contact_column": "mail"}, "contact_column"),
        ({"connector_id": "other"}, "connector_id"),
    ],
)
def test_a_source_the_catalog_does_not_have_is_refused(world: Any, changes: dict[str, Any], field: str) -> None:
    service, _, db = world
    with pytest.raises(DataSourceError) as refused:
        service.create(ACCOUNT, source_in(db, **changes))
    assert refused.value.field == field
    assert service.list_sources(ACCOUNT) == []


def test_a_condition_on_a_column_the_table_lacks_is_refused_naming_it(world: Any) -> None:
    service, _, db = world
    source = service.create(ACCOUNT, source_in(db))
    for field in ("nope", "email) OR (1=1", 'email" --'):
        with pytest.raises(DataSourceError) as refused:
            service.segment(source, [Condition(field=field, op="eq", value="x")], True, 10)
        assert refused.value.field == "conditions[0].field"
    with pytest.raises(DataSourceError) as refused:
        service.segment(source, [Condition(field="value", op="in", value=5)], True, 10)
    assert refused.value.field == "conditions[0].value"


def test_names_are_unique_per_account_and_cannot_change(world: Any) -> None:
    service, _, db = world
    service.create(ACCOUNT, source_in(db))
    with pytest.raises(DataSourceError, match="exists"):
        service.create(ACCOUNT, source_in(db))
    with pytest.raises(DataSourceError, match="renamed"):
        service.update(ACCOUNT, "promo_codes", source_in(db, name="other"))
    assert service.update(ACCOUNT, "promo_codes", source_in(db, description="codes")) is not None
    assert service.delete(ACCOUNT, "promo_codes") and service.get(ACCOUNT, "promo_codes") is None


def test_an_event_asking_for_a_data_source_is_delivered_with_its_rows_in_json_param(world: Any) -> None:
    # GIVEN a hook, and a data source on the real database
    service, config, db = world
    service.create(ACCOUNT, source_in(db))
    hook = Hook(
        id="h-1",
        account_id=ACCOUNT,
        name="trigger",
        event_types=[HookEventType.CLICK],
        destination=HttpDestination(url="https://hooks.example.com/in"),
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    queue, received = InMemorySink(), _Received()
    fanout = HookFanout(lambda account: [hook], queue, data_sources_of=config.data_source_names)
    events = [
        ActivityEvent(
            id=f"evt-{n}",
            type=HookEventType.CLICK,
            account_id=ACCOUNT,
            occurred_at=datetime.now(UTC),
            profile=Profile(id=email),
            data_sources=[DataSourceRequest(name="promo_codes")],
        )
        for n, email in enumerate(["dina@example.com", "ivan@example.com", "nobody@example.com"])
    ]

    # WHEN ingest queues the events and the dispatcher delivers them
    fanout.send(fanout.plan(list(enumerate(events)), batch=True))
    dispatcher = HookDispatcher(
        hooks=lambda hook_id: hook,
        senders=lambda _: received,
        stats=InMemoryStatsStore(),
        retries=InMemorySink(),
        dead_letters=InMemorySink(),
        data_sources=service,
    )
    report = dispatcher.process([QueueMessage(f"m{n}", body) for n, body in enumerate(queue.bodies)])

    # THEN each event carries its contact's rows, as the rows API returns them, serialized in jsonParam
    assert report.sent == 3
    expected = service.rows(service.get(ACCOUNT, "promo_codes"), ["dina@example.com", "ivan@example.com"])
    sent = {body["event_id"]: json.loads(body["jsonParam"]) for body in received.bodies}
    assert sent == {
        "evt-0": {"promo_codes": expected["dina@example.com"]},
        "evt-1": {"promo_codes": expected["ivan@example.com"]},
        "evt-2": {"promo_codes": []},
    }
    assert [row["promo_code"] for row in sent["evt-0"]["promo_codes"]] == ["AAAA-BBBB-DDDD", "CCCC"]

    # AND an event asking for a data source the account does not have is refused at ingest, naming it
    with pytest.raises(UnknownNameError) as raised:
        fanout.plan([(0, events[0].model_copy(update={"data_sources": [DataSourceRequest(name="coupons")]}))], False)
    assert raised.value.field == "data_sources[0].name"


class _Received:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def send(self, batch: Sequence[Outgoing]) -> DeliveryResult:
        self.bodies += [json.loads(item.json) for item in batch]
        return DeliveryResult.success(len(batch))

    def close(self) -> None:
        pass
