"""Shared fixtures: the real databases on this machine, AWS faked with moto, the function handlers.

Real services: PostgreSQL (127.0.0.1:5432, trust) and MariaDB (127.0.0.1:3306, root, no password). Each
test session gets its own database on each, dropped at the end. When a service is absent the tests
that need it skip, except under SQLSYNC_REQUIRE_SERVICES=1 (CI), where absence fails them.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("SQLSYNC_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("SQLSYNC_TEST_POSTGRES", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("SQLSYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


def _unavailable(service: str, error: Exception) -> None:
    message = f"{service} is not reachable: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (SQLSYNC_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _scratch_database(admin_url: str, service: str, create: str, drop: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"sqlsync_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(create.format(name=name))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        _unavailable(service, exc)
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from sqlsync.connectors import target_for

        target_for(url).dispose()
        with engine.connect() as connection:
            connection.exec_driver_sql(drop.format(name=name))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a scratch PostgreSQL database for this test session."""
    yield from _scratch_database(
        PG_ADMIN_URL, "PostgreSQL", "CREATE DATABASE {name}", "DROP DATABASE {name} WITH (FORCE)"
    )


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """URL of a scratch MariaDB database for this test session."""
    yield from _scratch_database(
        MARIADB_ADMIN_URL,
        "MariaDB",
        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        "DROP DATABASE {name}",
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as Lambda would, under a module name of its own."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"sqlsync_function_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
