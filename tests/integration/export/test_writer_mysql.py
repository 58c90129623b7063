"""The export writer against the real MariaDB: tables made on the first export and grown with the dataset,
upserts that change nothing when run again (not even the row's ON UPDATE timestamp), every value read back
exactly, whatever the sql_mode, and the user's database name only ever quoted or bound."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlsync.connectors import Target, TargetError, target_for
from sqlsync.dialects.mysql import MySQLDialect, MySQLExport
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
# What MySQL's escaping and PyMySQL's `%` formatting treat specially, beside arbitrary Unicode (less lone
# surrogates, which no UTF-8 can hold: refused, tested apart). NUL is storable in MySQL.
MYSQL_SPECIALS = [*"\\'\"`%\x00\x1a\n\r\t#;", "\\0", "\\'", "''", "%s", "%%", "%(x)s", "\r\n", "\\\\", "🎉", "𝄞"]
STORABLE_TEXT = st.lists(st.one_of(st.sampled_from(MYSQL_SPECIALS), st.characters(exclude_categories=["Cs"]))).map(
    "".join
)


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def with_session(url: str, sql_mode: str) -> str:
    """The URL with each new connection's sql_mode set (PyMySQL's init_command)."""
    from sqlalchemy.engine import make_url

    setting = {"init_command": f"SET SESSION sql_mode = '{sql_mode}'"}
    return make_url(url).update_query_dict(setting).render_as_string(hide_password=False)


@pytest.fixture
def target(mariadb_url: str) -> Target:
    return target_for(mariadb_url)


@pytest.fixture
def database(mariadb_url: str) -> Iterator[str]:
    """A database of its own for each test (MySQL's schemas are databases), dropped after it."""
    name = f"export_{uuid.uuid4().hex[:10]}"
    run_sql(mariadb_url, f"CREATE DATABASE {quoted(name)} CHARACTER SET utf8mb4")
    yield name
    run_sql(mariadb_url, f"DROP DATABASE {quoted(name)}")


def decoded(dataset: Dataset, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row read back, its JSON text parsed (MariaDB's JSON is text)."""
    return tuple(
        json.loads(value) if column.type == "json" and value is not None else value
        for column, value in zip(dataset.columns, row, strict=True)
    )


def table_rows(url: str, database: str, dataset: Dataset, order: str = "id") -> list[tuple[Any, ...]]:
    columns = ", ".join(column.name for column in dataset.columns)
    found = rows(url, f"SELECT {columns} FROM {quoted(database)}.{dataset.table} ORDER BY {order}")
    return [decoded(dataset, row) for row in found]


def add_touched(url: str, database: str, dataset: Dataset) -> None:
    """A column of the user's own that the server sets whenever a row is written with another value."""
    run_sql(
        url,
        f"ALTER TABLE {quoted(database)}.{dataset.table} ADD COLUMN touched TIMESTAMP(6) NOT NULL"
        " DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)",
    )


def versions(url: str, database: str, dataset: Dataset) -> list[tuple[Any, ...]]:
    return rows(url, f"SELECT id, touched FROM {quoted(database)}.{dataset.table} ORDER BY id")


def test_the_first_prepare_creates_the_table_with_its_types_and_key_and_the_next_does_nothing(
    mariadb_url: str, target: Target, database: str
) -> None:
    writer = ExportWriter(target)
    contacts, events = DATASETS["contacts"], DATASETS["events"]

    assert writer.prepare(database, contacts) == [f"created table {database}.contacts"]
    assert writer.prepare(database, events) == [f"created table {database}.events"]
    assert writer.prepare(database, contacts) == []

    described = rows(
        mariadb_url,
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, CHARACTER_SET_NAME, COLLATION_NAME"
        f" FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{database}' ORDER BY TABLE_NAME, ORDINAL_POSITION",
    )
    by_column = {(table, column): tuple(rest) for table, column, *rest in described}
    assert [column for table, column in by_column if table == "contacts"] == [c.name for c in contacts.columns]
    assert by_column["contacts", "contactid"] == ("bigint(20)", "NO", None, None)
    assert by_column["contacts", "email"] == ("varchar(50)", "YES", "utf8mb4", "utf8mb4_nopad_bin")
    assert by_column["contacts", "createddate"] == ("datetime(6)", "YES", None, None)
    assert by_column["contacts", "totalclicked"] == ("int(11)", "YES", None, None)
    # MariaDB's JSON is LONGTEXT with a json_valid check
    assert by_column["events", "paramsjson"] == ("longtext", "YES", "utf8mb4", "utf8mb4_bin")
    assert by_column["events", "eventtypekey"] == ("longtext", "YES", "utf8mb4", "utf8mb4_nopad_bin")
    assert rows(
        mariadb_url,
        "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES"
        f" WHERE TABLE_SCHEMA = '{database}' ORDER BY TABLE_NAME",
    ) == [("contacts", "InnoDB", "utf8mb4_nopad_bin"), ("events", "InnoDB", "utf8mb4_nopad_bin")]
    assert rows(
        mariadb_url,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS"
        f" WHERE TABLE_SCHEMA = '{database}' AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME",
    ) == [("contacts", "contactid"), ("events", "eventid")]
    # The vendor's camelCase works unquoted, as in queries written for the vendor's own export.
    assert rows(mariadb_url, f"SELECT contactId, emailDomain FROM {quoted(database)}.contacts") == []


SAMPLES: dict[str, Any] = {
    "int": 2**31 - 1,
    "bigint": 2**63 - 1,
    "numeric": Decimal("1234.5678"),
    "text": "text ✓ 🎉",
    "timestamp": datetime(2021, 10, 8, 11, 11, 2),
    "json": {"name": "value", "list": [1, None]},
}


def test_every_dataset_is_created_and_takes_full_rows(mariadb_url: str, target: Target, database: str) -> None:
    writer = ExportWriter(target)
    for dataset in DATASETS.values():
        # Every column filled to its limit: the largest integers, varchars at their full length in 4-byte characters
        row = tuple("🎉" * column.length if column.length else SAMPLES[column.type] for column in dataset.columns)

        assert writer.prepare(database, dataset) == [f"created table {database}.{dataset.table}"]
        assert writer.upsert(database, dataset, [row]) == 1
        assert writer.upsert(database, dataset, [row]) == 0
        found = rows(mariadb_url, f"SELECT * FROM {quoted(database)}.{dataset.table}")
        assert [decoded(dataset, found_row) for found_row in found] == [row]


def test_a_column_added_to_the_dataset_is_added_to_the_table_and_rows_are_kept(
    mariadb_url: str, target: Target, database: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    writer.upsert(database, THINGS, [(1, "one", "first"), (2, "two", None)])

    grown = Dataset(
        THINGS.name,
        THINGS.table,
        (*THINGS.columns, Column("score", "numeric"), Column("tag", "varchar", 5)),
        THINGS.key,
    )
    assert writer.prepare(database, grown) == ["added column things.score", "added column things.tag"]
    assert writer.prepare(database, grown) == []

    assert table_rows(mariadb_url, database, grown) == [(1, "one", "first", None, None), (2, "two", None, None, None)]
    assert writer.upsert(database, grown, [(2, "two", None, Decimal("2.5"), "🎉")]) == 1
    assert table_rows(mariadb_url, database, grown)[1] == (2, "two", None, Decimal("2.5"), "🎉")
    # The dataset without the columns (an older definition) still writes: the columns are left as they are.
    assert writer.prepare(database, THINGS) == []
    assert writer.upsert(database, THINGS, [(2, "two!", None)]) == 1
    assert table_rows(mariadb_url, database, grown)[1] == (2, "two!", None, Decimal("2.5"), "🎉")
    assert rows(
        mariadb_url,
        "SELECT COLUMN_TYPE, COLLATION_NAME FROM information_schema.COLUMNS"
        f" WHERE TABLE_SCHEMA = '{database}' AND COLUMN_NAME = 'tag'",
    ) == [("varchar(5)", "utf8mb4_nopad_bin")]


def test_upsert_inserts_then_changes_nothing_then_updates_only_what_changed(
    mariadb_url: str, target: Target, database: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    add_touched(mariadb_url, database, THINGS)
    first = [(1, "one", "a"), (2, "two", None), (3, "three", "")]

    assert writer.upsert(database, THINGS, first) == 3
    written = versions(mariadb_url, database, THINGS)

    # Again: nothing counted, and no row written (the server would have set its ON UPDATE timestamp)
    assert writer.upsert(database, THINGS, first) == 0
    assert versions(mariadb_url, database, THINGS) == written

    # A changed row (NULL -> '' is a change, and so is a case), an unchanged one, a new one
    assert writer.upsert(database, THINGS, [(2, "two", ""), (3, "three", ""), (1, "ONE", "a"), (4, "four", None)]) == 3
    assert table_rows(mariadb_url, database, THINGS) == [
        (1, "ONE", "a"),
        (2, "two", ""),
        (3, "three", ""),
        (4, "four", None),
    ]
    after = dict(versions(mariadb_url, database, THINGS))
    assert after[3] == dict(written)[3]
    assert after[1] != dict(written)[1] and after[2] != dict(written)[2]


def test_of_rows_with_the_same_key_in_one_batch_the_last_wins(mariadb_url: str, target: Target, database: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    writer.upsert(database, THINGS, [(1, "old", None)])

    batch = [(1, "first", None), (2, "a", None), (1, "second", "x"), (2, "b", None), (1, "last", "y")]
    assert writer.upsert(database, THINGS, batch) == 2
    assert table_rows(mariadb_url, database, THINGS) == [(1, "last", "y"), (2, "b", None)]


def test_keys_are_told_apart_as_python_does_and_one_moment_is_one_key(
    mariadb_url: str, target: Target, database: str
) -> None:
    visits = Dataset(
        "visits",
        "visits",
        (Column("page", "varchar", 20), Column("at", "timestamp"), Column("n", "int")),
        key=("page", "at"),
    )
    writer = ExportWriter(target)
    writer.prepare(database, visits)
    noon = datetime(2024, 3, 1, 12, 0)
    kyiv = timezone(timedelta(hours=2))
    # Case and trailing spaces make other keys (a binary NO PAD collation); one moment in two zones is one key.
    batch = [
        ("a", noon, 1),
        ("A", noon, 2),
        ("a ", noon, 3),
        ("a", datetime(2024, 3, 1, 14, 0, tzinfo=kyiv), 4),
        ("a", "2024-03-01T12:00:00+00:00", 5),
    ]

    assert writer.upsert(database, visits, batch) == 3
    assert rows(mariadb_url, f"SELECT page, at, n FROM {quoted(database)}.visits ORDER BY n") == [
        ("A", noon, 2),
        ("a ", noon, 3),
        ("a", noon, 5),
    ]
    assert writer.upsert(database, visits, [("a ", noon, 3), ("a", "2024-03-01 12:00:00", 6)]) == 1


def test_values_of_every_type_read_back(mariadb_url: str, target: Target, database: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, EVERY_TYPE)
    kyiv = timezone(timedelta(hours=3))
    doc = {"name": "Дина 🎉", "nested": {"list": [1, 2.5, None, True, 'a"b\\c\nd\te'], "empty": {}}, "n": 10**20}
    big = Decimal("12345678901234567890.123456789")
    largest = Decimal("9999999999999999999999999999.9999999999")
    # (what is written, what reads back): aware datetimes in UTC, dates at midnight, ISO text parsed, numbers
    # with more than 10 decimals rounded half up
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
            (5, 7, largest, datetime(1, 1, 1, 0, 0, 0), None, None, None),
            (5, 7, largest, datetime(1, 1, 1, 0, 0, 0), None, None, None),
        ),
        (
            (4, 0, Decimal("-0.000001"), "2021-10-08 11:11:02", None, "ünï'cödé", "\\N"),
            (4, 0, Decimal("-0.000001"), datetime(2021, 10, 8, 11, 11, 2), None, "ünï'cödé", "\\N"),
        ),
        (
            (2**63 - 1, None, None, "2021-10-08T11:11:02+02:00", {}, "a,b", "\\."),
            (2**63 - 1, None, None, datetime(2021, 10, 8, 9, 11, 2), {}, "a,b", "\\."),
        ),
        (
            (
                6,
                None,
                Decimal("0.00000000005"),
                datetime(9999, 12, 31, 23, 59, 59, 999999),
                {"nul": "\x00"},
                "\\",
                "\x00",
            ),
            (6, None, Decimal("1E-10"), datetime(9999, 12, 31, 23, 59, 59, 999999), {"nul": "\x00"}, "\\", "\x00"),
        ),
        (
            (7, None, 2 / 3, None, {1: "int key", "b": 2}, None, "nul \x00 inside"),
            (7, None, Decimal("0.6666666667"), None, {"1": "int key", "b": 2}, None, "nul \x00 inside"),
        ),
    ]

    assert writer.upsert(database, EVERY_TYPE, [written for written, _ in cases]) == len(cases)
    assert table_rows(mariadb_url, database, EVERY_TYPE) == sorted(expected for _, expected in cases)
    assert rows(mariadb_url, f"SELECT id FROM {quoted(database)}.every_type WHERE label = '' OR note = ''") == [
        (1,),
        (2,),
    ]
    assert rows(mariadb_url, f"SELECT JSON_TYPE(doc) FROM {quoted(database)}.every_type WHERE id = 3") == [("STRING",)]
    # The same values spelled otherwise (another time zone, the JSON's keys in another order, a Decimal for a
    # float, more decimals rounding to the same): no change
    reordered = json.loads(json.dumps(doc, sort_keys=True))
    again = [
        (1, 2**31 - 1, big, datetime(2024, 3, 1, 9, 30, 15, 250, UTC), reordered, "", "NULL is not ''"),
        (2, -(2**31), Decimal("0.1000000000"), "2024-03-01 12:30:15", [1, "two", {"3": [4]}], None, ""),
        (7, None, Decimal("0.66666666666666"), None, {"b": 2, "1": "int key"}, None, "nul \x00 inside"),
    ]
    assert writer.upsert(database, EVERY_TYPE, again) == 0


def test_hostile_values_read_back(mariadb_url: str, target: Target, database: str) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    values = [*hostile_values(), "nul \x00 inside", "\x00", "\\\x00", "emoji 🎉👨‍👩‍👧 𝄞"]
    batch = [(index, None, value) for index, value in enumerate(values)]

    assert writer.upsert(database, THINGS, batch) == len(values)
    assert table_rows(mariadb_url, database, THINGS) == batch
    assert writer.upsert(database, THINGS, batch) == 0


@pytest.mark.parametrize(
    "sql_mode",
    [
        "NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES",
        "ANSI,NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES",
        "TRADITIONAL,PIPES_AS_CONCAT,IGNORE_SPACE,NO_ENGINE_SUBSTITUTION",
    ],
)
def test_hostile_values_read_back_whatever_the_sql_mode(mariadb_url: str, database: str, sql_mode: str) -> None:
    # PyMySQL escapes parameters as the server says (its NO_BACKSLASH_ESCAPES status); names are in backticks,
    # which every sql_mode reads as identifiers.
    url = with_session(mariadb_url, sql_mode)
    assert set(rows(url, "SELECT @@SESSION.sql_mode")[0][0].split(",")) >= set(sql_mode.split(",")) - {"ANSI"}
    writer = ExportWriter(target_for(url))
    writer.prepare(database, THINGS)
    values = [*hostile_values(), "nul \x00 inside", "\\\x00'\"`"]
    batch = [(index, value[:20], value) for index, value in enumerate(values)]

    assert writer.upsert(database, THINGS, batch) == len(values)
    assert table_rows(mariadb_url, database, THINGS) == batch
    assert writer.upsert(database, THINGS, batch) == 0


@pytest.fixture(scope="module")
def roundtrip_database(mariadb_url: str) -> Iterator[str]:
    name = f"roundtrip_{uuid.uuid4().hex[:10]}"
    run_sql(mariadb_url, f"CREATE DATABASE {quoted(name)} CHARACTER SET utf8mb4")
    ExportWriter(target_for(mariadb_url)).prepare(name, THINGS)
    yield name
    run_sql(mariadb_url, f"DROP DATABASE {quoted(name)}")


@given(values=st.lists(st.tuples(st.none() | STORABLE_TEXT.map(lambda text: text[:20]), st.none() | STORABLE_TEXT)))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_storable_text_reads_back_exactly(
    mariadb_url: str, roundtrip_database: str, values: list[tuple[str | None, str | None]]
) -> None:
    writer = ExportWriter(target_for(mariadb_url))
    run_sql(mariadb_url, f"TRUNCATE {quoted(roundtrip_database)}.things")
    batch = [(index, label, note) for index, (label, note) in enumerate(values)]

    assert writer.upsert(roundtrip_database, THINGS, batch) == len(batch)
    assert table_rows(mariadb_url, roundtrip_database, THINGS) == batch
    assert writer.upsert(roundtrip_database, THINGS, batch) == 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((1, "ok", "lone \udc80 surrogate"), "things rows[1], column note: MySQL cannot store the character U+DC80"),
        ((1, "lone \ud800", None), "things rows[1], column label: MySQL cannot store the character U+D800"),
        ((1, "x" * 21, None), "things rows[1], column label: 21 characters, more than varchar(20) holds"),
        ((1, "🎉" * 21, None), "things rows[1], column label: 21 characters, more than varchar(20) holds"),
        ((None, "ok", None), "things rows[1]: the key column id is NULL"),
        ((2**63, "ok", None), "things rows[1], column id: 9223372036854775808 is out of range for BIGINT"),
        ((True, "ok", None), "things rows[1], column id: BIGINT expects an int, not bool"),
        ((1, "ok"), "things rows[1]: 2 values for the 3 columns"),
        ((1, "ok", {"a": 1}), "things rows[1], column note: text expects a str or a number, not dict"),
    ],
)
def test_values_a_column_cannot_hold_are_refused_naming_the_row_and_column(
    mariadb_url: str, target: Target, database: str, row: tuple[Any, ...], message: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)

    with pytest.raises(ExportError) as refused:
        writer.upsert(database, THINGS, [(0, "fine", None), row])

    assert str(refused.value).startswith(message)
    assert table_rows(mariadb_url, database, THINGS) == []


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("doc", {"key": "lone \udc80"}, "MySQL cannot store the character U+DC80"),
        ("doc", [float("nan")], "not JSON: Out of range float values are not JSON compliant"),
        ("doc", {"at": datetime(2024, 1, 1)}, "not JSON: Object of type datetime is not JSON serializable"),
        ("amount", Decimal("NaN"), "NaN is not a number the export stores"),
        ("amount", float("inf"), "inf is not a number the export stores"),
        ("amount", "12.5", "numeric expects an int, float or Decimal, not str"),
        ("amount", Decimal("1E+28"), "1E+28 is out of range for DECIMAL(38,10)"),
        ("amount", 10**40, f"{10**40} is out of range for DECIMAL(38,10)"),
        ("amount", Decimal("-9999999999999999999999999999.99999999995"), "-9999999999999999999999999999.99999999995"),
        ("small", 2**31, "2147483648 is out of range for INT"),
        ("at", "yesterday", "'yesterday' is not an ISO 8601 date and time"),
        ("at", 1700000000, "timestamp expects a datetime, date or ISO 8601 text, not int"),
        ("at", datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), "date value out of range"),
    ],
)
def test_values_of_other_types_a_column_cannot_hold_are_refused(
    target: Target, database: str, column: str, value: Any, message: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, EVERY_TYPE)
    row = tuple(value if name == column else None for name in EVERY_TYPE.column_map)

    with pytest.raises(ExportError) as refused:
        writer.upsert(database, EVERY_TYPE, [(2, None, None, None, None, None, None), (1, *row[1:])])

    assert str(refused.value).startswith(f"everyType rows[1], column {column}: {message}")


