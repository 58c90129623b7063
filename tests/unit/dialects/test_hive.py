"""Hive: the escaping rules against Hive's documented grammar (Language Manual, HiveLexer.g,
BaseSemanticAnalyzer.unescapeSQLString), and a parser-level proof with sqlglot's Hive tokenizer that no
value can change the statement.

No HiveServer2 can run here, so sqlglot's tokenizer stands in for Hive's lexer. It reads every escape
this dialect writes as Hive does. Where they differ (sqlglot splits `'a''b'` into two tokens where Hive's
lexer makes one literal of both; an escaped lone surrogate becomes `?` in sqlglot), the dialect writes
nothing of the kind, and a test below pins that down.
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
from sqlsync.dialects.hive import HiveDialect
from sqlsync.template import TemplateSyntaxError, compile_template

HIVE = HiveDialect()
SPECIALS = [
    *"'\"\\`;-/*#$%_{}\n\r\t\x00\x01\x1a\x7f",
    *["--", "/*", "*/", "''", "\\'", "\\\\", "\\0", "\\012", "\\u0041", "${env:HOME}", "${hiveconf:x}", "\\Z"],
    *["\x00" + "12", "é", "😀", "\u2028"],
]
VALUES = st.lists(
    st.one_of(st.sampled_from(SPECIALS), st.text(st.characters(exclude_categories=("Cs",)), max_size=8)), max_size=12
).map("".join)


def render(source: str, value: Any) -> str:
    [statement] = compile_template(source, HIVE).render({}, [{"v": value}])
    return statement


def tokenize(sql: str) -> list[Token]:
    return sqlglot.tokenize(sql, read="hive")


def strings(sql: str) -> list[str]:
    return [token.text for token in tokenize(sql) if token.token_type == TokenType.STRING]


# Every position a value may stand in: bare, the whole of a '' or "" literal, inside either.
EVERYWHERE = (
    "INSERT INTO t (a, b, c, d, e) VALUES ({$lead.v}, '{$lead.v}', 'pre-{$lead.v}-post', \"{$lead.v}\","
    ' "pre-{$lead.v}-post")'
)


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_every_value_reads_back_exactly_through_the_hive_tokenizer(value: str) -> None:
    sql = render(EVERYWHERE, value)
    tokens = tokenize(sql)
    # The same statement as with a plain value: nothing ended a literal, opened a comment or added a token.
    assert [token.token_type for token in tokens] == [token.token_type for token in tokenize(render(EVERYWHERE, "x"))]
    assert [token.text for token in tokens if token.token_type == TokenType.STRING] == [
        value,
        value,
        f"pre-{value}-post",
        value,
        f"pre-{value}-post",
    ]
    # Nothing for HiveServer2's ${...} substitution, and no raw control character in the statement.
    assert "$" not in sql
    assert not any(ord(char) < 32 or ord(char) == 127 for char in sql)


# The rules one by one ------------------------------------------------------------------------------------


def test_quotes_and_backslashes_are_escaped_with_a_backslash() -> None:
    # Language Manual, String Types: "Hive uses C-style escaping within the strings"; unescapeSQLString
    # reads \' \" \\ \n \r \t back.
    assert HIVE.render_literal("it's") == "'it\\'s'"
    assert HIVE.render_literal('say "hi"') == "'say \\\"hi\\\"'"
    assert HIVE.render_literal("C:\\dir\\") == "'C:\\\\dir\\\\'"
    assert HIVE.render_literal("a\nb\rc\td") == "'a\\nb\\rc\\td'"
    assert render('SELECT "pre-{$lead.v}"', "x\"'") == 'SELECT "pre-x\\"\\\'"'


def test_a_doubled_quote_is_never_written() -> None:
    # HiveLexer.g: StringLiteral is ( '\'' ... '\'' | '"' ... '"' )+, so 'a''b' is two literals joined
    # into "ab", not "a'b"; sqlglot reads it as two string tokens.
    assert strings("SELECT 'a''b'") == ["a", "b"]
    assert HIVE.render_literal("''") == "'\\'\\''"
    assert strings(HIVE.render_literal("''")) == ["''"]


def test_nul_and_control_characters_are_unicode_escapes() -> None:
    # unescapeSQLString reads \uXXXX as that character. \0 is not written: before digits Hive reads it
    # as an octal escape (\012 is a line feed), and so does sqlglot.
    assert HIVE.render_literal("\x0012") == "'\\u000012'"
    assert strings("SELECT '\\012'") == ["\n"]
    assert strings(HIVE.render_literal("\x0012\x01\x1a\x7f")) == ["\x0012\x01\x1a\x7f"]


def test_dollar_signs_cannot_reach_variable_substitution() -> None:
    # HiveServer2 replaces ${hiveconf:x}, ${env:X} and ${system:x} in the statement text before parsing
    # (hive.variable.substitute), literals included; \u0024 is read back as $ only after that.
    assert HIVE.render_literal("${env:HOME}") == "'\\u0024{env:HOME}'"
    assert strings(HIVE.render_literal("${env:HOME}")) == ["${env:HOME}"]


def test_non_bmp_text_stays_as_it_is_and_lone_surrogates_are_refused() -> None:
    assert HIVE.render_literal("😀 é") == "'😀 é'"
    with pytest.raises(RenderError, match="U\\+D83D"):
        render("SELECT {$lead.v}", "\ud83d")


def test_booleans_numbers_and_times() -> None:
    assert render("SELECT {$lead.v}", True) == "SELECT TRUE"
    assert render("SELECT 5-{$lead.v}, {$lead.missing}", -3) == "SELECT 5-(-3), NULL"
    assert render("SELECT '{$lead.v}'", 1.5) == "SELECT '1.5'"
    assert HIVE.render_literal(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "'2026-01-02T03:04:00+00:00'"


def test_identifier_positions_take_only_safe_names() -> None:
    assert render("SELECT * FROM `seg_{$lead.v}`", 17) == "SELECT * FROM `seg_17`"
    for unsafe in ["a` FROM t; --", "a``b", "é"]:
        with pytest.raises(RenderError, match="not a safe identifier"):
            render("SELECT * FROM `{$lead.v}`", unsafe)
    # Language Manual DDL: within backticks, `` stands for a backtick.
    assert HIVE.quote_identifier("we`ird") == "`we``ird`"
    assert [(token.token_type, token.text) for token in tokenize(HIVE.quote_identifier("we`ird"))] == [
        (TokenType.IDENTIFIER, "we`ird")
    ]


def test_comments() -> None:
    for source in ["SELECT 1 -- {$lead.v}\n", "SELECT 1 /* a /* b */ {$lead.v} */"]:
        with pytest.raises(TemplateSyntaxError, match="inside a comment"):
            compile_template(source, HIVE)
    # HiveLexerParent.g: LINE_COMMENT is '--' (~('\n'|'\r'))*, so a CR ends it; sqlglot agrees.
    assert [token.text for token in tokenize(render("SELECT 1 -- note\r, {$lead.v}", "x"))] == ["SELECT", "1", ",", "x"]


def test_a_backslash_right_before_a_value_is_refused() -> None:
    # It would escape the value's first character: `'C:\{$lead.v}'` with a value starting with \' ends
    # the literal early.
    with pytest.raises(TemplateSyntaxError, match="would escape the value's first character"):
        compile_template("SELECT 'C:\\{$lead.v}'", HIVE)
    assert render("SELECT 'C:\\\\{$lead.v}'", "\\'") == "SELECT 'C:\\\\\\\\\\''"
