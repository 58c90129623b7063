"""API Gateway HTTP API, locally: routes of template.yaml -> payload format 2.0 events -> HTTP responses.

`Gateway.handle` takes a request as plain values (no sockets: `server.py` does HTTP) and does what an HTTP
API with Lambda proxy integrations does:

* match the method and path against the routes (`/v1/integrations/{id}`, greedy `{proxy+}`, method `ANY`,
  the catch-all `$default`); the most specific route wins, as in API Gateway: literal segments before
  path variables before greedy variables, a method before ANY;
* build the 2.0 event: headers lowercased (repeated headers joined with commas), the Cookie header moved
  to `cookies`, `queryStringParameters` (repeated keys joined with commas), `pathParameters`, the
  `requestContext`, and the body as text for textual content types, otherwise base64;
* turn the handler's result into a response: `statusCode`, `headers`, `multiValueHeaders`, `cookies`
  (one Set-Cookie each), `body` (base64-decoded when `isBase64Encoded`); a result without `statusCode` is
  a 200 JSON body, as API Gateway infers it.

No route -> 404 `{"message": "no route for METHOD PATH"}`. A handler that raises or returns something API
Gateway cannot use -> 502 `{"message": "Internal server error"}`; the traceback goes to the log only.

Examples
--------
>>> routes = RouteTable([(Route("GET", "/v1/integrations/{id}"), "api")])
>>> match = routes.match("GET", "/v1/integrations/abc")
>>> match.route_key, match.path_parameters, match.target
('GET /v1/integrations/{id}', {'id': 'abc'}, 'api')
>>> routes.match("POST", "/v1/integrations/abc") is None
True
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, unquote

from sqlsync.local.cfn import Authorizer, Route
from sqlsync.local.runtime import Invocable

__all__ = ["Gateway", "GatewayResponse", "Request", "RouteMatch", "RouteTable", "build_event", "is_text_type"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""HTTP API's request payload quota."""

_VARIABLE = re.compile(r"\{([A-Za-z0-9_.-]+)(\+?)\}")
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(.*[+/])?(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|graphql)(;.*)?)$",
    re.IGNORECASE,
)


def is_text_type(content_type: str | None) -> bool:
    """True for content types whose body goes to the handler as text rather than base64.

    >>> is_text_type("application/json; charset=utf-8"), is_text_type("application/octet-stream")
    (True, False)
    """
    if not content_type:
        return False
    return _TEXT_TYPES.match(content_type.split(";")[0].strip()) is not None


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    route_key: str
    path_parameters: dict[str, str]
    target: T
    authorizer: Authorizer | None = None


@dataclass(frozen=True)
class _CompiledRoute(Generic[T]):
    route: Route
    pattern: re.Pattern[str] | None  # None: $default
    variables: tuple[str, ...]
    rank: tuple[int, ...]
    target: T

    @property
    def route_key(self) -> str:
        return "$default" if self.pattern is None else f"{self.route.method} {self.route.path}"


class RouteTable(Generic[T]):
    """HTTP API routes in API Gateway's order of precedence, each with a target (a function)."""

    def __init__(self, routes: Iterable[tuple[Route, T]]) -> None:
        compiled = [self._compile(route, target) for route, target in routes]
        keys = [entry.route_key for entry in compiled]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"routes declared twice: {', '.join(duplicates)}")
        self._routes = sorted(compiled, key=lambda entry: entry.rank)

    def __len__(self) -> int:
        return len(self._routes)

    @staticmethod
    def _compile(route: Route, target: T) -> _CompiledRoute[T]:
        if route.path == "$default":
            return _CompiledRoute(route, None, (), (9,), target)
        segments = route.path.strip("/").split("/") if route.path.strip("/") else []
        pattern, variables = "", []
        greedy = literal = 0
        for segment in segments:
            variable = _VARIABLE.fullmatch(segment)
            if variable is None:
                pattern += "/" + re.escape(segment)
                literal += 1
                continue
            name = variable.group(1)
            variables.append(name)
            if variable.group(2):  # {proxy+}: the rest of the path, at least one character
                pattern += f"/(?P<v{len(variables) - 1}>.+)"
                greedy = 1
            else:
                pattern += f"/(?P<v{len(variables) - 1}>[^/]+)"
        # Fewer greedy variables first, then more literal segments, then longer paths, then a method over ANY.
        rank = (0, greedy, -literal, -len(segments), int(route.method == "ANY"))
        return _CompiledRoute(route, re.compile((pattern or "/") + "$"), tuple(variables), rank, target)

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        """The route for a request, its path parameters (percent-decoded) and target; None when none fits."""
        method = method.upper()
        for entry in self._routes:
            if entry.route.method not in (method, "ANY") and entry.pattern is not None:
                continue
            if entry.pattern is None:
                return RouteMatch(entry.route_key, {}, entry.target, entry.route.authorizer)
            found = entry.pattern.fullmatch(path)
            if found is not None:
                parameters = {name: unquote(found.group(f"v{i}")) for i, name in enumerate(entry.variables)}
                return RouteMatch(entry.route_key, parameters, entry.target, entry.route.authorizer)
        return None