def test_a_missing_database_is_refused_by_name(target: Target, database: str) -> None:
    writer = ExportWriter(target)

    with pytest.raises(ExportError, match="the schema 'no_such_database' does not exist"):
        writer.prepare("no_such_database", THINGS)
    # Database names are case-sensitive (lower_case_table_names = 0, as on Linux)
    with pytest.raises(ExportError, match=f"the schema '{database.upper()}' does not exist"):
        writer.prepare(database.upper(), THINGS)
    with pytest.raises(ExportError, match="does not exist"):
        writer.prepare(f"{database}\x00", THINGS)
    with pytest.raises(ExportError, match="cannot exist: mysql cannot store the character U\\+DC80"):
        writer.prepare("lone \udc80", THINGS)


@pytest.mark.parametrize(
    "odd",
    [
        'we"ird',
        "back`tick`",
        "semi; DROP TABLE x; --",
        "Mixed Case",
        "50% off %s %%",
        "ünï'cödé",
        "a.b",
        "back\\slash",
        "x" * 64,
    ],
)
def test_an_existing_database_with_an_odd_name_is_used_quoted(mariadb_url: str, target: Target, odd: str) -> None:
    run_sql(mariadb_url, f"DROP DATABASE IF EXISTS {quoted(odd)}", f"CREATE DATABASE {quoted(odd)}")
    writer = ExportWriter(target)
    try:
        assert writer.prepare(odd, THINGS) == [f"created table {odd}.things"]
        grown = Dataset(THINGS.name, THINGS.table, (*THINGS.columns, Column("extra", "int")), THINGS.key)
        assert writer.prepare(odd, grown) == ["added column things.extra"]
        assert writer.upsert(odd, grown, [(1, "one", None, 1)]) == 1
        assert writer.upsert(odd, grown, [(1, "one", None, 1)]) == 0
        # (testkit's rows() formats its SQL with PyMySQL's `%`)
        assert rows(mariadb_url, f"SELECT id, label FROM {quoted(odd).replace('%', '%%')}.things") == [(1, "one")]
    finally:
        run_sql(mariadb_url, f"DROP DATABASE {quoted(odd)}")


