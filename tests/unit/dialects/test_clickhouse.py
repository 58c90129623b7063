"""The ClickHouse dialect: escaping, lexing flags and error classification, without a server.

What ClickHouse itself makes of the rendered SQL is proven in tests/integration/dialects/test_clickhouse_chdb.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sqlsync.dialects.clickhouse import ClickHouseDialect
from sqlsync.dialects.exceptions import RenderError
from sqlsync.template import TemplateSyntaxError, compile_template
from sqlsync.template.sqlscan import BLOCK_COMMENT, CODE, IDENTIFIER, LINE_COMMENT, START, STRING, UNCLEAR, scan

CH = ClickHouseDialect()


def render(source: str, batch: list[dict[str, Any]]) -> list[str]:
    return compile_template(source, CH).render({"segment_id": 17}, batch)


def test_strings_escape_backslashes_quotes_and_line_breaks() -> None:
    assert CH.render_literal("it's") == "'it\\'s'"
    assert CH.render_literal("a\\b") == "'a\\\\b'"
    assert CH.render_literal("\x00\n\r") == "'\\0\\n\\r'"
    # The other quotes too: a value never ends a quoted identifier, whatever the lexer thought.
    assert CH.render_literal('"`') == "'\\\"\\`'"
    # Everything else stays as it is: tabs, other control characters, `$`, comment starters, emoji.
    assert CH.render_literal("\t\x1a\x7f$$ -- /* # ; 😀") == "'\t\x1a\x7f$$ -- /* # ; 😀'"


def test_inside_a_literal_the_same_escapes_apply() -> None:
    assert CH.escape_in_string("a'b\\c\x00\n\"", "'", backslashes=True) == "a\\'b\\\\c\\0\\n\\\""
    assert render("SELECT 'id-{$lead.a}-{$lead.missing}'", [{"a": "x'y\\"}]) == ["SELECT 'id-x\\'y\\\\-'"]


def test_null_booleans_numbers_and_whole_literals() -> None:
    assert CH.render_literal(None) == "NULL"
    assert CH.render_literal(True) == "TRUE"
    assert CH.render_literal(False) == "FALSE"
    assert CH.render_literal(-7) == "(-7)"
    assert CH.render_literal(Decimal("1.10")) == "1.10"
    assert render("SELECT {$lead.b}, '{$lead.s}', '{$lead.n}', {$lead.n}", [{"b": False, "s": 5}]) == [
        "SELECT FALSE, '5', NULL, NULL"
    ]


def test_backslash_escapes_are_always_on() -> None:
    assert CH.backslash_escapes
    assert scan("SELECT 'a\\'b", START, CH).state.kind == STRING
    assert scan("SELECT 'a''b", START, CH).state.kind == STRING


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("SELECT 1 --x", LINE_COMMENT),  # no space needed after --
        ("SELECT 1 # x", LINE_COMMENT),
        ("SELECT 1 #x", LINE_COMMENT),  # a syntax error for ClickHouse: taking it as a comment is safe
        ("SELECT 1 /* /* */", BLOCK_COMMENT),  # block comments nest
        ("SELECT $t$ x $t$ + $$y$$", CODE),
        ("SELECT $t$ x $t$ + $$y$$ - $t$", UNCLEAR),  # a value could close it: refused
        ("SELECT $t$ it's ", UNCLEAR),
        ("SELECT 1$t$ x $t$ + 1", CODE),  # after a number, `$` starts a heredoc
        ("SELECT 1 // x", LINE_COMMENT),
        ('SELECT "a\\', IDENTIFIER),
        ('SELECT "x', IDENTIFIER),
        ("SELECT `x", IDENTIFIER),
        ("SELECT a$b", CODE),  # `$` inside a name is not a heredoc
    ],
)
def test_lexing_follows_clickhouse(text: str, kind: str) -> None:
    assert scan(text, START, CH).state.kind == kind


@pytest.mark.parametrize(
    "source",
    [
        "SELECT 1 --{$lead.a}\n",
        "SELECT 1 #{$lead.a}\n",
        "SELECT 1 /* /* */ {$lead.a} */",
        "SELECT $t$ {$lead.a} $t$",
        "SELECT $$ {$lead.a} $$",
        "SELECT 1 // {$lead.a}\n",
        'SELECT "a\\{$lead.a}"',
    ],
)
def test_values_in_comments_and_heredocs_are_refused_when_compiled(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="cannot go"):
        compile_template(source, CH)


def test_quoted_identifiers_take_only_safe_names() -> None:
    assert render('SELECT * FROM "seg_{segment_id}", `t_{$lead.a}`', [{"a": "x1"}]) == [
        'SELECT * FROM "seg_17", `t_x1`'
    ]
    with pytest.raises(RenderError, match="not a safe identifier"):
        render('SELECT "{$lead.a}"', [{"a": 'a\\"; DROP TABLE x'}])


def test_quote_identifier_escapes_backslashes_too() -> None:
    assert CH.quote_identifier("we`ird\\") == "`we\\`ird\\\\`"


def test_lone_surrogates_are_refused_and_nul_is_stored() -> None:
    with pytest.raises(RenderError, match="U\\+DC00"):
        render("SELECT {$lead.a}", [{"a": "x\udc00"}])
    assert render("SELECT {$lead.a}", [{"a": "x\x00"}]) == ["SELECT 'x\\0'"]


# clickhouse-connect's messages: the HTTP driver's prefix, then the server's own text.
SYNTAX = "HTTPDriver for http://ch:8123 received ClickHouse error code 62\n Code: 62. DB::Exception: Syntax error: failed at position 8. (SYNTAX_ERROR) (version 24.3.2.23 (official build))"  # noqa: E501
UNKNOWN_TABLE = "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE)"
BAD_VALUE = "Code: 6. DB::Exception: Cannot parse string 'abc' as UInt32. (CANNOT_PARSE_TEXT)"
TIMEOUT = "HTTPDriver for http://ch:8123 received ClickHouse error code 159\n Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)"  # noqa: E501


def test_errors_are_told_apart_by_their_clickhouse_code() -> None:
    assert CH.is_statement_error(Exception(SYNTAX)) and not CH.is_transient(Exception(SYNTAX))
    assert CH.is_statement_error(Exception(UNKNOWN_TABLE))
    assert not CH.is_statement_error(Exception(BAD_VALUE)) and not CH.is_transient(Exception(BAD_VALUE))
    assert CH.is_transient(Exception(TIMEOUT)) and not CH.is_statement_error(Exception(TIMEOUT))
    assert CH.is_transient(Exception("Code: 241. DB::Exception: Memory limit (total) exceeded"))


def test_errors_without_a_server_code_are_transient() -> None:
    # clickhouse-connect's OperationalError for a request that never got an answer.
    refused = Exception("Error HTTPConnectionPool(host='ch', port=8123): Max retries exceeded executing HTTP request")
    assert CH.is_transient(refused) and not CH.is_statement_error(refused)
    assert CH.is_transient(ConnectionRefusedError(111, "Connection refused"))
    assert CH.is_transient(Exception("HTTPDriver for http://ch:8123 returned response code 503"))


def test_a_driver_that_keeps_the_code_apart_from_a_generic_message() -> None:
    error_type = type("DatabaseError", (Exception,), {"__module__": "clickhouse_connect.driver.exceptions"})
    hidden = error_type("The ClickHouse server returned an error.")
    hidden.code = 60
    assert CH.is_statement_error(hidden) and not CH.is_transient(hidden)
    # Anyone else's `.code` (an HTTP status here) is not a ClickHouse code.
    other = Exception("Service Unavailable")
    other.code = 503  # type: ignore[attr-defined]
    assert CH.is_transient(other)


def test_describe_error_keeps_the_server_message_and_code() -> None:
    assert CH.describe_error(Exception(SYNTAX)) == "Syntax error: failed at position 8. (SYNTAX_ERROR) [code 62]"
    assert CH.describe_error(Exception("connection\n refused")) == "connection refused"
