"""sqlsync.local.gateway: API Gateway HTTP API routing, payload 2.0 events and responses, without HTTP."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from sqlsync.local.cfn import Authorizer, Route
from sqlsync.local.gateway import Gateway, Request, RouteTable, build_event, is_text_type, to_response

ROOT = Path(__file__).resolve().parents[3]


class Recorder:
    """A function that records its events and answers with `result` (or raises it)."""

    def __init__(self, name: str, result: Any = None) -> None:
        self.name = name
        self.result = result if result is not None else {"statusCode": 200, "body": "ok"}
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


API_ROUTES = [
    Route("POST", "/v1/integrations"),
    Route("GET", "/v1/integrations"),
    Route("GET", "/v1/integrations/{id}"),
    Route("DELETE", "/v1/integrations/{id}"),
    Route("GET", "/v1/integrations/{id}/stats"),
    Route("GET", "/v1/integrations/special"),
    Route("ANY", "/v1/integrations/{id}"),
    Route("GET", "/files/{proxy+}"),
]


@pytest.fixture
def table() -> RouteTable[str]:
    return RouteTable((route, f"{route.method} {route.path}") for route in API_ROUTES)


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("POST", "/v1/integrations", "POST /v1/integrations", {}),
        ("GET", "/v1/integrations", "GET /v1/integrations", {}),
        ("GET", "/v1/integrations/abc", "GET /v1/integrations/{id}", {"id": "abc"}),
        ("get", "/v1/integrations/abc", "GET /v1/integrations/{id}", {"id": "abc"}),
        ("DELETE", "/v1/integrations/abc", "DELETE /v1/integrations/{id}", {"id": "abc"}),
        ("GET", "/v1/integrations/abc/stats", "GET /v1/integrations/{id}/stats", {"id": "abc"}),
        # A literal segment wins over a path variable, a method over ANY.
        ("GET", "/v1/integrations/special", "GET /v1/integrations/special", {}),
        ("PATCH", "/v1/integrations/abc", "ANY /v1/integrations/{id}", {"id": "abc"}),
        # Path parameters are percent-decoded; a greedy variable takes the rest of the path.
        ("GET", "/v1/integrations/a%20b", "GET /v1/integrations/{id}", {"id": "a b"}),
        ("GET", "/files/a/b/c.txt", "GET /files/{proxy+}", {"proxy": "a/b/c.txt"}),
    ],
)
def test_routes_match_like_api_gateway(
    table: RouteTable[str], method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    match = table.match(method, path)
    assert match is not None
    assert (match.route_key, match.path_parameters, match.target) == (route_key, parameters, route_key)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/integrations"),
        ("GET", "/v1/integrations/abc/stats/more"),
        ("GET", "/v1/integrations/"),
        ("GET", "/files/"),
        ("GET", "/v1"),
    ],
)
def test_no_route(table: RouteTable[str], method: str, path: str) -> None:
    assert table.match(method, path) is None


def test_default_route_catches_the_rest() -> None:
    table = RouteTable([(Route("GET", "/a"), "a"), (Route("ANY", "$default"), "default")])
    assert table.match("GET", "/a").target == "a"  # type: ignore[union-attr]
    match = table.match("POST", "/anything/else")
    assert match is not None and (match.route_key, match.target) == ("$default", "default")


def test_a_route_declared_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="GET /a"):
        RouteTable([(Route("GET", "/a"), 1), (Route("GET", "/a"), 2)])


STATS_ROUTE = Route("GET", "/v1/integrations/{id}/stats")


def _event(request: Request, route: Route = STATS_ROUTE) -> dict[str, Any]:
    match = RouteTable([(route, None)]).match(request.method, request.raw_path)
    assert match is not None
    return build_event(request, match, account_id="123456789012", api_id="local", request_id="r1")


def test_event_has_the_shape_of_a_real_http_api_event() -> None:
    # GIVEN the request behind events/lambda/api_get_stats.json (recorded from API Gateway)
    sample = json.loads((ROOT / "events" / "lambda" / "api_get_stats.json").read_text())
    request = Request(
        "GET",
        "/v1/integrations/int-0001/stats?from=2026-11-22T00%3A00%3A00Z&to=2026-11-23T00%3A00%3A00Z",
        [("Host", "abcdef1234.execute-api.us-east-1.amazonaws.com"), ("User-Agent", "curl/8.5.0")],
        source_ip="203.0.113.10",
    )
    # WHEN the gateway builds the event
    event = _event(request)
    # THEN it has the same keys, and the same values where they do not depend on the deployment
    assert event.keys() == sample.keys()
    assert event["requestContext"].keys() == sample["requestContext"].keys()
    assert event["requestContext"]["http"] == sample["requestContext"]["http"]
    for key in ("version", "routeKey", "rawPath", "rawQueryString", "queryStringParameters", "pathParameters"):
        assert event[key] == sample[key], key
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["domainName"] == sample["requestContext"]["domainName"]
    assert event["requestContext"]["domainPrefix"] == "abcdef1234"
    assert isinstance(event["requestContext"]["timeEpoch"], int)


def test_headers_cookies_and_query_strings() -> None:
    request = Request(
        "GET",
        "/v1/integrations/x/stats?a=1&a=2&empty=&sp=a%20b",
        [("X-Thing", "one"), ("x-thing", "two"), ("Cookie", "s=1; t=2"), ("Content-Type", "text/plain")],
    )
    event = _event(request)
    assert event["headers"] == {"x-thing": "one,two", "content-type": "text/plain"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"a": "1,2", "empty": "", "sp": "a b"}
    assert event["rawQueryString"] == "a=1&a=2&empty=&sp=a%20b"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_no_query_and_no_path_parameters_leave_the_keys_out() -> None:
    event = _event(Request("POST", "/v1/events", []), Route("POST", "/v1/events"))
    assert "queryStringParameters" not in event and "pathParameters" not in event and "cookies" not in event


@pytest.mark.parametrize(
    ("content_type", "body", "expected", "encoded"),
    [
        ("application/json", '{"a": "é"}'.encode(), '{"a": "é"}', False),
        ("application/json; charset=utf-8", b"[]", "[]", False),
        ("text/csv", b"a,b", "a,b", False),
        ("application/vnd.api+json", b"{}", "{}", False),
        ("application/octet-stream", b"\x00\x01", base64.b64encode(b"\x00\x01").decode(), True),
        (None, b"raw", base64.b64encode(b"raw").decode(), True),
        ("application/json", b"\xff\xfe", base64.b64encode(b"\xff\xfe").decode(), True),  # not UTF-8
    ],
)
def test_body_is_text_or_base64(content_type: str | None, body: bytes, expected: str, encoded: bool) -> None:
    headers = [("content-type", content_type)] if content_type else []
    event = _event(Request("POST", "/v1/events", headers, body), Route("POST", "/v1/events"))
    assert (event["body"], event["isBase64Encoded"]) == (expected, encoded)


def test_text_types() -> None:
    assert is_text_type("application/x-www-form-urlencoded")
    assert not is_text_type("image/png") and not is_text_type("") and not is_text_type(None)


def test_response_with_headers_cookies_and_base64_body() -> None:
    response = to_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "image/png", "X-One": 1},
            "multiValueHeaders": {"X-Many": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 201
    assert response.body == b"\x89PNG"
    assert response.headers == [
        ("Content-Type", "image/png"),
        ("X-One", "1"),
        ("X-Many", "a"),
        ("X-Many", "b"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2"),
    ]


def test_a_result_without_status_code_is_a_json_200() -> None:
    response = to_response({"hello": "world"})
    assert (response.status, json.loads(response.body), response.header("content-type")) == (
        200,
        {"hello": "world"},
        "application/json",
    )


def test_gateway_invokes_the_function_of_the_route() -> None:
    api = Recorder("api", {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": '{"ok": 1}'})
    events = Recorder("ingest")
    gateway = Gateway([(Route("GET", "/v1/integrations/{id}"), api), (Route("POST", "/v1/events"), events)])
    response = gateway.handle(Request("GET", "/v1/integrations/i-1?x=1", [("Host", "localhost:3000")]))
    assert (response.status, response.body) == (200, b'{"ok": 1}')
    assert events.events == []
    (event,) = api.events
    assert event["pathParameters"] == {"id": "i-1"} and event["queryStringParameters"] == {"x": "1"}
    assert event["routeKey"] == "GET /v1/integrations/{id}"


KEYS = Authorizer("Keys", "Guard", ("Authorization",), simple_responses=True)


class Guard:
    """An authorizer that lets `Bearer good` in as account 7."""

    name = "guard"

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        allowed = event["headers"].get("authorization") == "Bearer good"
        return {"isAuthorized": allowed, "context": {"account_id": 7}} if allowed else {"isAuthorized": False}


def test_the_routes_authorizer_runs_first_and_its_context_reaches_the_function() -> None:
    api, guard = Recorder("api"), Guard()
    gateway = Gateway(
        [(Route("GET", "/v1/things", KEYS), api), (Route("GET", "/v1/docs"), api)], authorizers={"Guard": guard}
    )
    assert gateway.handle(Request("GET", "/v1/things", [])).status == 401  # no identity: not even asked
    assert guard.events == [] and api.events == []
    refused = gateway.handle(Request("GET", "/v1/things", [("Authorization", "Bearer bad")]))
    assert (refused.status, json.loads(refused.body)) == (403, {"message": "Forbidden"})
    assert api.events == []
    allowed = gateway.handle(Request("GET", "/v1/things?x=1", [("Authorization", "Bearer good")]))
    assert allowed.status == 200
    (asked, _) = guard.events
    assert (asked["type"], asked["identitySource"], asked["routeKey"]) == ("REQUEST", ["Bearer bad"], "GET /v1/things")
    assert api.events[0]["requestContext"]["authorizer"] == {"lambda": {"account_id": 7}}
    assert gateway.handle(Request("GET", "/v1/docs", [])).status == 200  # a route without an authorizer


def test_an_authorizer_that_fails_is_a_500() -> None:
    gateway = Gateway(
        [(Route("GET", "/v1/things", KEYS), Recorder("api"))], authorizers={"Guard": Recorder("guard", {"yes": 1})}
    )
    assert gateway.handle(Request("GET", "/v1/things", [("Authorization", "x")])).status == 500


def test_unknown_route_is_a_404_naming_method_and_path() -> None:
    gateway = Gateway([(Route("POST", "/v1/events"), Recorder("ingest"))])
    response = gateway.handle(Request("GET", "/v1/events?x=1", []))
    assert response.status == 404
    assert json.loads(response.body) == {"message": "no route for GET /v1/events"}


def test_handler_exception_is_a_502_without_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    gateway = Gateway([(Route("POST", "/v1/events"), Recorder("ingest", RuntimeError("secret detail")))])
    with caplog.at_level(logging.ERROR, logger="sqlsync.local.gateway"):
        response = gateway.handle(Request("POST", "/v1/events", [], b"{}"))
    assert response.status == 502
    assert json.loads(response.body) == {"message": "Internal server error"}
    assert b"secret" not in response.body
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "abc"},
        {"statusCode": 700},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    ],
)
def test_unusable_response_is_a_502(result: dict[str, Any]) -> None:
    gateway = Gateway([(Route("GET", "/"), Recorder("f", result))])
    response = gateway.handle(Request("GET", "/", []))
    assert (response.status, json.loads(response.body)) == (502, {"message": "Internal server error"})


def test_payload_over_the_quota_is_refused_before_the_function_runs() -> None:
    function = Recorder("ingest")
    gateway = Gateway([(Route("POST", "/v1/events"), function)])
    response = gateway.handle(Request("POST", "/v1/events", [], b"x" * (10 * 1024 * 1024 + 1)))
    assert response.status == 413 and function.events == []
