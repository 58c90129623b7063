"""Apache Hive (HiveServer2), and Spark SQL's Thrift server, which reads literals the same way.

The rules, from the Hive Language Manual ("Data Types: String Types": "Hive uses C-style escaping
within the strings") and Hive's own lexer and parser (HiveLexerParent.g, HiveLexer.g,
BaseSemanticAnalyzer.unescapeSQLString):

* String literals are `'...'` or `"..."`, and a backslash escapes the next character in both. A doubled
  quote is *not* a quote: `'a''b'` is two literals that Hive joins into `ab`. So a value's `\\`, `'` and
  `"` are written `\\\\`, `\\'` and `\\"`; LF, CR and TAB as `\\n`, `\\r`, `\\t`; NUL and the other
  control characters as `\\u00XX` (never `\\0`, which Hive reads as an octal escape when digits follow).
* `$` is written `\\u0024`: HiveServer2 (and Spark) replace `${...}` in the statement text with
  configuration, environment and system variables before parsing (hive.variable.substitute, on by
  default), even inside string literals, so a value could otherwise read the server's environment into
  the table. The parser turns `\\u0024` back into `$` after the substitution has run.
* Identifiers are `` `...` `` (`` `` `` for a backtick). `--` comments end at a CR or a LF; `/* */`
  comments nest.
* Booleans are TRUE and FALSE; times render as ISO 8601 text, which Hive's timestamp and date casts read.
Spark's spark.sql.parser.escapedStringLiterals=true (backslashes taken as they are) is not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sqlsync.dialects.base import Dialect

_ESCAPES: dict[int, str] = {code: f"\\u{code:04x}" for code in [*range(0x20), 0x7F]}
_ESCAPES.update({ord(char): "\\" + char for char in "\\'\""})
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord("$"): "\\u0024"})


class HiveDialect(Dialect):
    name = "hive"
    driver = "hive"
    default_port = 10000
    string_quotes: ClassVar[frozenset[str]] = frozenset("'\"")
    identifier_quotes: ClassVar[Mapping[str, str]] = {"`": "`"}
    nested_comments = True
    line_comment_ends_at_cr = True

    def __init__(self) -> None:
        super().__init__()
        # Always on: Hive has no setting that turns backslash escapes off.
        self.backslash_escapes = True

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        # Every quote character is escaped, so one escape suits '...' and "..." alike.
        return text.translate(_ESCAPES)

    def render_string(self, text: str) -> str:
        return "'" + text.translate(_ESCAPES) + "'"
