"""The export's cursor moves past feed items that make no row (orders nobody clicked before, `sent` events,
activity of profiles without a customer), so that a run never reads them again; each read goes through a
bounded number of them, and the rows after them are exported. The database is stood in for."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from sqlsync.connectors import Target
from sqlsync.customers.activity import ActivityLog
from sqlsync.customers.service import CustomerService
from sqlsync.export import runner as runner_module
from sqlsync.export.datasets import Dataset
from sqlsync.export.runner import RETRY_SECONDS, ExportRunner
from sqlsync.export.service import ExportService
from sqlsync.export.sources import MAX_PAGES_READ, sources
from sqlsync.models.exports import ExportDataset, ExportIn
from sqlsync.models.ingest import EventsBody
from sqlsync.store.base import feed_cursor
from sqlsync.store.exceptions import StoreError
from sqlsync.store.memory import InMemoryConfigStore, InMemoryCustomerStore, InMemoryExportStateStore
from sqlsync.sync import InMemorySink
from sqlsync.sync.ingest import CustomerRecords, ingest
from testkit import ROOT, activity_event, connector

ACCOUNT = 1  # the samples'
CHUNK = 4
NOW = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
ORDER: dict[str, Any] = json.loads((ROOT / "events" / "platform" / "orders" / "order.json").read_text("utf-8"))


class Writer:
    """The database's stand-in: keeps every row it is given."""

    written: list[Any] = []

    def __init__(self, target: Target) -> None:
        self.target = target

    def prepare(self, schema: str, dataset: Dataset) -> list[str]:
        return []

    def upsert(self, schema: str, dataset: Dataset, rows: Sequence[Sequence[Any]]) -> int:
        Writer.written += rows
        return len(rows)


@pytest.fixture(autouse=True)
def writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "ExportWriter", Writer)
    monkeypatch.setattr(Writer, "written", [])


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.store = InMemoryCustomerStore()
        self.config = InMemoryConfigStore()
        self.config.put_connector(connector("pg", ACCOUNT))
        self.states = InMemoryExportStateStore()
        self.service = ExportService(self.config, self.states, clock=lambda: self.now)
        self.records = CustomerRecords(CustomerService(self.store, clock=lambda: self.now))
        self.log = ActivityLog(self.store, clock=lambda: self.now)
        self.runner = ExportRunner(
            self.config,
            self.states,
            sources(self.store),
            lambda export: Target("postgresql+pg8000://sqlsync@127.0.0.1/sqlsync"),
            clock=lambda: self.now + 3600,  # after the feed's lag
            chunk_rows=CHUNK,
        )

    def orders(self, count: int, customer_ids: dict[str, str], first: int = 0) -> None:
        for number in range(first, first + count):
            body = copy.deepcopy(ORDER) | {"id": f"evt-{number}", "customer_ids": customer_ids}
            body["order"]["external_order_id"] = f"A-{number}"
            self.now += 1
            ingest([TypeAdapter(EventsBody).validate_python(body)], InMemorySink(), records=self.records)

    def run(self, dataset: ExportDataset) -> tuple[dict[str, int], str]:
        data = ExportIn(name="x", connector_id="pg", datasets=[dataset], target_schema="public")
        export = self.service.create(ACCOUNT, data)
        report = self.runner.run(export.id, lambda: 1e9)
        assert report.status == "finished", report
        state = self.states.get(export.id)
        assert state is not None
        return report.rows, state.watermarks[dataset.value]


@pytest.mark.parametrize("count", [3, CHUNK * MAX_PAGES_READ + 3])
def test_orders_without_revenue_are_read_once_and_the_cursor_ends_after_them(count: int) -> None:
    world = World()
    world.orders(count, {"cookie": "ck-1"})  # no registered id: no click can be its

    rows, watermark = world.run(ExportDataset.REVENUE)

    assert rows == {"revenue": 0} and Writer.written == []
    assert watermark == feed_cursor(NOW + count, f"A-{count - 1}")  # the last order's place in the feed
    world.store.calls.clear()
    (export,) = world.service.list(ACCOUNT)
    assert world.runner.run(export.id, lambda: 1e9).rows == {"revenue": 0}
    assert world.store.calls["Query"] == 1  # the next run reads the feed's end only


def test_rows_after_a_long_stretch_without_rows_are_exported() -> None:
    world = World()
    world.orders(CHUNK * MAX_PAGES_READ * 2, {"cookie": "ck-1"})
    world.now += 1
    # a click before the sample order's date (2026-11-22T10:04:12Z)
    click = activity_event("evt-click", "click", profile={"id": "c-1"}, occurred_at="2026-11-22T09:00:00Z")
    ingest([click], InMemorySink(), activity_log=world.log)
    world.orders(1, {"registered": "c-1"}, first=1000)

    rows, _ = world.run(ExportDataset.REVENUE)

    assert rows == {"revenue": 1} and len(Writer.written) == 1


def test_sent_events_alone_move_the_cursor_of_contact_activities() -> None:
    world = World()
    ingest([activity_event(f"e{n}", "sent") for n in range(CHUNK * 3)], InMemorySink(), activity_log=world.log)

    rows, watermark = world.run(ExportDataset.CONTACT_ACTIVITIES)

    assert rows == {"contactActivities": 0}
    assert watermark == max(cursor for cursor, _ in world.store.changed_activities(ACCOUNT, "", NOW + 1, 100))


class _StoreDown:
    def read(self, account: int, after: str, until: float, limit: int) -> Any:
        raise StoreError("DynamoDB Query on table 'customers' failed: throttled")


def test_a_store_failure_fails_the_run_which_is_tried_again_later() -> None:
    world = World()
    world.runner.sources = {**world.runner.sources, "revenue": _StoreDown()}

    data = ExportIn(name="x", connector_id="pg", datasets=[ExportDataset.REVENUE], target_schema="public")
    export = world.service.create(ACCOUNT, data)
    report = world.runner.run(export.id, lambda: 1e9)

    assert (report.status, report.error) == ("failed", "DynamoDB Query on table 'customers' failed: throttled")
    state = world.states.get(export.id)
    assert state is not None and state.next_run_at == NOW + 3600 + RETRY_SECONDS and state.lease_until == 0.0