def test_a_table_without_the_key_is_refused_before_anything_is_altered(
    mariadb_url: str, target: Target, database: str
) -> None:
    run_sql(mariadb_url, f"CREATE TABLE {quoted(database)}.things (id bigint, label text)")
    writer = ExportWriter(target)

    with pytest.raises(ExportError, match=r"things has no primary key or unique index on \(id\)"):
        writer.prepare(database, THINGS)
    # Nothing was added (MySQL commits each ALTER at once: the table is checked first)
    assert rows(
        mariadb_url,
        f"SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = 'things'",
    ) == [(2,)]

    run_sql(mariadb_url, f"CREATE UNIQUE INDEX by_id ON {quoted(database)}.things (id)")
    assert writer.prepare(database, THINGS) == ["added column things.note"]
    assert writer.upsert(database, THINGS, [(1, "one", None)]) == 1


@pytest.mark.parametrize(("index", "named"), [("(label)", "(label)"), ("(note(10))", "(note(10))")])
def test_another_unique_index_is_refused_as_the_upsert_would_match_rows_by_it(
    mariadb_url: str, target: Target, database: str, index: str, named: str
) -> None:
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    run_sql(mariadb_url, f"CREATE UNIQUE INDEX other ON {quoted(database)}.things {index}")

    with pytest.raises(ExportError, match=re.escape(f"things has a unique index on {named} besides the key (id)")):
        writer.prepare(database, THINGS)

    # One that holds the key's columns matches the rows the key matches: harmless.
    run_sql(mariadb_url, f"DROP INDEX other ON {quoted(database)}.things")
    run_sql(mariadb_url, f"CREATE UNIQUE INDEX other ON {quoted(database)}.things (label, id)")
    assert writer.prepare(database, THINGS) == []


