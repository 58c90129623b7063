"""A small SQL lexer that tracks where the template text stands: in code, inside a string literal, a
quoted identifier, a comment or a dollar-quoted string. The compiler runs it over the text between tags,
so each placeholder is escaped for its position. The rules come from the dialect's flags.
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


class SqlState(NamedTuple):
    kind: str
    quote: str = ""  # STRING: the quote char; IDENTIFIER: the closing char; DOLLAR: the tag
    backslashes: bool = False  # STRING: backslash escapes are active
    depth: int = 0  # BLOCK_COMMENT: nesting depth


START = SqlState(CODE)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


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
    opened_at = -1
    kind = state.kind
    while i < n:
        ch = text[i]
        if kind == CODE:
            if ch in dialect.string_quotes:
                prefix = text[i - 1] if i > 0 else ""
                backslashes = dialect.backslash_escapes or prefix in dialect.escape_string_prefixes
                state = SqlState(STRING, ch, backslashes)
                opened_at = i if not (prefix.isalnum() or prefix == "_") else -1
            elif ch in dialect.identifier_quotes:
                state = SqlState(IDENTIFIER, dialect.identifier_quotes[ch])
            elif ch == "-" and text.startswith("--", i) and _dash_comment(text, i, dialect):
                state = SqlState(LINE_COMMENT)
                i += 1
            elif ch == "#" and dialect.hash_comments:
                state = SqlState(LINE_COMMENT)
            elif ch == "/" and text.startswith("/*", i):
                state = SqlState(BLOCK_COMMENT, depth=1)
                i += 1
            elif ch == "$" and dialect.dollar_quotes and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                tag = _DOLLAR_TAG.match(text, i)
                if tag is not None:
                    state = SqlState(DOLLAR, tag.group())
                    i = tag.end() - 1
            elif ch == ";":
                result.boundaries.append(i)
        elif kind == STRING:
            if ch == "\\" and state.backslashes:
                i += 1
            elif ch == state.quote:
                if i + 1 < n and text[i + 1] == state.quote:
                    i += 1
                else:
                    if opened_at < 0 and result.closes_literal_at is None and i == 0:
                        result.closes_literal_at = 1
                    state = START
        elif kind == IDENTIFIER:
            if ch == state.quote:
                if i + 1 < n and text[i + 1] == state.quote:
                    i += 1
                else:
                    state = START
        elif kind == LINE_COMMENT:
            if ch == "\n":
                state = START
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
    result.state = state
    result.opens_plain_literal = state.kind == STRING and opened_at == n - 1
    return result


def _dash_comment(text: str, i: int, dialect: Dialect) -> bool:
    if not dialect.dash_comment_needs_space:
        return True
    # MySQL: '--' starts a comment only before whitespace or a control character.
    return i + 2 < len(text) and (text[i + 2].isspace() or ord(text[i + 2]) < 32)
