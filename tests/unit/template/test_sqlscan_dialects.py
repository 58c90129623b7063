"""The SQL lexer's rules for T-SQL, Oracle and Hive, and the spots where a tag cuts the text so that the
database could read it two ways (the template is refused there rather than guessed at)."""

from __future__ import annotations

import pytest

from sqlsync.dialects import MySQLDialect, PostgreSQLDialect, SQLiteDialect
from sqlsync.dialects.base import Dialect
from sqlsync.dialects.hive import HiveDialect
from sqlsync.dialects.mssql import MSSQLDialect
from sqlsync.dialects.oracle import OracleDialect
from sqlsync.template import TemplateSyntaxError, compile_template
from sqlsync.template.sqlscan import (
    BLOCK_COMMENT,
    CODE,
    IDENTIFIER,
    LINE_COMMENT,
    START,
    STRING,
    UNCLEAR,
    SqlState,
    scan,
)

MS, ORA, HIVE = MSSQLDialect(), OracleDialect(), HiveDialect()


def end(text: str, dialect: Dialect, state: SqlState = START) -> SqlState:
    return scan(text, state, dialect).state


# National literals -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [MS, ORA], ids=["mssql", "oracle"])
def test_a_national_prefix_is_recorded_only_where_it_starts_a_word(dialect: Dialect) -> None:
    assert end("SELECT N'a", dialect) == SqlState(STRING, "'", prefix="N")
    assert end("SELECT (n'a", dialect).prefix == "N"
    # `xN'a'` is the name xN followed by a plain literal.
    assert end("SELECT xN'a", dialect).prefix == ""
    assert end("SELECT @N'a", dialect).prefix == ""
    assert end("SELECT 'a", dialect).prefix == ""


def test_other_dialects_record_no_national_prefix() -> None:
    # Unchanged for them: the state of N'...' is the state of '...'.
    assert end("SELECT N'a", PostgreSQLDialect()) == SqlState(STRING, "'")
    assert end("SELECT N'a", SQLiteDialect()) == SqlState(STRING, "'")


# T-SQL ---------------------------------------------------------------------------------------------------


def test_tsql_brackets_quote_identifiers_and_double_their_closing_bracket() -> None:
    assert end("SELECT [a", MS) == SqlState(IDENTIFIER, "]")
    assert end("SELECT [a]]'b", MS) == SqlState(IDENTIFIER, "]")
    assert end("SELECT [a]]'b] ", MS) == START
    assert end('SELECT "a', MS) == SqlState(IDENTIFIER, '"')


def test_tsql_block_comments_nest_and_line_comments_end_at_cr() -> None:
    # "Slash Star (Block Comment) (Transact-SQL)": nested comments are supported.
    assert end("SELECT /* a /* b */ 'c", MS) == SqlState(BLOCK_COMMENT, depth=1)
    assert end("SELECT /* a /* b */ c */ 'd", MS).kind == STRING
    # "-- (Comment)": either CR or LF ends the comment (MicrosoftDocs/sql-docs#2493).
    assert end("SELECT 1 -- a\r'b", MS).kind == STRING
    assert end("SELECT 1 -- a\r\n", MS) == START


# Oracle q'...' ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "closing", "prefix"),
    [
        ("SELECT q'[it's", "]'", "Q"),
        ("SELECT Q'{a", "}'", "Q"),
        ("SELECT q'(a", ")'", "Q"),
        ("SELECT q'<a", ">'", "Q"),
        ("SELECT q'!it's", "!'", "Q"),
        ("SELECT q'éa'b", "é'", "Q"),  # any character but space, tab and return
        ("SELECT nq'[a", "]'", "NQ"),
        ("SELECT Nq'[a", "]'", "NQ"),
    ],
)
def test_oracle_alternative_quoting_is_tracked_to_its_own_end(text: str, closing: str, prefix: str) -> None:
    # "Text Literals": q'<delimiter>...<delimiter>'; [ { < ( close with ] } > ), others with themselves.
    assert end(text, ORA) == SqlState(STRING, closing, prefix=prefix, raw=True)
    assert end(text + closing[0] + "' , 'x", ORA) == SqlState(STRING, "'")


