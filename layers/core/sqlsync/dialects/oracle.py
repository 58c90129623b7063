"""Oracle Database.

The rules, from the Oracle SQL Language Reference ("Literals", "Nulls", "Comments", "Database Object
Names and Qualifiers"):

* Text literals are `'...'`; a quote inside one is written `''`. A backslash escapes nothing.
* `N'...'` is a national literal, escaped the same way. `q'[...]'` (and `nq'...'`) is the alternative
  quoting: the text between the delimiters is taken as it is, so nothing could be escaped in it, and a
  value placed inside one is refused when the template is saved. The lexer follows where it ends
  (`[` `{` `(` `<` close with their pair, any other delimiter with itself) so the quotes inside it
  mislead nothing; where a tag cuts it so that a value could become its delimiter or complete its end,
  the template is refused.
* Oracle stores a zero-length string as NULL: an empty value renders as `''`, which Oracle reads as NULL
  (and `col = ''` is never true).
* A text literal holds at most 4000 bytes (32767 with MAX_STRING_SIZE = EXTENDED; pass
  `max_literal_bytes`); a longer one fails the statement with ORA-01704. A value whose UTF-8 text is longer
  than that is refused with a RenderError, which fails only its profile. Text is counted in UTF-8, the
  database character set (AL32UTF8) of every database since 12.2 by default; values are written as plain
  '...' literals for the same reason (N'...' would not help: the statement text reaches the parser in the
  database character set).
* NUL: a VARCHAR2 can hold CHR(0), but a NUL inside the statement text is where C strings end in client
  libraries, so a value holding one is refused rather than risking a truncated statement.
* Quoted identifiers are `"..."`, at most 128 bytes, and cannot hold `"` or NUL.
* `--` comments end at a line break; the reference does not say whether a lone CR is one, so a lone CR
  inside a `--` comment fails the template. `/* */` comments do not nest.
* Booleans render as 1 and 0: the BOOLEAN SQL type only exists from 23ai on, and NUMBER(1) columns (the
  usual flag before it) take 1 and 0. Times render as ISO 8601 text (`2026-01-02T03:04:00+00:00`):
  Oracle reads text as a date by the session's NLS_DATE_FORMAT, which is not ISO 8601 by default, so
  convert them in the template, e.g. with
  TO_TIMESTAMP_TZ(..., 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM') or a `date` filter that writes what NLS expects.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.exceptions import RenderError

# MAX_STRING_SIZE = STANDARD, the default.
STANDARD_LITERAL_BYTES = 4000
_IDENTIFIER_BYTES = 128


class OracleDialect(Dialect):
    name = "oracle"
    driver = "oracle+oracledb"
    version_query = "SELECT banner FROM v$version"
    default_port = 1521
    national_string_prefixes = frozenset("Nn")
    alternative_quoting = True
    line_comment_ends_at_cr = None
    true_literal = "1"
    false_literal = "0"

    def __init__(self, *, max_literal_bytes: int = STANDARD_LITERAL_BYTES) -> None:
        super().__init__()
        self.max_literal_bytes = max_literal_bytes
        self._forbidden = re.compile("[\x00\ud800-\udfff]")

    def _check_length(self, text: str) -> None:
        # At most 4 UTF-8 bytes a character: short texts need no encoding to be counted.
        if len(text) * 4 > self.max_literal_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > self.max_literal_bytes:
                raise RenderError(
                    f"a value of {size} bytes is longer than an Oracle text literal can be "
                    f"({self.max_literal_bytes} bytes; ORA-01704)"
                )

    def render_string(self, text: str) -> str:
        self._check_length(text)
        return "'" + text.replace("'", "''") + "'"

    def literal_renderers(self) -> tuple[Callable[[object], str], Callable[[object], str]]:
        # The shared fast path only doubles quotes; Oracle's strings also have a length limit.
        return self.render_literal, self.render_string_literal

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        self._check_length(text)
        return text.replace(quote, quote + quote)

    def quote_identifier(self, name: str) -> str:
        if not name or '"' in name or len(name.encode("utf-8", "surrogatepass")) > _IDENTIFIER_BYTES:
            raise RenderError(f"{name[:64]!r} cannot be an Oracle identifier (1 to 128 bytes, no '\"')")
        return '"' + self.check_text(name) + '"'

    def __repr__(self) -> str:
        return f"<OracleDialect max_literal_bytes={self.max_literal_bytes}>"
