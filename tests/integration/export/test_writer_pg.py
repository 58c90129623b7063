"""The export writer against the real PostgreSQL: tables made on the first export and grown with the dataset,
upserts that change nothing when run again (not even a row version), every value read back exactly, and
the user's schema name only ever quoted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlsync.connectors import Target, TargetError, target_for
from sqlsync.export.datasets import DATASETS, Column, Dataset
from sqlsync.export.writer import ExportError, ExportWriter
from testkit import hostile_values, rows, run_sql

pytestmark = pytest.mark.services

THINGS = Dataset(
    "things",
    "things",
    (Column("id", "bigint"), Column("label", "varchar", 20), Column("note", "text")),
    key=("id",),
)
EVERY_TYPE = Dataset(
    "everyType",
    "every_type",
    (
        Column("id", "bigint"),
        Column("small", "int"),
        Column("amount", "numeric"),
        Column("at", "timestamp"),
        Column("doc", "json"),
        Column("label", "varchar", 10),
        Column("note", "text"),
    ),
    key=("id",),
)
# Characters that end COPY fields and rows, or quote them in the CSV format, beside arbitrary Unicode
# (less NUL and lone surrogates, which PostgreSQL cannot store: refused, tested apart).
COPY_SPECIALS = [*"\\\t\n\r,\"'|;.N", "\\N", "\\.", "\r\n", "\\\\", '""', "\x01", "\x7f"]
STORABLE_TEXT = st.lists(
    st.one_of(st.sampled_from(COPY_SPECIALS), st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
).map("".join)


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture
def target(postgres_url: str) -> Target:
    return target_for(postgres_url)


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    """A schema of its own for each test, dropped after it."""
    name = f"export_{uuid.uuid4().hex[:10]}"
    run_sql(postgres_url, f"CREATE SCHEMA {quoted(name)}")
    yield name
    run_sql(postgres_url, f"DROP SCHEMA {quoted(name)} CASCADE")


def table_rows(url: str, schema: str, dataset: Dataset, order: str = "id") -> list[tuple[Any, ...]]:
    columns = ", ".join(column.name for column in dataset.columns)
    return rows(url, f"SELECT {columns} FROM {quoted(schema)}.{dataset.table} ORDER BY {order}")


def versions(url: str, schema: str, dataset: Dataset) -> list[tuple[Any, ...]]:
    """Each row's key and xmin: the transaction that wrote its current version."""
    return rows(url, f"SELECT id, xmin::text FROM {quoted(schema)}.{dataset.table} ORDER BY id")


def test_the_first_prepare_creates_the_table_with_its_types_and_key_and_the_next_does_nothing(
    postgres_url: str, target: Target, schema: str
) -> None:
    writer = ExportWriter(target)
    contacts, events = DATASETS["contacts"], DATASETS["events"]

    assert writer.prepare(schema, contacts) == [f"created table {schema}.contacts"]
    assert writer.prepare(schema, events) == [f"created table {schema}.events"]
    assert writer.prepare(schema, contacts) == []

    described = rows(
        postgres_url,
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable"
        f" FROM information_schema.columns WHERE table_schema = '{schema}' ORDER BY table_name, ordinal_position",
    )
    by_column = {(table, column): (kind, length, nullable) for table, column, kind, length, nullable in described}
    assert [column for table, column in by_column if table == "contacts"] == [c.name for c in contacts.columns]
    assert by_column["contacts", "contactid"] == ("bigint", None, "NO")
    assert by_column["contacts", "email"] == ("character varying", 50, "YES")
    assert by_column["contacts", "createddate"] == ("timestamp without time zone", None, "YES")
    assert by_column["contacts", "totalclicked"] == ("integer", None, "YES")
    assert by_column["events", "paramsjson"] == ("jsonb", None, "YES")
    assert by_column["events", "eventtypekey"] == ("text", None, "YES")
    assert rows(
        postgres_url,
        "SELECT c.relname, array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)"
        f" WHERE n.nspname = '{schema}' AND i.indisprimary GROUP BY c.relname ORDER BY c.relname",
    ) == [("contacts", ["contactid"]), ("events", ["eventid"])]
    # The vendor's camelCase works unquoted, as in queries written for the vendor's own export.
    assert rows(postgres_url, f"SELECT contactId, emailDomain FROM {schema}.contacts") == []