def test_oracle_q_quote_ends_only_at_its_delimiter_and_a_quote() -> None:
    assert end("SELECT q'[a] ' ] b", ORA).raw
    assert end("SELECT q'[a]' ", ORA) == START
    assert end("SELECT q'!a!b!' ", ORA) == START
    # A name ending in q is no prefix.
    assert end("SELECT seq'a", ORA) == SqlState(STRING, "'")
    assert end("SELECT inq'a", ORA) == SqlState(STRING, "'")
    # Other dialects have no alternative quoting.
    assert end("SELECT q'[a", PostgreSQLDialect()) == SqlState(STRING, "'")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT q'",  # the delimiter would be what the tag writes
        "SELECT nq'",
        "SELECT q' a",  # a space is no delimiter: Oracle refuses it
        "SELECT q",  # a value right after would start with a quote: q'value'...
        "SELECT a, Nq",
        "SELECT q'[a]",  # the closing quote may come from the tag
        "SELECT 1 -- a\rb",  # Oracle does not say whether a lone CR ends the comment
        "SELECT 1 -- a\r",
    ],
)
def test_oracle_spots_that_read_two_ways_are_unclear(text: str) -> None:
    state = end(text, ORA)
    assert state.kind == UNCLEAR
    # An unclear spot never ends.
    assert end("]' \n */ ; '", ORA, state).kind == UNCLEAR


def test_oracle_line_comments_end_at_line_feeds_and_cr_lf() -> None:
    assert end("SELECT 1 -- a\r\n'b", ORA).kind == STRING
    assert end("SELECT 1 -- a\n'b", ORA).kind == STRING
    # Names ending in q before a tag are code.
    assert end("SELECT seq", ORA) == START
    # Block comments do not nest ("Comments": a comment ends at the first */).
    assert end("SELECT /* a /* b */ 'c", ORA).kind == STRING


def test_unclear_spots_fail_the_template() -> None:
    for source in ("SELECT q'{$lead.v}]'", "SELECT q{$lead.v}", "SELECT 1 -- a\r{$lead.v}\n"):
        with pytest.raises(TemplateSyntaxError, match="could read two ways"):
            compile_template(source, ORA)
    with pytest.raises(TemplateSyntaxError, match="could read two ways"):
        compile_template("{for $lead = $batch}SELECT q'[a]{autocomma}'{end}", ORA)


# Hive ----------------------------------------------------------------------------------------------------


def test_hive_quotes_comments_and_identifiers() -> None:
    # HiveLexer.g StringLiteral: '...' and "..." with backslash escapes.
    assert end("SELECT 'a\\'b", HIVE) == SqlState(STRING, "'", backslashes=True)
    assert end('SELECT "a\\"b', HIVE) == SqlState(STRING, '"', backslashes=True)
    assert end("SELECT `a``b", HIVE) == SqlState(IDENTIFIER, "`")
    # HiveLexerParent.g: LINE_COMMENT '--' (~('\n'|'\r'))*; QUERY_HINT nests '/*' ... '*/'.
    assert end("SELECT 1 -- a\r'b", HIVE).kind == STRING
    assert end("SELECT /* a /* b */ 'c", HIVE).kind == BLOCK_COMMENT


# A backslash that escapes across a tag -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "dialect"),
    [
        ("SELECT 'C:\\{$lead.v}'", HIVE),
        ('SELECT "C:\\{$lead.v}"', HIVE),
        ("SELECT 'C:\\{$lead.v}'", MySQLDialect()),
        ("SELECT E'C:\\{$lead.v}'", PostgreSQLDialect()),
    ],
)
def test_a_backslash_right_before_a_value_is_refused(source: str, dialect: Dialect) -> None:
    # It would escape the value's first character: a value starting with \' would then close the literal.
    with pytest.raises(TemplateSyntaxError, match="would escape the value's first character"):
        compile_template(source, dialect)


def test_a_backslash_before_a_tag_escapes_the_next_text() -> None:
    first = scan("SELECT 'a\\", START, HIVE)
    assert first.state == SqlState(STRING, "'", backslashes=True, escape_pending=True)
    # The quote after the tag is escaped: the literal goes on.
    assert end("'b", HIVE, first.state) == SqlState(STRING, "'", backslashes=True)
    assert end("x' ", HIVE, first.state) == START
    # An escaped backslash is no pending escape; without backslash escapes nothing is pending.
    assert not end("SELECT 'a\\\\", HIVE).escape_pending
    assert not end("SELECT 'a\\", MySQLDialect(no_backslash_escapes=True)).escape_pending
    assert compile_template("SELECT 'C:\\\\{$lead.v}'", HIVE).render({}, [{"v": "x"}]) == ["SELECT 'C:\\\\x'"]


def test_existing_dialects_keep_line_comments_to_the_line_feed() -> None:
    assert end("SELECT 1 -- a\r'b", PostgreSQLDialect()) == SqlState(LINE_COMMENT)
    assert end("SELECT 1 -- a\r'b", MySQLDialect()) == SqlState(LINE_COMMENT)
    assert end("SELECT 1 -- a\n", SQLiteDialect()).kind == CODE
