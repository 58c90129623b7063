"""What the optional drivers (MSSQL, Oracle, ClickHouse, Hive) receive: URLs, connect arguments, the adapted
connect() each dialect gives SQLAlchemy, TLS refused where the driver cannot honour it, and how each driver's
errors are told apart. No network: the drivers' connect() is replaced by a recording fake, and errors are
built as the drivers build them.
"""

from __future__ import annotations

import gc
import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from integration.connectors.pki import CertificateAuthority
from sqlsync.connectors import check_driver
from sqlsync.connectors.urls import ConnectorError, check_connector, connection_url
from sqlsync.dialects import ClickHouseDialect, Dialect, HiveDialect, MSSQLDialect, OracleDialect, dialect_for
from sqlsync.dialects.connect import ConnectOptions, DriverModule, TlsOptions
from sqlsync.models.connectors import ConnectorIn


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


class FakeDriver:
    """A DBAPI module whose connect() records its keyword arguments instead of connecting."""

    __name__ = "fake_driver"

    class Error(Exception):
        pass

    class OperationalError(Error):
        pass

    def __init__(self, **attributes: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.__dict__.update(attributes)

    def connect(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "connection"


def connector(kind: str, **changes: Any) -> ConnectorIn:
    return ConnectorIn.model_validate({"name": "x", "type": kind, "host": "db.example.com", **changes})


# URLs: the driver and the usual port ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("mssql", "mssql+pymssql://sync:pw@db.example.com:1433/crm"),
        ("oracle", "oracle+oracledb://sync:pw@db.example.com:1521/crm"),
        ("clickhouse", "clickhousedb://sync:pw@db.example.com:8123/crm"),
        ("hive", "hive://sync:pw@db.example.com:10000/crm"),
    ],
)
def test_a_connector_becomes_a_url_of_the_drivers_sqlalchemy_dialect(kind: str, url: str) -> None:
    data = connector(kind, database="crm", username="sync", password="pw")

    assert connection_url(data, "pw") == url
    check_driver(url)  # the dialect and its driver load


def test_dsn_options_reach_the_url() -> None:
    data = connector("oracle", options={"service_name": "ORCLPDB1"})

    assert connection_url(data, None) == "oracle+oracledb://db.example.com:1521?service_name=ORCLPDB1"


# MSSQL: pymssql -----------------------------------------------------------------------------------------------


def test_mssql_timeouts_are_whole_seconds_for_freetds() -> None:
    args = MSSQLDialect().connect_args(ConnectOptions(connect_timeout=2.5, query_timeout=0.2))

    assert args == {"login_timeout": 3, "timeout": 1, "encryption": "off"}
    assert MSSQLDialect().connect_args(ConnectOptions())["timeout"] == 0  # no limit


def test_mssql_encrypts_when_asked_and_unverified_is_said() -> None:
    args = MSSQLDialect().connect_args(ConnectOptions(tls=TlsOptions(verify=False)))

    assert args["encryption"] == "require"


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        (TlsOptions(), "verify"),
        (TlsOptions(verify=False, ca_pem="PEM"), "ca_pem"),
        (TlsOptions(verify=False, cert_pem="PEM", key_pem="PEM"), "cert_pem"),
    ],
)
def test_mssql_refuses_tls_freetds_cannot_honour(tls: TlsOptions, field: str) -> None:
    refused = MSSQLDialect().unsupported_tls(tls)

    assert refused is not None and refused[0] == field
    assert "pymssql" in refused[1]
    # Never dropped silently at connect either (a connector saved before this check).
    with pytest.raises(ValueError, match=f"tls.{field}"):
        MSSQLDialect().connect_args(ConnectOptions(tls=tls))


def test_mssql_fixes_the_tds_version_unless_the_dsn_options_name_one() -> None:
    driver = FakeDriver()
    connect = MSSQLDialect().driver_connect(ConnectOptions())
    assert connect is not None

    connect(driver, {"host": "h:1433"})
    connect(driver, {"host": "h:1433", "tds_version": "7.3"})

    # FreeTDS's "auto" would retry several versions, each with the full login timeout.
    assert [call["tds_version"] for call in driver.calls] == ["7.4", "7.3"]


