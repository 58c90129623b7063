"""Microsoft SQL Server and Azure SQL (T-SQL).

The rules, from Microsoft's Transact-SQL reference (learn.microsoft.com/sql/t-sql/...):

* Strings are `'...'`; a quote inside one is written `''` ("Constants (Transact-SQL)"). A backslash
  escapes nothing, with one exception: a backslash followed by a line feed, or by CR LF, is a line
  continuation, and the server drops both ("Backslash (Line Continuation)"; a lone CR does not count,
  MicrosoftDocs/sql-docs#2494). So a value holding that sequence is written with an extra `\\` + LF after
  the backslash, which the server drops, leaving the value as it was (Sequel's MSSQL adapter does the
  same). Inside a literal the template opened, a value that starts with a line break, or ends with a
  backslash (or a backslash and a CR), gets such a dropped continuation before or after it too, so that
  the template's text around the value cannot complete one. The one case left: with an empty value
  between a backslash and a line break of the template itself, the server drops those two.
* Unicode strings are `N'...'` ("nchar and nvarchar"): a plain `'...'` literal is converted to the
  database's code page, and what it cannot hold becomes `?`. A bare value, or one that is the whole
  literal, renders as N'...' when it is not ASCII and as '...' when it is: an N'' literal compared with a
  varchar column makes the server convert the column (nvarchar wins by type precedence), which costs
  the index seek. A non-ASCII value inside a plain '...' literal the template opened is refused with a
  message that says to write N'...' there.
* NUL: nvarchar can hold U+0000, but a NUL inside the statement text is where C strings end (ODBC's
  SQL_NTS, client tools), so a value holding one is refused rather than risking a truncated statement.
* Identifiers are `[...]` (`]]` for `]`) and `"..."`. `"..."` is an identifier with QUOTED_IDENTIFIER ON,
  the default of SQL Server's ODBC and OLE DB drivers, and a string with it OFF (DB-Library, FreeTDS):
  only safe names may stand in either, and a safe name reads the same both ways.
* `--` comments end at a CR or a LF ("-- (Comment)"; MicrosoftDocs/sql-docs#2493); `/* */` comments
  nest ("Slash Star (Block Comment)").
* No boolean literal: bit columns take 1 and 0. Times render as ISO 8601 text, which SQL Server reads the
  same whatever SET DATEFORMAT and SET LANGUAGE say ("datetime2": ISO 8601 is not affected by them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.exceptions import RenderError

# A backslash the server would read as a line continuation: before LF or CR LF. Inside a literal the
# template opened, a backslash at the end of the value may meet the template's line break too.
_CONTINUATION = re.compile(r"\\(?=\r?\n)")
_CONTINUATION_IN_STRING = re.compile(r"\\(?=\r?\n|\r?\Z)")
# A continuation of its own, which the server drops, written after such a backslash (or before a value
# that starts with a line break) so that it meets no line break.
_DROPPED = "\\\n"


def _keep(match: re.Match[str]) -> str:
    return "\\" + _DROPPED


class MSSQLDialect(Dialect):
    name = "mssql"
    driver = "mssql+pymssql"
    version_query = "SELECT @@VERSION"
    default_port = 1433
    # Brackets first: quote_identifier writes them, and they quote whatever QUOTED_IDENTIFIER says.
    identifier_quotes: ClassVar[Mapping[str, str]] = {"[": "]", '"': '"'}
    nested_comments = True
    national_string_prefixes = frozenset("Nn")
    line_comment_ends_at_cr = True
    true_literal = "1"
    false_literal = "0"

    def __init__(self) -> None:
        super().__init__()
        self._forbidden = re.compile("[\x00\ud800-\udfff]")

    def render_string(self, text: str) -> str:
        if "\\" in text:
            text = _CONTINUATION.sub(_keep, text)
        if text.isascii():
            return "'" + text.replace("'", "''") + "'"
        return "N'" + text.replace("'", "''") + "'"

    def literal_renderers(self) -> tuple[Callable[[object], str], Callable[[object], str]]:
        # The shared fast path only doubles quotes; T-SQL strings need the N prefix and continuations too.
        return self.render_literal, self.render_string_literal

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        """Inside an N'...' literal: any text."""
        if "\\" in text:
            text = _CONTINUATION_IN_STRING.sub(_keep, text)
        if text.startswith(("\n", "\r")):
            # The template's text may end with a backslash (and, for a lone CR, go on with a LF).
            text = _DROPPED + text
        return text.replace(quote, quote + quote)

    def string_escape(self, prefix: str) -> Callable[[str, str, bool], str]:
        return self.escape_in_string if prefix == "N" else self._escape_in_plain_string

    def _escape_in_plain_string(self, text: str, quote: str, backslashes: bool) -> str:
        """Inside a plain '...' literal: ASCII only, as the database's code page may hold nothing else."""
        if not text.isascii():
            self.check_text(text)
            raise RenderError(
                f"{text[:32]!r} is not ASCII, and a plain '...' literal holds only what the database's code page"
                " can; write N'...' around this value"
            )
        return self.escape_in_string(text, quote, backslashes)

    def quote_identifier(self, name: str) -> str:
        return "[" + self.check_text(name).replace("]", "]]") + "]"
