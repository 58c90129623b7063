"""Builders shared by the tests: events, integrations, queue messages, and a reader of target tables."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from sqlsync.connectors import target_for
from sqlsync.models import Integration, SegmentEvent
from sqlsync.models.connectors import Connector, ConnectorType
from sqlsync.models.events import Database, Profile
from sqlsync.models.hooks import ActivityEvent, Campaign, Hook, HttpDestination, Message, Named
from sqlsync.sync import QueueMessage, to_messages
from sqlsync.sync.wire import QueuedEvent, decode

ROOT = Path(__file__).resolve().parent.parent
BASE_TIME = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def hostile_values() -> list[str]:
    """Classic injection strings, quotes, backslashes, comment openers, control characters and tricky
    Unicode: values every target can store, which must read back exactly (tests/data/hostile_values.json)."""
    values: list[str] = json.loads((ROOT / "tests" / "data" / "hostile_values.json").read_text("utf-8"))
    return values


def event(
    type_: str,
    profiles: Iterable[str | tuple[str, dict[str, Any]]] = (),
    *,
    at: float = 0,
    segment: int = 17,
    segment_name: str | None = "VIP",
    account: int = 1,
    event_id: str | None = None,
) -> SegmentEvent:
    """A platform event `at` seconds after BASE_TIME; a profile given by id alone gets CustomID = id."""
    built = []
    for profile in profiles:
        profile_id, fields = (profile, {"CustomID": profile}) if isinstance(profile, str) else profile
        built.append({"id": profile_id, "fields": fields})
    return SegmentEvent.model_validate(
        {
            "id": event_id or f"evt-{next(_ids)}",
            "type": type_,
            "account_id": account,
            "occurred_at": (BASE_TIME + timedelta(seconds=at)).isoformat(),
            "segment": {"id": segment, "name": segment_name},
            "profiles": built,
        }
    )


def activity_event(event_id: str, event_type: str = "click", **fields: Any) -> ActivityEvent:
    """An activity event as the platform posts it: the sample click (events/platform/hooks/click.json) under
    another id and type, with `fields` replaced."""
    sample = json.loads((ROOT / "events" / "platform" / "hooks" / "click.json").read_text("utf-8"))
    return ActivityEvent.model_validate({**sample, "id": event_id, "type": event_type, **fields})


HOOK_TIME = datetime(2026, 11, 22, 10, 0, 5, 123456, tzinfo=UTC)


def full_activity(**changes: Any) -> ActivityEvent:
    """A click with every part an activity event can have (database, profile, resource, campaign, message,
    segments, event_data), `changes` replacing any."""
    base: dict[str, Any] = {
        "id": "evt-1",
        "type": "click",
        "account_id": 1,
        "occurred_at": HOOK_TIME,
        "database": Database(id=3, name="Customers"),
        "profile": Profile(id="p-1", fields={"email": "a@example.com", "city": "Zürich"}),
        "resource": Named(id=5, name="Shop"),
        "campaign": Campaign(id=7, name="Black Friday", subid="bf-26"),
        "message": Message(id=9, name="Promo", subject="50% off"),
        "segments": [Named(id=17, name="VIP"), Named(id=18, name="Buyers")],
        "event_data": {"link_url": "https://example.com/x"},
    }
    return ActivityEvent.model_validate({**base, **changes})


def http_hook(**changes: Any) -> Hook:
    """Hook h-1 of account 1: clicks and opens to an HTTPS endpoint, `changes` replacing any field."""
    base: dict[str, Any] = {
        "id": "h-1",
        "account_id": 1,
        "name": "to crm",
        "event_types": ["click", "open"],
        "destination": HttpDestination(url="https://hooks.example.com/in"),
        "created_at": HOOK_TIME,
        "updated_at": HOOK_TIME,
    }
    return Hook.model_validate({**base, **changes})


def queued_event(body: str) -> SegmentEvent:
    """The segment event a sync-queue body carries, with its profiles (sqlsync.sync.wire)."""
    queued = decode(body)
    assert isinstance(queued, QueuedEvent), f"not a segment event: {body[:80]}"
    profiles = [
        Profile(id=profile_id, fields=fields)
        for profile_id, fields in zip(queued.profile_ids, queued.fields(), strict=True)
    ]
    return queued.event.model_copy(update={"profiles": profiles})


def messages(events: Sequence[SegmentEvent]) -> list[QueueMessage]:
    return [
        QueueMessage(f"msg-{index}-{part}", body)
        for index, item in enumerate(events)
        for part, body in enumerate(to_messages(item))
    ]


def integration(target_url: str | None, templates: dict[str, str], **overrides: Any) -> Integration:
    values: dict[str, Any] = {
        "id": f"int-{next(_ids)}",
        "name": "test",
        "account_id": 1,
        "target_url": target_url,
        "segment_ids": [17],
        "batch_size": 100,
        "templates": templates,
        "created_at": BASE_TIME,
        "updated_at": BASE_TIME,
    }
    values.update(overrides)
    return Integration.model_validate(values)


def connector(connector_id: str, account_id: int, type_: ConnectorType = ConnectorType.POSTGRESQL) -> Connector:
    """A saved connector as the stores hold it (no host: tests resolve its target themselves)."""
    return Connector(
        id=connector_id,
        account_id=account_id,
        name=connector_id,
        type=type_,
        version=1,
        created_at=BASE_TIME,
        updated_at=BASE_TIME,
    )


def create_customers_table(table: str) -> None:
    """template.yaml's CustomersTable on moto: its keys and its `changes` index (the exports' feeds)."""
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "changes",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with target_for(url).engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql).fetchall()]


def run_sql(url: str, *statements: str) -> None:
    target_for(url).execute(list(statements))


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as Lambda would, under a module name of its own."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"sqlsync_function_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Handlers as Lambda calls them ------------------------------------------------------------------------


class Context:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http(
    method: str, path: str, body: Any = None, query: dict[str, str] | None = None, account: int | None = 1
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, authorized for `account` as the Lambda authorizer
    would (None: no authorizer context at all)."""
    query = query or {}
    context: dict[str, Any] = {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"}, "stage": "$default"}
    if account is not None:
        context["authorizer"] = {"lambda": {"account_id": account, "key_id": "k"}}
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{key}={value}" for key, value in query.items()),
        "queryStringParameters": query or None,
        "headers": {"content-type": "application/json"},
        "requestContext": context,
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def call(function: Any, request: dict[str, Any]) -> tuple[int, Any]:
    response = function.lambda_handler(request, Context())
    body = response.get("body") or "null"
    return int(response["statusCode"]), json.loads(body)


def queued(queue_url: str) -> list[str]:
    import boto3

    sqs = boto3.client("sqs")
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        bodies += [message["Body"] for message in batch]


# Services --------------------------------------------------------------------------------------------

REQUIRE_SERVICES = os.environ.get("SQLSYNC_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under SQLSYNC_REQUIRE_SERVICES=1 (CI), where every service must be there."""
    import pytest

    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SQLSYNC_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def create_connector(api: Any, url: str) -> str:
    """A connector, created through the API function, to the database of a test URL (PostgreSQL or MariaDB):
    its id."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    kind = "postgresql" if parsed.get_backend_name() == "postgresql" else "mysql"
    body: dict[str, Any] = {"name": kind, "type": kind, "host": parsed.host, "port": parsed.port}
    body |= {"database": parsed.database, "username": parsed.username}
    if parsed.password:
        body["password"] = parsed.password
    status, created = call(api, http("POST", "/v1/connectors", body))
    assert status == 201, created
    return str(created["id"])


@contextmanager
def scratch_schema(url: str, prefix: str) -> Iterator[str]:
    """A new schema (a database, on MariaDB) in the database of a test URL, dropped with its tables after."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    run_sql(url, f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        cascade = " CASCADE" if url.startswith("postgresql") else ""
        run_sql(url, f"DROP SCHEMA {name}{cascade}")


def create_export(api: Any, url: str, schema: str, datasets: list[str]) -> str:
    """An export of `datasets` into `schema` of a test URL's database, created through the API function (with
    its connector): its id. It is due at once."""
    body = {"name": schema, "connector_id": create_connector(api, url), "target_schema": schema, "datasets": datasets}
    status, created = call(api, http("POST", "/v1/exports", body))
    assert status == 201, created
    return str(created["id"])


def exporter_tick(exporter: Any) -> Any:
    """The exporter function's answer to the scheduler's tick, reading the feeds up to now (no index lag)."""
    exporter.runner().lag = 0.0
    return exporter.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())