def test_mssql_names_a_host_that_does_not_resolve() -> None:
    def refuse(**kwargs: Any) -> None:
        raise FakeDriver.OperationalError((20009, b"Unknown error"))

    driver = FakeDriver(connect=refuse)
    connect = MSSQLDialect().driver_connect(ConnectOptions())
    assert connect is not None

    with pytest.raises(FakeDriver.OperationalError) as raised:
        connect(driver, {"host": "sqlsync-test.invalid:1433"})

    assert "cannot resolve the host name sqlsync-test.invalid" in MSSQLDialect().describe_error(raised.value)
    assert raised.value.__cause__ is not None and type(raised.value.__cause__).__name__ == "gaierror"


def mssql_error(number: int, text: str) -> Exception:
    import pymssql

    return pymssql.exceptions.OperationalError((number, text.encode()))


@pytest.mark.parametrize(
    ("number", "transient", "statement"),
    [
        (20003, True, False),  # timed out
        (20009, True, False),  # cannot connect
        (1205, True, False),  # deadlock victim
        (40613, True, False),  # Azure SQL: database unavailable
        (208, False, True),  # invalid object name
        (102, False, True),  # incorrect syntax
        (18456, False, True),  # login failed
        (8152, False, False),  # string or binary data would be truncated: a row is to blame
        (2627, False, False),  # duplicate key
    ],
)
def test_mssql_errors_are_told_apart(number: int, transient: bool, statement: bool) -> None:
    error = mssql_error(number, "message")

    assert MSSQLDialect().is_transient(error) is transient
    assert MSSQLDialect().is_statement_error(error) is statement


def test_mssql_describes_an_error_without_freetds_boilerplate() -> None:
    server = mssql_error(
        208,
        "Invalid object name 'crm.x'.DB-Lib error message 20018, severity 16:\n"
        "General SQL Server error: Check messages from the SQL Server\n",
    )
    client = mssql_error(
        20009,
        "DB-Lib error message 20009, severity 9:\nUnable to connect: TDS server is unavailable (h)\n"
        "Net-Lib error during Connection refused (111)\n" * 2,
    )

    assert MSSQLDialect().describe_error(server) == "Invalid object name 'crm.x'. [error 208]"
    assert MSSQLDialect().describe_error(client) == (
        "Unable to connect: TDS server is unavailable (h) Net-Lib error during Connection refused (111) [error 20009]"
    )


# Oracle: python-oracledb thin -----------------------------------------------------------------------------


def oracle_driver() -> FakeDriver:
    import oracledb

    driver = FakeDriver(ConnectParams=oracledb.ConnectParams)
    driver.connect = lambda params: driver.calls.append({"params": params}) or "connection"  # type: ignore[method-assign]
    return driver


def test_oracle_bounds_the_tcp_connect_and_sets_the_call_timeout() -> None:
    options = ConnectOptions(connect_timeout=4, query_timeout=2.5)

    assert OracleDialect().connect_args(options) == {"tcp_connect_timeout": 4}
    configure = OracleDialect().on_connect(options)
    connection = FakeDriver()
    assert configure is not None
    configure(connection)
    assert connection.call_timeout == 2500  # type: ignore[attr-defined]


def test_oracle_tls_rewrites_sqlalchemys_descriptor_to_tcps(ca: CertificateAuthority) -> None:
    import oracledb

    options = ConnectOptions(connect_timeout=3, tls=TlsOptions(ca_pem=ca.cert_pem))
    driver = oracle_driver()
    connect = OracleDialect().driver_connect(options)
    assert connect is not None
    # What SQLAlchemy's oracledb dialect passes: a descriptor saying PROTOCOL=TCP, which would win over a
    # `protocol` argument.
    dsn = oracledb.makedsn("db.example.com", 2484, sid="XE")
    kwargs = {"dsn": dsn, "user": "u", "password": "p", **OracleDialect().connect_args(options)}

    connect(driver, kwargs)

    params = driver.calls[0]["params"]
    assert (params.protocol, params.host, params.port, params.sid) == ("tcps", "db.example.com", 2484, "XE")
    assert params.ssl_server_dn_match is True
    assert isinstance(params.ssl_context, ssl.SSLContext) and params.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert params.tcp_connect_timeout == 3


