"""A small SQL lexer that tracks where the template text stands: in code, inside a string literal, a
quoted identifier, a comment or a dollar-quoted string. The compiler runs it over the text between tags,
so each placeholder is escaped for its position. The rules come from the dialect's flags.

Where a tag cuts the text at a spot the database could read two ways (a backslash that would escape a
value's first character, Oracle's q'...' quoting whose delimiter is a value, a lone carriage return in a
`--` comment of a database that does not say whether it ends the comment), the lexer does not guess: it
marks the state, and the compiler refuses the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlsync.dialects.base import Dialect

CODE = "code"
STRING = "string"
IDENTIFIER = "identifier"
LINE_COMMENT = "line comment"
BLOCK_COMMENT = "block comment"
DOLLAR = "dollar-quoted string"
# A spot the database could read two ways; it never ends, so the template cannot compile.
UNCLEAR = (
    "spot the database could read two ways (a `$` a value could complete or close, a lone carriage return"
    " in a -- comment, or q'...' cut by a tag)"
)


class SqlState(NamedTuple):
    kind: str
    # STRING: the closing quote (for q'[...]', the delimiter and the quote); IDENTIFIER: the closing char;
    # DOLLAR: the tag
    quote: str = ""
    backslashes: bool = False  # STRING: backslash escapes are active
    depth: int = 0  # BLOCK_COMMENT: nesting depth
    prefix: str = ""  # STRING: "N" for a national literal (dialect.national_string_prefixes), "Q"/"NQ" for q'...'
    raw: bool = False  # STRING: nothing can be escaped inside (Oracle's q'...')
    escape_pending: bool = False  # STRING: the text ended with a backslash that escapes what comes next


START = SqlState(CODE)
_UNCLEAR = SqlState(UNCLEAR)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# Oracle's q'...': these opening delimiters close with their pair, every other one with itself.
_CLOSING_DELIMITER = {"[": "]", "{": "}", "(": ")", "<": ">"}


@dataclass
class ScanResult:
    state: SqlState
    # Offsets of ';' that end a statement (in code, outside any quote or comment).
    boundaries: list[int] = field(default_factory=list)
    # The text ends with the quote that opened the current string literal, with no prefix letter.
    opens_plain_literal: bool = False
    # Offset of the first character after the literal that was open when the text started, if it closed.
    closes_literal_at: int | None = None


def scan(text: str, state: SqlState, dialect: Dialect) -> ScanResult:  # noqa: C901  (one state machine)
    result = ScanResult(state)
    i, n = 0, len(text)
    opened_at = delimiter_at = -1
    if state.escape_pending and n:
        # The backslash that ended the text before the tag escapes this text's first character.
        state, i = state._replace(escape_pending=False), 1
    kind = state.kind
    while i < n:
        ch = text[i]
        if kind == CODE:
            if ch in dialect.string_quotes:
                prefix = text[i - 1] if i > 0 else ""
                if dialect.alternative_quoting and ch == "'" and prefix in ("q", "Q"):
                    national = i >= 2 and text[i - 2] in "Nn" and _starts_word(text, i - 2)
                    if national or _starts_word(text, i - 1):
                        state, i = _alternative_quote(text, i, "NQ" if national else "Q")
                        delimiter_at, opened_at = i, -1
                        kind = state.kind
                        i += 1
                        continue
                backslashes = dialect.backslash_escapes or prefix in dialect.escape_string_prefixes
                national = prefix in dialect.national_string_prefixes and _starts_word(text, i - 1)
                state = SqlState(STRING, ch, backslashes, prefix="N" if national else "")
                opened_at = i if not (prefix.isalnum() or prefix == "_") else -1
            elif ch in dialect.identifier_quotes:
                state = SqlState(IDENTIFIER, dialect.identifier_quotes[ch])
            elif ch == "-" and text.startswith("--", i) and _dash_comment(text, i, dialect):
                state = SqlState(LINE_COMMENT)
                i += 1
            elif ch == "#" and dialect.hash_comments:
                state = SqlState(LINE_COMMENT)
            elif ch == "/" and text.startswith("//", i) and dialect.slash_comments:
                state = SqlState(LINE_COMMENT)
                i += 1
            elif ch == "/" and text.startswith("/*", i):
                state = SqlState(BLOCK_COMMENT, depth=1)
                i += 1
            elif ch == "$" and dialect.dollar_quotes and not _continues_name(text, i):
                state, i = _dollar_quote(text, i, dialect)
            elif ch == ";":
                result.boundaries.append(i)
        elif kind == STRING:
            if state.raw:
                if text.startswith(state.quote, i):
                    i += len(state.quote) - 1
                    state = START
            elif ch == "\\" and state.backslashes:
                if i + 1 == n:
                    state = state._replace(escape_pending=True)
                i += 1
            elif ch == state.quote:
                if i + 1 < n and text[i + 1] == state.quote:
                    i += 1
                else:
                    if opened_at < 0 and result.closes_literal_at is None and i == 0:
                        result.closes_literal_at = 1
                    state = START
        elif kind == IDENTIFIER:
            if ch == "\\" and dialect.identifier_backslash_escapes:
                if i + 1 == n:
                    state = state._replace(escape_pending=True)
                i += 1
            elif ch == state.quote:
                if i + 1 < n and text[i + 1] == state.quote:
                    i += 1
                else:
                    state = START
        elif kind == LINE_COMMENT:
            if ch == "\n":
                state = START
            elif ch == "\r" and dialect.line_comment_ends_at_cr is not False:
                if dialect.line_comment_ends_at_cr:
                    state = START
                elif not text.startswith("\n", i + 1):
                    state = _UNCLEAR
        elif kind == BLOCK_COMMENT:
            if text.startswith("*/", i):
                state = START if state.depth == 1 else state._replace(depth=state.depth - 1)
                i += 1
            elif dialect.nested_comments and text.startswith("/*", i):
                state = state._replace(depth=state.depth + 1)
                i += 1
        elif kind == DOLLAR and text.startswith(state.quote, i):
            i += len(state.quote) - 1
            state = START
        kind = state.kind
        i += 1
    if dialect.alternative_quoting and n:
        state = _unclear_at_end(text, state, delimiter_at)
    result.state = state
    result.opens_plain_literal = state.kind == STRING and opened_at == n - 1
    return result


def _continues_name(text: str, i: int) -> bool:
    """The `$` at text[i] is part of a name (`a$b`), as the databases with dollar quoting read it: the
    word before it starts with a letter or '_'. After a number (`1$$`) it starts a new token."""
    j = i
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "_$"):
        j -= 1
    return j < i and not text[j].isdigit() and text[j] != "$"


def _dollar_quote(text: str, i: int, dialect: Dialect) -> tuple[SqlState, int]:
    """A `$` that starts a token: a dollar-quoted string, or code. Returns the state and the offset of
    the last character consumed."""
    if i == 0:
        # What stands before the tag is unknown: a value ending in a letter (NULL, TRUE) would make this
        # `$` part of a name for the database, while the lexer would open a string here, or the reverse.
        return _UNCLEAR, i
    if dialect.heredoc_needs_close:
        # ClickHouse: `$word$` opens a heredoc only if the same tag comes again later (else it is a name).
        # Both must be in this text, or a value could complete the tag or close the heredoc.
        end = i + 1
        while end < len(text) and text[end] in _WORD:
            end += 1
        if end == len(text):
            return _UNCLEAR, i
        if text[end] != "$":
            return START, i
        if text.find(text[i : end + 1], end + 1) < 0:
            return _UNCLEAR, i
        return SqlState(DOLLAR, text[i : end + 1]), end
    tag = _DOLLAR_TAG.match(text, i)
    if tag is None:
        return START, i  # a positional parameter ($1) or a lone `$`
    return SqlState(DOLLAR, tag.group()), tag.end() - 1


def _starts_word(text: str, j: int) -> bool:
    """text[j] begins a word: nothing is before it in this text, or a character no identifier holds."""
    return j == 0 or not (text[j - 1].isalnum() or text[j - 1] in "_$#@")


def _alternative_quote(text: str, i: int, prefix: str) -> tuple[SqlState, int]:
    """Oracle's q'X...X': `i` is at the quote. The state and the offset of the opening delimiter."""
    if i + 1 >= len(text) or text[i + 1] in " \t\r\n":
        # The delimiter would be a value or what a tag writes, or is one Oracle refuses.
        return _UNCLEAR, i
    opening = text[i + 1]
    return SqlState(STRING, _CLOSING_DELIMITER.get(opening, opening) + "'", prefix=prefix, raw=True), i + 1


def _unclear_at_end(text: str, state: SqlState, delimiter_at: int) -> SqlState:
    """Text cut by a tag where q'...' quoting could be completed by what the tag writes: a `q` right
    before a value (which would start with a quote), or a closing delimiter whose quote may follow."""
    n = len(text)
    if state.kind == CODE and text[-1] in "qQ":
        national = n >= 2 and text[-2] in "Nn" and _starts_word(text, n - 2)
        return _UNCLEAR if national or _starts_word(text, n - 1) else state
    if state.raw and text[-1] == state.quote[0] and delimiter_at != n - 1:
        return _UNCLEAR
    return state


def _dash_comment(text: str, i: int, dialect: Dialect) -> bool:
    if not dialect.dash_comment_needs_space:
        return True
    # MySQL: '--' starts a comment only before whitespace or a control character.
    return i + 2 < len(text) and (text[i + 2].isspace() or ord(text[i + 2]) < 32)
