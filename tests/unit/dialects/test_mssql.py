"""SQL Server (T-SQL): the escaping rules against Microsoft's Transact-SQL reference, and a parser-level
proof with sqlglot's T-SQL tokenizer that no value can change the statement.

No SQL Server can run here, so sqlglot's tokenizer stands in for the server's lexer. Where the two
disagree the server's documented grammar wins: sqlglot does not know the backslash line continuation
("Backslash (Line Continuation) (Transact-SQL)": a backslash before LF or CR LF is dropped with the line
break), so the proof applies that documented rule to the text of sqlglot's string tokens.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot.tokens import Token, TokenType

from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.mssql import MSSQLDialect
from sqlsync.template import TemplateSyntaxError, compile_template

MS = MSSQLDialect()
STRINGS = (TokenType.STRING, TokenType.NATIONAL_STRING)
# Characters that end literals, comments and statements, weighted in beside arbitrary Unicode.
SPECIALS = [*"'\"\\[];-/*#$\n\r\t\x00\x1a", "--", "/*", "*/", "''", "]]", "\\\n", "\\\r\n", "\\\r", "N'", "é", "😀"]
VALUES = st.lists(
    st.one_of(st.sampled_from(SPECIALS), st.text(st.characters(exclude_categories=("Cs",)), max_size=8)), max_size=12
).map("".join)
# "Backslash (Line Continuation)": the line break after the backslash is LF or CR LF, nothing else.
_LINE_CONTINUATION = re.compile(r"\\(?:\r\n|\n)")


def render(source: str, value: Any) -> str:
    [statement] = compile_template(source, MS).render({}, [{"v": value}])
    return statement


def tokenize(sql: str) -> list[Token]:
    return sqlglot.tokenize(sql, read="tsql")


def shape(tokens: list[Token]) -> list[str]:
    return ["string" if token.token_type in STRINGS else token.token_type.name for token in tokens]


def server_reads(literal_text: str) -> str:
    """What SQL Server stores for a literal whose text (quotes undoubled) sqlglot returned."""
    return _LINE_CONTINUATION.sub("", literal_text)


# Every position a value may stand in, inside N'...': as the whole text, after a backslash of the template
# and before a line break of the template (where a continuation could form across the boundary).
EVERYWHERE = (
    "INSERT INTO t (a, b, c, d, e) VALUES ({$lead.v}, '{$lead.v}', N'pre-{$lead.v}-post', N'{$lead.v}',"
    " N'\\{$lead.v}\n')"
)
PLAIN = "INSERT INTO t (a, b) VALUES ('pre-{$lead.v}-post', '\\{$lead.v}\n')"


@settings(max_examples=300, deadline=None)
@given(value=VALUES)
def test_every_value_reads_back_exactly_through_the_tsql_tokenizer(value: str) -> None:
    if "\x00" in value:
        with pytest.raises(RenderError, match="U\\+0000"):
            render(EVERYWHERE, value)
        return
    tokens = tokenize(render(EVERYWHERE, value))
    # The same statement as with a plain value: nothing ended a literal, opened a comment or added a token.
    assert shape(tokens) == shape(tokenize(render(EVERYWHERE, "x")))
    strings = [token for token in tokens if token.token_type in STRINGS]
    assert [server_reads(token.text) for token in strings] == [
        value,
        value,
        f"pre-{value}-post",
        value,
        # With no value between them, the template's own backslash and line break are a continuation.
        f"\\{value}\n" if value else "",
    ]
    # N'' exactly when the value is not ASCII; where the template wrote N'', it stays.
    national = TokenType.NATIONAL_STRING if not value.isascii() else TokenType.STRING
    assert [token.token_type for token in strings] == [national, national, *[TokenType.NATIONAL_STRING] * 3]

    if not value.isascii():
        with pytest.raises(RenderError, match=r"write N'\.\.\.' around this value"):
            render(PLAIN, value)
        return
    plain = [token for token in tokenize(render(PLAIN, value)) if token.token_type in STRINGS]
    assert [(token.token_type, server_reads(token.text)) for token in plain] == [
        (TokenType.STRING, f"pre-{value}-post"),
        (TokenType.STRING, f"\\{value}\n" if value else ""),
    ]


# The rules one by one ------------------------------------------------------------------------------------


def test_quotes_double_and_backslashes_escape_nothing() -> None:
    # "Constants (Transact-SQL)": an embedded single quotation mark is represented by two of them.
    assert MS.render_literal("it's") == "'it''s'"
    assert MS.render_literal("C:\\dir\\") == "'C:\\dir\\'"
    assert MS.render_literal('say "hi"') == "'say \"hi\"'"
    assert render("SELECT 'pre-{$lead.v}'", "O'Brien") == "SELECT 'pre-O''Brien'"


def test_non_ascii_values_render_as_national_literals() -> None:
    # "nchar and nvarchar": Unicode string constants take the N prefix; without it the text is converted to
    # the database's code page.
    assert MS.render_literal("é") == "N'é'"
    assert MS.render_literal("日本'語") == "N'日本''語'"
    assert MS.render_string_literal("😀") == "N'😀'"
    assert MS.render_literal("ascii") == "'ascii'"
    assert render("SELECT '{$lead.v}'", "é") == "SELECT N'é'"
    assert render("SELECT {$lead.v}", "é") == "SELECT N'é'"
    assert render("SELECT n'pre-{$lead.v}'", "é") == "SELECT n'pre-é'"


def test_a_plain_literal_refuses_what_only_a_national_one_holds() -> None:
    with pytest.raises(RenderError, match=r"write N'\.\.\.' around this value"):
        render("SELECT 'pre-{$lead.v}'", "é")
    # Lone surrogates are refused for what they are.
    with pytest.raises(RenderError, match="U\\+D800"):
        render("SELECT 'pre-{$lead.v}'", "a\ud800")
    # `xN'...'` is the name xN and a plain literal.
    with pytest.raises(RenderError, match=r"write N'\.\.\.'"):
        render("SELECT xN'pre-{$lead.v}'", "é")


def test_a_backslash_before_a_line_break_keeps_both() -> None:
    # "Backslash (Line Continuation)": `\` + LF or `\` + CR LF is dropped; `\\` + LF + LF keeps `\` + LF.
    assert MS.render_literal("a\\\nb") == "'a\\\\\n\nb'"
    assert MS.render_literal("a\\\r\nb") == "'a\\\\\n\r\nb'"
    # A lone CR after a backslash is no continuation (MicrosoftDocs/sql-docs#2494).
    assert MS.render_literal("a\\\rb") == "'a\\\rb'"
    assert server_reads("a\\\\\n\r\nb") == "a\\\r\nb"


def test_the_template_around_a_value_cannot_complete_a_continuation() -> None:
    # The template's backslash before a value starting with a line break, the value's backslash before the
    # template's line break: each gets a continuation of its own, which the server drops.
    assert render("SELECT N'C:\\{$lead.v}'", "\nx") == "SELECT N'C:\\\\\n\nx'"
    assert render("SELECT N'{$lead.v}\n'", "C:\\") == "SELECT N'C:\\\\\n\n'"
    assert render("SELECT N'{$lead.v}\r\n'", "C:\\\r") == "SELECT N'C:\\\\\n\r\r\n'"
    assert server_reads("C:\\\\\n\r\r\n") == "C:\\\r\r\n"


def test_nul_and_lone_surrogates_are_refused() -> None:
    with pytest.raises(RenderError, match="mssql cannot store the character U\\+0000"):
        render("SELECT {$lead.v}", "a\x00b")
    with pytest.raises(RenderError, match="U\\+DFFF"):
        render("SELECT {$lead.v}", "a\udfff")


def test_booleans_numbers_and_times() -> None:
    # No boolean literal in T-SQL: bit columns take 1 and 0.
    assert render("SELECT {$lead.v}", True) == "SELECT 1"
    assert render("SELECT {$lead.v}", False) == "SELECT 0"
    assert render("SELECT {$lead.v}, {$lead.missing}", -2.5) == "SELECT (-2.5), NULL"
    assert render("SELECT '{$lead.v}', '{$lead.missing}'", 7) == "SELECT '7', NULL"
    # ISO 8601, which SET DATEFORMAT and SET LANGUAGE do not change.
    assert MS.render_literal(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "'2026-01-02T03:04:00+00:00'"


@pytest.mark.parametrize("source", ["SELECT [{$lead.v}]", 'SELECT "{$lead.v}"', "SELECT [t_{$lead.v}]]x]"])
def test_identifier_positions_take_only_safe_names(source: str) -> None:
    assert "seg_17" in render(source, "seg_17")
    for unsafe in ["a]; DROP TABLE t; --", 'a"b', "é", ""]:
        with pytest.raises(RenderError, match="not a safe identifier"):
            render(source, unsafe)


def test_quote_identifier_uses_brackets() -> None:
    assert MS.quote_identifier("we]ird") == "[we]]ird]"
    [token] = tokenize(MS.quote_identifier("we]ird"))
    assert (token.token_type, token.text) == (TokenType.IDENTIFIER, "we]ird")


@pytest.mark.parametrize(
    "source",
    ["SELECT 1 -- {$lead.v}\n", "SELECT 1 /* {$lead.v} */", "SELECT 1 /* a /* b */ {$lead.v} */"],
)
def test_values_are_refused_in_comments_nested_ones_included(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="inside a comment"):
        compile_template(source, MS)


def test_a_carriage_return_ends_a_line_comment() -> None:
    # "-- (Comment)": a CR or a LF ends it (MicrosoftDocs/sql-docs#2493); sqlglot agrees.
    sql = render("SELECT 1 -- note\r, {$lead.v}", "x")
    assert [token.text for token in tokenize(sql)] == ["SELECT", "1", ",", "x"]