def test_oracle_without_tls_keeps_tcp() -> None:
    import oracledb

    driver = oracle_driver()
    connect = OracleDialect().driver_connect(ConnectOptions())
    assert connect is not None

    connect(driver, {"dsn": oracledb.makedsn("h", 1521, service_name="S"), "user": "u", "password": "p"})

    assert driver.calls[0]["params"].protocol == "tcp"


def oracle_error(message: str, **details: Any) -> Exception:
    import oracledb
    from oracledb.errors import _Error

    return oracledb.DatabaseError(_Error(message, **details))


@pytest.mark.parametrize(
    ("message", "code", "transient", "statement"),
    [
        ("ORA-03113: end-of-file on communication channel", 3113, True, False),
        ("ORA-12541: TNS:no listener", 12541, True, False),
        ("ORA-00060: deadlock detected while waiting for resource", 60, True, False),
        ("DPY-4024: call timeout of 1000 ms exceeded", 0, True, False),
        ("DPY-6005: cannot connect to database", 0, True, False),
        ("ORA-00942: table or view does not exist", 942, False, True),
        ("ORA-00904: invalid identifier", 904, False, True),
        ("ORA-01017: invalid credential or not authorized; logon denied", 1017, False, True),
        ("ORA-12899: value too large for column", 12899, False, False),  # a row is to blame
        ("ORA-00001: unique constraint violated", 1, False, False),
    ],
)
def test_oracle_errors_are_told_apart(message: str, code: int, transient: bool, statement: bool) -> None:
    error = oracle_error(message, code=code)

    assert OracleDialect().is_transient(error) is transient
    assert OracleDialect().is_statement_error(error) is statement


def test_oracle_describes_an_error_without_its_help_link() -> None:
    error = Exception("ORA-00942: table or view does not exist\nHelp: https://docs.oracle.com/error-help/db/ora-00942/")

    assert OracleDialect().describe_error(error) == "ORA-00942: table or view does not exist"


# ClickHouse: clickhouse-connect --------------------------------------------------------------------------------


def test_clickhouse_timeouts_and_the_servers_own_limit() -> None:
    args = ClickHouseDialect().connect_args(ConnectOptions(connect_timeout=1.5, query_timeout=30))

    assert args == {
        "connect_timeout": 2,
        "send_receive_timeout": 2,  # the client's first queries, while it is being made
        "max_execution_time": 30,  # a ClickHouse setting: the server stops the query
        "secure": False,
        "interface": "http",
    }
    assert "max_execution_time" not in ClickHouseDialect().connect_args(ConnectOptions())


def test_clickhouse_reads_may_take_the_query_timeout_once_connected() -> None:
    from urllib3 import Timeout

    class Connection:
        client = FakeDriver(timeout=None)

    configure = ClickHouseDialect().on_connect(ConnectOptions(connect_timeout=2, query_timeout=30))
    assert configure is not None
    configure(Connection())

    timeout = Connection.client.timeout  # type: ignore[attr-defined]
    assert isinstance(timeout, Timeout)
    assert (timeout.connect_timeout, timeout.read_timeout) == (2, 32)