SAMPLES: dict[str, Any] = {
    "int": 2**31 - 1,
    "bigint": 2**63 - 1,
    "numeric": Decimal("1234.5678"),
    "text": "text ✓",
    "timestamp": datetime(2021, 10, 8, 11, 11, 2),
    "json": {"name": "value", "list": [1, None]},
}


def test_every_dataset_is_created_and_takes_full_rows(postgres_url: str, target: Target, schema: str) -> None:
    writer = ExportWriter(target)
    for dataset in DATASETS.values():
        # Every column filled to its limit: the largest integers, varchars at their full length
        row = tuple("v" * column.length if column.length else SAMPLES[column.type] for column in dataset.columns)

        assert writer.prepare(schema, dataset) == [f"created table {schema}.{dataset.table}"]
        assert writer.upsert(schema, dataset, [row]) == 1
        assert writer.upsert(schema, dataset, [row]) == 0
        assert rows(postgres_url, f"SELECT * FROM {quoted(schema)}.{dataset.table}") == [row]


def test_a_column_added_to_the_dataset_is_added_to_the_table_and_rows_are_kept(
    postgres_url: str, target: Target, schema: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, THINGS)
    writer.upsert(schema, THINGS, [(1, "one", "first"), (2, "two", None)])

    grown = Dataset(THINGS.name, THINGS.table, (*THINGS.columns, Column("score", "numeric")), THINGS.key)
    assert writer.prepare(schema, grown) == ["added column things.score"]
    assert writer.prepare(schema, grown) == []

    assert table_rows(postgres_url, schema, grown) == [(1, "one", "first", None), (2, "two", None, None)]
    assert writer.upsert(schema, grown, [(2, "two", None, Decimal("2.5"))]) == 1
    assert table_rows(postgres_url, schema, grown) == [(1, "one", "first", None), (2, "two", None, Decimal("2.5"))]
    # The dataset without the column (an older definition) still writes: the column is left as it is.
    assert writer.prepare(schema, THINGS) == []
    assert writer.upsert(schema, THINGS, [(2, "two!", None)]) == 1
    assert table_rows(postgres_url, schema, grown)[1] == (2, "two!", None, Decimal("2.5"))


def test_upsert_inserts_then_changes_nothing_then_updates_only_what_changed(
    postgres_url: str, target: Target, schema: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, THINGS)
    first = [(1, "one", "a"), (2, "two", None), (3, "three", "")]

    assert writer.upsert(schema, THINGS, first) == 3
    written = versions(postgres_url, schema, THINGS)

    # Again: nothing counted, and no row got a new version
    assert writer.upsert(schema, THINGS, first) == 0
    assert versions(postgres_url, schema, THINGS) == written

    # A changed row (NULL -> '' is a change), an unchanged one, a new one
    assert writer.upsert(schema, THINGS, [(2, "two", ""), (3, "three", ""), (4, "four", None)]) == 2
    assert table_rows(postgres_url, schema, THINGS) == [
        (1, "one", "a"),
        (2, "two", ""),
        (3, "three", ""),
        (4, "four", None),
    ]
    after = dict(versions(postgres_url, schema, THINGS))
    assert after[1] == dict(written)[1] and after[3] == dict(written)[3]
    assert after[2] != dict(written)[2]


def test_of_rows_with_the_same_key_in_one_batch_the_last_wins(postgres_url: str, target: Target, schema: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, THINGS)
    writer.upsert(schema, THINGS, [(1, "old", None)])

    batch = [(1, "first", None), (2, "a", None), (1, "second", "x"), (2, "b", None), (1, "last", "y")]
    assert writer.upsert(schema, THINGS, batch) == 2
    assert table_rows(postgres_url, schema, THINGS) == [(1, "last", "y"), (2, "b", None)]


