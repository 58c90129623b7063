"""Shared fixtures: the real databases on this machine, AWS faked with moto, the function handlers.

Real services: PostgreSQL (127.0.0.1:5432, trust) and MariaDB (127.0.0.1:3306, root, no password). Each
test session gets its own database on each, dropped at the end. When a service is absent the tests
that need it skip, except under SQLSYNC_REQUIRE_SERVICES=1 (CI), where absence fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from sqlsync.store.base import CustomerStore
from sqlsync.store.dynamodb import DynamoDBCustomerStore
from sqlsync.store.memory import InMemoryCustomerStore
from testkit import ROOT, create_customers_table, unavailable

PG_ADMIN_URL = os.environ.get("SQLSYNC_TEST_POSTGRES", "postgresql+pg8000://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("SQLSYNC_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


def _unavailable(service: str, error: Exception) -> None:
    unavailable(f"{service} is not reachable: {error}")


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


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with every table, queue and bucket of template.yaml created, and the functions' environment set.

    Yields the physical names: logical id -> table name or queue URL (and "<Queue>.Arn")."""
    import boto3
    from moto import mock_aws

    from sqlsync.local.cfn import describe, load_template

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_METRICS_NAMESPACE": "sqlsync",
        "POWERTOOLS_SERVICE_NAME": "sqlsync",
    }.items():
        monkeypatch.setenv(name, value)
    wiring = describe(load_template(ROOT / "template.yaml"))
    with mock_aws():
        dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        physical: dict[str, str] = {"AWS::Region": "us-east-1"}
        for table in wiring.tables.values():
            name = f"test-{table.logical_id}"
            dynamodb.create_table(TableName=name, **table.create_table_kwargs())
            physical[table.logical_id] = name
        # Dead-letter queues first: the queues that redrive to them need their ARNs.
        queues = sorted(wiring.queues.values(), key=lambda queue: queue.dead_letter_logical_id is not None)
        for queue in queues:
            dead_letter_arn = physical.get(f"{queue.dead_letter_logical_id}.Arn")
            url = sqs.create_queue(
                QueueName=f"test-{queue.logical_id}", Attributes=queue.create_queue_attributes(dead_letter_arn)
            )["QueueUrl"]
            physical[queue.logical_id] = url
            physical[f"{queue.logical_id}.Arn"] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        for logical_id in wiring.buckets:
            name = f"test-{logical_id}".lower()
            boto3.client("s3").create_bucket(Bucket=name)
            physical.update({logical_id: name, f"{logical_id}.Arn": f"arn:aws:s3:::{name}"})
        for function in wiring.functions.values():
            for name, value in function.resolved_environment(physical).items():
                monkeypatch.setenv(name, value)
        yield physical


@pytest.fixture(params=["memory", "dynamodb"])
def customer_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[CustomerStore]:
    """A customers store on each implementation: in memory, and on DynamoDB (moto) in a new table."""
    if request.param == "memory":
        yield InMemoryCustomerStore()
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with mock_aws():
        create_customers_table("sqlsync-customers")
        yield DynamoDBCustomerStore("sqlsync-customers")