def test_clickhouse_tls_gets_its_pems_as_private_files(ca: CertificateAuthority) -> None:
    client = ca.issue_client("sqlsync-client")
    options = ConnectOptions(tls=TlsOptions(ca_pem=ca.cert_pem, cert_pem=client.cert_pem, key_pem=client.key_pem))
    assert ClickHouseDialect().connect_args(options)["secure"] is True
    assert ClickHouseDialect().connect_args(options)["verify"] is True
    driver = FakeDriver()
    connect = ClickHouseDialect().driver_connect(options)
    assert connect is not None

    connect(driver, {"host": "h"})
    paths = {name: Path(driver.calls[0][name]) for name in ("ca_cert", "client_cert", "client_cert_key")}

    assert paths["ca_cert"].read_text() == ca.cert_pem
    assert paths["client_cert_key"].read_text() == client.key_pem
    assert {oct(path.stat().st_mode & 0o777) for path in paths.values()} == {"0o600"}
    assert oct(os.stat(paths["ca_cert"].parent).st_mode & 0o777) == "0o700"
    # Read again for every new HTTPS connection, so they last as long as the engine's connect(), no longer.
    connect(driver, {"host": "h"})
    assert paths["ca_cert"].exists()
    del connect
    gc.collect()
    assert not paths["ca_cert"].parent.exists()


def test_clickhouse_without_pems_needs_no_files() -> None:
    assert ClickHouseDialect().driver_connect(ConnectOptions(tls=TlsOptions(verify=False))) is None


# Hive: PyHive over a Thrift socket of our own -----------------------------------------------------------------


def hive_driver() -> FakeDriver:
    """PyHive's connect(), noting the socket's timeout at the moment it would connect."""
    driver = FakeDriver(get_installed_sasl=None)

    def connect(**kwargs: Any) -> str:
        transport = kwargs["thrift_transport"]
        sock = getattr(transport, "_trans", None) or transport._TBufferedTransport__trans
        driver.calls.append({**kwargs, "socket": sock, "timeout_at_connect": sock._timeout})
        return "connection"

    driver.connect = connect  # type: ignore[method-assign]
    return driver


def hive_connect(options: ConnectOptions, **kwargs: Any) -> dict[str, Any]:
    driver = hive_driver()
    connect = HiveDialect().driver_connect(options)
    assert connect is not None
    connect(driver, {"host": "db.example.com", "port": 10000, "username": "sync", "database": "crm", **kwargs})
    return driver.calls[0]


def test_hive_bounds_the_connect_with_its_socket_then_backs_the_query_timeout() -> None:
    call = hive_connect(ConnectOptions(connect_timeout=2, query_timeout=30.5))

    assert call["timeout_at_connect"] == 2
    assert call["socket"]._timeout == 32.5  # query + connect timeout, once connected
    # The server's own limit, for the session (whole seconds).
    assert call["configuration"] == {"hive.query.timeout.seconds": "31"}
    assert (call["username"], call["database"]) == ("sync", "crm")
    assert type(call["thrift_transport"]).__name__ == "TSaslClientTransport"


def test_hive_without_a_query_timeout_lets_a_statement_run() -> None:
    call = hive_connect(ConnectOptions(connect_timeout=2))

    assert call["socket"]._timeout is None
    assert call["configuration"] == {}


def test_hive_tls_uses_our_context(ca: CertificateAuthority) -> None:
    call = hive_connect(ConnectOptions(tls=TlsOptions(ca_pem=ca.cert_pem)))

    sock = call["socket"]
    assert type(sock).__name__ == "GuardedTSSLSocket"
    assert sock._context.verify_mode == ssl.CERT_REQUIRED and sock._context.check_hostname


def test_hive_nosasl_and_passwords() -> None:
    assert type(hive_connect(ConnectOptions(), auth="NOSASL")["thrift_transport"]).__name__ == "TBufferedTransport"
    assert "password" not in hive_connect(ConnectOptions(), auth="LDAP", password="pw")
    with pytest.raises(ValueError, match="auth=LDAP"):
        hive_connect(ConnectOptions(), password="pw")
    with pytest.raises(ValueError, match="KERBEROS is not supported"):
        hive_connect(ConnectOptions(), auth="KERBEROS")
    with pytest.raises(ValueError, match="binary Thrift transport"):
        hive_connect(ConnectOptions(), scheme="https")