def test_a_text_column_that_cannot_hold_every_character_is_refused(
    mariadb_url: str, target: Target, database: str
) -> None:
    run_sql(
        mariadb_url,
        f"CREATE TABLE {quoted(database)}.things (id bigint PRIMARY KEY, label varchar(20) CHARACTER SET latin1)",
    )

    with pytest.raises(ExportError, match=r"things\.label is in the character set latin1, which cannot hold every"):
        ExportWriter(target).prepare(database, THINGS)


def test_keys_mysql_cannot_index_are_refused(target: Target, database: str) -> None:
    on_text = Dataset("notes", "notes", (Column("note", "text"), Column("n", "int")), key=("note",))
    too_wide = Dataset("wide", "wide", (Column("a", "varchar", 700), Column("b", "varchar", 100)), key=("a", "b"))
    writer = ExportWriter(target)

    with pytest.raises(ExportError, match="notes: MySQL cannot make the text column note part of a primary key"):
        writer.prepare(database, on_text)
    with pytest.raises(ExportError, match=r"wide: the key \(a, b\) takes up to 3200 bytes, more than the 3072"):
        writer.prepare(database, too_wide)


def test_a_connection_that_cannot_carry_every_character_is_refused(mariadb_url: str, database: str) -> None:
    from sqlalchemy.engine import make_url

    writer = ExportWriter(target_for(mariadb_url))
    writer.prepare(database, THINGS)
    for charset in ("utf8mb3", "latin1"):
        url = make_url(mariadb_url).update_query_dict({"charset": charset}).render_as_string(hide_password=False)

        with pytest.raises(ExportError, match=f"the connection's character_set_client is {charset}, which cannot"):
            ExportWriter(target_for(url)).upsert(database, THINGS, [(1, "🎉", None)])

    assert table_rows(mariadb_url, database, THINGS) == []


