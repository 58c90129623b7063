"""Errors -> HTTP responses, in one place. Every 4xx names the field; no stack trace leaves the API."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from sqlsync.store.exceptions import StoreError
from sqlsync.sync.exceptions import EnqueueError

logger = logging.getLogger(__name__)


class FieldError(Exception):
    """A request that is well-formed but wrong: the response names the field (and where in it)."""

    def __init__(
        self,
        field: str,
        message: str,
        status: HTTPStatus = HTTPStatus.UNPROCESSABLE_ENTITY,
        **location: int,
    ) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status
        self.location = location


# Discriminator tags that pydantic puts into error locations (models/ingest.py's union tags); they mean nothing
# to a caller.
_TAGS = frozenset({"segment_event", "activity_event", "order_event", "device_event", "batch"})


def error_response(status: HTTPStatus, message: str, errors: Sequence[dict[str, Any]] = ()) -> Response[str]:
    body: dict[str, Any] = {"statusCode": int(status), "message": message}
    if errors:
        body["errors"] = list(errors)
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body, ensure_ascii=False))


def field_path(location: Sequence[str | int]) -> str:
    """('body', 'events', 0, 'type') -> 'events[0].type'; the 'body' prefix and union tags are dropped."""
    parts = [part for part in location if part not in _TAGS]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def validation_response(errors: Sequence[dict[str, Any]]) -> Response[str]:
    details = [
        {
            "field": "body" if error.get("type") == "json_invalid" else field_path(error.get("loc", ())),
            "message": _message(error),
        }
        for error in errors
    ]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, f"{first['field']}: {first['message']}", details)


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return str(error.get("msg") or error.get("type") or "invalid value")


def _field_error_response(exc: FieldError) -> Response[str]:
    return error_response(exc.status, str(exc), [{"field": exc.field, "message": exc.message, **exc.location}])


def _not_found_response(exc: NotFoundError) -> Response[str]:
    return error_response(HTTPStatus.NOT_FOUND, str(exc.msg))


def _enqueue_failed_response(exc: EnqueueError) -> Response[str]:
    logger.error("enqueue failed: %s", exc)
    return error_response(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}; resending the same request is safe")


def _store_failed_response(exc: StoreError) -> Response[str]:
    logger.error("store failed: %s", exc)
    return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "storage is unavailable for a moment; resending is safe")


def _validation_error_response(exc: RequestValidationError) -> Response[str]:
    return validation_response(exc.errors())


def _not_json_response(_: Exception | None = None) -> Response[str]:
    """415 for a body sent as something else than JSON (Powertools' own 415 has no message)."""
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        "body: send it as application/json",
        [{"field": "body", "message": "send it as application/json"}],
    )


def _unreadable_body_handler(app: ApiGatewayResolver) -> Callable[[ValueError], Response[str]]:
    """Powertools lets a ValueError out of request validation when it cannot read the body: a
    multipart/form-data body without a boundary or with a broken part, a body that is not UTF-8. Those are
    the caller's mistakes; any other ValueError is a bug and stays one."""

    def handle(exc: ValueError) -> Response[str]:
        event = app.current_event
        if (event.headers.get("content-type") or "").strip().lower().startswith("multipart/form-data"):
            return _not_json_response()
        if event.is_base64_encoded and not _is_utf8(event.body or ""):
            return validation_response([{"type": "json_invalid"}])
        raise exc

    return handle


def _is_utf8(base64_body: str) -> bool:
    try:
        base64.b64decode(base64_body).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError
        return False
    return True


def install_error_handlers(
    app: ApiGatewayResolver, extra: dict[type[Exception], Callable[[Any], Response[str]]] | None = None
) -> None:
    """Register the handlers every HTTP function shares, plus the function's own."""
    handlers: dict[type[Exception], Callable[[Any], Response[str]]] = {
        RequestValidationError: _validation_error_response,
        RequestUnsupportedContentType: _not_json_response,
        ValueError: _unreadable_body_handler(app),
        FieldError: _field_error_response,
        NotFoundError: _not_found_response,
        EnqueueError: _enqueue_failed_response,
        StoreError: _store_failed_response,
        **(extra or {}),
    }
    for exception, handler in handlers.items():
        app.exception_handler(exception)(handler)
