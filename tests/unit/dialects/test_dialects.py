"""One conformance suite over every dialect, plus what each one decides differently."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pymysql
import pytest

from sqlsync.dialects import (
    ClickHouseDialect,
    Dialect,
    HiveDialect,
    MSSQLDialect,
    MySQLDialect,
    OracleDialect,
    PostgreSQLDialect,
    SQLiteDialect,
    UnsupportedDialectError,
    dialect_for,
)
from sqlsync.dialects.exceptions import RenderError

DIALECTS = [
    ClickHouseDialect(),
    HiveDialect(),
    MSSQLDialect(),
    OracleDialect(),
    PostgreSQLDialect(),
    MySQLDialect(),
    MySQLDialect(no_backslash_escapes=True),
    MySQLDialect(ansi_quotes=True),
    SQLiteDialect(),
]


@pytest.fixture(params=DIALECTS, ids=repr)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return request.param  # type: ignore[no-any-return]


def test_null_numbers_and_strings(dialect: Dialect) -> None:
    assert dialect.render_literal(None) == "NULL"
    assert dialect.render_literal(42) == "42"
    assert dialect.render_literal(-7) == "(-7)"
    assert dialect.render_literal(2.5) == "2.5"
    assert dialect.render_literal(Decimal("1.10")) == "1.10"
    assert dialect.render_literal("plain") == "'plain'"
    assert dialect.render_string_literal(5) == "'5'"
    assert dialect.render_string_literal(None) == "NULL"


def test_quotes_never_end_the_literal(dialect: Dialect) -> None:
    rendered = dialect.render_literal("it's")
    assert rendered in ("'it''s'", "'it\\'s'")


def test_structured_values_render_as_json_text_and_dates_as_iso(dialect: Dialect) -> None:
    assert dialect.render_literal({"a": 1}) == dialect.render_string('{"a":1}')
    assert dialect.to_text({"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert dialect.to_text(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "2026-01-02T03:04:00+00:00"
    assert dialect.to_text(date(2026, 1, 2)) == "2026-01-02"
    assert dialect.to_text(True) == "true"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), object()])
def test_values_sql_cannot_hold_are_refused(dialect: Dialect, value: object) -> None:
    with pytest.raises(RenderError):
        dialect.render_literal(value)


def test_statements_with_characters_the_target_cannot_store_are_refused(dialect: Dialect) -> None:
    # Checked once per statement: lone surrogates never encode, so no driver could send them.
    with pytest.raises(RenderError, match="U\\+D800"):
        dialect.check_statement("SELECT " + dialect.render_literal("a\ud800"))
    assert dialect.check_statement("SELECT 'é ✓'") == "SELECT 'é ✓'"


@pytest.mark.parametrize("value", ["abc_1", "17", "A" * 63])
def test_safe_identifier_parts_pass(dialect: Dialect, value: str) -> None:
    assert dialect.check_identifier(value) == value


@pytest.mark.parametrize("value", ["", "a b", 'a"b', "a`b", "A" * 64, "é"])
def test_unsafe_identifier_parts_are_refused(dialect: Dialect, value: str) -> None:
    with pytest.raises(RenderError, match="not a safe identifier"):
        dialect.check_identifier(value)


def test_postgresql_refuses_nul_and_keeps_backslashes_plain() -> None:
    pg = PostgreSQLDialect()
    assert pg.render_literal("a\\b") == "'a\\b'"
    with pytest.raises(RenderError, match="U\\+0000"):
        pg.check_statement(pg.render_literal("a\x00"))
    assert pg.escape_in_string("a\\'", "'", backslashes=True) == "a\\\\''"


def test_sqlite_refuses_nul_which_its_python_driver_cannot_send() -> None:
    with pytest.raises(RenderError, match="sqlite cannot store the character U\\+0000"):
        SQLiteDialect().check_statement("SELECT 'a\x00'")
    assert MySQLDialect().check_statement("SELECT 'a\\0'") == "SELECT 'a\\0'"


def test_mysql_escapes_like_the_driver_does() -> None:
    my = MySQLDialect()
    hostile = "a'b\"c\\d\x00e\nf\rg\x1ah"
    # pymysql's own escaping is the reference for the default sql_mode
    assert my.render_literal(hostile) == "'" + pymysql.converters.escape_string(hostile) + "'"
    assert MySQLDialect(no_backslash_escapes=True).render_literal(hostile) == "'" + hostile.replace("'", "''") + "'"


def test_mysql_sql_mode_decides_quotes_and_backslashes() -> None:
    default = MySQLDialect.from_sql_mode("STRICT_TRANS_TABLES,NO_ZERO_DATE")
    assert default.backslash_escapes and '"' in default.string_quotes
    ansi = MySQLDialect.from_sql_mode("ANSI_QUOTES, no_backslash_escapes")
    assert not ansi.backslash_escapes and '"' in ansi.identifier_quotes and '"' not in ansi.string_quotes
    assert dialect_for("mariadb").name == "mysql"


def test_refine_reads_the_session_settings() -> None:
    assert MySQLDialect().refine(lambda sql: "ANSI_QUOTES").identifier_quotes == {"`": "`", '"': '"'}  # type: ignore[attr-defined]
    assert PostgreSQLDialect().refine(lambda sql: "off").backslash_escapes
    assert not PostgreSQLDialect().refine(lambda sql: "on").backslash_escapes


def test_quote_identifier_doubles_the_closing_quote() -> None:
    assert PostgreSQLDialect().quote_identifier('we"ird') == '"we""ird"'
    assert MySQLDialect().quote_identifier("we`ird") == "`we``ird`"


def test_transient_errors_are_told_from_data_errors() -> None:
    pg, my, lite = PostgreSQLDialect(), MySQLDialect(), SQLiteDialect()
    assert pg.is_transient(Exception({"C": "08006", "M": "connection failure"}))
    assert pg.is_transient(Exception({"C": "57014", "M": "canceling statement due to statement timeout"}))
    assert not pg.is_transient(Exception({"C": "22001", "M": "value too long"}))
    assert pg.is_transient(OSError("connection refused"))
    assert my.is_transient(Exception(2003, "Can't connect"))
    assert my.is_transient(Exception(1213, "Deadlock found"))
    assert not my.is_transient(Exception(1406, "Data too long"))
    assert lite.is_transient(Exception("database is locked"))
    assert not lite.is_transient(Exception("no such table: x"))
    assert pg.describe_error(Exception({"C": "22001", "M": "value too long", "D": "detail"})) == (
        "value too long (detail) [SQLSTATE 22001]"
    )


def test_unknown_databases_are_named_with_the_supported_ones() -> None:
    with pytest.raises(UnsupportedDialectError, match="unsupported database 'db2'; supported: clickhouse, "):
        dialect_for("db2")


INLINING_DIALECTS = pytest.mark.parametrize(
    "dialect",
    [
        MySQLDialect(),
        MySQLDialect(no_backslash_escapes=True),
        MySQLDialect(ansi_quotes=True),
        PostgreSQLDialect(),
        SQLiteDialect(),
    ],
    ids=["mysql", "mysql-no-backslash-escapes", "mysql-ansi-quotes", "postgresql", "sqlite"],
)
"""The dialects whose literals a compiled template may write inline (or not: ANSI quotes, SQLite)."""


@INLINING_DIALECTS
def test_a_literal_the_compiler_writes_inline_is_the_dialects_own(dialect: Dialect) -> None:
    # The compiled template renders a str value without calling the dialect where it can (the sync path's
    # hot spot): what it writes must be what render_string writes, for every hostile value.
    from sqlsync.template import compile_template
    from testkit import hostile_values

    corpus = hostile_values()
    for template in ("{for $i, $lead = $batch}{$lead.v}{autocomma}{end}", "{for $i, $lead = $batch}'{$lead.v}' {end}"):
        [statement] = compile_template(template, dialect).render({}, [{"v": value} for value in corpus])
        expected = ",".join(dialect.render_string(value) for value in corpus)
        if "'" in template:
            expected = " ".join(dialect.render_string(value) for value in corpus)  # the statement is trimmed
        assert statement == expected


@INLINING_DIALECTS
def test_a_row_renders_the_same_whether_its_values_are_all_text_or_not(dialect: Dialect) -> None:
    # A row whose inlined values are all str is written with their quotes in the row's own text, a row with
    # any other value (or a missing one) value by value: either way as the dialect renders each value.
    from sqlsync.template import compile_template
    from testkit import hostile_values

    corpus = hostile_values()
    others: list[object] = [None, 0, -7, 1.5, True, {"a": "b'c"}, ["x"]]
    rng = random.Random(7)
    leads = []
    for n in range(400):
        lead = {"a": rng.choice(corpus), "b": rng.choice(corpus + others), "c": rng.choice(corpus)}
        if n % 5 == 0:
            del lead["c"]
        leads.append(lead)
    template = "{for $i, $lead = $batch}({$lead.a}, '{$lead.b}', {$lead.c}){autocomma}{end}"
    [statement] = compile_template(template, dialect).render({}, leads)
    expected = ",".join(
        f"({dialect.render_literal(lead['a'])}, {dialect.render_string_literal(lead['b'])}, "
        f"{dialect.render_literal(lead.get('c'))})"
        for lead in leads
    )
    assert statement == expected
