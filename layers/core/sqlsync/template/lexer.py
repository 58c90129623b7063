"""Template source -> tokens. Text outside tags is kept verbatim; inside `{...}` the tag is tokenized.

A `{` opens a tag only when followed by `$`, `/` or a letter (as in Smarty's auto-literal rule), so SQL
such as `'{}'` or JSON like `'{"a": 1}'` needs no escaping; `{ldelim}` and `{rdelim}` print braces.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from typing import NamedTuple

from sqlsync.template.errors import TemplateSyntaxError

TEXT = "text"
TAG_BEGIN = "tag_begin"
TAG_END = "tag_end"
NAME = "name"
VAR = "var"
STRING = "string"
NUMBER = "number"
OP = "op"
EOF = "eof"


class Token(NamedTuple):
    type: str
    value: str
    line: int
    column: int


_TAG_START = re.compile(r"\{(?=[$/A-Za-z_])")
_INSIDE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*|/[A-Za-z_]+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>=,|.()\[\]!])
  | (?P<close>\})
    """,
    re.VERBOSE,
)
_UNESCAPE = re.compile(r"\\(.)")


class Lexer:
    def __init__(self, source: str, name: str | None = None) -> None:
        self.source = source
        self.name = name
        # Offsets where each line starts, to turn an offset into (line, column).
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def location(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self._line_starts[lo] + 1

    def fail(self, message: str, offset: int) -> TemplateSyntaxError:
        line, column = self.location(offset)
        return TemplateSyntaxError(message, line, column, self.name)

    def tokenize(self) -> Iterator[Token]:
        source, pos = self.source, 0
        while pos < len(source):
            start = _TAG_START.search(source, pos)
            end = start.start() if start else len(source)
            if end > pos:
                yield Token(TEXT, source[pos:end], *self.location(pos))
            if start is None:
                break
            yield Token(TAG_BEGIN, "{", *self.location(end))
            pos = yield from self._tag(end + 1)
        yield Token(EOF, "", *self.location(len(source)))

    def _tag(self, pos: int) -> Generator[Token, None, int]:
        source = self.source
        while True:
            if pos >= len(source):
                raise self.fail("unclosed tag: expected '}'", pos)
            match = _INSIDE.match(source, pos)
            if match is None:
                raise self.fail(f"unexpected character {source[pos]!r} in tag", pos)
            kind = match.lastgroup
            text = match.group()
            if kind == "close":
                yield Token(TAG_END, "}", *self.location(pos))
                return match.end()
            if kind == "string":
                yield Token(STRING, _UNESCAPE.sub(r"\1", text[1:-1]), *self.location(pos))
            elif kind == "var":
                yield Token(VAR, text[1:], *self.location(pos))
            elif kind is not None and kind != "ws":
                yield Token(kind, text, *self.location(pos))
            pos = match.end()
