"""Scheduled exports through the handlers on moto: the API keeps them, the exporter (its schedule's tick)
runs the due ones into the real PostgreSQL."""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

import pytest

from testkit import Context, call, http, load_function, rows, run_sql

ACCOUNT = 6


@pytest.fixture
def api(aws: dict[str, str]) -> ModuleType:
    return load_function("api")


def connector(api: ModuleType, url: str = "postgresql+pg8000://postgres@127.0.0.1:5432/postgres") -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    body = {"name": "pg", "type": "postgresql", "host": parsed.host, "port": parsed.port}
    body |= {"database": parsed.database, "username": parsed.username, "password": "unused-with-trust"}
    status, created = call(api, http("POST", "/v1/connectors", body, account=ACCOUNT))
    assert status == 201, created
    identifier: str = created["id"]
    return identifier


def test_exports_are_created_listed_changed_run_and_deleted(api: ModuleType) -> None:
    connector_id = connector(api)
    body = {"name": "nightly", "connector_id": connector_id, "datasets": ["contacts"], "schedule": "rate(1 day)"}
    status, created = call(api, http("POST", "/v1/exports", body, account=ACCOUNT))
    assert status == 201, created
    assert created["target_schema"] is None and created["next_run_at"] and created["last_run"] is None
    assert created["watermarks"] == {"contacts": None} and created["running"] is False
    path = f"/v1/exports/{created['id']}"

    assert [e["id"] for e in call(api, http("GET", "/v1/exports", account=ACCOUNT))[1]] == [created["id"]]
    assert call(api, http("GET", path, account=ACCOUNT + 1))[0] == 404
    status, changed = call(api, http("PUT", path, {**body, "datasets": ["contacts", "events"]}, account=ACCOUNT))
    assert status == 200 and changed["datasets"] == ["contacts", "events"]
    status, run = call(api, http("POST", f"{path}/run", query={"full": "true"}, account=ACCOUNT))
    assert status == 202 and run["id"] == created["id"]

    # a connector an export uses cannot be deleted
    status, refused = call(api, http("DELETE", f"/v1/connectors/{connector_id}", account=ACCOUNT))
    assert status == 409 and f"export {created['id']}" in refused["message"]
    assert call(api, http("DELETE", path, account=ACCOUNT))[0] == 204
    assert call(api, http("GET", path, account=ACCOUNT))[0] == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"connector_id": "nope"}, "connector_id"),
        ({"datasets": ["sales"]}, "datasets[0]"),  # not one of the vendor's
        ({"datasets": []}, "datasets"),
        ({"datasets": ["contacts", "contacts"]}, "datasets"),
        ({"schedule": "cron(0 * * * * *)"}, "schedule"),
        ({"schedule": "rate(5 minute)"}, "schedule"),
        ({"target_schema": ""}, "target_schema"),
    ],
)
def test_a_bad_export_is_refused_naming_the_field(api: ModuleType, change: dict[str, Any], field: str) -> None:
    body = {"name": "x", "connector_id": connector(api), "datasets": ["contacts"], **change}
    status, answer = call(api, http("POST", "/v1/exports", body, account=ACCOUNT))
    assert status == 422, answer
    assert answer["errors"][0]["field"] == field


@pytest.mark.services
def test_the_exporter_tick_runs_a_due_export_into_postgresql(api: ModuleType, postgres_url: str) -> None:
    customers, exporter = load_function("customers"), load_function("exporter")
    exporter.runner().lag = 0.0  # the test does not wait for the index's lag
    schema = f"tick_{uuid.uuid4().hex[:8]}"
    run_sql(postgres_url, f"CREATE SCHEMA {schema}")
    try:
        command = {
            "name": "customers",
            "data": {
                "customer_ids": {"registered": "mgalik"},
                "properties": {"first_name": "Marian", "email": "m@x.sk"},
            },
        }
        assert (
            call(
                customers, http("POST", f"/track/v2/projects/{ACCOUNT}/batch", {"commands": [command]}, account=ACCOUNT)
            )[0]
            == 200
        )
        body = {
            "name": "pg",
            "connector_id": connector(api, postgres_url),
            "datasets": ["contacts"],
            "target_schema": schema,
        }
        status, created = call(api, http("POST", "/v1/exports", body, account=ACCOUNT))
        assert status == 201, created

        answer = exporter.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())
        assert answer == {"runs": [{"export_id": created["id"], "status": "finished", "rows": {"contacts": 1}}]}
        assert rows(postgres_url, f"SELECT firstname, email, externalcustomerid FROM {schema}.contacts") == [
            ("Marian", "m@x.sk", "mgalik")
        ]
        status, shown = call(api, http("GET", f"/v1/exports/{created['id']}", account=ACCOUNT))
        assert shown["last_run"]["status"] == "finished" and shown["last_run"]["rows"] == {"contacts": 1}
        assert shown["watermarks"]["contacts"] is not None
        # the next tick finds nothing due
        assert exporter.lambda_handler({}, Context()) == {"runs": []}
    finally:
        run_sql(postgres_url, f"DROP SCHEMA {schema} CASCADE")
