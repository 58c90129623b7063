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

Connecting (pymssql 2.4, FreeTDS 1.5 bundled in its wheel):

* The connect timeout is FreeTDS's login timeout (whole seconds, rounded up); it bounds a host that accepts
  TCP and never answers only with a fixed TDS version: with FreeTDS's "auto" it tries several versions, each
  with the full timeout and a pause between. So TDS 7.4 (SQL Server 2012 and later, Azure SQL) is the
  default; the DSN option tds_version sets another (7.3 for SQL Server 2008).
* The query timeout is pymssql's `timeout` (whole seconds): the client gives up on the statement (DB-Lib
  error 20003) and the connection is dropped; SQL Server has no server-side statement timeout to set. FreeTDS
  keeps both timeouts per process, not per connection: two MSSQL connectors with different timeouts in one
  warm Lambda share the one set by the connection opened last.
* TLS: FreeTDS encrypts (encryption=require) but takes no CA or client certificate from pymssql and does not
  verify the server's certificate, so a connector with TLS must say verify=false, and ca_pem/cert_pem are
  refused. Without TLS options encryption is off (FreeTDS would otherwise encrypt when the server offers it,
  unverified); SQL Server still encrypts the login packet.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions, DriverConnect
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


# The TDS version when the DSN options name none: FreeTDS's "auto" multiplies the connect timeout.
DEFAULT_TDS_VERSION = "7.4"

# DB-Lib (client) errors of the connection: cannot connect, timeout, read or write failed, unexpected EOF,
# dead DBPROCESS. Server errors that say nothing about the rows: deadlock victim, lock timeout, no process on
# the other end, cannot open the database, Azure SQL's throttling and failover errors (its "transient fault"
# list), and the network errors Windows reports.
_TRANSIENT_NUMBERS = frozenset(
    {20002, 20003, 20004, 20006, 20009, 20017, 20047}
    | {233, 1205, 1222, 4060, 4221, 10053, 10054, 10060, 10928, 10929, 40197, 40501, 40613, 49918, 49919, 49920}
)
# Incorrect syntax, unclosed quotation, unknown column, object, function or procedure, permission denied,
# login failed: values are always quoted literals, so no profile can cause these.
_STATEMENT_NUMBERS = frozenset({102, 105, 156, 195, 207, 208, 229, 230, 262, 2812, 18456})
# FreeTDS heads each message with this; 20018 ("General SQL Server error") only points at the server's text.
_DBLIB_HEADER = re.compile(r"DB-Lib error message (\d+), severity \d+:\s*")
_GENERAL_SERVER_ERROR = "General SQL Server error: Check messages from the SQL Server"


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
    tls_verifies = False
    tls_custom_ca = False
    tls_client_certificate = False
    tls_limitation = "FreeTDS encrypts but does not check certificates"

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

    # Connections -------------------------------------------------------------------------

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        if options.tls is not None:
            self.check_tls(options.tls)
        return {
            "login_timeout": math.ceil(options.connect_timeout),
            "timeout": 0 if options.query_timeout is None else math.ceil(options.query_timeout),
            "encryption": "off" if options.tls is None else "require",
        }

    def driver_connect(self, options: ConnectOptions) -> DriverConnect | None:
        def connect(pymssql: Any, kwargs: dict[str, Any]) -> Any:
            kwargs.setdefault("tds_version", DEFAULT_TDS_VERSION)
            try:
                return pymssql.connect(**kwargs)
            except pymssql.OperationalError as exc:
                host = _host(str(kwargs.get("host") or kwargs.get("server") or ""))
                unresolved = _unresolvable(host) if _without_os_error(exc) else None
                if unresolved is None:
                    raise
                # FreeTDS says "Unknown error" when the name does not resolve: say what it was.
                message = f"Unable to connect: cannot resolve the host name {host} ({unresolved})"
                raise pymssql.OperationalError((20009, message.encode())) from unresolved

        return connect

    def is_transient(self, error: BaseException) -> bool:
        number, _ = _details(error)
        # No number: the driver failed before the server answered.
        return number is None or number in _TRANSIENT_NUMBERS

    def is_statement_error(self, error: BaseException) -> bool:
        return _details(error)[0] in _STATEMENT_NUMBERS

    def is_conflict(self, error: BaseException) -> bool:
        # chosen as deadlock victim, lock request time out
        return _details(error)[0] in (1205, 1222)

    def describe_error(self, error: BaseException) -> str:
        number, text = _details(error)
        if number is None:
            return super().describe_error(error)
        return f"{text} [error {number}]"


def _without_os_error(error: BaseException) -> bool:
    """A failure to connect (20009) that FreeTDS gave no operating-system error for: the name may not resolve."""
    number, text = _details(error)
    return number == 20009 and "Net-Lib error" not in text and "Operating System error" not in text


def _host(server: str) -> str:
    """The host of pymssql's server argument: "host:port", "host\\instance" or "[ipv6]:port"."""
    if server.startswith("["):
        return server[1:].partition("]")[0]
    return re.split(r"[:\\,]", server, maxsplit=1)[0]


def _unresolvable(host: str) -> socket.gaierror | None:
    if not host:
        return None
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        return exc
    return None


def _details(error: BaseException) -> tuple[int | None, str]:
    """pymssql's (number, message): its exceptions carry `(number, message bytes)` as their first argument,
    the server's message first, then FreeTDS's own, each headed "DB-Lib error message N, severity S:" and
    often repeated. The message comes back as one line without the headers and the repeats."""
    first = error.args[0] if error.args else None
    if not (isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], int)):
        return None, ""
    raw = first[1]
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    parts: list[str] = []
    for part in _DBLIB_HEADER.split(text)[::2]:
        line = " ".join(part.replace(_GENERAL_SERVER_ERROR, "").split())
        if line and line not in parts:
            parts.append(line)
    return first[0], " ".join(parts) or f"error {first[0]}"