def test_without_strict_mode_a_value_the_server_would_alter_is_refused(mariadb_url: str, database: str) -> None:
    # The user's own table, narrower than the dataset says: only the server can tell.
    run_sql(
        mariadb_url,
        f"CREATE TABLE {quoted(database)}.things (id bigint PRIMARY KEY, label varchar(5), note longtext)"
        " CHARACTER SET utf8mb4",
    )
    lenient = ExportWriter(target_for(with_session(mariadb_url, "NO_ENGINE_SUBSTITUTION")))
    lenient.prepare(database, THINGS)
    # (a row dropped for a later one of its key does not shift the row named)
    batch = [(0, "first", None)] + [(index, "short", None) for index in range(1500)] + [(1500, "too long", None)]

    with pytest.raises(ExportError, match=r"things rows\[1501\]: MySQL changed a value rather than refuse it \(1265"):
        lenient.upsert(database, THINGS, batch)
    assert table_rows(mariadb_url, database, THINGS) == []

    with pytest.raises(TargetError, match="Data too long for column 'label'"):
        ExportWriter(target_for(mariadb_url)).upsert(database, THINGS, batch)
    assert lenient.upsert(database, THINGS, batch[:-1]) == 1500
    with pytest.raises(ExportError, match=r"things rows\[0\]: MySQL changed a value"):  # a statement of one row
        lenient.upsert(database, THINGS, [(7, "too long", None)])