def test_values_of_every_type_read_back(postgres_url: str, target: Target, schema: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, EVERY_TYPE)
    kyiv = timezone(timedelta(hours=3))
    doc = {"name": "Дина 🎉", "nested": {"list": [1, 2.5, None, True, 'a"b\\c\nd\te'], "empty": {}}, "n": 10**20}
    big = Decimal("12345678901234567890.123456789")
    # (what is written, what reads back): aware datetimes in UTC, dates at midnight, ISO text parsed
    cases = [
        (
            (1, 2**31 - 1, big, datetime(2024, 3, 1, 12, 30, 15, 250, kyiv), doc, "", "NULL is not ''"),
            (1, 2**31 - 1, big, datetime(2024, 3, 1, 9, 30, 15, 250), doc, "", "NULL is not ''"),
        ),
        (
            (2, -(2**31), 0.1, datetime(2024, 3, 1, 12, 30, 15), [1, "two", {"3": [4]}], None, ""),
            (2, -(2**31), Decimal("0.1"), datetime(2024, 3, 1, 12, 30, 15), [1, "two", {"3": [4]}], None, ""),
        ),
        (
            (3, None, -5, date(2024, 2, 29), "a JSON string", "0123456789", None),
            (3, None, Decimal(-5), datetime(2024, 2, 29), "a JSON string", "0123456789", None),
        ),
        (
            (5, 7, Decimal("1E+400"), datetime(1, 1, 1, 0, 0, 0), None, None, None),
            (5, 7, Decimal("1E+400"), datetime(1, 1, 1, 0, 0, 0), None, None, None),
        ),
        (
            (4, 0, Decimal("-0.000001"), "2021-10-08 11:11:02", None, "ünï'cödé", "\\N"),
            (4, 0, Decimal("-0.000001"), datetime(2021, 10, 8, 11, 11, 2), None, "ünï'cödé", "\\N"),
        ),
        (
            (2**63 - 1, None, None, "2021-10-08T11:11:02+02:00", {}, "a,b", "\\."),
            (2**63 - 1, None, None, datetime(2021, 10, 8, 9, 11, 2), {}, "a,b", "\\."),
        ),
    ]

    assert writer.upsert(schema, EVERY_TYPE, [written for written, _ in cases]) == len(cases)
    assert table_rows(postgres_url, schema, EVERY_TYPE) == sorted(expected for _, expected in cases)
    assert rows(postgres_url, f"SELECT id FROM {quoted(schema)}.every_type WHERE label = '' OR note = ''") == [
        (1,),
        (2,),
    ]
    assert rows(postgres_url, f"SELECT jsonb_typeof(doc) FROM {quoted(schema)}.every_type WHERE id = 3") == [
        ("string",)
    ]
    # The same values spelled otherwise (another time zone, the JSON's keys in another order): no change
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    again = (1, 2**31 - 1, big, datetime(2024, 3, 1, 9, 30, 15, 250, UTC), reordered, "", "NULL is not ''")
    assert writer.upsert(schema, EVERY_TYPE, [again]) == 0


def test_hostile_values_read_back(postgres_url: str, target: Target, schema: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, THINGS)
    values = [value for value in hostile_values() if "\x00" not in value]
    batch = [(index, None, value) for index, value in enumerate(values)]

    assert writer.upsert(schema, THINGS, batch) == len(values)
    assert table_rows(postgres_url, schema, THINGS) == batch
    assert writer.upsert(schema, THINGS, batch) == 0


@pytest.fixture(scope="module")
def roundtrip_schema(postgres_url: str) -> Iterator[str]:
    name = f"roundtrip_{uuid.uuid4().hex[:10]}"
    run_sql(postgres_url, f"CREATE SCHEMA {quoted(name)}")
    ExportWriter(target_for(postgres_url)).prepare(name, THINGS)
    yield name
    run_sql(postgres_url, f"DROP SCHEMA {quoted(name)} CASCADE")


