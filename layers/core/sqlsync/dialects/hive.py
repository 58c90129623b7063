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

Connecting (PyHive 0.7 over HiveServer2's binary Thrift transport; SQLAlchemy's `hive`). PyHive itself
takes no timeout and no TLS settings for this transport, so the dialect builds the Thrift socket and hands it
to PyHive (its `thrift_transport`):

* The connect timeout is the socket's timeout during the connect: the TCP (and TLS) connect, the SASL
  handshake and OpenSession each wait at most that long.
* The query timeout is the session's hive.query.timeout.seconds (whole seconds; Hive 2.3 and later cancel
  the query at it; Spark's Thrift server ignores it), and the socket's timeout becomes query + connect
  timeout, a backstop that also bounds a server that ignores the setting.
* TLS (hive.server2.use.SSL): verify-full with the connector's CA and client certificate, through the same
  ssl.SSLContext as PostgreSQL and MySQL.
* Authentication as PyHive: the DSN option auth = NONE (default), NOSASL, LDAP or CUSTOM (a password needs
  LDAP or CUSTOM), SASL PLAIN in pure Python. KERBEROS and the HTTP transport (scheme=http/https) are not
  supported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions, DriverConnect
from sqlsync.dialects.tls import ssl_context

_ESCAPES: dict[int, str] = {code: f"\\u{code:04x}" for code in [*range(0x20), 0x7F]}
_ESCAPES.update({ord(char): "\\" + char for char in "\\'\""})
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord("$"): "\\u0024"})

# The user PyHive reports to HiveServer2 when the connector names none (PyHive would ask the operating system,
# which a Lambda sandbox may not answer); HiveServer2's JDBC driver says the same.
DEFAULT_USER = "anonymous"
_PLAIN_AUTH = frozenset({"NONE", "LDAP", "CUSTOM"})


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

    # Connections -------------------------------------------------------------------------

    def driver_connect(self, options: ConnectOptions) -> DriverConnect | None:
        context = ssl_context(options.tls) if options.tls is not None else None
        connect_timeout = options.connect_timeout
        query_timeout = options.query_timeout
        settings = {} if query_timeout is None else {"hive.query.timeout.seconds": str(math.ceil(query_timeout))}

        def connect(hive: Any, kwargs: dict[str, Any]) -> Any:
            sock = _open_socket(hive, kwargs, context)
            sock.setTimeout(connect_timeout * 1000)
            transport = _transport(hive, kwargs, sock)
            connection = hive.connect(
                thrift_transport=transport,
                username=kwargs.pop("username", None) or DEFAULT_USER,
                database=kwargs.pop("database", None) or "default",
                configuration=settings,
                **kwargs,
            )
            # Connected: a statement may take as long as the server's own limit, plus the connect timeout.
            sock.setTimeout(None if query_timeout is None else (query_timeout + connect_timeout) * 1000)
            return connection

        return connect

    def is_transient(self, error: BaseException) -> bool:
        status = _status(error)
        if status is None:
            # No answer from HiveServer2: the connection failed (refused, DNS, timeout, TLS).
            return True
        state = str(getattr(status, "sqlState", None) or "")
        return state.startswith("08") or "timed out" in str(getattr(status, "errorMessage", "")).lower()

    def is_statement_error(self, error: BaseException) -> bool:
        # SQLSTATE 42 (syntax, unknown table or column, no privilege) and Hive's compile errors 10000-19999.
        status = _status(error)
        if status is None:
            return False
        code = getattr(status, "errorCode", None) or 0
        return str(getattr(status, "sqlState", None) or "").startswith("42") or 10000 <= code < 20000

    def describe_error(self, error: BaseException) -> str:
        status = _status(error)
        if status is None:
            return super().describe_error(error)
        message = " ".join(str(getattr(status, "errorMessage", None) or "error").split())
        state, code = getattr(status, "sqlState", None) or "?", getattr(status, "errorCode", None)
        return f"{message} [SQLSTATE {state}, code {code}]"


def _status(error: BaseException) -> Any:
    """The TStatus of a HiveServer2 answer: PyHive raises OperationalError(response)."""
    first = error.args[0] if error.args else None
    status = getattr(first, "status", None)
    return status if hasattr(status, "statusCode") else None


def _open_socket(hive: Any, kwargs: dict[str, Any], context: Any) -> Any:
    """Thrift's socket to kwargs' host and port (TLS with `context`), its errors raised as PyHive's."""
    if kwargs.pop("scheme", None) or kwargs.pop("thrift_transport", None):
        raise ValueError("hive: only the binary Thrift transport is supported (no scheme, no thrift_transport)")
    host = str(kwargs.pop("host", None) or "localhost")
    port = int(kwargs.pop("port", None) or 10000)
    if context is None:
        from thrift.transport.TSocket import TSocket

        return _guarded(TSocket, hive.OperationalError)(host, port)
    from thrift.transport.TSSLSocket import TSSLSocket

    return _guarded(TSSLSocket, hive.OperationalError)(host, port, ssl_context=context, server_hostname=host)


def _transport(hive: Any, kwargs: dict[str, Any], sock: Any) -> Any:
    """The transport PyHive would build around its own socket for the DSN option `auth`."""
    auth = str(kwargs.pop("auth", None) or "NONE").upper()
    password = kwargs.pop("password", None)
    if auth != "NOSASL" and auth not in _PLAIN_AUTH:
        raise ValueError(f"hive: auth={auth} is not supported; use NONE, NOSASL, LDAP or CUSTOM")
    if (password is not None) != (auth in ("LDAP", "CUSTOM")):
        raise ValueError("hive: a password needs the DSN option auth=LDAP or auth=CUSTOM, and they need one")
    if auth == "NOSASL":
        from thrift.transport.TTransport import TBufferedTransport

        return TBufferedTransport(sock)
    import thrift_sasl

    host, username = sock.host, kwargs.get("username") or DEFAULT_USER

    def sasl() -> Any:
        # NONE still speaks SASL PLAIN: any non-empty password will do.
        return hive.get_installed_sasl(host=host, sasl_auth="PLAIN", username=username, password=password or "x")

    return thrift_sasl.TSaslClientTransport(sasl, "PLAIN", sock)


_GUARDED: dict[tuple[type, type], type] = {}


def _guarded(socket_class: type, error: type[Exception]) -> type:
    """`socket_class` (Thrift's TSocket or TSSLSocket) raising `error`, PyHive's OperationalError, where it
    raises Thrift's TTransportException: SQLAlchemy wraps only DBAPI errors, and the socket's own error
    (refused, DNS, timeout, TLS) becomes the cause, for the connector's validation to name."""
    guarded = _GUARDED.get((socket_class, error))
    if guarded is not None:
        return guarded
    from thrift.transport.TTransport import TTransportException

    def translate(call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except TTransportException as exc:
            inner = getattr(exc, "inner", None)
            message = f"{exc.message or exc}: {inner}" if inner is not None else str(exc.message or exc)
            raise error(message) from inner or exc

    class Guarded(socket_class):  # type: ignore[misc]
        def open(self) -> None:
            translate(super().open)

        def read(self, size: int) -> bytes:
            result: bytes = translate(super().read, size)
            return result

        def write(self, buffer: bytes) -> None:
            translate(super().write, buffer)

        def close(self) -> None:
            # TSSLSocket.close() fails on a socket that never opened, hiding why it did not.
            if self.handle is not None:
                super().close()

    Guarded.__name__ = f"Guarded{socket_class.__name__}"
    _GUARDED[socket_class, error] = Guarded
    return Guarded
