"""Oracle: the escaping rules against the Oracle SQL Language Reference, and a parser-level proof with
sqlglot's Oracle tokenizer that no value can change the statement.

No Oracle server can run here, so sqlglot's tokenizer stands in for the server's lexer. Where they
disagree the vendor's grammar wins and the test says so: sqlglot takes only ASCII letters, digits and
punctuation as q'...' delimiters (Oracle takes any character but space, tab and return), and it ends a
`--` comment at a lone CR, which the reference does not promise (the lexer refuses that spot instead).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot.tokens import Token, TokenType

from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.oracle import OracleDialect
from sqlsync.template import TemplateSyntaxError, compile_template

ORA = OracleDialect()
STRINGS = (TokenType.STRING, TokenType.NATIONAL_STRING)
SPECIALS = [*"'\"\\[];-/*#$&:\n\r\t\x00\x1a", "--", "/*", "*/", "''", "q'[", "]'", "nq'!", "N'", "é", "😀"]
VALUES = st.lists(
    st.one_of(st.sampled_from(SPECIALS), st.text(st.characters(exclude_categories=("Cs",)), max_size=8)), max_size=12
).map("".join)


def render(source: str, value: Any, dialect: OracleDialect = ORA) -> str:
    [statement] = compile_template(source, dialect).render({}, [{"v": value}])
    return statement


def tokenize(sql: str) -> list[Token]:
    return sqlglot.tokenize(sql, read="oracle")


# Every position a value may stand in, after a q'...' literal whose quote must not mislead the lexer.
EVERYWHERE = (
    "INSERT INTO t (a, b, c, d, e) VALUES (q'[it's]', {$lead.v}, '{$lead.v}', 'pre-{$lead.v}-post',"
    " N'pre-{$lead.v}-post')"
)


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_every_value_reads_back_exactly_through_the_oracle_tokenizer(value: str) -> None:
    if "\x00" in value:
        with pytest.raises(RenderError, match="oracle cannot store the character U\\+0000"):
            render(EVERYWHERE, value)
        return
    tokens = tokenize(render(EVERYWHERE, value))
    kinds = [token.token_type for token in tokens]
    # The same statement as with a plain value: nothing ended a literal, opened a comment or added a token.
    assert kinds == [token.token_type for token in tokenize(render(EVERYWHERE, "x"))]
    assert [token.text for token in tokens if token.token_type == TokenType.RAW_STRING] == ["it's"]
    assert [token.text for token in tokens if token.token_type in STRINGS] == [
        value,
        value,
        f"pre-{value}-post",
        f"pre-{value}-post",
    ]


# The rules one by one ------------------------------------------------------------------------------------


def test_quotes_double_and_backslashes_escape_nothing() -> None:
    # "Text Literals": a single quotation mark inside a literal is written as two.
    assert ORA.render_literal("it's") == "'it''s'"
    assert ORA.render_literal("C:\\dir\\") == "'C:\\dir\\'"
    assert render("SELECT 'a{$lead.v}'", "\\'") == "SELECT 'a\\'''"
    assert render("SELECT n'a{$lead.v}'", "é'") == "SELECT n'aé'''"
    # Non-ASCII stays in plain literals: AL32UTF8 holds it, and N'' would not help.
    assert ORA.render_literal("日本") == "'日本'"


def test_an_empty_value_is_an_empty_literal_which_oracle_reads_as_null() -> None:
    # "Nulls": Oracle Database treats a character value with a length of zero as null.
    assert ORA.render_literal("") == "''"
    assert render("SELECT '{$lead.v}', '{$lead.missing}'", "") == "SELECT '', NULL"


def test_literals_longer_than_oracle_takes_are_refused() -> None:
    # "Text Literals": at most 4000 bytes (32767 with MAX_STRING_SIZE = EXTENDED), else ORA-01704.
    assert ORA.render_literal("a" * 4000) == "'" + "a" * 4000 + "'"
    assert ORA.render_literal("é" * 2000).startswith("'é")
    for value in ["a" * 4001, "é" * 2001, "😀" * 1001]:
        with pytest.raises(RenderError, match="ORA-01704"):
            ORA.render_literal(value)
        with pytest.raises(RenderError, match="ORA-01704"):
            render("SELECT 'pre-{$lead.v}'", value)
    extended = OracleDialect(max_literal_bytes=32767)
    assert render("SELECT {$lead.v}", "a" * 32767, extended) == "SELECT '" + "a" * 32767 + "'"
    # Each setting compiles its own renderer.
    assert repr(extended) != repr(ORA)


def test_nul_and_lone_surrogates_are_refused() -> None:
    with pytest.raises(RenderError, match="U\\+0000"):
        render("SELECT 'pre-{$lead.v}'", "a\x00")
    with pytest.raises(RenderError, match="U\\+D800"):
        render("SELECT {$lead.v}", "\ud800")


def test_booleans_numbers_and_times() -> None:
    # No BOOLEAN SQL type before 23ai: NUMBER(1) flags take 1 and 0.
    assert render("SELECT {$lead.v}", True) == "SELECT 1"
    assert render("SELECT {$lead.v}", False) == "SELECT 0"
    assert render("SELECT 5-{$lead.v}", -3) == "SELECT 5-(-3)"
    assert ORA.render_literal(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "'2026-01-02T03:04:00+00:00'"


def test_alternative_quoting_is_followed_and_refuses_values() -> None:
    # "Text Literals": q'[...]' takes its text as it is, so nothing could escape a value inside it.
    sql = render("SELECT q'!it's!', nq'(a'b)', '{$lead.v}' FROM dual", "x'y")
    assert sql == "SELECT q'!it's!', nq'(a'b)', 'x''y' FROM dual"
    assert [(token.token_type, token.text) for token in tokenize(sql)][1:6] == [
        (TokenType.RAW_STRING, "it's"),
        (TokenType.COMMA, ","),
        (TokenType.NATIONAL_RAW_STRING, "a'b"),
        (TokenType.COMMA, ","),
        (TokenType.STRING, "x'y"),
    ]
    for source in ["SELECT q'[a {$lead.v}]'", "SELECT Nq'<{$lead.v}>'"]:
        with pytest.raises(TemplateSyntaxError, match=r"cannot go inside a (q|nq)'\.\.\.' string"):
            compile_template(source, ORA)


def test_a_multibyte_q_delimiter_is_followed_where_sqlglot_cannot() -> None:
    # Oracle: "quote_delimiter is any single- or multibyte character except space, tab, and return".
    # sqlglot only knows ASCII delimiters, so this one is checked by hand.
    assert render("SELECT q'é'it'sé', '{$lead.v}'", "x") == "SELECT q'é'it'sé', 'x'"


@pytest.mark.parametrize(
    "source",
    [
        "SELECT q'{$lead.v}'",  # the value would be the delimiter
        "SELECT q{$lead.v}",  # the value's quote would open q'...'
        "SELECT 1 -- note\r{$lead.v}\n",  # does a lone CR end the comment? The reference does not say.
    ],
)
def test_spots_oracle_could_read_two_ways_are_refused(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="could read two ways"):
        compile_template(source, ORA)


def test_comments() -> None:
    for source in ["SELECT 1 -- {$lead.v}\n", "SELECT 1 /* {$lead.v} */"]:
        with pytest.raises(TemplateSyntaxError, match="inside a comment"):
            compile_template(source, ORA)
    # "Comments": /* */ comments do not nest, so the first */ ends this one (sqlglot agrees).
    sql = render("SELECT 1 /* a /* b */, {$lead.v} FROM dual", "x")
    assert [token.text for token in tokenize(sql)] == ["SELECT", "1", ",", "x", "FROM", "dual"]
    assert render("SELECT 1 -- note\r\n, {$lead.v}", "x") == "SELECT 1 -- note\r\n, 'x'"


def test_identifier_positions_take_only_safe_names() -> None:
    assert render('SELECT * FROM "seg_{$lead.v}"', 17) == 'SELECT * FROM "seg_17"'
    for unsafe in ['a" FROM t; --', "é", "a" * 64]:
        with pytest.raises(RenderError, match="not a safe identifier"):
            render('SELECT * FROM "{$lead.v}"', unsafe)


def test_quote_identifier_refuses_what_oracle_names_cannot_hold() -> None:
    # "Database Object Names and Qualifiers": quoted names are 1 to 128 bytes and cannot contain '"'.
    assert ORA.quote_identifier("Mixed Case") == '"Mixed Case"'
    for name in ['we"ird', "", "a" * 129]:
        with pytest.raises(RenderError, match="cannot be an Oracle identifier"):
            ORA.quote_identifier(name)