@given(values=st.lists(st.tuples(st.none() | STORABLE_TEXT.map(lambda text: text[:20]), st.none() | STORABLE_TEXT)))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_storable_text_reads_back_exactly(
    postgres_url: str, roundtrip_schema: str, values: list[tuple[str | None, str | None]]
) -> None:
    writer = ExportWriter(target_for(postgres_url))
    run_sql(postgres_url, f"TRUNCATE {quoted(roundtrip_schema)}.things")
    batch = [(index, label, note) for index, (label, note) in enumerate(values)]

    assert writer.upsert(roundtrip_schema, THINGS, batch) == len(batch)
    assert table_rows(postgres_url, roundtrip_schema, THINGS) == batch
    assert writer.upsert(roundtrip_schema, THINGS, batch) == 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((1, "ok", "nul \x00 inside"), "things rows[1], column note: PostgreSQL cannot store the character U+0000"),
        (
            (1, "ok", "lone \udc80 surrogate"),
            "things rows[1], column note: PostgreSQL cannot store the character U+DC80",
        ),
        ((1, "x" * 21, None), "things rows[1], column label: 21 characters, more than varchar(20) holds"),
        ((None, "ok", None), "things rows[1]: the key column id is NULL"),
        ((2**63, "ok", None), "things rows[1], column id: 9223372036854775808 is out of range for bigint"),
        ((True, "ok", None), "things rows[1], column id: bigint expects an int, not bool"),
        ((1, "ok"), "things rows[1]: 2 values for the 3 columns"),
        ((1, "ok", {"a": 1}), "things rows[1], column note: text expects a str or a number, not dict"),
    ],
)
def test_values_a_column_cannot_hold_are_refused_naming_the_row_and_column(
    postgres_url: str, target: Target, schema: str, row: tuple[Any, ...], message: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, THINGS)

    with pytest.raises(ExportError) as refused:
        writer.upsert(schema, THINGS, [(0, "fine", None), row])

    assert str(refused.value).startswith(message)
    assert table_rows(postgres_url, schema, THINGS) == []


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("doc", {"key": "nul \x00"}, "PostgreSQL cannot store the character U+0000 in jsonb"),
        ("doc", {"nul \x00": 1}, "PostgreSQL cannot store the character U+0000 in jsonb"),
        ("doc", [float("nan")], "not JSON: Out of range float values are not JSON compliant"),
        ("doc", {"at": datetime(2024, 1, 1)}, "not JSON: Object of type datetime is not JSON serializable"),
        ("amount", Decimal("NaN"), "NaN is not a number the export stores"),
        ("amount", float("inf"), "inf is not a number the export stores"),
        ("amount", "12.5", "numeric expects an int, float or Decimal, not str"),
        ("small", 2**31, "2147483648 is out of range for integer"),
        ("at", "yesterday", "'yesterday' is not an ISO 8601 date and time"),
        ("at", 1700000000, "timestamp expects a datetime, date or ISO 8601 text, not int"),
        ("at", datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), "date value out of range"),
    ],
)
def test_values_of_other_types_a_column_cannot_hold_are_refused(
    target: Target, schema: str, column: str, value: Any, message: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, EVERY_TYPE)
    row = tuple(value if name == column else None for name in EVERY_TYPE.column_map)

    with pytest.raises(ExportError) as refused:
        writer.upsert(schema, EVERY_TYPE, [(2, None, None, None, None, None, None), (1, *row[1:])])

    assert str(refused.value).startswith(f"everyType rows[1], column {column}: {message}")


