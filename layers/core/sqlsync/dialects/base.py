"""What every dialect decides: how SQL text is lexed (quotes, comments) and how a value becomes SQL.

Subclasses mostly set data (flags and quote characters). Values reach SQL through `render_literal`
(a bare position or a whole quoted literal), `escape_in_string` (inside a literal the user opened) or
`check_identifier` (inside a quoted identifier). Anything that cannot be rendered safely raises
RenderError; there is no str() fallback. Characters the target cannot store at all (a NUL for
PostgreSQL, lone surrogates anywhere) are looked for once per rendered statement by `check_statement`
rather than once per value: the template text is checked when compiled, so a hit names a value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, ClassVar

from sqlsync.dialects.connect import ConnectOptions, DriverConnect, DriverModule, TlsOptions
from sqlsync.dialects.exceptions import RenderError

Escaper = Callable[[str], str]

_SURROGATE = re.compile("[\ud800-\udfff]")
_SAFE_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,63}")


class Dialect:
    name: ClassVar[str] = "base"
    # Connecting: the SQLAlchemy driver name a connector uses, the server's usual port, and the driver's
    # argument for a unix socket path (None: the driver has none).
    driver: ClassVar[str] = ""
    default_port: ClassVar[int | None] = None
    socket_option: ClassVar[str | None] = None
    # A query answering the server's version, to validate a connection.
    version_query: ClassVar[str] = "SELECT version()"
    # The TLS a driver can honour. A connector asking for more is refused when saved (`unsupported_tls`), and
    # connect_args raises rather than connect with less than was asked.
    tls_verifies: ClassVar[bool] = True  # the server's certificate chain and host name (verify-full)
    tls_custom_ca: ClassVar[bool] = True  # a CA of the connector's own (ca_pem)
    tls_client_certificate: ClassVar[bool] = True  # cert_pem + key_pem
    # Why not, when one of them is False: said in the refusal.
    tls_limitation: ClassVar[str] = ""

    # Lexing: which characters open string literals and quoted identifiers (open -> close).
    string_quotes: ClassVar[frozenset[str]] = frozenset("'")
    identifier_quotes: ClassVar[Mapping[str, str]] = {'"': '"'}
    # `#` starts a comment to the end of the line (MySQL).
    hash_comments: ClassVar[bool] = False
    # `--` starts a comment only when followed by whitespace (MySQL) rather than always.
    dash_comment_needs_space: ClassVar[bool] = False
    # Block comments nest (PostgreSQL): `/* /* */ */` is one comment.
    nested_comments: ClassVar[bool] = False
    # `$tag$ ... $tag$` strings (PostgreSQL): no escaping exists inside them.
    dollar_quotes: ClassVar[bool] = False
    # ClickHouse: `$tag$` opens a heredoc only if the same tag comes again later; the tag may be digits.
    heredoc_needs_close: ClassVar[bool] = False
    # `//` starts a comment to the end of the line (ClickHouse).
    slash_comments: ClassVar[bool] = False
    # Backslash escapes work inside quoted identifiers too (ClickHouse).
    identifier_backslash_escapes: ClassVar[bool] = False
    # Letters that, written right before a quote, turn on backslash escapes in that literal (PG's E'').
    escape_string_prefixes: ClassVar[frozenset[str]] = frozenset()
    # Letters that, written right before a quote, make a national-character literal (N'...' in T-SQL and
    # Oracle). The lexer records the prefix, so `string_escape` can tell N'...' from '...'.
    national_string_prefixes: ClassVar[frozenset[str]] = frozenset()
    # Oracle's alternative quoting, q'[...]' (and nq'[...]'): nothing can be escaped inside it, so the
    # lexer tracks where it ends and values are refused inside it.
    alternative_quoting: ClassVar[bool] = False
    # Whether a carriage return ends a `--` comment as a line feed does (T-SQL, Hive). None: the vendor
    # does not say, so a lone carriage return inside such a comment fails the template: the lexer cannot
    # know where the database reads the comment's end.
    line_comment_ends_at_cr: ClassVar[bool | None] = False
    # Boolean literals; databases without a boolean type use 1 and 0.
    true_literal: ClassVar[str] = "TRUE"
    false_literal: ClassVar[str] = "FALSE"

    def __init__(self) -> None:
        # Set per instance: MySQL's depend on the connection's sql_mode.
        self.backslash_escapes = False
        self._forbidden = _SURROGATE

    # Values ------------------------------------------------------------------------------

    def first_forbidden(self, text: str) -> int:
        """Offset of the first character the target cannot store, or -1."""
        found = self._forbidden.search(text)
        return -1 if found is None else found.start()

    def check_text(self, text: str) -> str:
        found = self.first_forbidden(text)
        if found >= 0:
            raise RenderError(f"{self.name} cannot store the character U+{ord(text[found]):04X}")
        return text

    def check_statement(self, sql: str) -> str:
        """The rendered statement, unless it holds a character the target cannot store."""
        if sql.isascii() and "\x00" not in sql:
            return sql
        return self.check_text(sql)

    def escape_in_string(self, text: str, quote: str, backslashes: bool) -> str:
        """The text, escaped to stand between two `quote` characters of a literal."""
        if backslashes:
            text = text.replace("\\", "\\\\")
        return text.replace(quote, quote + quote)

    def string_escape(self, prefix: str) -> Callable[[str, str, bool], str]:
        """`escape_in_string` for a literal the template opened with `prefix` before its quote ('N' for a
        national literal, '' otherwise). Dialects whose plain and national literals differ override it."""
        return self.escape_in_string

    def render_string(self, text: str) -> str:
        if self.backslash_escapes:
            text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", "''") + "'"

    def render_number(self, value: int | float | Decimal) -> str:
        if isinstance(value, float) and not math.isfinite(value):
            raise RenderError(f"{value!r} is not a number SQL can hold")
        if isinstance(value, Decimal) and not value.is_finite():
            raise RenderError(f"{value} is not a number SQL can hold")
        text = repr(value) if isinstance(value, float) else str(value)
        # Parenthesised so that a minus sign can never join a '-' before it into a comment.
        return f"({text})" if text.startswith("-") else text

    def render_literal(self, value: object) -> str:
        """A value in a bare position: NULL, a boolean, a number or a quoted string."""
        if type(value) is str:
            return self.render_string(value)
        if value is None:
            return "NULL"
        if isinstance(value, str):
            return self.render_string(value)
        if isinstance(value, bool):
            return self.true_literal if value else self.false_literal
        if isinstance(value, int | float | Decimal):
            return self.render_number(value)
        return self.render_string(self.to_text(value))

    def render_string_literal(self, value: object) -> str:
        """A value that is the whole of a quoted literal in the template: always a string, or NULL."""
        if type(value) is str:
            return self.render_string(value)
        if value is None:
            return "NULL"
        return self.render_string(self.to_text(value))

    def literal_renderers(self) -> tuple[Callable[[object], str], Callable[[object], str]]:
        """(render_literal, render_string_literal) as closures with the common case — a str — inlined:
        a compiled template calls them once per value, so a method call or two per value matters."""
        quote_string = self.render_string
        render_literal, render_string_literal = self.render_literal, self.render_string_literal

        def literal(value: object) -> str:
            return quote_string(value) if type(value) is str else render_literal(value)

        def string_literal(value: object) -> str:
            return quote_string(value) if type(value) is str else render_string_literal(value)

        if self.plain_quoting:

            def literal(value: object) -> str:
                return "'" + value.replace("'", "''") + "'" if type(value) is str else render_literal(value)

            def string_literal(value: object) -> str:
                return "'" + value.replace("'", "''") + "'" if type(value) is str else render_string_literal(value)

        return literal, string_literal

    @property
    def plain_quoting(self) -> bool:
        """A str renders as `'` + text with `'` doubled + `'`: no backslash escapes, no prefix (N'')."""
        return not self.backslash_escapes and type(self).render_string is Dialect.render_string

    def inline_string_body(self, var: str) -> str | None:
        """Python source rendering the str in `var` as the text between the single quotes of its literal,
        for the compiler to inline in place of a call (the common case of a bare or whole-literal value);
        None when the dialect needs the call (a prefix, other quotes). It may use the names `inline_names`
        gives."""
        return f'{var}.replace("\'", "\'\'")' if self.plain_quoting else None

    def inline_names(self) -> dict[str, object]:
        """What `inline_string_body`'s source refers to, for the compiled template's namespace."""
        return {}

    def to_text(self, value: object) -> str:
        """The text of a value placed inside a string literal."""
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | Decimal):
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise RenderError(f"{value!r} is not a number SQL can hold")
            return repr(value)
        if isinstance(value, datetime | date | time):
            return value.isoformat()
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        raise RenderError(f"cannot render a value of type {type(value).__name__}")

    # Identifiers -------------------------------------------------------------------------

    def check_identifier(self, value: object) -> str:
        """A value placed inside a quoted identifier must be a plain name: nothing to escape."""
        text = value if isinstance(value, str) else self.to_text(value)
        if not _SAFE_IDENTIFIER.fullmatch(text):
            raise RenderError(f"{text[:64]!r} is not a safe identifier (letters, digits, '_', at most 63)")
        return text

    def quote_identifier(self, name: str) -> str:
        quote = next(iter(self.identifier_quotes))
        close = self.identifier_quotes[quote]
        return quote + self.check_text(name).replace(close, close + close) + close

    # Connections -------------------------------------------------------------------------

    def default_schema(self, database: str | None) -> str | None:
        """Where tables go when none is named (exports): the connection's default. None: there is none."""
        return None

    def refine(self, scalar: Callable[[str], object]) -> Dialect:
        """The dialect for a live session whose settings change lexing (`scalar` runs one query)."""
        return self

    def engine_options(self, options: ConnectOptions) -> dict[str, object]:
        """SQLAlchemy create_engine options: a small pool per warm Lambda, connections recycled, and the
        driver's connect timeout. Checked after an idle spell and reset by `configure_pool` instead of
        SQLAlchemy's ping and rollback around every transaction."""
        engine: dict[str, object] = {
            "pool_pre_ping": False,
            "pool_reset_on_return": None,
            "pool_size": 2,
            "pool_recycle": 300,
            "connect_args": self.connect_args(options),
        }
        connect = self.driver_connect(options)
        if connect is not None:
            engine["module"] = DriverModule(self.driver, connect)
        return engine

    def configure_pool(self, engine: Any) -> None:
        """Ping a pooled connection at checkout after an idle spell, roll back at checkin when needed."""
        from sqlsync.dialects import pool

        pool.configure(engine, self.in_transaction)

    def in_transaction(self, dbapi_connection: Any) -> bool | None:
        """Whether the driver's connection has a transaction open; None when the driver cannot tell (the
        pool then rolls back, as SQLAlchemy does by default)."""
        return None

    def connect_args(self, options: ConnectOptions) -> dict[str, object]:
        """Driver keyword arguments for the timeouts and TLS of `options`. They win over DSN options of the
        same name: the connector's own fields say how long to wait and how to encrypt."""
        return {}

    def driver_connect(self, options: ConnectOptions) -> DriverConnect | None:
        """A replacement for the driver's connect(), for what keyword arguments cannot say: a default that DSN
        options may still override, a connect phase the driver leaves unbounded, TLS files that must outlive
        the call. It lives as long as the engine. None: the driver's own connect()."""
        return None

    def unsupported_tls(self, tls: TlsOptions) -> tuple[str, str] | None:
        """The first setting of `tls` the driver cannot honour, as (field, reason); None if it honours all.

        Examples
        --------
        >>> class Unverified(Dialect):
        ...     tls_verifies = False
        ...     tls_limitation = "the driver does not check certificates"
        >>> Unverified().unsupported_tls(TlsOptions(verify=False)) is None
        True
        >>> Unverified().unsupported_tls(TlsOptions())[0]
        'verify'
        """
        driver = self.driver.partition("+")[2] or self.driver
        why = f" ({self.tls_limitation})" if self.tls_limitation else ""
        if tls.verify and not self.tls_verifies:
            return "verify", (
                f"{driver} cannot verify the server's certificate{why}; set tls.verify to false to encrypt without"
                " verifying"
            )
        if tls.ca_pem is not None and not self.tls_custom_ca:
            return "ca_pem", f"{driver} cannot use a CA certificate of its own{why}"
        if (tls.cert_pem is not None or tls.key_pem is not None) and not self.tls_client_certificate:
            return "cert_pem", f"{driver} cannot present a client certificate{why}"
        return None

    def check_tls(self, tls: TlsOptions) -> None:
        """Raise ValueError if the driver cannot honour `tls` (a connector saved before its driver could)."""
        refused = self.unsupported_tls(tls)
        if refused is not None:
            raise ValueError(f"tls.{refused[0]}: {refused[1]}")

    def on_connect(self, options: ConnectOptions) -> Callable[[Any], None] | None:
        """What to run on each new DBAPI connection, once connected (SQLAlchemy's "connect" event): session
        settings such as the server-side query timeout. None: nothing to run."""
        return None

    def is_transient(self, error: BaseException) -> bool:
        """A failure of the connection or the server, not of the data: retry the chunk later, whole."""
        return False

    def is_conflict(self, error: BaseException) -> bool:
        """The transaction lost a race with another one (deadlock, serialization failure, lock wait): the
        server is fine and running it again at once usually succeeds."""
        return False

    def is_statement_error(self, error: BaseException) -> bool:
        """An error no value can cause (syntax, unknown table or column, no privilege): the template or the
        target's schema is wrong, so splitting the chunk to find a bad row would only repeat it."""
        return False

    def describe_error(self, error: BaseException) -> str:
        """The driver's error as one line a user can act on."""
        return " ".join(str(error).split())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backslash_escapes={self.backslash_escapes}>"


