"""Action hooks through the handlers on moto: the API, ingest's fan-out and the dispatcher, delivering to a
real HTTP receiver on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sqlsync.hooks.wire import decode
from sqlsync.local.demo import HookReceiver
from testkit import Context, call, http, load_function, queued, run_sql

AT = "2026-11-22T10:00:05Z"


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    """The local stack's demo endpoint: it keeps every request and answers from a script of statuses."""
    running = HookReceiver()
    yield running
    running.close()


@pytest.fixture
def loopback_allowed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment setting that lets hooks reach loopback (the receiver), and retries without delay."""
    monkeypatch.setenv("HOOK_ALLOW_PRIVATE_DESTINATIONS", "true")
    monkeypatch.setenv("HOOK_RETRY_PERIOD_SEC", "0")
    return aws


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks, from the specification: HMAC-SHA256 over id.timestamp.body, keyed with the secret's
    base64 part; any of the space-separated v1 signatures may match."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[1] for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def hook_body(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": "clicks",
        "event_types": ["click", "open"],
        "filters": {"campaign_ids": [7]},
        "custom_data": {"profile_fields": ["email"], "values": {"cname": "{{campaign_name}}"}},
        "destination": {"kind": "http", "url": url, "batch_size": 10},
        **changes,
    }


def activity(event_id: str, type_: str = "click", campaign: int = 7) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "account_id": 1,
        "occurred_at": AT,
        "profile": {"id": f"p-{event_id}", "fields": {"email": f"{event_id}@example.com"}},
        "campaign": {"id": campaign, "name": "Black Friday"},
    }


def records(queue_url: str) -> list[dict[str, Any]]:
    received = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in received]


def test_hooks_are_configured_with_secrets_kept_out_of_the_config_table(
    loopback_allowed: dict[str, str], receiver: HookReceiver
) -> None:
    api = load_function("api")
    status, created = call(api, http("POST", "/v1/hooks", hook_body(receiver.url)))
    assert status == 201 and created["destination"]["signing_secret"] == "***" and created["active"] is True
    path = f"/v1/hooks/{created['id']}"
    status, secret = call(api, http("GET", f"{path}/signing-secret"))
    assert status == 200 and secret["signing_secret"].startswith("whsec_")
    items = boto3.client("dynamodb").scan(TableName=loopback_allowed["ConfigTable"])["Items"]
    assert secret["signing_secret"] not in json.dumps(items)

    # a PUT without a secret keeps it; pause, activate and clone
    status, updated = call(api, http("PUT", path, hook_body(receiver.url + "/v2", name="renamed")))
    assert (status, updated["name"]) == (200, "renamed")
    assert call(api, http("GET", f"{path}/signing-secret"))[1] == secret
    assert call(api, http("POST", f"{path}/pause"))[1]["active"] is False
    assert call(api, http("POST", f"{path}/activate"))[1]["active"] is True
    status, copy = call(api, http("POST", f"{path}/clone"))
    assert (status, copy["name"], copy["active"]) == (201, "renamed (copy)", False)
    assert call(api, http("GET", f"/v1/hooks/{copy['id']}/signing-secret"))[1] == secret
    assert sorted(hook["id"] for hook in call(api, http("GET", "/v1/hooks"))[1]) == sorted([created["id"], copy["id"]])

    # another account sees none of it
    assert call(api, http("GET", path, account=2))[0] == 404
    assert call(api, http("GET", "/v1/hooks", account=2))[1] == []

    # a RabbitMQ URL's password goes to the secret store too
    rabbit = hook_body(
        receiver.url, destination={"kind": "rabbitmq_queue", "url": "amqp://u:pw@127.0.0.1:5672/", "queue": "q"}
    )
    status, made = call(api, http("POST", "/v1/hooks", rabbit))
    assert (status, made["destination"]["url"]) == (201, "amqp://u:***@127.0.0.1:5672/")
    assert "pw@" not in json.dumps(boto3.client("dynamodb").scan(TableName=loopback_allowed["ConfigTable"])["Items"])
    assert call(api, http("GET", f"/v1/hooks/{made['id']}/signing-secret"))[0] == 409

    # delete removes the hook and its secret
    assert call(api, http("DELETE", path))[0] == 204
    assert call(api, http("GET", path))[0] == 404
    names = [s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"]]
    assert f"sqlsync/1/hook/{created['id']}" not in names


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"custom_data": {"values": {"x": "{{nope}}"}}}, "custom_data.values.x"),
        ({"destination": {"kind": "http", "url": "http://169.254.169.254/latest"}}, "destination.url"),
        ({"destination": {"kind": "http", "url": "ftp://example.com/x"}}, "destination.url"),
        (
            {"destination": {"kind": "http", "url": "https://example.com", "signing_secret": "nope"}},
            "destination.signing_secret",
        ),
        (
            {"destination": {"kind": "http", "url": "https://example.com", "headers": {"webhook-id": "x"}}},
            "destination.headers",
        ),
        ({"destination": {"kind": "rabbitmq_queue", "url": "http://host/", "queue": "q"}}, "destination.url"),
        ({"destination": {"kind": "kafka", "bootstrap_servers": "nohost", "topic": "t"}}, "destination"),
        (
            {"destination": {"kind": "kafka", "bootstrap_servers": "169.254.169.254:9092", "topic": "t"}},
            "destination.bootstrap_servers",
        ),
        (
            {"destination": {"kind": "rabbitmq_queue", "url": "amqp://u:p@169.254.170.2/", "queue": "q"}},
            "destination.url",
        ),
        ({"event_types": ["no_such_type"]}, "event_types[0]"),
        ({"event_types": []}, "event_types"),
    ],
)
def test_a_hook_that_cannot_work_is_refused_naming_the_field(
    loopback_allowed: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    status, answer = call(
        load_function("api"), http("POST", "/v1/hooks", hook_body("https://example.com/in", **changes))
    )
    assert status == 422, answer
    assert answer["errors"][0]["field"] == field


def test_loopback_is_refused_unless_the_deployment_allows_it(aws: dict[str, str], receiver: HookReceiver) -> None:
    status, answer = call(load_function("api"), http("POST", "/v1/hooks", hook_body(receiver.url)))
    assert (status, answer["errors"][0]["field"]) == (422, "destination.url")
    assert "private destinations are not allowed" in answer["message"]


def test_activity_events_reach_the_receiver_signed_through_a_retry(
    loopback_allowed: dict[str, str], receiver: HookReceiver
) -> None:
    api, ingest, dispatcher = load_function("api"), load_function("ingest"), load_function("hook_dispatcher")
    _, hook = call(api, http("POST", "/v1/hooks", hook_body(receiver.url)))
    secret = call(api, http("GET", f"/v1/hooks/{hook['id']}/signing-secret"))[1]["signing_secret"]

    # WHEN the platform posts two matching events, one of another campaign, one of another type
    events = [activity("e1"), activity("e2", "open"), activity("e3", campaign=8), activity("e4", "sent")]
    status, answer = call(ingest, http("POST", "/v1/events", {"events": events}))
    assert (status, answer) == (202, {"accepted": 4, "messages": 0, "hook_events": 2})

    # AND the receiver fails the first request
    receiver.script = [503]
    first = dispatcher.lambda_handler({"Records": records(loopback_allowed["HookQueue"])}, Context())
    assert first == {"batchItemFailures": []}
    second = dispatcher.lambda_handler({"Records": records(loopback_allowed["HookQueue"])}, Context())
    assert second == {"batchItemFailures": []}

    # THEN both events arrived, in order, signed, with custom_data, after one retry; nothing is left over
    assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]  # the same batch again
    assert all(verify(secret, headers, body) for headers, body in receiver.requests)
    delivered = json.loads(receiver.requests[-1][1])
    assert [(e["event_id"], e["event_type"], e["custom_data"]) for e in delivered] == [
        ("e1", "click", {"email": "e1@example.com", "cname": "Black Friday"}),
        ("e2", "open", {"email": "e2@example.com", "cname": "Black Friday"}),
    ]
    assert queued(loopback_allowed["HookQueue"]) == [] and queued(loopback_allowed["HookDLQ"]) == []
    status, stats = call(api, http("GET", f"/v1/hooks/{hook['id']}/stats"))
    assert status == 200
    assert (stats["requests"], stats["sent"], stats["retried"], stats["failed"]) == (1, 2, 2, 0)
    assert stats["last_error"].startswith("HTTP 503")


def test_a_permanent_refusal_goes_to_the_hook_dead_letter_queue_with_the_answer(
    loopback_allowed: dict[str, str], receiver: HookReceiver
) -> None:
    api, ingest, dispatcher = load_function("api"), load_function("ingest"), load_function("hook_dispatcher")
    _, hook = call(api, http("POST", "/v1/hooks", hook_body(receiver.url)))
    call(ingest, http("POST", "/v1/events", activity("e1")))
    receiver.script = [400]
    dispatcher.lambda_handler({"Records": records(loopback_allowed["HookQueue"])}, Context())
    [dead] = [decode(text) for text in queued(loopback_allowed["HookDLQ"])]
    [event] = dead.events
    assert (dead.hook_id, event.event_id, dead.attempt) == (hook["id"], "e1", 1)
    assert dead.last_error is not None and dead.last_error.startswith("HTTP 400")
    assert json.loads(event.body)["custom_data"] == {"email": "e1@example.com", "cname": "Black Friday"}
    assert call(api, http("GET", f"/v1/hooks/{hook['id']}/stats"))[1]["failed"] == 1


def test_the_test_call_sends_one_sample_event_now(loopback_allowed: dict[str, str], receiver: HookReceiver) -> None:
    api = load_function("api")
    _, hook = call(api, http("POST", "/v1/hooks", hook_body(receiver.url)))
    status, result = call(api, http("POST", f"/v1/hooks/{hook['id']}/test"))
    assert status == 200 and result["ok"] is True and result["latency_ms"] >= 0
    [sample] = receiver.events()
    assert (sample["is_test"], sample["event_type"], sample["hook_id"]) == (True, "click", hook["id"])
    receiver.script = [404]
    status, result = call(api, http("POST", f"/v1/hooks/{hook['id']}/test"))
    assert status == 200 and result["ok"] is False and result["detail"].startswith("HTTP 404")


def test_the_content_of_a_sent_message_rides_with_its_later_events_for_hooks_that_include_it(
    loopback_allowed: dict[str, str], receiver: HookReceiver
) -> None:
    api, ingest, dispatcher = load_function("api"), load_function("ingest"), load_function("hook_dispatcher")
    body = hook_body(receiver.url, event_types=["sent", "open"], filters={}, include_content=True)
    call(api, http("POST", "/v1/hooks", body))
    sent = {**activity("s1", "sent"), "message": {"id": 9, "name": "Promo", "content": {"html": "<p>Hi</p>"}}}
    opened = {**activity("o1", "open"), "message": {"id": 9}, "profile": sent["profile"]}

    assert call(ingest, http("POST", "/v1/events", {"events": [sent, opened]}))[1]["hook_events"] == 2
    queued_records = records(loopback_allowed["HookQueue"])
    assert "<p>Hi</p>" not in "".join(record["body"] for record in queued_records)  # kept aside, not queued
    dispatcher.lambda_handler({"Records": queued_records}, Context())

    assert [(e["event_id"], e.get("content")) for e in receiver.events()] == [
        ("s1", {"html": "<p>Hi</p>"}),
        ("o1", {"html": "<p>Hi</p>"}),
    ]


@pytest.mark.services
def test_an_event_asking_for_a_data_source_reaches_the_receiver_with_its_rows(
    loopback_allowed: dict[str, str], receiver: HookReceiver, postgres_url: str
) -> None:
    from sqlalchemy.engine import make_url

    # GIVEN a data source on the real PostgreSQL, and a hook to the receiver
    schema = f"enrich_{uuid.uuid4().hex[:8]}"
    run_sql(
        postgres_url,
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.promo_codes (id integer PRIMARY KEY, external_id text, promo_code text)",
        f"INSERT INTO {schema}.promo_codes VALUES (2, 'p-e1', 'AAAA'), (3, 'p-e1', 'BBBB'), (4, 'other', 'CCCC')",
    )
    api, ingest, dispatcher = load_function("api"), load_function("ingest"), load_function("hook_dispatcher")
    url = make_url(postgres_url)
    connector = {"name": "pg", "type": "postgresql", "host": url.host, "port": url.port, "database": url.database}
    connector |= {"username": url.username, "password": "unused-with-trust", "contact_key": "external_id"}
    connector_id = call(api, http("POST", "/v1/connectors", connector))[1]["id"]
    source = {"name": "promo_codes", "connector_id": connector_id, "schema_name": schema, "table": "promo_codes"}
    assert call(api, http("POST", "/v1/data-sources", source))[0] == 201
    call(api, http("POST", "/v1/hooks", hook_body(receiver.url)))

    try:
        # WHEN an event asks for it (the profile id is the contact key), and another asks for one that is not there
        event = {**activity("e1"), "data_sources": ["promo_codes"]}
        status, _ = call(ingest, http("POST", "/v1/events", event))
        assert status == 202
        wrong = {**activity("e2"), "data_sources": ["promo_codes", {"name": "coupons", "contact": "x"}]}
        status, refused = call(ingest, http("POST", "/v1/events", {"events": [activity("e3"), wrong]}))
        assert status == 422 and refused["errors"] == [
            {"field": "events[1].data_sources[1].name", "message": "no data source named 'coupons' in this account"}
        ]
        dispatcher.lambda_handler({"Records": records(loopback_allowed["HookQueue"])}, Context())
    finally:
        run_sql(postgres_url, f"DROP SCHEMA {schema} CASCADE")

    # THEN the receiver gets the contact's rows, serialized in jsonParam under the data source's name
    [delivered] = json.loads(receiver.requests[-1][1])
    assert delivered["event_id"] == "e1"
    assert json.loads(delivered["jsonParam"]) == {
        "promo_codes": [
            {"id": 2, "external_id": "p-e1", "promo_code": "AAAA"},
            {"id": 3, "external_id": "p-e1", "promo_code": "BBBB"},
        ]
    }


def test_the_dispatcher_reports_what_it_deferred_in_its_metrics(
    loopback_allowed: dict[str, str], receiver: HookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a hook that waits up to a minute for 10 events, and two that just came
    api, ingest, dispatcher = load_function("api"), load_function("ingest"), load_function("hook_dispatcher")
    destination = {"kind": "http", "url": receiver.url, "batch_size": 10, "max_wait_seconds": 60}
    call(api, http("POST", "/v1/hooks", hook_body(receiver.url, destination=destination)))
    call(ingest, http("POST", "/v1/events", {"events": [activity("e1"), activity("e2")]}))
    capsys.readouterr()

    # WHEN the dispatcher gets them
    assert dispatcher.lambda_handler({"Records": records(loopback_allowed["HookQueue"])}, Context()) == {
        "batchItemFailures": []
    }

    # THEN they wait on the queue, and the invocation's metrics (EMF, printed) say so
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [emf] = [line for line in lines if "_aws" in line]
    assert (emf["HookEventsDeferred"], emf["HookEventsSent"]) == ([2.0], [0.0])
    delayed = boto3.client("sqs").get_queue_attributes(
        QueueUrl=loopback_allowed["HookQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert receiver.requests == [] and delayed == "1"  # the message, back until the first has waited 60 s