def test_a_backslash_before_u0000_in_json_text_is_not_a_nul(postgres_url: str, target: Target, schema: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(schema, EVERY_TYPE)
    doc = {"text": "\\u0000 is six characters here"}

    assert writer.upsert(schema, EVERY_TYPE, [(1, None, None, None, doc, None, None)]) == 1
    assert rows(postgres_url, f"SELECT doc FROM {quoted(schema)}.every_type") == [(doc,)]


def test_a_missing_schema_is_refused_by_name(target: Target) -> None:
    writer = ExportWriter(target)

    with pytest.raises(ExportError, match="the schema 'no_such_schema' does not exist"):
        writer.prepare("no_such_schema", THINGS)
    # Schema names are case-sensitive, as quoted identifiers are: PUBLIC is not public
    with pytest.raises(ExportError, match="the schema 'PUBLIC' does not exist"):
        writer.prepare("PUBLIC", THINGS)
    with pytest.raises(ExportError, match="cannot store the character U\\+0000"):
        writer.prepare("pub\x00lic", THINGS)


@pytest.mark.parametrize("odd", ['we"ird', "semi; DROP TABLE x; --", "Mixed Case", "50% off %s", "ünï'cödé", "a.b"])
def test_an_existing_schema_with_an_odd_name_is_used_quoted(postgres_url: str, target: Target, odd: str) -> None:
    run_sql(postgres_url, f"DROP SCHEMA IF EXISTS {quoted(odd)} CASCADE", f"CREATE SCHEMA {quoted(odd)}")
    writer = ExportWriter(target)
    try:
        assert writer.prepare(odd, THINGS) == [f"created table {odd}.things"]
        assert writer.upsert(odd, THINGS, [(1, "one", None)]) == 1
        assert writer.upsert(odd, THINGS, [(1, "one", None)]) == 0
        assert rows(postgres_url, f"SELECT id, label FROM {quoted(odd)}.things") == [(1, "one")]
    finally:
        run_sql(postgres_url, f"DROP SCHEMA {quoted(odd)} CASCADE")


def test_a_table_without_the_key_is_refused(postgres_url: str, target: Target, schema: str) -> None:
    run_sql(postgres_url, f"CREATE TABLE {quoted(schema)}.things (id bigint, label text)")
    writer = ExportWriter(target)

    with pytest.raises(ExportError, match=r"things has no primary key or unique index on \(id\)"):
        writer.prepare(schema, THINGS)
    # Nothing was added: the refusal rolled the prepare back
    assert rows(
        postgres_url,
        f"SELECT count(*) FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = 'things'",
    ) == [(2,)]

    run_sql(postgres_url, f"CREATE UNIQUE INDEX ON {quoted(schema)}.things (id)")
    assert writer.prepare(schema, THINGS) == ["added column things.note"]
    assert writer.upsert(schema, THINGS, [(1, "one", None)]) == 1


def test_an_unprepared_table_fails_as_a_target_error(target: Target, schema: str) -> None:
    with pytest.raises(TargetError) as failed:
        ExportWriter(target).upsert(schema, THINGS, [(1, "one", None)])

    assert "does not exist" in str(failed.value)
    assert failed.value.statement_level


def test_only_postgresql_and_mysql_targets_are_written() -> None:
    with pytest.raises(ExportError, match=r"exports write to PostgreSQL and MySQL \(or MariaDB\), not to sqlite"):
        ExportWriter(Target("sqlite://"))


def test_a_hundred_thousand_rows_are_upserted(postgres_url: str, target: Target, schema: str) -> None:
    dataset = Dataset(
        "bulk",
        "bulk",
        (Column("id", "bigint"), Column("email", "varchar", 50), Column("at", "timestamp"), Column("cost", "numeric")),
        key=("id",),
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch: list[tuple[Any, ...]] = [
        (n, f"user{n}@example.com", start + timedelta(seconds=n), Decimal(n) / 100) for n in range(100_000)
    ]
    writer = ExportWriter(target)
    writer.prepare(schema, dataset)

    assert writer.upsert(schema, dataset, batch) == 100_000
    # Half of them again, ten changed: only those count
    changed: list[tuple[Any, ...]] = [(n, "changed", None, None) for n in range(50_000, 50_010)]
    assert writer.upsert(schema, dataset, batch[:50_000] + changed) == 10
    total = sum(cost for n, _, _, cost in batch if not 50_000 <= n < 50_010)
    assert rows(postgres_url, f"SELECT count(*), count(at), sum(cost) FROM {quoted(schema)}.bulk") == [
        (100_000, 99_990, total)
    ]
