"""ClickHouse's own parser, embedded in-process by chdb, reads every rendered value back byte for byte.

The tests render templates with the ClickHouse dialect, run the statements in chdb and read the values
back as hex, so a value that lost a byte, broke out of its literal or ran a statement of its own shows up
as a difference from the rows expected. chdb runs every `;`-separated statement of a query, so an injected
statement would have run, too. Both of ClickHouse's readers are covered: `INSERT ... VALUES` data goes
through the Values input format, `INSERT ... SELECT` through the SQL lexer and parser. The lexing rules the
dialect declares are checked here against the same engine, one by one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlsync.dialects.clickhouse import ClickHouseDialect
from sqlsync.template import RenderError, TemplateSyntaxError, compile_template
from sqlsync.template.sqlscan import BLOCK_COMMENT, CODE, IDENTIFIER, LINE_COMMENT, START, STRING, UNCLEAR, scan
from testkit import hostile_values

chdb_session = pytest.importorskip(
    "chdb.session",
    reason="chdb is not importable (the dev dependency that embeds the ClickHouse engine)",
    exc_type=ImportError,
)

CH = ClickHouseDialect()
CONTEXT = {"segment_id": 17, "segment_name": "VIP's"}

NULL = "\\N"  # how TSV writes NULL
Row = tuple[int, int, str | None]  # (k, pos, hex of the value's UTF-8 bytes or None for NULL)


class ClickHouse:
    """One chdb session with the tables the tests write to."""

    def __init__(self) -> None:
        self.session = chdb_session.Session()
        self.session.query("CREATE TABLE rows (k UInt32, pos UInt8, v Nullable(String)) ENGINE = Memory")
        self.session.query(
            "CREATE TABLE typed (k UInt32, i Nullable(Int64), f Nullable(Float64), b Nullable(Bool), "
            "u Nullable(UInt8)) ENGINE = Memory"
        )

    def query(self, sql: str) -> str:
        return bytes(self.session.query(sql, "TSV").bytes()).decode()

    def run(self, statements: Sequence[str]) -> None:
        """The statements one by one, as a connector runs them, on empty tables."""
        self.session.query("TRUNCATE TABLE rows")
        self.session.query("TRUNCATE TABLE typed")
        for statement in statements:
            self.session.query(statement)

    def rows(self) -> list[Row]:
        text = self.query("SELECT k, pos, hex(v), isNull(v) FROM rows ORDER BY k, pos")
        found: list[Row] = []
        for line in text.splitlines():
            k, pos, value, is_null = line.split("\t")
            found.append((int(k), int(pos), None if is_null == "1" else value))
        return found

    def close(self) -> None:
        self.session.close()


@pytest.fixture(scope="module")
def clickhouse() -> Iterator[ClickHouse]:
    engine = ClickHouse()
    yield engine
    engine.close()


def utf8_hex(value: str | None) -> str | None:
    return None if value is None else value.encode().hex().upper()


def render(source: str, batch: Sequence[dict[str, Any]]) -> list[str]:
    return compile_template(source, CH).render(CONTEXT, batch)


# Values: arbitrary Unicode (no lone surrogates: those cannot be sent at all), mixed with the pieces that
# mean something to some SQL lexer, so that Hypothesis combines them far more often than chance would.
SPECIAL = [
    *"'\"`\\;#$-/*\x00\n\r\t\x1a{}",
    "''",
    "\\'",
    "\\\\",
    "--",
    "-- ",
    "/*",
    "*/",
    "//",
    "# ",
    "#!",
    "$$",
    "$t$",
    "\\N",
    "\\x",
    "\\0",
    "%s",
    "😀",
    "é",
    "\u2028",
    "\ufeff",
]
TEXT = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(st.characters(codec="utf-8"))), max_size=6).map("".join)
VALUE = st.one_of(st.none(), TEXT)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def positions(first: int) -> str:
    """Bare, the whole of a literal, inside a literal: one row each per profile, told apart by `pos`."""
    bare, whole, inside = first, first + 1, first + 2
    return (
        f"({{$i}}, {bare}, {{$lead.v}}), ({{$i}}, {whole}, '{{$lead.v}}'), ({{$i}}, {inside}, 'pre-{{$lead.v}}-post')"
    )


BATCH_TEMPLATE = (
    # The Values input format reads the data of INSERT ... VALUES.
    "INSERT INTO rows (k, pos, v) VALUES\n"
    "{for $i, $lead = $batch}" + positions(1) + "{autocomma}\n{end};\n"
    # The SQL lexer and parser read INSERT ... SELECT: here an array of tuples.
    "INSERT INTO rows (k, pos, v) SELECT t.1, t.2, t.3 FROM (SELECT arrayJoin([\n"
    "{for $i, $lead = $batch}" + positions(4) + "{autocomma}\n{end}]) AS t);\n"
    # {batch_in}: the literals of the batch, comma-separated, in an array.
    'INSERT INTO rows (k, pos, v) SELECT i - 1, 7, a[i] FROM (SELECT [{batch_in "v"}] AS a)\n'
    "ARRAY JOIN arrayEnumerate(a) AS i"
)


def expected_rows(values: Sequence[str | None], first_pos: int) -> list[Row]:
    rows: list[Row] = []
    for k, value in enumerate(values):
        rows += [
            (k, first_pos, utf8_hex(value)),
            (k, first_pos + 1, utf8_hex(value)),
            (k, first_pos + 2, utf8_hex(f"pre-{value or ''}-post")),
        ]
    return rows


@FAST
@given(values=st.lists(VALUE, min_size=1, max_size=10))
def test_every_value_reads_back_exactly_from_every_position_of_a_batch(
    clickhouse: ClickHouse, values: list[str | None]
) -> None:
    statements = render(BATCH_TEMPLATE, [{"v": value} for value in values])
    assert len(statements) == 3
    clickhouse.run(statements)
    expected = expected_rows(values, 1) + expected_rows(values, 4)
    expected += [(k, 7, utf8_hex(value)) for k, value in enumerate(values)]
    assert clickhouse.rows() == sorted(expected, key=lambda row: row[:2])


PER_PROFILE_TEMPLATE = (
    "INSERT INTO rows (k, pos, v) SELECT * FROM VALUES('k UInt32, pos UInt8, v Nullable(String)', "
    + positions(1).replace("$i", "$index")
    + ")"
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(VALUE, max_size=3))
def test_a_template_without_a_loop_runs_once_per_profile_and_reads_back_exactly(
    clickhouse: ClickHouse, values: list[str | None]
) -> None:
    statements = render(PER_PROFILE_TEMPLATE, [{"v": value} for value in values])
    assert len(statements) == len(values)
    clickhouse.run(statements)
    assert clickhouse.rows() == expected_rows(values, 1)


def test_every_ascii_and_control_character_reads_back_exactly(clickhouse: ClickHouse) -> None:
    values: list[str | None] = [chr(code) for code in range(128)]
    values += ["\x00" * 3, "a\\", "\\", "'", "'\\'", "\\N", "\\x41", "tab\tcr\rlf\n", "😀\U0010fffd"]
    clickhouse.run(render(BATCH_TEMPLATE, [{"v": value} for value in values]))
    expected = expected_rows(values, 1) + expected_rows(values, 4)
    expected += [(k, 7, utf8_hex(value)) for k, value in enumerate(values)]
    assert clickhouse.rows() == sorted(expected, key=lambda row: row[:2])


def test_missing_fields_render_null_and_an_empty_batch_in_renders_null(clickhouse: ClickHouse) -> None:
    clickhouse.run(render(BATCH_TEMPLATE, [{}]))
    assert clickhouse.rows() == sorted(
        expected_rows([None], 1) + expected_rows([None], 4) + [(0, 7, None)], key=lambda row: row[:2]
    )
    clickhouse.run(render('INSERT INTO rows (k, pos, v) SELECT 0, 7, arrayJoin([{batch_in "v"}])', []))
    assert clickhouse.rows() == [(0, 7, None)]


@st.composite
def with_a_lone_surrogate(draw: st.DrawFn) -> str:
    text = draw(TEXT)
    at = draw(st.integers(0, len(text)))
    return text[:at] + chr(draw(st.integers(0xD800, 0xDFFF))) + text[at:]


@settings(max_examples=100, deadline=None)
@given(
    bad=with_a_lone_surrogate(),
    template=st.sampled_from(
        [
            "SELECT {$lead.v}",
            "SELECT '{$lead.v}'",
            "SELECT 'pre-{$lead.v}-post'",
            "SELECT {for $lead = $batch}{$lead.v}{autocomma}{end}",
            'SELECT [{batch_in "v"}]',
        ]
    ),
)
def test_lone_surrogates_are_refused_in_every_position(bad: str, template: str) -> None:
    # Nothing is rendered, so nothing can run: the profile fails with a message instead.
    with pytest.raises(RenderError, match=r"cannot store the character U\+D[89A-F]"):
        render(template, [{"v": "fine"}, {"v": bad}])


TYPED_TEMPLATE = (
    "INSERT INTO typed VALUES {for $i, $lead = $batch}({$i}, {$lead.i}, {$lead.f}, {$lead.b}, {$lead.b}){autocomma}"
    "{end};\n"
    "INSERT INTO typed SELECT * FROM VALUES('k UInt32, i Nullable(Int64), f Nullable(Float64), b Nullable(Bool), "
    "u Nullable(UInt8)', {for $i, $lead = $batch}({$i} + 1000, {$lead.i}, {$lead.f}, {$lead.b}, {$lead.b})"
    "{autocomma}{end})"
)


@settings(max_examples=60, deadline=None)
@given(
    profiles=st.lists(
        st.fixed_dictionaries(
            {
                "i": st.none() | st.integers(-(2**63), 2**63 - 1),
                "f": st.none() | st.floats(allow_nan=False, allow_infinity=False),
                "b": st.none() | st.booleans(),
            }
        ),
        min_size=1,
        max_size=12,
    )
)
def test_numbers_and_booleans_read_back_exactly(clickhouse: ClickHouse, profiles: list[dict[str, Any]]) -> None:
    clickhouse.run(render(TYPED_TEMPLATE, profiles))
    text = clickhouse.query("SELECT k, i, reinterpretAsUInt64(assumeNotNull(f)), isNull(f), b, u FROM typed ORDER BY k")
    expected = []
    for offset in (0, 1000):
        for k, profile in enumerate(profiles):
            i, f, b = profile["i"], profile["f"], profile["b"]
            # A float's exact bits, so that -0.0 and the last bit of a subnormal count.
            bits = 0 if f is None else struct.unpack("<Q", struct.pack("<d", f))[0]
            flag = NULL if b is None else ("true" if b else "false")
            number = NULL if i is None else i
            as_uint8 = NULL if b is None else int(b)
            expected.append(f"{k + offset}\t{number}\t{bits}\t{int(f is None)}\t{flag}\t{as_uint8}")
    assert text.splitlines() == expected


# What ClickHouse's lexer does, next to what the dialect's flags make the shared lexer do.
@pytest.mark.parametrize(
    ("sql", "result", "prefix", "kind"),
    [
        # `--` starts a comment with no space after it.
        ("SELECT 1 --x\n+ 1", "2", "SELECT 1 --x", LINE_COMMENT),
        # `#` starts one before a space or `!` ...
        ("SELECT 1 # x\n+ 1", "2", "SELECT 1 # x", LINE_COMMENT),
        ("SELECT 1 #!x\n+ 1", "2", "SELECT 1 #!x", LINE_COMMENT),
        # ... and is a syntax error before anything else, where the lexer's "comment" is the safe side.
        ("SELECT 1 #x\n+ 1", "Code: 62.", "SELECT 1 #x", LINE_COMMENT),
        ("SELECT 1 #\n+ 1", "Code: 62.", "SELECT 1 #", LINE_COMMENT),
        # Block comments nest.
        ("SELECT 1 /* /* */ + 5 */ + 1", "2", "SELECT 1 /* /* */ + 5", BLOCK_COMMENT),
        # Heredocs: no escapes inside; the tag may start with a digit. Cut before its closing
        # tag, a heredoc could be closed (or its tag completed) by a value: the lexer refuses the spot.
        ("SELECT hex($t$it's\\$t$)", "697427735C", "SELECT hex($t$it's\\$t$)", CODE),
        ("SELECT hex($t$it's\\$t$)", "697427735C", "SELECT hex($t$it's\\", UNCLEAR),
        ("SELECT hex($1$ a $1$)", "2061", "SELECT hex($1$ a $1$)", CODE),
        ("SELECT hex($1$ a $1$)", "2061", "SELECT hex($1", UNCLEAR),
        ("SELECT hex($$'$$)", "27", "SELECT hex($$'", UNCLEAR),
        # `//` starts a comment too.
        ("SELECT 1 // x\n+ 1", "2", "SELECT 1 // x", LINE_COMMENT),
        # Double quotes and backticks quote identifiers, not strings.
        ('SELECT "x" FROM (SELECT 7 AS x)', "7", 'SELECT "x', IDENTIFIER),
        ("SELECT `x` FROM (SELECT 7 AS x)", "7", "SELECT `x", IDENTIFIER),
        # Backslash escapes are always on in '' literals, and '' doubles a quote as well.
        ("SELECT hex('a\\'b')", "612762", "SELECT hex('a\\'b", STRING),
        ("SELECT hex('a''b')", "612762", "SELECT hex('a''b", STRING),
    ],
)
def test_the_lexer_flags_agree_with_clickhouse(
    clickhouse: ClickHouse, sql: str, result: str, prefix: str, kind: str
) -> None:
    try:
        answer = clickhouse.query(sql).strip()
    except RuntimeError as error:  # chdb's ChdbError, with ClickHouse's message
        answer = str(error)
    assert answer.startswith(result)
    assert scan(prefix, START, CH).state.kind == kind


def test_a_value_after_a_double_slash_comment_is_refused() -> None:
    with pytest.raises(TemplateSyntaxError, match="cannot go inside a comment"):
        compile_template("INSERT INTO rows (k, pos, v) SELECT 1, 1, 'kept' // {$lead.v}", CH)


def test_a_quote_inside_a_double_slash_comment_does_not_shift_the_literals(clickhouse: ClickHouse) -> None:
    source = (
        "INSERT INTO rows (k, pos, v)\n"
        "SELECT 1, 1, 'a' // the customer's id\n"
        "UNION ALL SELECT 2, 1, '{$lead.v}' // and the customer's name"
    )
    clickhouse.run(render(source, [{"v": " || toString(version()) || "}]))
    assert clickhouse.rows() == [(1, 1, utf8_hex("a")), (2, 1, utf8_hex(" || toString(version()) || "))]


@pytest.mark.parametrize(
    ("sql", "statement_error"),
    [
        ("SELEC 1", True),
        ("SELECT * FROM no_such_table", True),
        ("SELECT no_such_column FROM rows", True),
        ("INSERT INTO typed (k) VALUES ('not a number')", False),
    ],
)
def test_real_clickhouse_errors_are_classified(clickhouse: ClickHouse, sql: str, statement_error: bool) -> None:
    with pytest.raises(RuntimeError) as caught:  # chdb's ChdbError
        clickhouse.session.query(sql)
    assert CH.is_statement_error(caught.value) is statement_error
    assert not CH.is_transient(caught.value)
    assert CH.describe_error(caught.value).endswith("]")


def test_quoted_identifiers_round_trip(clickhouse: ClickHouse) -> None:
    table, column = "we`ird \\ \"name\" 'é'", "ends in a backslash \\"
    clickhouse.session.query(
        f"CREATE TABLE {CH.quote_identifier(table)} ({CH.quote_identifier(column)} UInt8) ENGINE = Memory"
    )
    try:
        found = clickhouse.query(
            f"SELECT hex(table), hex(name) FROM system.columns WHERE table = {CH.render_literal(table)}"
        )
        assert found.split() == [utf8_hex(table), utf8_hex(column)]
    finally:
        clickhouse.session.query(f"DROP TABLE {CH.quote_identifier(table)}")


def test_the_hostile_corpus_through_the_vendor_templates(clickhouse: ClickHouse) -> None:
    corpus = hostile_values()
    added = (
        "INSERT INTO rows (k, pos, v) VALUES "
        "{for $index, $lead = $batch}({$index}, {segment_id}, '{$lead.CustomID}'){autocomma}{end}"
    )
    clickhouse.run(render(added, [{"CustomID": value} for value in corpus]))
    assert clickhouse.rows() == [(k, 17, utf8_hex(value)) for k, value in enumerate(corpus)]
    # batch_in finds every one of them again
    found = 'SELECT count() FROM rows WHERE v IN ({batch_in "CustomID"})'
    [statement] = render(found, [{"CustomID": value} for value in corpus])
    assert clickhouse.query(statement).strip() == str(len(corpus))
    # and as segment names
    for name in corpus:
        [statement] = compile_template("INSERT INTO rows VALUES (1, 1, '{segment_name}')", CH).render(
            {"segment_name": name}, []
        )
        clickhouse.run([statement])
        assert clickhouse.rows() == [(1, 1, utf8_hex(name))]