def utc_timestamp_text(given: Any) -> str:
    """A timestamp value for a column without a zone, as UTC text ("2026-11-23 10:00:00.123456"): a datetime
    (aware ones converted, naive ones taken as UTC already), a date (its midnight) or ISO 8601 text. Exports
    of every database store timestamps this way."""
    if type(given) is datetime and (given.tzinfo is None or given.tzinfo is UTC):
        text = given.isoformat(sep=" ")
        return text if given.tzinfo is None else text[:-6]  # less the "+00:00"
    moment: datetime
    if isinstance(given, datetime):
        moment = given
    elif isinstance(given, date):
        moment = datetime(given.year, given.month, given.day)
    elif isinstance(given, str):
        try:
            moment = datetime.fromisoformat(given)
        except ValueError:
            raise RenderError(f"{given[:40]!r} is not an ISO 8601 date and time") from None
    else:
        raise RenderError(f"timestamp expects a datetime, date or ISO 8601 text, not {type(given).__name__}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


EXPORT_INTEGER_RANGES = {"int": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
"""The export column types int and bigint: 32 and 64 bits on every database."""


STR_OR_NONE = frozenset({str, type(None)})
INT_OR_NONE = frozenset({int, type(None)})
"""The exact types of a text or an integer column's values that need no conversion (set(map(type, column)) <=
them: a whole column checked in C)."""


def export_integer(given: Any, column_type: str, type_name: str) -> int:
    """An int or bigint column's value, checked: an int (not a bool) within the column's range."""
    number: int = given
    if type(given) is not int:
        if isinstance(given, bool) or not isinstance(given, int):
            raise RenderError(f"{type_name} expects an int, not {type(given).__name__}")
        number = int(given)  # an IntEnum: str() and drivers would write its name
    low, high = EXPORT_INTEGER_RANGES[column_type]
    if not low <= number <= high:
        raise RenderError(f"{number} is out of range for {type_name}")
    return number


def export_text(value: Any, length: int | None = None) -> str:
    """A text or varchar(length) column's value as text: a str, or a number or boolean written as PostgreSQL
    writes it (the same text on every database); at most `length` characters, as varchar(n) counts them."""
    if type(value) is str:
        text = value
    elif isinstance(value, str):
        text = str(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        text = repr(value)
    else:
        raise RenderError(f"text expects a str or a number, not {type(value).__name__}")
    if length is not None and len(text) > length:
        raise RenderError(f"{len(text)} characters, more than varchar({length}) holds")
    return text


def execute_unbound(connection: Any, sql: str) -> int:
    """Run SQL that holds quoted identifiers and no parameters on a SQLAlchemy connection: passed to the driver as
    it is, so that a `%` or `:` in a user's schema name is never read as a placeholder. Returns the rows it
    affected."""
    return int(connection.exec_driver_sql(sql, execution_options={"no_parameters": True}).rowcount)
