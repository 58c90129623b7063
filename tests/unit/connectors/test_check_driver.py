"""A target URL whose driver this deployment lacks is refused when the integration is saved, not at sync."""

from __future__ import annotations

import re

import pytest

from sqlsync.connectors import TargetError, check_driver


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+pg8000://u@h/db",
        "mysql+pymysql://u@h/db",
        "sqlite:///x.db",
        # The optional drivers (layers/drivers), installed for the tests.
        "mssql+pymssql://u@h/db",
        "oracle+oracledb://u@h/db",
        "clickhousedb://h/db",
        "hive://h/db",
    ],
)
def test_the_bundled_and_optional_drivers_load(url: str) -> None:
    check_driver(url)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql"),  # SQLAlchemy's default PostgreSQL driver is psycopg2
        ("oracle+cx_oracle://u@h/db", "oracle+cx_oracle"),
        ("mssql+pyodbc://u@h/db", "mssql+pyodbc"),
        ("clickhouse+native://h/db", "clickhouse+native"),  # clickhouse-sqlalchemy's dialect
    ],
)
def test_a_missing_driver_is_named(url: str, driver: str) -> None:
    with pytest.raises(TargetError, match=re.escape(f"the driver for {driver} is not installed")) as caught:
        check_driver(url)
    assert not caught.value.transient
