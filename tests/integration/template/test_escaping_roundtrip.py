"""Property: no value can change the statement. Arbitrary Unicode (quotes, backslashes, `--`, `/*`, `;`,
NUL, newlines, emoji) rendered into every placeholder position, run on the real PostgreSQL, the real
MariaDB in each sql_mode that changes lexing, and SQLite: every value reads back exactly, and the table
holds exactly the expected rows, so no value ended a literal or added a statement.

Values a target cannot store (NUL on PostgreSQL and SQLite, lone surrogates anywhere) must be refused by
the renderer with a RenderError, never reach the database as a broken statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlsync.connectors import Target, target_for
from sqlsync.dialects import MySQLDialect
from sqlsync.template import RenderError, compile_template
from testkit import hostile_values, rows, run_sql

# Characters that end literals, comments and statements, weighted in beside arbitrary Unicode.
SQL_SPECIALS = [*"'\"\\`;-/*#$%?:{}[]()\n\r\t\x00\x1a\x08", "--", "/*", "*/", "''", "\\'", "$$", "%s", "\r\n"]
EXAMPLES = 400


@dataclass(frozen=True)
class Case:
    fixture: str
    sql_mode: str | None  # MariaDB: the session's sql_mode flags that change lexing
    stores_nul: bool
    # (column, template expression): every position this dialect lets a value stand in
    positions: tuple[tuple[str, str], ...]


COMMON = (
    ("bare", "{$lead.v}"),
    ("whole", "'{$lead.v}'"),
    ("inside", "'pre-{$lead.v}-post'"),
    ("filtered", "{$lead.v|default 'none'}"),
)
MYSQL_DOUBLE = (("dq_whole", '"{$lead.v}"'), ("dq_inside", '"pre-{$lead.v}-post"'))
CASES = [
    pytest.param(Case("postgres_url", None, False, (*COMMON, ("e_inside", "E'pre-{$lead.v}-post'"))), id="postgresql"),
    pytest.param(Case("mariadb_url", "", True, COMMON + MYSQL_DOUBLE), id="mariadb"),
    pytest.param(
        Case("mariadb_url", "NO_BACKSLASH_ESCAPES", True, COMMON + MYSQL_DOUBLE), id="mariadb-no-backslash-escapes"
    ),
    pytest.param(Case("mariadb_url", "ANSI_QUOTES", True, COMMON), id="mariadb-ansi-quotes"),
    pytest.param(Case("mariadb_url", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES", True, COMMON), id="mariadb-ansi"),
    pytest.param(Case("sqlite_file_url", None, False, COMMON), id="sqlite"),
]
EXPECTED = {
    "bare": lambda v: v,
    "whole": lambda v: v,
    "inside": lambda v: f"pre-{v}-post",
    "filtered": lambda v: v or "none",
    "dq_whole": lambda v: v,
    "dq_inside": lambda v: f"pre-{v}-post",
    "e_inside": lambda v: f"pre-{v}-post",
}


@pytest.fixture(scope="module")
def sqlite_file_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('roundtrip') / 'target.db'}"


@dataclass
class Prepared:
    target: Target
    insert: Any
    delete: Any
    columns: list[str]
    stores_nul: bool


@pytest.fixture(scope="module", params=CASES)
def prepared(request: pytest.FixtureRequest) -> Iterator[Prepared]:
    case: Case = request.param
    url: str = request.getfixturevalue(case.fixture)
    if case.sql_mode is not None:
        from sqlalchemy.engine import make_url

        mode = f"SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, '{case.sql_mode}')"
        url = make_url(url).update_query_dict({"init_command": mode}).render_as_string(hide_password=False)
    columns = [name for name, _ in case.positions]
    text_type = "text" if case.fixture != "mariadb_url" else "longtext"
    run_sql(url, "DROP TABLE IF EXISTS roundtrip")
    run_sql(url, f"CREATE TABLE roundtrip (k int PRIMARY KEY, {', '.join(f'{c} {text_type}' for c in columns)})")
    target = target_for(url)
    if case.sql_mode is not None:
        # the session's mode was read at connect, so the renderer lexes as the server does
        assert isinstance(target.dialect, MySQLDialect)
        assert target.dialect.ansi_quotes == ("ANSI_QUOTES" in case.sql_mode)
        assert target.dialect.backslash_escapes == ("NO_BACKSLASH_ESCAPES" not in case.sql_mode)
    values = ", ".join(expression for _, expression in case.positions)
    insert = compile_template(
        f"INSERT INTO roundtrip (k, {', '.join(columns)}) VALUES "
        f"{{for $i, $lead = $batch}}({{$lead.k}}, {values}){{autocomma}}{{end}}",
        target.dialect,
    )
    delete = compile_template('DELETE FROM roundtrip WHERE bare IN ({batch_in "v"})', target.dialect)
    yield Prepared(target, insert, delete, columns, case.stores_nul)
    run_sql(url, "DROP TABLE roundtrip")
    target.dispose()


def round_trip(prepared: Prepared, values: list[str]) -> None:
    batch = [{"k": k, "v": value} for k, value in enumerate(values)]
    statements = prepared.insert.render({}, batch)
    assert len(statements) == 1
    prepared.target.execute(statements)
    url = prepared.target.url.render_as_string(hide_password=False)
    stored = rows(url, f"SELECT k, {', '.join(prepared.columns)} FROM roundtrip ORDER BY k")
    expected = [(k, *(EXPECTED[column](value) for column in prepared.columns)) for k, value in enumerate(values)]
    assert stored == expected
    # batch_in finds every value again: no row is left, none was added
    prepared.target.execute(prepared.delete.render({}, batch))
    assert rows(url, "SELECT count(*) FROM roundtrip") == [(0,)]


def texts(stores_nul: bool) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_categories=("Cs",), exclude_characters="" if stores_nul else "\x00")
    pieces = st.one_of(
        st.text(alphabet, max_size=6), st.sampled_from([s for s in SQL_SPECIALS if stores_nul or s != "\x00"])
    )
    return st.lists(pieces, max_size=8).map("".join)


@given(data=st.data())
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_value_reads_back_exactly(prepared: Prepared, data: st.DataObject) -> None:
    values = data.draw(st.lists(texts(prepared.stores_nul), min_size=1, max_size=12))
    round_trip(prepared, values)


def test_the_hostile_corpus_reads_back_exactly(prepared: Prepared) -> None:
    round_trip(prepared, hostile_values())


def test_values_the_target_cannot_store_are_refused_before_it_runs(prepared: Prepared) -> None:
    with pytest.raises(RenderError, match="U\\+D800"):
        prepared.insert.render({}, [{"k": 1, "v": "lone \ud800 surrogate"}])
    if prepared.stores_nul:
        round_trip(prepared, ["nul \x00 inside", "\x00"])
    else:
        with pytest.raises(RenderError, match="U\\+0000"):
            prepared.insert.render({}, [{"k": 1, "v": "nul \x00 inside"}])
