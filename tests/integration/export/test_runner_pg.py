"""Scheduled exports run against the real PostgreSQL: the customers, tracked events and orders sqlsync keeps
become tables (created on the first run), later runs send only what changed, re-runs change nothing, a run cut
short goes on where it stopped, and a run that fails keeps every chunk it committed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sqlsync.connectors import Target, target_for
from sqlsync.customers.service import CustomerService
from sqlsync.export.runner import ExportRunner
from sqlsync.export.service import ExportService
from sqlsync.export.sources import sources, stable_id
from sqlsync.models.exports import Export, ExportDataset, ExportIn
from sqlsync.models.orders import OrderEvent
from sqlsync.store.memory import InMemoryConfigStore, InMemoryCustomerStore, InMemoryExportStateStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import CustomerRecords, ingest
from testkit import connector, rows, run_sql

pytestmark = pytest.mark.services

ACCOUNT = 4
START = 1_800_000_000.0


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    url: str
    schema: str
    clock: Clock = field(default_factory=Clock)
    customers_store: InMemoryCustomerStore = field(default_factory=InMemoryCustomerStore)
    config: InMemoryConfigStore = field(default_factory=InMemoryConfigStore)
    states: InMemoryExportStateStore = field(default_factory=InMemoryExportStateStore)

    def __post_init__(self) -> None:
        self.customers = CustomerService(self.customers_store, clock=self.clock)
        self.service = ExportService(self.config, self.states, clock=self.clock)
        self.config.put_connector(connector("pg", ACCOUNT))

    def target_of(self, export: Export) -> Target:
        return target_for(self.url)

    def runner(self, **options: Any) -> ExportRunner:
        return ExportRunner(
            self.config, self.states, sources(self.customers_store), self.target_of, clock=self.clock, lag=60, **options
        )

    def create(self, datasets: list[ExportDataset], schedule: str = "rate(1 hour)") -> Export:
        data = ExportIn(
            name="to pg", connector_id="pg", datasets=datasets, target_schema=self.schema, schedule=schedule
        )
        return self.service.create(ACCOUNT, data)

    def table(self, name: str, columns: str = "*", order: str = "1") -> list[tuple[Any, ...]]:
        return rows(self.url, f'SELECT {columns} FROM "{self.schema}".{name} ORDER BY {order}')


@pytest.fixture
def world(postgres_url: str) -> Iterator[World]:
    schema = f"export_{uuid.uuid4().hex[:8]}"
    run_sql(postgres_url, f'CREATE SCHEMA "{schema}"')
    yield World(postgres_url, schema)
    run_sql(postgres_url, f'DROP SCHEMA "{schema}" CASCADE')


ALWAYS: Callable[[], float] = lambda: 1e9  # noqa: E731


def test_the_first_run_creates_the_tables_and_later_runs_send_only_what_changed(world: World) -> None:
    world.customers.update(
        ACCOUNT, {"registered": "anna"}, {"email": "Anna@Example.COM", "first_name": "Anna", "age": 31}, START - 50
    )
    world.customers.update(ACCOUNT, {"cookie": "c-1"}, {"phone": "+421900000000"}, START - 50, source="IMPORT")
    world.customers.track(ACCOUNT, {"registered": "anna"}, "purchase", {"total": 12.5, "key": "order-7"}, START - 40)
    export = world.create([ExportDataset.CONTACTS, ExportDataset.EVENTS])

    # WHEN the exporter runs after the lag has passed
    world.clock.now = START + 120
    report = world.runner().run(export.id, ALWAYS)

    # THEN both tables exist, with every customer and event
    assert report.status == "finished" and report.rows == {"contacts": 2, "events": 1}, report.error
    assert any("created table" in change for change in report.changes)
    anna_id = stable_id(ACCOUNT, "registered:anna")
    assert world.table(
        "contacts", "contactid, email, emaildomain, firstname, externalcustomerid, sms, contactsource"
    ) == sorted(
        [
            (anna_id, "Anna@Example.COM", "example.com", "Anna", "anna", None, "API"),
            (stable_id(ACCOUNT, "cookie:c-1"), None, None, None, None, "+421900000000", "IMPORT"),
        ]
    )
    ((contact, event_type, key, occured, params),) = world.table(
        "events", "contactid, eventtypekey, keyvalue, occured, paramsjson"
    )
    assert (contact, event_type, key, params) == (anna_id, "purchase", "order-7", {"total": 12.5, "key": "order-7"})
    assert occured == datetime.fromtimestamp(START - 40, UTC).replace(tzinfo=None)
    state = world.states.get(export.id)
    assert state is not None and state.next_run_at == START + 120 + 3600 and state.lease_until == 0

    # WHEN one customer changes and the export runs again
    world.customers.update(ACCOUNT, {"registered": "anna"}, {"first_name": "Anička"}, START + 130)
    world.clock.now = START + 300
    again = world.runner().run(export.id, ALWAYS)

    # THEN only that customer is sent
    assert again.rows == {"contacts": 1, "events": 0} and again.changes == []
    assert ("Anička",) in world.table("contacts", "firstname")


def test_a_change_younger_than_the_lag_waits_for_the_next_run(world: World) -> None:
    export = world.create([ExportDataset.CONTACTS])
    world.customers.update(ACCOUNT, {"registered": "late"}, {"x": 1}, START)
    world.clock.now = START + 30  # written 30 s ago: the index may not show it everywhere yet
    assert world.runner().run(export.id, ALWAYS).rows == {"contacts": 0}
    world.service.run_now(ACCOUNT, export.id, full=False)
    world.clock.now = START + 90
    assert world.runner().run(export.id, ALWAYS).rows == {"contacts": 1}


def test_a_full_re_export_changes_nothing_that_is_already_there(world: World) -> None:
    for n in range(7):
        world.customers.update(ACCOUNT, {"registered": f"c{n}"}, {"first_name": f"N{n}"}, START)
    export = world.create([ExportDataset.CONTACTS])
    world.clock.now = START + 120
    assert world.runner(chunk_rows=3).run(export.id, ALWAYS).rows == {"contacts": 7}
    before = world.table("contacts", "contactid, xmin::text")

    world.service.run_now(ACCOUNT, export.id, full=True)
    report = world.runner(chunk_rows=3).run(export.id, ALWAYS)
    assert report.status == "finished" and report.rows == {"contacts": 0}  # read again, nothing rewritten
    assert world.table("contacts", "contactid, xmin::text") == before


def test_a_run_out_of_time_goes_on_at_the_next_tick_from_its_cursor(world: World) -> None:
    for n in range(10):
        world.customers.update(ACCOUNT, {"registered": f"c{n}"}, {"first_name": f"N{n}"}, START)
    export = world.create([ExportDataset.CONTACTS])
    world.clock.now = START + 120
    budget = iter([1e9, 1e9, 0.0])  # two chunks, then no time left

    first = world.runner(chunk_rows=4).run(export.id, lambda: next(budget))
    assert first.status == "partial" and first.rows == {"contacts": 8}
    reports = world.runner(chunk_rows=4).run_due(ALWAYS)  # still due: the next tick goes on
    assert [(r.status, r.rows) for r in reports] == [("finished", {"contacts": 2})]
    assert len(world.table("contacts")) == 10


def test_a_failed_run_keeps_its_committed_chunks_and_is_retried(world: World) -> None:
    for n in range(6):
        world.customers.update(ACCOUNT, {"registered": f"c{n}"}, {"first_name": f"N{n}"}, START)
    export = world.create([ExportDataset.CONTACTS])
    world.clock.now = START + 120
    world.runner(chunk_rows=4).run(export.id, ALWAYS)  # creates the table; all 6 rows in
    world.customers.update(ACCOUNT, {"registered": "c0"}, {"first_name": "changed"}, START + 130)
    # GIVEN the table was changed under us so that the next upsert fails
    run_sql(world.url, f'ALTER TABLE "{world.schema}".contacts ADD CONSTRAINT short CHECK (length(firstname) < 5)')
    world.service.run_now(ACCOUNT, export.id, full=False)
    world.clock.now = START + 300

    failed = world.runner(chunk_rows=4).run(export.id, ALWAYS)
    assert failed.status == "failed" and "short" in (failed.error or "")
    state = world.states.get(export.id)
    assert state is not None and state.last_run is not None and state.last_run["status"] == "failed"
    assert state.next_run_at == START + 300 + 300 and state.lease_until == 0  # retried in 5 minutes

    run_sql(world.url, f'ALTER TABLE "{world.schema}".contacts DROP CONSTRAINT short')
    world.clock.now = START + 600
    retried = world.runner(chunk_rows=4).run_due(ALWAYS)
    assert [(r.status, r.rows) for r in retried] == [("finished", {"contacts": 1})]
    assert ("changed",) in world.table("contacts", "firstname")


def test_an_export_held_by_another_run_is_skipped(world: World) -> None:
    export = world.create([ExportDataset.CONTACTS])
    state = world.states.get(export.id)
    assert state is not None
    from dataclasses import replace

    world.states.save(replace(state, lease_until=START + 500, version=state.version + 1))
    assert world.runner().run(export.id, ALWAYS).status == "skipped"
    assert world.runner().run_due(ALWAYS) == []


def _order_event(external_id: str, event_id: str, occurred_at: float, **order: Any) -> OrderEvent:
    body = {
        "id": event_id,
        "type": "order",
        "account_id": ACCOUNT,
        "occurred_at": datetime.fromtimestamp(occurred_at, UTC).isoformat(),
        "customer_ids": {"registered": "anna"},
        "order": {"external_order_id": external_id, "status": "INITIALIZED", "date": "2026-11-22T10:04:12+01:00"}
        | {"total_cost": "120.5", "discount": "0.1", **order},
    }
    return OrderEvent.model_validate(body)


def test_orders_and_their_items_are_exported_and_updated_when_the_order_is_sent_again(world: World) -> None:
    world.customers.update(ACCOUNT, {"registered": "anna"}, {"first_name": "Anna"}, START - 60)
    book = CustomerRecords(world.customers)
    cup = {"external_product_id": "sku-1", "name": "Tea cup", "cost": "60.25", "quantity": 2, "url": "u" * 250}
    saucer = {"external_product_id": "sku-2", "name": "Saucer", "cost": "9.99", "quantity": 2}
    ingest([_order_event("A-1001", "evt-1", START - 50, items=[cup, saucer])], InMemorySink(), records=book)
    ingest([_order_event("B-7", "evt-2", START - 50, items=[], email="x" * 60)], InMemorySink(), records=book)
    export = world.create([ExportDataset.CONTACTS, ExportDataset.ORDERS, ExportDataset.ORDER_ITEMS])

    world.clock.now = START + 120
    report = world.runner().run(export.id, ALWAYS)

    assert report.status == "finished", report.error
    assert report.rows == {"contacts": 1, "orders": 2, "orderItems": 2}
    ((anna,),) = world.table("contacts", "contactid")
    order_a, order_b = stable_id(ACCOUNT, "order#A-1001"), stable_id(ACCOUNT, "order#B-7")
    placed = datetime(2026, 11, 22, 9, 4, 12)  # UTC, without a zone
    received = datetime.fromtimestamp(START, UTC).replace(tzinfo=None)  # when ingest kept it
    assert world.table(
        "orders", "orderid, contactid, externalorderid, status, totalcost, discount, orderdate, ordercreateddate, email"
    ) == sorted(
        [
            (order_a, anna, "A-1001", "INITIALIZED", Decimal("120.5"), Decimal("0.1"), placed, received, None),
            # B-7's email is cut to the vendor's varchar(50)
            (order_b, anna, "B-7", "INITIALIZED", Decimal("120.5"), Decimal("0.1"), placed, received, "x" * 50),
        ]
    )
    assert world.table("order_items", "orderid, externalproductid, name, cost, quantity, orderdate, url", "2") == [
        (order_a, "sku-1", "Tea cup", Decimal("60.25"), 2, placed, "u" * 200),
        (order_a, "sku-2", "Saucer", Decimal("9.99"), 2, placed, None),
    ]
    assert rows(
        world.url,
        "SELECT table_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{world.schema}' AND column_name = 'orderid' ORDER BY 1",
    ) == [("order_items", "bigint"), ("orders", "bigint")]

    # WHEN the order is sent again, delivered, with one cup more and the saucer gone; and a late older event
    world.clock.now = START + 200
    delivered = _order_event("A-1001", "evt-3", START + 150, status="DELIVERED", items=[{**cup, "quantity": 3}])
    stale = _order_event("A-1001", "evt-0", START - 100, status="CANCELED", items=[])
    ingest([delivered, stale], InMemorySink(), records=book)
    world.clock.now = START + 400
    again = world.runner().run(export.id, ALWAYS)

    # THEN the order row and its item are updated, the saucer's row stays (an upsert deletes nothing)
    assert again.rows == {"contacts": 0, "orders": 1, "orderItems": 1}, again.error
    assert world.table("orders", "externalorderid, status, ordercreateddate", "1") == [
        ("A-1001", "DELIVERED", received),
        ("B-7", "INITIALIZED", received),
    ]
    assert world.table("order_items", "externalproductid, quantity", "1") == [("sku-1", 3), ("sku-2", 2)]