def test_the_count_does_not_depend_on_client_found_rows(mariadb_url: str, database: str) -> None:
    # SQLAlchemy always connects with CLIENT_FOUND_ROWS; a connection without it counts unchanged rows as 0.
    import pymysql
    import sqlalchemy as sa
    from pymysql.constants import CLIENT

    writer = ExportWriter(target_for(mariadb_url))
    writer.prepare(database, THINGS)
    export = MySQLExport(MySQLDialect(), database, THINGS)
    url = sa.engine.make_url(mariadb_url)
    for flags in (0, CLIENT.FOUND_ROWS):
        run_sql(mariadb_url, f"TRUNCATE {quoted(database)}.things")
        engine = sa.create_engine(
            "mysql+pymysql://",
            creator=lambda flags=flags: pymysql.connect(
                host=url.host, port=url.port or 3306, user=url.username, client_flag=flags
            ),
        )
        try:
            with engine.begin() as connection:
                assert connection.connection.dbapi_connection.client_flag & CLIENT.FOUND_ROWS == flags
                batch = export.encode([(1, "a", None), (2, "b", None), (3, "c", None)])
                assert batch is not None and export.write(connection, batch) == 3
                batch = export.encode([(1, "a", None), (2, "B", None), (4, "d", None), (5, "e", None)])
                assert batch is not None and export.write(connection, batch) == 3
                assert export.write(connection, batch) == 0
        finally:
            engine.dispose()


