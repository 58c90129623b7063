"""Schemathesis against the committed openapi.json: every operation fuzzed in-process on moto, never a 5xx.

Each generated case is serialised as schemathesis would send it over HTTP (a `requests` request), routed by
template.yaml's routes and turned into the payload 2.0 event API Gateway would make of it (the local
gateway's `build_event`), authorized for account 1 as the Lambda authorizer would, and answered by the api
function's handler; what the handler returns becomes the HTTP response as API Gateway would make it.
A case that names a connector or an integration is sent twice: as generated (an unknown id: 404 or 422),
then with the id of the seeded connector or integration, so that fuzzed bodies reach the code behind the
lookups.
"""

from __future__ import annotations

import json
import os
import time
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, note, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from sqlsync.local.cfn import describe, load_template
from sqlsync.local.gateway import GatewayResponse, Request, RouteTable, build_event, to_response
from sqlsync.sync.deadletters import DeadLetters
from testkit import ROOT, event, load_function

# Bounded and reproducible: a fixed seed, derandomized generation, no example database. Both generation
# modes: requests the document allows, and requests that break it. SQLSYNC_FUZZ_EXAMPLES and
# SQLSYNC_FUZZ_SEED search longer or elsewhere, locally.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": int(os.environ.get("SQLSYNC_FUZZ_SEED", "20261122")),
        "generation": {
            "mode": "all",
            "max-examples": int(os.environ.get("SQLSYNC_FUZZ_EXAMPLES", "25")),
            "deterministic": True,
            "database": "none",
            # The Lambda authorizer checks the key; the event carries its verdict (account 1) instead.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
# Validate connects to the connector's server, with the user's connect timeout (up to 300 s): fuzzing it
# would be slow and would reach for the network. The handler tests cover it.
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG).exclude(
    method="POST", path="/v1/connectors/{connector_id}/validate"
)
# Checks that judge the response alone (those that resend requests would go over the network). Status
# codes are not checked against the document: Powertools declares 200 and 422 only, while the API also
# answers 201, 204, 404, 409 and 415.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
BASE_URL = "https://api.sqlsync.test"
API_ROUTES = RouteTable(
    (route, "ApiFunction") for route in describe(load_template(ROOT / "template.yaml")).functions["ApiFunction"].routes
)


