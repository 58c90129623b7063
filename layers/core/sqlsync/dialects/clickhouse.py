"""ClickHouse: backslash escapes are always on in string literals, and its lexer has rules of its own.

Every rule below was checked against ClickHouse's own parser (embedded by chdb, see
tests/integration/dialects/test_clickhouse_chdb.py). '' literals take both `''` and `\\'`; "" and ``
quote identifiers; `--` starts a comment with or without a space after it; `#` starts one before a
space or `!` (and is a syntax error anywhere else); block comments nest; `$tag$ ... $tag$` heredocs
are strings without escapes. String columns hold arbitrary bytes, NUL included; TRUE and FALSE suit
Bool and UInt8 columns alike.

Values are written so that their text ends nothing but the literal they stand in: besides `\\` and
`'`, the other quote characters, NUL, LF and CR are escaped too. ClickHouse reads every one of
these escapes back as the same byte, and the extra ones keep a value inert where ClickHouse and the
shared lexer may disagree: a `//` comment (ends only at LF) or a `\\"` inside a quoted identifier.

Connecting (clickhouse-connect over HTTP or HTTPS; SQLAlchemy's `clickhousedb`):

* The connect timeout bounds the TCP (and TLS) connect and, while the client is being made, every read: the
  client asks the server for its version and settings as it is made, so a host that accepts and never
  answers fails within it. clickhouse-connect takes whole seconds there (rounded up).
* The query timeout is the server's max_execution_time (the server stops the query: code 159, transient);
  the client's read timeout then becomes query + connect timeout, a backstop for a server gone quiet. Without
  a query timeout a statement may run as long as it needs.
* TLS: HTTPS with verify-full (urllib3 checks the chain and the host name); verify=false turns both off. The
  CA and the client certificate and key are paths for clickhouse-connect, read again for each new HTTPS
  connection, so the PEMs are written to private temporary files (0600) that live as long as the engine. A
  client certificate makes clickhouse-connect authenticate with it (X-ClickHouse-SSL-Certificate-Auth) instead
  of the password; the DSN option tls_mode=strict keeps password authentication.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions, DriverConnect
from sqlsync.dialects.tls import PemFiles

_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", '"': '\\"', "`": "\\`", "\x00": "\\0", "\n": "\\n", "\r": "\\r"})

# clickhouse-connect puts the server's code in the message ("received ClickHouse error code 62",
# "Code: 62. DB::Exception: ...") and, in recent versions, in `error.code`; chdb raises the same text.
_CODE = re.compile(r"\bCode: (\d+)\.|\bClickHouse error code (\d+)")
# chdb repeats "Code: N. DB::Exception: " when it wraps the engine's error.
_SERVER_MESSAGE = re.compile(r"\bCode: (\d+)\. (?:DB::Exception: )?(?:Code: \1\. (?:DB::Exception: )?)*(.*)")
_VERSION_TRAILER = re.compile(r"\s*\(version [^)]*\)+\s*$")

# Nothing to do with the rows: timeouts, network, too many queries or parts, out of memory, replica
# or Keeper trouble, cancelled or aborted queries, an insert whose outcome is unknown.
_TRANSIENT_CODES = frozenset({159, 202, 203, 209, 210, 236, 241, 242, 252, 279, 285, 319, 394, 425, 999})

# Syntax error, unknown column/function/identifier/table/database/setting, read-only user, unknown
# user, wrong password, access denied, authentication failed: values are always quoted literals, so no
# profile can cause these. Type and parse errors (6, 27, 53, 70...) can come from a value: not listed.
_STATEMENT_CODES = frozenset({16, 46, 47, 60, 62, 81, 115, 164, 192, 193, 497, 516})


class ClickHouseDialect(Dialect):
    name = "clickhouse"
    driver = "clickhousedb"
    default_port = 8123
    # Double quotes and backticks quote identifiers; backticks first, as ClickHouse formats its own.
    identifier_quotes: ClassVar[Mapping[str, str]] = {"`": "`", '"': '"'}
    # `#` is a comment only before ' ' or '!' and a syntax error before anything else, so taking
    # every `#` as a comment never mistakes one for code.
    hash_comments = True
    # `--x` is a comment too.
    dash_comment_needs_space = False
    nested_comments = True
    dollar_quotes = True
    heredoc_needs_close = True
    slash_comments = True
    identifier_backslash_escapes = True

    def __init__(self) -> None:
        super().__init__()
        # Always on: ClickHouse has no setting that turns backslash escapes off.
        self.backslash_escapes = True

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        if backslashes:
            return text.translate(_ESCAPES)
        return super().escape_in_string(text, quote, backslashes)

    def render_string(self, text: str) -> str:
        return "'" + text.translate(_ESCAPES) + "'"

    def quote_identifier(self, name: str) -> str:
        # Backslash escapes work inside quoted identifiers as well: a name ending in `\` must not eat the
        # closing backtick.
        return "`" + self.check_text(name).replace("\\", "\\\\").replace("`", "\\`") + "`"

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        # Unknown keyword arguments become ClickHouse settings: max_execution_time is one.
        timeout = math.ceil(options.connect_timeout)
        args: dict[str, object] = {"connect_timeout": timeout, "send_receive_timeout": timeout}
        if options.query_timeout is not None:
            args["max_execution_time"] = _seconds(options.query_timeout)
        if options.tls is None:
            # Plain HTTP even on port 8443, where clickhouse-connect would otherwise guess HTTPS.
            args["secure"] = False
            args["interface"] = "http"
        else:
            args["secure"] = True
            args["verify"] = options.tls.verify
        return args

    def driver_connect(self, options: ConnectOptions) -> DriverConnect | None:
        tls = options.tls
        if tls is None or (tls.ca_pem is None and tls.cert_pem is None):
            return None
        # Referenced by `connect`, so the files live as long as the engine: urllib3 reads them again for every
        # new HTTPS connection.
        files = PemFiles(tls)

        def connect(dbapi: Any, kwargs: dict[str, Any]) -> Any:
            paths = {"ca_cert": files.ca_file, "client_cert": files.cert_file, "client_cert_key": files.key_file}
            kwargs.update({name: path for name, path in paths.items() if path is not None})
            return dbapi.connect(**kwargs)

        return connect

    def on_connect(self, options: ConnectOptions) -> Callable[[Any], None] | None:
        # Connected: reads may now take as long as the server's own limit, plus the connect timeout.
        read_timeout = None if options.query_timeout is None else options.query_timeout + options.connect_timeout
        connect_timeout = options.connect_timeout

        def configure(connection: Any) -> None:
            from urllib3 import Timeout

            connection.client.timeout = Timeout(connect=connect_timeout, read=read_timeout)

        return configure

    def is_transient(self, error: BaseException) -> bool:
        code = _code(error)
        if code is not None:
            return code in _TRANSIENT_CODES
        # No server code: the request never got a ClickHouse answer (refused, reset, timed out, or a
        # proxy's 502/503/504); clickhouse-connect raises OperationalError for these.
        return True

    def is_statement_error(self, error: BaseException) -> bool:
        return _code(error) in _STATEMENT_CODES

    def describe_error(self, error: BaseException) -> str:
        # Drop the driver's "HTTPDriver for <url> received ..." prefix and the server version trailer.
        text = " ".join(str(error).split())
        found = _SERVER_MESSAGE.search(text)
        if found is None:
            return text
        return f"{_VERSION_TRAILER.sub('', found.group(2))} [code {found.group(1)}]"


def _seconds(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _code(error: BaseException) -> int | None:
    found = _CODE.search(str(error))
    if found is not None:
        return int(found.group(1) or found.group(2))
    # With show_clickhouse_errors off the message is generic, but the driver still keeps the code
    # (other libraries' `.code`, an HTTP status for instance, means something else).
    code = getattr(error, "code", None)
    if type(error).__module__.startswith("clickhouse_connect") and isinstance(code, int):
        return code
    return None