def test_an_unprepared_table_fails_as_a_target_error(target: Target, database: str) -> None:
    with pytest.raises(TargetError) as failed:
        ExportWriter(target).upsert(database, THINGS, [(1, "one", None)])

    assert "doesn't exist" in str(failed.value)
    assert failed.value.statement_level


@pytest.mark.parametrize(("url", "name"), [("sqlite://", "sqlite"), ("mssql+pyodbc://u:p@host/db", "mssql")])
def test_databases_without_an_export_are_refused_by_name(url: str, name: str) -> None:
    with pytest.raises(ExportError, match=f"exports write to PostgreSQL and MySQL \\(or MariaDB\\), not to {name}"):
        ExportWriter(Target(url))


def test_long_texts_are_written_in_statements_the_server_accepts(
    mariadb_url: str, target: Target, database: str
) -> None:
    # 48 rows of a million bytes each: three times the server's max_allowed_packet (16 MiB) in all.
    writer = ExportWriter(target)
    writer.prepare(database, THINGS)
    batch = [(index, None, f"{index} " + "🎉'\\" * 166_666) for index in range(48)]

    assert writer.upsert(database, THINGS, batch) == 48
    assert rows(
        mariadb_url, f"SELECT count(*), sum(length(note)), sum(char_length(note)) FROM {quoted(database)}.things"
    ) == [(48, sum(len(note.encode()) for _, _, note in batch), sum(len(note) for _, _, note in batch))]
    assert writer.upsert(database, THINGS, batch) == 0


def test_a_hundred_thousand_rows_are_upserted(mariadb_url: str, target: Target, database: str) -> None:
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
    writer.prepare(database, dataset)

    assert writer.upsert(database, dataset, batch) == 100_000
    # Half of them again, ten changed: only those count
    changed: list[tuple[Any, ...]] = [(n, "changed", None, None) for n in range(50_000, 50_010)]
    assert writer.upsert(database, dataset, batch[:50_000] + changed) == 10
    total = sum(cost for n, _, _, cost in batch if not 50_000 <= n < 50_010)
    assert rows(mariadb_url, f"SELECT count(*), count(at), sum(cost) FROM {quoted(database)}.bulk") == [
        (100_000, 99_990, total)
    ]
    assert rows(mariadb_url, f"SELECT at FROM {quoted(database)}.bulk WHERE id = 99999") == [
        (datetime(2024, 1, 2, 3, 46, 39),)
    ]