def hive_error(state: str | None, code: int, message: str) -> Exception:
    from pyhive import exc
    from TCLIService import ttypes

    status = ttypes.TStatus(ttypes.TStatusCode.ERROR_STATUS, sqlState=state, errorCode=code, errorMessage=message)
    return exc.OperationalError(ttypes.TExecuteStatementResp(status=status))


@pytest.mark.parametrize(
    ("error", "transient", "statement"),
    [
        (
            hive_error("42S02", 10001, "Error while compiling statement: FAILED: SemanticException Table not found"),
            False,
            True,
        ),
        (hive_error("42000", 40000, "Error while compiling statement: FAILED: ParseException line 1:7"), False, True),
        (hive_error("08S01", 1, "Error while processing statement: FAILED: Execution Error"), True, False),
        (hive_error(None, 0, "Query timed out after 30 seconds"), True, False),
        (hive_error(None, 2, "Error while processing statement: FAILED: Execution Error, return code 2"), False, False),
    ],
)
def test_hive_errors_are_told_apart(error: Exception, transient: bool, statement: bool) -> None:
    assert HiveDialect().is_transient(error) is transient
    assert HiveDialect().is_statement_error(error) is statement


def test_hive_describes_the_servers_status() -> None:
    error = hive_error("42S02", 10001, "SemanticException [Error 10001]: Table not found x")

    assert (
        HiveDialect().describe_error(error)
        == "SemanticException [Error 10001]: Table not found x [SQLSTATE 42S02, code 10001]"
    )


def test_hive_transport_errors_become_the_drivers_dbapi_errors() -> None:
    # SQLAlchemy wraps only DBAPI errors: Thrift's own would escape the connector's error handling.
    call = hive_connect(ConnectOptions())
    sock = call["socket"]

    with pytest.raises(FakeDriver.OperationalError, match="Transport not open") as raised:
        sock.write(b"never opened")

    assert type(raised.value.__cause__).__name__ == "TTransportException"
    assert HiveDialect().is_transient(raised.value)


# Every dialect: the adapted connect() reaches SQLAlchemy, TLS checks at save time ------------------------------


@pytest.mark.parametrize("dialect", [MSSQLDialect(), OracleDialect(), HiveDialect()], ids=lambda d: d.name)
def test_the_adapted_connect_goes_to_sqlalchemy_as_the_dbapi_module(dialect: Dialect) -> None:
    module = dialect.engine_options(ConnectOptions())["module"]

    assert isinstance(module, DriverModule)
    # Everything but connect() is the driver's own, imported on first use.
    assert module.paramstyle in {"pyformat", "named"}
    assert issubclass(module.OperationalError, Exception)


def test_drivers_without_an_adapted_connect_keep_their_module() -> None:
    assert "module" not in dialect_for("postgresql").engine_options(ConnectOptions())
    assert "module" not in ClickHouseDialect().engine_options(ConnectOptions())


@pytest.mark.parametrize("kind", ["oracle", "clickhouse", "hive", "postgresql", "mysql"])
def test_drivers_that_verify_take_every_tls_setting(kind: str) -> None:
    check_connector(connector(kind, tls={"enabled": True, "ca_pem": "PEM", "cert_pem": "PEM", "key_pem": "K"}))


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ({"enabled": True}, "tls.verify"),
        ({"enabled": True, "verify": False, "ca_pem": "PEM"}, "tls.ca_pem"),
        ({"enabled": True, "verify": False, "cert_pem": "PEM", "key_pem": "K"}, "tls.cert_pem"),
    ],
)
def test_mssql_tls_it_cannot_honour_is_refused_when_saved(tls: dict[str, Any], field: str) -> None:
    with pytest.raises(ConnectorError) as refused:
        check_connector(connector("mssql", tls=tls))

    assert refused.value.field == field
    assert "pymssql" in refused.value.message


def test_mssql_tls_without_verification_is_saved() -> None:
    check_connector(connector("mssql", tls={"enabled": True, "verify": False}))
    check_connector(connector("mssql", tls={"enabled": False, "ca_pem": "PEM"}))  # TLS off: nothing to honour
