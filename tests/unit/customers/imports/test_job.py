"""Imports run slice by slice on the in-memory stores: rows applied with their own timestamps, bad rows
reported and skipped, any number of slices ending equal to one run, an overtaken run stopping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sqlsync.customers.imports.job import ImportRunner
from sqlsync.customers.imports.mapping import ImportMapping
from sqlsync.customers.imports.reader import RowError
from sqlsync.customers.imports.service import ImportService, import_view
from sqlsync.customers.service import CustomerService
from sqlsync.store.base import ImportRecord
from sqlsync.store.memory import InMemoryCustomerStore, InMemoryImportStore
from sqlsync.store.objects import InMemoryObjectStore
from sqlsync.sync.queue import InMemorySink

ACCOUNT = 3
CREATED = 1_700_000_000.0
MAPPING = {
    "properties": [
        {"from_column": "meno", "to_property": "first_name"},
        {"from_column": "vek", "to_property": "age", "type": "number"},
    ],
    "ids": [{"from_column": "idecko", "to_id": "registered"}, {"from_column": "cookie", "to_id": "cookie"}],
    "timezone": "Europe/Bratislava",
    "update_timestamp": {"from_column": "zmenene"},
}


class World:
    def __init__(self) -> None:
        self.customers = CustomerService(InMemoryCustomerStore(), clock=lambda: CREATED + 10)
        self.imports = InMemoryImportStore()
        self.objects = InMemoryObjectStore()
        self.queue = InMemorySink()
        self.service = ImportService(self.imports, self.objects, self.queue, clock=lambda: CREATED)

    def create(self, csv: str, mapping: dict[str, Any] = MAPPING) -> ImportRecord:
        return self.service.create(ACCOUNT, ImportMapping.model_validate(mapping), csv, None)

    def runner(self, chunk_rows: int = 2) -> ImportRunner:
        return ImportRunner(
            self.imports, self.customers, self.objects, clock=lambda: CREATED + 20, chunk_rows=chunk_rows
        )

    def run_to_end(self, import_id: str, chunk_rows: int = 2, slices_of_one_chunk: bool = False) -> int:
        slices = 0
        while True:
            slices += 1
            outcome = self.runner(chunk_rows).run(ACCOUNT, import_id, lambda: 0.0 if slices_of_one_chunk else 1e9)
            assert outcome is not None
            if outcome.state == "finished":
                return slices

    def customer(self, registered: str) -> dict[str, Any]:
        record = self.customers.find(ACCOUNT, "registered", registered)
        assert record is not None
        return {name: (stamped.value, stamped.last_update) for name, stamped in record.properties.items()}


CSV = (
    "idecko,cookie,meno,vek,zmenene\r\n"
    "anna,,Anna,31,2023-11-14T22:13:20Z\r\n"
    "boris,c-b,Boris,abc,1700000000\r\n"  # a bad number: the row changes nothing
    ",,Nobody,20,1700000000\r\n"  # no id at all
    'cyril,,"Cyril\nthe second",,1700000000123\r\n'  # a quoted newline; milliseconds; age left as it is
    "anna,,Anička,32,2023-11-14 10:00\r\n"  # older (local time, +01:00): does not overwrite
    "\r\n"
    "dana,,Dana,40,\r\n"  # no update time
)


def test_an_import_applies_each_row_with_its_own_time_and_reports_the_bad_ones() -> None:
    world = World()
    created = world.create(CSV)
    assert json.loads(world.queue.bodies[0]) == {"account": ACCOUNT, "import_id": created.import_id}
    assert world.run_to_end(created.import_id) == 1

    assert world.customer("anna") == {"first_name": ("Anna", 1700000000.0), "age": (31, 1700000000.0)}
    assert world.customer("cyril") == {"first_name": ("Cyril\nthe second", 1700000000.123)}
    assert world.customers.find(ACCOUNT, "registered", "boris") is None
    assert world.customers.find(ACCOUNT, "registered", "dana") is None

    record = world.imports.get(ACCOUNT, created.import_id)
    assert record is not None and record.status == "succeeded"
    view = import_view(record)
    assert view["progress"] == {
        "rows_read": 6,
        "bytes_read": len(CSV.encode()),
        "bytes_total": len(CSV.encode()),
        "percent": 100.0,
    }
    assert (view["rows_imported"], view["rows_failed"], view["customers_created"]) == (3, 3, 2)
    assert world.imports.errors(ACCOUNT, created.import_id) == [
        RowError(2, 3, "vek", "age: not a number: 'abc'"),
        RowError(3, 4, None, "no customer id: the id columns (idecko, cookie) are empty"),
        RowError(6, 9, "zmenene", "update_timestamp: empty"),
    ]
    assert world.imports.errors(ACCOUNT, created.import_id, after_row=2, limit=1) == [
        RowError(3, 4, None, "no customer id: the id columns (idecko, cookie) are empty")
    ]


def test_without_an_update_timestamp_rows_are_stamped_with_the_time_the_import_was_created() -> None:
    world = World()
    mapping = {**MAPPING, "update_timestamp": None}
    created = world.create("idecko,cookie,meno,vek,zmenene\nanna,,Anna,31,\n", mapping)
    world.run_to_end(created.import_id)
    assert world.customer("anna") == {"first_name": ("Anna", CREATED), "age": (31, CREATED)}


def test_an_older_snapshot_does_not_overwrite_what_tracking_set_later() -> None:
    world = World()
    world.customers.update(ACCOUNT, {"registered": "anna"}, {"first_name": "Ann"}, 1_700_000_005)
    created = world.create("idecko,cookie,meno,vek,zmenene\nanna,,Anna,31,1700000000\n")
    world.run_to_end(created.import_id)
    assert world.customer("anna") == {"first_name": ("Ann", 1_700_000_005.0), "age": (31, 1700000000.0)}


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 50])
def test_any_number_of_slices_ends_as_one_run(chunk_rows: int) -> None:
    one, many = World(), World()
    whole = one.create(CSV)
    sliced = many.create(CSV)
    one.run_to_end(whole.import_id, chunk_rows=1000)
    slices = many.run_to_end(sliced.import_id, chunk_rows=chunk_rows, slices_of_one_chunk=True)

    assert slices > 1 or chunk_rows == 50
    for name in ("anna", "cyril"):
        assert one.customer(name) == many.customer(name)
    assert one.imports.errors(ACCOUNT, whole.import_id) == many.imports.errors(ACCOUNT, sliced.import_id)
    finished_one = import_view(one.imports.get(ACCOUNT, whole.import_id))  # type: ignore[arg-type]
    finished_many = import_view(many.imports.get(ACCOUNT, sliced.import_id))  # type: ignore[arg-type]
    for key in ("progress", "rows_imported", "rows_failed", "customers_created", "status"):
        assert finished_one[key] == finished_many[key]


def test_a_run_overtaken_by_another_stops_and_the_other_finishes() -> None:
    world = World()
    created = world.create(CSV)
    first = world.runner().run(ACCOUNT, created.import_id, lambda: 0.0)  # one chunk, then "continue"
    assert first is not None and first.state == "continue"

    stale = world.imports.get(ACCOUNT, created.import_id)
    assert stale is not None
    world.runner().run(ACCOUNT, created.import_id, lambda: 0.0)  # the other run takes a chunk
    runner = world.runner()
    runner.imports = _Frozen(world.imports, stale)
    outcome = runner.run(ACCOUNT, created.import_id, lambda: 1e9)
    assert outcome is not None and outcome.state == "overtaken"
    world.run_to_end(created.import_id)
    assert world.imports.get(ACCOUNT, created.import_id).status == "succeeded"  # type: ignore[union-attr]


class _Frozen(InMemoryImportStore):
    """Reads an old checkpoint (as a run that started earlier would have), saves to the real store."""

    def __init__(self, real: InMemoryImportStore, stale: ImportRecord) -> None:
        super().__init__()
        self.real = real
        self.stale = stale

    def get(self, account: int, import_id: str) -> ImportRecord | None:
        return self.stale

    def save(self, record: ImportRecord, errors: Any = ()) -> bool:
        return self.real.save(record, errors)


def test_a_file_that_is_gone_fails_the_import() -> None:
    world = World()
    created = world.create(CSV)
    world.objects.objects.clear()
    outcome = world.runner().run(ACCOUNT, created.import_id, lambda: 1e9)
    assert outcome is not None and outcome.state == "finished"
    assert outcome.record.status == "failed" and outcome.record.failure == "the file is gone"


def test_rows_whose_ids_belong_to_two_customers_are_row_errors() -> None:
    world = World()
    world.customers.update(ACCOUNT, {"registered": "anna"}, {}, 1)
    world.customers.update(ACCOUNT, {"cookie": "c-b"}, {}, 1)
    created = world.create("idecko,cookie,meno,vek,zmenene\nanna,c-b,Anna,1,1700000000\n")
    world.run_to_end(created.import_id)
    (error,) = world.imports.errors(ACCOUNT, created.import_id)
    assert error.row == 1 and error.column is None and "belong to different customers" in error.reason


@pytest.mark.parametrize(
    ("csv", "mapping", "field", "message"),
    [
        ("a,b\n1,2\n", MAPPING, "mapping.properties[0].from_column", "no column 'meno' in the file; its columns: a, b"),
        ("", MAPPING, "csv", "the file is empty"),
        (
            "idecko,cookie,meno,vek,zmenene,meno\n",
            MAPPING,
            "csv",
            "the column 'meno' appears more than once in the file: columns 3 and 6",
        ),
    ],
)
def test_a_file_the_mapping_does_not_fit_is_refused_at_once(
    csv: str, mapping: dict[str, Any], field: str, message: str
) -> None:
    world = World()
    with pytest.raises(Exception) as refused:
        world.create(csv, mapping)
    assert getattr(refused.value, "field", None) == field and message in str(refused.value)
    assert world.queue.bodies == [] and world.imports.list_imports(ACCOUNT) == []
    assert world.objects.objects == {}  # a refused file is not kept


def test_an_upload_must_be_the_accounts_own_and_be_there() -> None:
    world = World()
    mapping = ImportMapping.model_validate(MAPPING)
    upload = world.service.upload(ACCOUNT)
    assert upload["upload_key"].startswith(f"uploads/{ACCOUNT}/") and upload["method"] == "PUT"
    with pytest.raises(Exception, match="no file there yet"):
        world.service.create(ACCOUNT, mapping, None, upload["upload_key"])
    with pytest.raises(Exception, match="not an upload of this account"):
        world.service.create(ACCOUNT, mapping, None, "uploads/99/x.csv")
    world.objects.put(upload["upload_key"], CSV.encode())
    created = world.service.create(ACCOUNT, mapping, None, upload["upload_key"])
    world.run_to_end(created.import_id)
    assert world.customer("anna")["first_name"] == ("Anna", 1700000000.0)
    assert [record.import_id for record in world.service.list_imports(ACCOUNT)] == [created.import_id]
