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

Connecting (python-oracledb in thin mode: no Instant Client; SQLAlchemy's `oracle+oracledb`):

* The connector's database is the SID; for a service name leave it empty and give the DSN option
  service_name.
* The connect timeout: oracledb's tcp_connect_timeout bounds only the TCP connect, and once connected thin
  mode waits for the listener without limit (python-oracledb#451). So the whole connect runs against a
  deadline: the sockets oracledb opens meanwhile are noted (the `socket` module its thin implementation sees
  is wrapped once, and notes only for a connect under a deadline in the same thread), and at the deadline
  they are shut down, which ends the driver's wait ("did not answer within N s", transient). Should a later
  python-oracledb look different inside, connects run without the deadline, and the test of a silent host
  (tests/integration/connectors/test_optional_drivers.py) fails.
* The query timeout is the connection's call_timeout (milliseconds), set on every new connection: oracledb
  interrupts the round trip at it (DPY-4024), and drops the connection if the server does not answer the
  break either.
* TLS: TCPS with an ssl.SSLContext of our own (verify-full: the chain, and the host name as
  ssl_server_dn_match asks; the connector's CA and client certificate). SQLAlchemy writes the address as a
  connect descriptor with PROTOCOL=TCP, which would win over a `protocol` argument, so the descriptor is
  parsed and its protocol set to TCPS before connecting. Besides OpenSSL's check, python-oracledb matches
  the host against the certificate's DNS names and common name itself, never against IP addresses: reach a
  TCPS listener by name (its port is usually 2484, not the default 1521).
"""

from __future__ import annotations

import contextlib
import importlib
import re
import socket
import threading
import types
from collections.abc import Callable
from typing import Any

from sqlsync.dialects.base import Dialect
from sqlsync.dialects.connect import ConnectOptions, DriverConnect
from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.tls import ssl_context

# MAX_STRING_SIZE = STANDARD, the default.
STANDARD_LITERAL_BYTES = 4000
_IDENTIFIER_BYTES = 128

# Errors that say nothing about the rows: end-of-file on the communication channel, not connected, connection
# lost, Oracle not available or starting up or shutting down, TNS listener and connect errors, deadlock,
# resource busy, user requested cancel (a call timeout's break), package state discarded.
_TRANSIENT_ORA = frozenset(
    {54, 60, 1012, 1013, 1033, 1034, 1089, 1090, 3113, 3114, 3135, 4068, 12153, 12170, 12514, 12516, 12519}
    | {12520, 12521, 12526, 12527, 12528, 12537, 12541, 12543, 12547, 12571, 25408, 30006}
)
# python-oracledb's own: DPY-4011 connection closed, DPY-4024 call timeout, DPY-6xxx cannot connect.
_TRANSIENT_DPY = re.compile(r"^DPY-(4011|4024|6\d{3})$")
# Invalid SQL statement, table name, identifier, missing keyword or expression, command not properly ended,
# table or view does not exist, insufficient privileges, invalid username/password, PL/SQL compilation error:
# values are always quoted literals, so no profile can cause these. ORA-01704 (literal too long), ORA-12899
# (value too large) and ORA-01722 (invalid number) can: not listed.
_STATEMENT_ORA = frozenset({900, 903, 904, 905, 906, 907, 917, 921, 923, 933, 936, 942, 1031, 1017, 6550})


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

    # Connections -------------------------------------------------------------------------

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        args: dict[str, object] = {"tcp_connect_timeout": options.connect_timeout}
        if options.tls is not None:
            args["ssl_server_dn_match"] = options.tls.verify
        return args

    def driver_connect(self, options: ConnectOptions) -> DriverConnect | None:
        tls = ssl_context(options.tls) if options.tls is not None else None
        deadline = options.connect_timeout

        def connect(oracledb: Any, kwargs: dict[str, Any]) -> Any:
            dsn = kwargs.pop("dsn", None)
            params = oracledb.ConnectParams(**kwargs)
            if dsn:
                params.parse_connect_string(dsn)
            if tls is not None:
                params.set(protocol="tcps", ssl_context=tls)
            return _connect_within(oracledb, params, deadline)

        return connect

    def on_connect(self, options: ConnectOptions) -> Callable[[Any], None] | None:
        call_timeout = 0 if options.query_timeout is None else max(1, round(options.query_timeout * 1000))

        def configure(connection: Any) -> None:
            connection.call_timeout = call_timeout

        return configure

    def is_transient(self, error: BaseException) -> bool:
        detail = _detail(error)
        if detail is None:
            # No Oracle error: the driver failed before the server answered (refused, DNS, our deadline).
            return True
        code, full_code = getattr(detail, "code", 0), str(getattr(detail, "full_code", ""))
        if full_code.startswith("ORA-"):
            return code in _TRANSIENT_ORA or bool(getattr(detail, "isrecoverable", False))
        return bool(_TRANSIENT_DPY.match(full_code))

    def is_statement_error(self, error: BaseException) -> bool:
        detail = _detail(error)
        return (
            detail is not None
            and str(getattr(detail, "full_code", "")).startswith("ORA-")
            and getattr(detail, "code", 0) in _STATEMENT_ORA
        )

    def describe_error(self, error: BaseException) -> str:
        # Drop oracledb's "Help: <url>" lines.
        lines = [line for line in str(error).splitlines() if not line.startswith("Help: ")]
        return " ".join(" ".join(lines).split())

    def __repr__(self) -> str:
        return f"<OracleDialect max_literal_bytes={self.max_literal_bytes}>"


def _detail(error: BaseException) -> object | None:
    """oracledb's error object (`code`, `full_code`, `isrecoverable`), its exceptions' first argument."""
    first = error.args[0] if error.args else None
    return first if hasattr(first, "full_code") else None


# The connect deadline ---------------------------------------------------------------------------------------

_noting = threading.local()
_install_lock = threading.Lock()


class _NotedSocket(socket.socket):
    """A socket oracledb opened during a connect under a deadline. It remembers its descriptor when TLS takes
    it over (detach) and whether oracledb closed it, so the deadline shuts down only what is still in use."""

    noted_fd = -1
    released = False

    def detach(self) -> int:
        self.noted_fd = super().detach()
        return self.noted_fd

    def close(self) -> None:
        self.released = True
        super().close()

    def shut_down(self) -> None:
        """End the connection under the driver's feet: its read returns, the connection closed."""
        if self.released:
            return
        with contextlib.suppress(OSError):
            if self.fileno() >= 0:
                self.shutdown(socket.SHUT_RDWR)
            elif self.noted_fd >= 0:  # wrapped by TLS: the SSLSocket holds the same descriptor
                borrowed = socket.socket(fileno=self.noted_fd)
                try:
                    borrowed.shutdown(socket.SHUT_RDWR)
                finally:
                    borrowed.detach()


class _Deadline:
    """The sockets of one connect, shut down when its time is up (and any it opens after that)."""

    def __init__(self) -> None:
        self.expired = False
        self._done = False
        self._sockets: list[_NotedSocket] = []
        self._lock = threading.Lock()

    def note(self, sock: _NotedSocket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                sock.shut_down()

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                sock.shut_down()

    def finish(self) -> None:
        with self._lock:
            self._done = True


class _NotingSocketModule(types.ModuleType):
    """The `socket` module as oracledb's thin implementation sees it: the same, except that create_connection
    hands its socket to the deadline of a connect running in this thread, if there is one."""

    def __init__(self, real: types.ModuleType) -> None:
        super().__init__(real.__name__, real.__doc__)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def create_connection(self, *args: Any, **kwargs: Any) -> socket.socket:
        sock: socket.socket = self._real.create_connection(*args, **kwargs)
        deadline: _Deadline | None = getattr(_noting, "deadline", None)
        if deadline is None:
            return sock
        timeout = sock.gettimeout()
        noted = _NotedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        noted.settimeout(timeout)
        deadline.note(noted)
        return noted


def _note_sockets(oracledb: Any) -> bool:
    """Let oracledb's thin implementation note the sockets it opens (see _NotingSocketModule); False when its
    layout is not the one this was written for (python-oracledb 26), and no deadline can be kept."""
    try:
        thin = importlib.import_module(f"{oracledb.__name__}.thin_impl")
    except ImportError:
        return False
    with _install_lock:
        current = vars(thin).get("socket")
        if isinstance(current, _NotingSocketModule):
            return True
        if current is not socket:
            return False
        vars(thin)["socket"] = _NotingSocketModule(socket)
        return True


def _connect_within(oracledb: Any, params: Any, seconds: float) -> Any:
    """oracledb.connect(params=params), failing with OperationalError if it has not finished in `seconds`."""
    if not _note_sockets(oracledb):
        return oracledb.connect(params=params)
    deadline = _Deadline()
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    _noting.deadline = deadline
    timer.start()
    connection = None
    try:
        connection = oracledb.connect(params=params)
    except oracledb.Error:
        if not deadline.expired:
            raise
    finally:
        _noting.deadline = None
        timer.cancel()
        deadline.finish()
    if deadline.expired:
        if connection is not None:  # connected just as its socket was shut down
            with contextlib.suppress(oracledb.Error, OSError):
                connection.close()
        # Raised apart from the driver's error on purpose: what the shut-down socket made the driver say
        # (connection closed, a TLS EOF) is not what happened.
        raise _timed_out(oracledb, seconds)
    return connection


def _timed_out(oracledb: Any, seconds: float) -> BaseException:
    error: BaseException = oracledb.OperationalError(f"the server did not answer the connect within {seconds:g} s")
    error.__cause__ = TimeoutError(f"connect deadline of {seconds:g} s")
    return error