@dataclass(frozen=True)
class Request:
    """An HTTP request as the server read it. `target` is the request line's target: path and query."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        return self.target.partition("?")[0] or "/"

    @property
    def raw_query_string(self) -> str:
        return self.target.partition("?")[2]


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def message(cls, status: HTTPStatus, message: str) -> GatewayResponse:
        body = json.dumps({"message": message}).encode()
        return cls(int(status), [("content-type", "application/json")], body)

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive)."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def _joined_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def build_event(
    request: Request,
    match: RouteMatch[Any],
    *,
    account_id: str,
    api_id: str,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway would hand the function for this request."""
    at = now or datetime.now(UTC)
    headers = _joined_headers(request.headers)
    cookie_header = headers.pop("cookie", None)
    domain = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query_string,
    }
    if cookie_header is not None:
        event["cookies"] = [cookie.strip() for cookie in re.split(r"[;,]", cookie_header) if cookie.strip()]
    event["headers"] = headers
    if request.raw_query_string:
        event["queryStringParameters"] = _query_parameters(request.raw_query_string)
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0].split(":")[0],
        "http": {
            "method": request.method.upper(),
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id or uuid.uuid4().hex[:16],
        "routeKey": match.route_key,
        "stage": "$default",
        "time": at.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(at.timestamp() * 1000),
    }
    encoded = False
    if request.body:
        body_text: str | None = None
        if is_text_type(headers.get("content-type")):
            try:
                body_text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                body_text = None
        if body_text is None:
            body_text, encoded = base64.b64encode(request.body).decode("ascii"), True
        event["body"] = body_text
    event["isBase64Encoded"] = encoded
    return event


class InvalidResponseError(ValueError):
    """The function returned something API Gateway cannot turn into a response."""


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidResponseError(f"{what} must be a string, got {type(value).__name__}")


def to_response(result: Any) -> GatewayResponse:
    """The HTTP response for a payload format 2.0 result (see the module docstring)."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        # API Gateway treats a result without statusCode as a 200 JSON body.
        body = json.dumps(result).encode()
        return GatewayResponse(200, [("content-type", "application/json")], body)
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidResponseError(f"statusCode must be an HTTP status code, got {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _text(value, f"header {name}")))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _text(value, f"header {name}")) for value in values)
    headers.extend(("set-cookie", _text(cookie, "cookie")) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    payload = b""
    if raw_body is not None:
        text = _text(raw_body, "body")
        if result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(text, validate=True)
            except binascii.Error as exc:
                raise InvalidResponseError(f"isBase64Encoded is set but the body is not base64: {exc}") from exc
        else:
            payload = text.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers) and payload:
        headers.append(("content-type", "application/json"))
    return GatewayResponse(status, headers, payload)


class Gateway:
    """Routes requests to functions, as an HTTP API with Lambda proxy integrations (payload 2.0) does."""

    def __init__(
        self,
        routes: Iterable[tuple[Route, Invocable]],
        *,
        authorizers: Mapping[str, Invocable] | None = None,
        account_id: str = "123456789012",
        api_id: str = "local",
    ) -> None:
        self.routes: RouteTable[Invocable] = RouteTable(routes)
        self.authorizers = dict(authorizers or {})
        self.account_id = account_id
        self.api_id = api_id

    def handle(self, request: Request) -> GatewayResponse:
        started = time.monotonic()
        response = self._handle(request)
        logger.info(
            "%s %s -> %d (%.0f ms)",
            request.method,
            request.target,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _handle(self, request: Request) -> GatewayResponse:
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return GatewayResponse.message(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return GatewayResponse.message(
                HTTPStatus.NOT_FOUND, f"no route for {request.method.upper()} {request.raw_path}"
            )
        event = build_event(request, match, account_id=self.account_id, api_id=self.api_id)
        if match.authorizer is not None:
            refused = self._authorize(match.authorizer, event)
            if refused is not None:
                return refused
        function = match.target
        try:
            result = function.invoke(event)
        except Exception:
            logger.exception("%s raised on %s", function.name, match.route_key)
            return GatewayResponse.message(HTTPStatus.BAD_GATEWAY, "Internal server error")
        try:
            response = to_response(result)
        except InvalidResponseError as exc:
            logger.error("%s returned a response API Gateway cannot use: %s", function.name, exc)
            return GatewayResponse.message(HTTPStatus.BAD_GATEWAY, "Internal server error")
        if request.method.upper() == "HEAD":
            response.body = b""
        return response

    def _authorize(self, authorizer: Authorizer, event: dict[str, Any]) -> GatewayResponse | None:
        """Run the route's Lambda authorizer as an HTTP API does (payload 2.0): a missing identity header
        is 401 without calling it, a refusal 403, an error 500; on success its context goes into the
        event as requestContext.authorizer.lambda. None: go on to the function."""
        headers: dict[str, str] = event["headers"]
        identity = [headers.get(name.lower()) for name in authorizer.identity_headers]
        if any(value is None for value in identity):
            return GatewayResponse.message(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        function = self.authorizers.get(authorizer.function_logical_id)
        if function is None:
            logger.error("authorizer %s: no function %s", authorizer.name, authorizer.function_logical_id)
            return GatewayResponse.message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        context = event["requestContext"]
        request_event = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:{self.account_id}:{self.api_id}/$default/"
            f"{context['http']['method']}{event['rawPath']}",
            "identitySource": identity,
            **{key: value for key, value in event.items() if key not in ("version", "body", "isBase64Encoded")},
        }
        try:
            answer = function.invoke(request_event)
        except Exception:
            logger.exception("authorizer %s raised", authorizer.name)
            return GatewayResponse.message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        if not authorizer.simple_responses:
            logger.error("authorizer %s: only simple responses run locally", authorizer.name)
            return GatewayResponse.message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        if not isinstance(answer, Mapping) or not isinstance(answer.get("isAuthorized"), bool):
            logger.error("authorizer %s returned no isAuthorized: %r", authorizer.name, answer)
            return GatewayResponse.message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        if not answer["isAuthorized"]:
            return GatewayResponse.message(HTTPStatus.FORBIDDEN, "Forbidden")
        context["authorizer"] = {"lambda": dict(answer.get("context") or {})}
        return None