class Context:
    function_name = "api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "fuzz"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class Api:
    """The api function behind API Gateway; `ids` are the seeded connector's and integration's."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.ids: dict[str, str] = {}

    def send(self, prepared: requests.PreparedRequest) -> schemathesis.Response:
        """The response to a request, as API Gateway would answer it (a handler that raises fails the test)."""
        url = urlsplit(prepared.url or "")
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        assert body is None or isinstance(body, bytes), "a streamed body"
        request = Request(
            prepared.method or "GET",
            f"{url.path}?{url.query}" if url.query else url.path,
            [(name, str(value)) for name, value in prepared.headers.items()],
            body or b"",
        )
        started = time.perf_counter()
        match = API_ROUTES.match(request.method, request.raw_path)
        if match is None:
            answer = GatewayResponse.message(HTTPStatus.NOT_FOUND, f"no route for {request.method} {request.raw_path}")
        else:
            http_event = build_event(request, match, account_id="123456789012", api_id="fuzz")
            http_event["requestContext"]["authorizer"] = {"lambda": {"account_id": 1, "key_id": "fuzz"}}
            answer = to_response(self.module.lambda_handler(http_event, Context()))
        headers: dict[str, list[str]] = {}
        for name, value in answer.headers:
            headers.setdefault(name.lower(), []).append(value)
        elapsed = time.perf_counter() - started
        return schemathesis.Response(answer.status, headers, answer.body, prepared, elapsed, verify=True)

    def create(self, path: str, body: dict[str, Any]) -> str:
        response = self.send(requests.Request("POST", f"{BASE_URL}{path}", json=body).prepare())
        assert response.status_code == 201, response.content
        created: str = json.loads(response.content)["id"]
        return created


@pytest.fixture
def api(aws: dict[str, str], tmp_path: Path) -> Api:
    """One sqlite connector and one integration writing through it, for account 1; one dead letter."""
    module = load_function("api")
    # The same dead-letter queue without the 1 s long poll at the end of every scan (moto waits it out).
    module._dead_letters = DeadLetters(aws["SyncDLQ"], aws["SyncQueue"], wait_seconds=0)
    api = Api(module)
    connector_id = api.create("/v1/connectors", {"name": "seed", "type": "sqlite", "database": str(tmp_path / "t.db")})
    templates = {
        "profiles_added": "INSERT INTO m (seg, client) VALUES ({segment_id}, {$lead.CustomID})",
        "profiles_removed": "DELETE FROM m WHERE client = {$lead.CustomID}",
        "segment_cleared": "DELETE FROM m WHERE seg = {segment_id}",
    }
    integration = {"name": "seed", "connector_id": connector_id, "segment_ids": [17], "templates": templates}
    api.ids = {"connector_id": connector_id, "integration_id": api.create("/v1/integrations", integration)}
    boto3.client("sqs").send_message(
        QueueUrl=aws["SyncDLQ"], MessageBody=event("segment.profiles_added", ["a"], segment=17).model_dump_json()
    )
    return api


def with_seeded_ids(case: schemathesis.Case[Any], ids: dict[str, str]) -> schemathesis.Case[Any] | None:
    """The case with the seeded objects' ids in its path parameters and a body's connector_id; None if it
    names no object."""
    seeded = case.derive()
    named = [name for name in seeded.path_parameters if name in ids]
    for name in named:
        seeded.path_parameters[name] = ids[name]
    if isinstance(seeded.body, dict) and "connector_id" in seeded.body:
        seeded.body["connector_id"] = ids["connector_id"]
        named.append("connector_id")
    return seeded if named else None


def answer(api: Api, case: schemathesis.Case[Any]) -> schemathesis.Response:
    """Send the case; check the answer is not a 5xx, is JSON (4xx: with a message) and fits the document."""
    sent = case.as_transport_kwargs(base_url=BASE_URL)
    names = ("method", "url", "headers", "params", "json", "data", "cookies")
    response = api.send(requests.Request(**{name: sent.get(name) for name in names}).prepare())
    if response.status_code == 204:
        assert response.content == b""
    else:
        body = json.loads(response.content)
        if 400 <= response.status_code < 500:
            assert isinstance(body, dict) and isinstance(body.get("message"), str), body
    case.validate_response(response, checks=CHECKS)
    return response


@schema.parametrize()
# The fixture is set up once per operation and kept across its examples: the seeded objects may be
# changed (updated, deleted) while an operation is fuzzed, as they may be in use.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_every_generated_request_gets_an_answer_without_a_server_error(case: schemathesis.Case[Any], api: Api) -> None:
    answer(api, case)
    seeded = with_seeded_ids(case, api.ids)
    if seeded is not None:
        note(f"again with the seeded ids: {seeded.formatted_path} {seeded.body!r}")
        answer(api, seeded)


STATS = schema["/v1/integrations/{integration_id}/stats"]["GET"]
CREATE_CONNECTOR = schema["/v1/connectors"]["POST"]


# Found by fuzzing (SQLSYNC_FUZZ_EXAMPLES=300 SQLSYNC_FUZZ_SEED=7): a 500 from the ssl module's TypeError.
@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ({"enabled": True, "ca_pem": "\u00e9"}, "tls.ca_pem"),
        ({"enabled": True, "cert_pem": "\x80", "key_pem": "k"}, "tls.cert_pem"),
    ],
)
def test_a_pem_that_is_not_ascii_is_refused_naming_its_field(api: Api, tls: dict[str, Any], field: str) -> None:
    body: dict[str, Any] = {"name": "tls", "type": "sqlite", "database": "t.db", "tls": tls}
    response = answer(api, CREATE_CONNECTOR.Case(body=body, media_type="application/json"))
    assert response.status_code == 422
    assert [error["field"] for error in json.loads(response.content)["errors"]] == [field]


# Found by probing the edges of `from` and `to`, which the fuzzing above seldom reaches: they were 500s
# (OverflowError) before the API checked the window.
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "0001-01-01T00:00:00Z"}, "to"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
    ],
    ids=["default-from-before-year-1", "from-before-year-1-in-utc", "to-after-year-9999-in-utc"],
)
def test_stats_at_the_edges_of_time_is_a_400_naming_the_field(api: Api, query: dict[str, str], field: str) -> None:
    response = answer(api, STATS.Case(path_parameters={"integration_id": api.ids["integration_id"]}, query=query))
    assert response.status_code == 400
    assert [error["field"] for error in json.loads(response.content)["errors"]] == [field]
