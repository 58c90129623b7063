"""The OpenAPI document of sqlsync's HTTP functions, generated from their routes and models by Powertools.

Each function (api, ingest, customers) has its own resolver; `make openapi` merges their documents into
openapi.json, and the api function serves its own part at /v1/openapi.json (and Swagger UI at /v1/docs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

API_INFO: dict[str, Any] = {
    "title": "sqlsync configuration API",
    "version": "1.0.0",
    "description": (
        "Connectors, segment-sync integrations, template preview, sync statistics, action hooks, scheduled "
        "exports and external data sources. Every call "
        "acts for the account of its API key (Authorization: Bearer <key>); another account's objects are not found."
    ),
    "security_schemes": {
        "apiKey": HTTPBearer(description="An account's API key, issued with `python -m sqlsync.accounts issue`")
    },
    "security": [{"apiKey": []}],
}
"""The api function's document."""

HTTP_API_INFO: dict[str, Any] = {
    **API_INFO,
    "title": "sqlsync HTTP API",
    "description": (
        "Every endpoint of the deployment's HTTP API: the configuration API (connectors, integrations, "
        "previews, statistics, hooks, exports, data sources), the platform's events (POST /v1/events) and "
        "customers (tracking, customer reads, imports). Every call acts for the account of its API key "
        "(Authorization: Bearer <key>); another account's objects are not found."
    ),
}
"""The merged document's: openapi.json."""

FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "description": "One refused field: its path in the request (events[1].occurred_at) and why; template errors "
    "add template, line and column",
    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    "required": ["field", "message"],
}
ERROR_BODY_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "description": "Every error answer: the status, a message naming the first field, and every refused field",
    "properties": {
        "statusCode": {"type": "integer"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    },
    "required": ["statusCode", "message"],
}


def document(app: APIGatewayHttpResolver, info: dict[str, Any]) -> dict[str, Any]:
    """The app's generated document, with the 422 body as sqlsync really answers it. Powertools declares its
    own shape (`detail: [{loc, msg, type}]`); sqlsync.api.errors answers `{statusCode, message, errors}`."""
    generated: dict[str, Any] = json.loads(app.get_openapi_json_schema(**info))
    schemas = generated.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"] = ERROR_BODY_SCHEMA
        schemas["ValidationError"] = FIELD_ERROR_SCHEMA
    return generated


def merged(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One document of several functions' (the first's info and security): their paths, and their schemas,
    which must agree where they share a name. ValueError when two define one operation or differ on one
    schema. (Powertools' OpenAPIMerge refuses the first with on_conflict="error" but lets the last of two
    different schemas of one name win silently, leaving one function's operations described wrongly.)"""
    whole: dict[str, Any] = json.loads(json.dumps(documents[0]))  # a copy
    paths: dict[str, dict[str, Any]] = whole.setdefault("paths", {})
    schemas: dict[str, Any] = whole.setdefault("components", {}).setdefault("schemas", {})
    for other in documents[1:]:
        for path, operations in other.get("paths", {}).items():
            known = paths.setdefault(path, {})
            for method, operation in operations.items():
                if method in known:
                    raise ValueError(f"{method.upper()} {path} is defined by two functions")
                known[method] = operation
        for name, schema in other.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"schema {name!r} differs between functions; rename one of the models")
    return whole
