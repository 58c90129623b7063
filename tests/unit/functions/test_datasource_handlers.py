"""Data sources through the API handler on moto, reading a table of the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import ModuleType

import pytest

from testkit import call, http, load_function, run_sql

pytestmark = pytest.mark.services

ACCOUNT = 9


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    name = f"dsapi_{uuid.uuid4().hex[:8]}"
    run_sql(
        postgres_url,
        f"CREATE SCHEMA {name}",
        f"CREATE TABLE {name}.promo_codes (id integer PRIMARY KEY, email text, promo_code text, birthday date)",
        f"INSERT INTO {name}.promo_codes VALUES (2, 'dina@example.com', 'AAAA-BBBB-DDDD', '2020-09-02'), "
        "(3, 'ivan@example.com', 'EEEE', NULL)",
    )
    yield name
    run_sql(postgres_url, f"DROP SCHEMA {name} CASCADE")


def test_a_data_source_is_created_read_by_contact_and_segmented(
    aws: dict[str, str], postgres_url: str, schema: str
) -> None:
    from sqlalchemy.engine import make_url

    api: ModuleType = load_function("api")
    customers: ModuleType = load_function("customers")
    url = make_url(postgres_url)
    body = {"name": "pg", "type": "postgresql", "host": url.host, "port": url.port}
    body |= {"database": url.database, "username": url.username, "password": "unused-with-trust"}
    status, connector = call(api, http("POST", "/v1/connectors", body, account=ACCOUNT))
    assert status == 201
    source = {"name": "promo_codes", "connector_id": connector["id"], "schema_name": schema, "table": "promo_codes"}
    source["customer_id_type"] = "email_id"
    status, created = call(api, http("POST", "/v1/data-sources", source, account=ACCOUNT))
    assert status == 201, created
    assert created["contact_column"] == "email" and created["columns"]["birthday"] == "DATE"

    status, rows = call(
        api, http("GET", "/v1/data-sources/promo_codes/rows", query={"contact": "dina@example.com"}, account=ACCOUNT)
    )
    assert status == 200 and rows == {
        "data": {
            "promo_codes": [
                {
                    "id": 2,
                    "email": "dina@example.com",
                    "promo_code": "AAAA-BBBB-DDDD",
                    "birthday": "2020-09-02T00:00:00Z",
                }
            ]
        }
    }
    status, many = call(
        api,
        http("POST", "/v1/data-sources/promo_codes/rows", {"contacts": ["ivan@example.com", "x@y"]}, account=ACCOUNT),
    )
    assert [(r["contact"], len(r["data"]["promo_codes"])) for r in many["results"]] == [
        ("ivan@example.com", 1),
        ("x@y", 0),
    ]

    # only known customers are in a segment
    command = {"name": "customers", "data": {"customer_ids": {"email_id": "ivan@example.com"}, "properties": {}}}
    call(customers, http("POST", f"/track/v2/projects/{ACCOUNT}/batch", {"commands": [command]}, account=ACCOUNT))
    segment = {"conditions": [{"field": "promo_code", "op": "starts_with", "value": ""}]}
    status, found = call(api, http("POST", "/v1/data-sources/promo_codes/segment", segment, account=ACCOUNT))
    assert status == 200 and found == {"contacts": ["ivan@example.com"], "matched": 2, "known": 1, "truncated": False}

    bad = {"conditions": [{"field": "promo_code; DROP TABLE x", "op": "eq", "value": 1}]}
    status, refused = call(api, http("POST", "/v1/data-sources/promo_codes/segment", bad, account=ACCOUNT))
    assert status == 422 and refused["errors"][0]["field"] == "conditions[0].field"
    assert call(api, http("GET", "/v1/data-sources/promo_codes", account=ACCOUNT + 1))[0] == 404
    status, refused = call(api, http("POST", "/v1/data-sources", source, account=ACCOUNT))
    assert status == 422 and refused["errors"][0]["field"] == "name"  # taken
    status, refused = call(
        api, http("POST", "/v1/data-sources", {**source, "name": "other", "table": "nope"}, account=ACCOUNT)
    )
    assert status == 422 and refused["errors"][0]["field"] == "table"
    assert call(api, http("DELETE", "/v1/data-sources/promo_codes", account=ACCOUNT))[0] == 204
    assert call(api, http("GET", "/v1/data-sources", account=ACCOUNT))[1] == []
