"""The three handlers, end to end on moto: HTTP events in, queue messages and DynamoDB items out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from testkit import ROOT, Context, call, event, http, load_function, queued, queued_event, rows, run_sql

EVENTS = ROOT / "events"


def integration_body(target_url: str, **changes: Any) -> dict[str, Any]:
    """A POST /v1/integrations body for segment 17 of account 1."""
    body = {
        "name": "test",
        "target_url": target_url,
        "segment_ids": [17],
        "templates": {"profiles_added": "SELECT 1", "profiles_removed": "SELECT 1"},
    }
    return {**body, **changes}


def test_ingest_enqueues_valid_events_and_names_the_field_of_bad_ones(aws: dict[str, str]) -> None:
    ingest = load_function("ingest")
    sample = json.loads(Path(EVENTS / "platform" / "profiles_added.json").read_text())
    status, body = call(ingest, http("POST", "/v1/events", {"events": [sample, {**sample, "id": "other"}]}))
    assert (status, body) == (202, {"accepted": 2, "messages": 2, "hook_events": 0})
    assert [queued_event(message).id for message in queued(aws["SyncQueue"])] == [sample["id"], "other"]
    # a bad event anywhere in the request: 422 naming it, and nothing enqueued
    status, body = call(
        ingest, http("POST", "/v1/events", {"events": [sample, {**sample, "occurred_at": "yesterday"}]})
    )
    assert status == 422 and body["errors"][0]["field"] == "events[1].occurred_at"
    assert body["message"].startswith("events[1].occurred_at: ")
    # events of another account than the key's: 403 naming the event, nothing enqueued
    status, body = call(ingest, http("POST", "/v1/events", {"events": [sample, {**sample, "account_id": 2}]}))
    assert (status, body["errors"][0]["field"]) == (403, "events[1].account_id")
    status, body = call(ingest, http("POST", "/v1/events", sample, account=2))
    assert (status, body["errors"][0]["field"]) == (403, "account_id")
    assert call(ingest, http("POST", "/v1/events", sample, account=None))[0] == 401
    status, body = call(ingest, http("POST", "/v1/events", "{not json"))
    assert (status, body["errors"]) == (422, [{"field": "body", "message": "the body is not valid JSON"}])
    # a field value that is not valid Unicode (JSON allows a lone surrogate escape)
    surrogate = json.dumps({**sample, "profiles": [{"id": "p", "fields": {"a": "@"}}]}).replace("@", "\\ud800")
    status, body = call(ingest, http("POST", "/v1/events", surrogate))
    assert body["errors"][0]["field"] == "profiles[0].fields"
    assert status == 422
    # ... and in a batch, named with its event
    batch = f'{{"events": [{json.dumps(sample)}, {surrogate}]}}'
    status, body = call(ingest, http("POST", "/v1/events", batch))
    assert (status, body["errors"][0]["field"]) == (422, "events[1].profiles[0].fields")
    assert body["message"] == "events[1].profiles[0].fields: contains text that is not valid Unicode"
    assert queued(aws["SyncQueue"]) == []


def test_ingest_splits_a_large_event_across_messages(aws: dict[str, str]) -> None:
    ingest = load_function("ingest")
    big = event("segment.profiles_added", [(f"p{n}", {"CustomID": f"c{n}", "bio": "x" * 2000}) for n in range(400)])
    status, body = call(ingest, http("POST", "/v1/events", big.model_dump(mode="json")))
    assert status == 202 and body["messages"] > 3
    parts = [queued_event(message) for message in queued(aws["SyncQueue"])]
    assert sorted(profile.id for part in parts for profile in part.profiles) == sorted(f"p{n}" for n in range(400))


def test_api_creates_lists_gets_and_deletes_integrations(aws: dict[str, str], sqlite_url: str) -> None:
    api = load_function("api")
    body = integration_body(
        "postgresql+pg8000://sync:secret@db.example.com/crm",
        templates={"profiles_added": "SELECT {$lead.a}", "profiles_removed": "SELECT 1"},
    )
    status, created = call(api, http("POST", "/v1/integrations", body))
    assert status == 201 and created["target_url"] == "postgresql+pg8000://sync:***@db.example.com/crm"
    assert created["batch_size"] == 100 and created["active"] is True
    status, listed = call(api, http("GET", "/v1/integrations"))
    assert status == 200 and [item["id"] for item in listed] == [created["id"]]
    status, fetched = call(api, http("GET", f"/v1/integrations/{created['id']}"))
    assert status == 200 and fetched == created
    status, updated = call(api, http("PUT", f"/v1/integrations/{created['id']}", {**body, "active": False}))
    assert status == 200 and updated["active"] is False and updated["created_at"] == created["created_at"]
    # another account sees nothing of it, and cannot change or delete it
    path = f"/v1/integrations/{created['id']}"
    assert call(api, http("GET", "/v1/integrations", account=2)) == (200, [])
    for request in (http("GET", path, account=2), http("PUT", path, body, account=2), http("DELETE", path, account=2)):
        assert call(api, request)[0] == 404
    status, answer = call(api, http("PUT", path, {**body, "account_id": 2}))
    assert (status, answer["errors"][0]["field"]) == (422, "account_id")  # not a field: the key decides
    assert call(api, http("GET", "/v1/integrations", account=None))[0] == 401
    bad_template = {**body["templates"], "profiles_added": "SELECT {$lead"}
    status, answer = call(api, http("PUT", f"/v1/integrations/{created['id']}", {**body, "templates": bad_template}))
    assert (status, answer["errors"][0]["field"]) == (422, "templates.profiles_added")
    status, _ = call(api, http("PUT", "/v1/integrations/nope", body))
    assert status == 404
    status, _ = call(api, http("DELETE", f"/v1/integrations/{created['id']}"))
    assert status == 204
    status, missing = call(api, http("GET", f"/v1/integrations/{created['id']}"))
    assert status == 404 and created["id"] in missing["message"]


def test_api_previews_a_template_for_a_sample_event_without_running_it(aws: dict[str, str]) -> None:
    api = load_function("api")
    body = integration_body(
        "mysql+pymysql://sync:secret@db.example.com/crm",
        batch_size=2,
        templates={
            "profiles_added": "INSERT INTO s VALUES "
            '{for $i, $lead = $batch}({segment_id}, "{$lead.CustomID}"){autocomma}{end}',
            "profiles_removed": "DELETE FROM s WHERE id = '{$lead._id}'",
        },
    )
    status, created = call(api, http("POST", "/v1/integrations", body))
    assert status == 201
    path = f"/v1/integrations/{created['id']}/preview"
    profiles = [{"id": f"p-{k}", "fields": {"CustomID": value}} for k, value in enumerate(["a", "O'Brien", "x\\y"])]
    status, answer = call(api, http("POST", path, {"segment": {"id": 17, "name": "VIP"}, "profiles": profiles}))
    assert status == 200, answer
    assert (answer["template"], answer["dialect"], answer["mode"]) == ("templates.profiles_added", "mysql", "batch")
    assert answer["chunks"] == [
        {"profiles": ["p-0", "p-1"], "statements": ["INSERT INTO s VALUES (17, 'a'),(17, 'O\\'Brien')"], "error": None},
        {"profiles": ["p-2"], "statements": ["INSERT INTO s VALUES (17, 'x\\\\y')"], "error": None},
    ]
    # a per-profile template, and a template tried before it is saved
    status, answer = call(api, http("POST", path, {"type": "segment.profiles_removed", "profiles": profiles[:2]}))
    assert [chunk["statements"] for chunk in answer["chunks"]] == [
        ["DELETE FROM s WHERE id = 'p-0'", "DELETE FROM s WHERE id = 'p-1'"]
    ]
    status, answer = call(
        api, http("POST", path, {"type": "segment.cleared", "template": "DELETE FROM s WHERE seg = {segment_id}"})
    )
    assert (status, answer["mode"], answer["chunks"][0]["statements"]) == (
        200,
        "once",
        ["DELETE FROM s WHERE seg = 17"],
    )
    # errors name the field: a template missing for the event, a syntax error with its place, a bad event
    status, answer = call(api, http("POST", path, {"type": "segment.deleted"}))
    assert (status, answer["errors"][0]["field"]) == (422, "type")
    status, answer = call(api, http("POST", path, {"template": "SELECT {$lead.x"}))
    assert (status, answer["errors"][0]["field"], answer["errors"][0]["line"]) == (422, "template", 1)
    status, answer = call(api, http("POST", path, {"profiles": [{"id": ""}]}))
    assert (status, answer["errors"][0]["field"]) == (422, "profiles[0].id")
    status, _ = call(api, http("POST", "/v1/integrations/nope/preview", {}))
    assert status == 404


@pytest.mark.parametrize(
    ("change", "field", "location"),
    [
        (
            {"templates": {"profiles_added": "INSERT {for $l = $batch}", "profiles_removed": "x"}},
            "templates.profiles_added",
            {"line": 1, "column": 25},
        ),
        ({"target_url": "oracle+cx_oracle://u@h/db"}, "target_url", {}),  # no driver installed
        ({"target_url": "db2+ibm_db://u@h/db"}, "target_url", {}),  # no dialect
        ({"target_url": "not a url"}, "target_url", {}),
        ({"batch_size": 0}, "batch_size", {}),
        ({"surprise": 1}, "surprise", {}),
    ],
)
def test_api_refuses_bad_integrations_naming_the_field(
    aws: dict[str, str], change: dict[str, Any], field: str, location: dict[str, int]
) -> None:
    api = load_function("api")
    body = {**integration_body("sqlite:///x.db"), **change}
    status, answer = call(api, http("POST", "/v1/integrations", body))
    assert status == 422
    [error] = answer["errors"]
    assert error["field"] == field
    assert {key: error[key] for key in location} == location


def test_an_integration_with_a_batch_timeout_gathers_and_the_worker_queues_a_delayed_flush(
    aws: dict[str, str], sqlite_url: str
) -> None:
    api, worker = load_function("api"), load_function("sync_worker")
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text PRIMARY KEY)")
    body = integration_body(
        sqlite_url,
        templates={
            "profiles_added": "INSERT INTO m VALUES "
            "{for $i, $lead = $batch}({segment_id}, '{$lead._id}'){autocomma}{end}",
            "profiles_removed": 'DELETE FROM m WHERE client IN ({batch_in "_id"})',
        },
        batch_size=50,
        batch_timeout=120,
    )
    status, created = call(api, http("POST", "/v1/integrations", body))
    assert (status, created["batch_timeout"]) == (201, 120)
    status, answer = call(api, http("POST", "/v1/integrations", {**body, "batch_timeout": 901}))
    assert (status, answer["errors"][0]["field"]) == (422, "batch_timeout")

    # WHEN a small delivery reaches the worker
    record = {"messageId": "m-1", "body": event("segment.profiles_added", ["a"]).model_dump_json()}
    assert worker.lambda_handler({"Records": [record]}, Context()) == {"batchItemFailures": []}

    # THEN nothing ran yet, and the flush waits on the sync queue, delayed by the timeout
    assert rows(sqlite_url, "SELECT count(*) FROM m") == [(0,)]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=aws["SyncQueue"], AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert queued(aws["SyncQueue"]) == []


def test_worker_applies_queued_events_and_reports_stats_through_the_api(aws: dict[str, str], sqlite_url: str) -> None:
    api, ingest, worker = load_function("api"), load_function("ingest"), load_function("sync_worker")
    run_sql(sqlite_url, "CREATE TABLE m (seg int, client text PRIMARY KEY)")
    body = {
        "name": "to sqlite",
        "target_url": sqlite_url,
        "segment_ids": [17],
        "templates": {
            "profiles_added": "INSERT INTO m VALUES "
            "{for $i, $lead = $batch}({segment_id}, '{$lead.CustomID}'){autocomma}{end}",
            "profiles_removed": 'DELETE FROM m WHERE client IN ({batch_in "CustomID"})',
        },
    }
    _, created = call(api, http("POST", "/v1/integrations", body))
    call(ingest, http("POST", "/v1/events", event("segment.profiles_added", ["a", "b"]).model_dump(mode="json")))
    call(ingest, http("POST", "/v1/events", '{"id": "x"}'))  # refused at ingest: never queued
    sqs = boto3.client("sqs")
    received = sqs.receive_message(QueueUrl=aws["SyncQueue"], MaxNumberOfMessages=10)["Messages"]
    records = [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        for message in received
    ]
    records.append({**records[0], "messageId": "poison", "body": "not json"})
    answer = worker.lambda_handler({"Records": records}, Context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    status, stats = call(api, http("GET", f"/v1/integrations/{created['id']}/stats"))
    assert status == 200 and (stats["statements"], stats["profiles"], stats["errors"]) == (1, 2, 0)
    # a resync needs the segment_cleared template; with it, the API queues it and the worker rebuilds
    path = f"/v1/integrations/{created['id']}"
    status, answer = call(api, http("POST", f"{path}/resync", {}))
    assert (status, answer["errors"][0]["field"]) == (422, "templates.segment_cleared")
    templates = {**body["templates"], "segment_cleared": "DELETE FROM m WHERE seg = {segment_id}"}
    assert call(api, http("PUT", path, {**body, "templates": templates}))[0] == 200
    status, answer = call(api, http("POST", f"{path}/resync", {"segment_ids": [99]}))
    assert (status, answer["errors"][0]["field"]) == (422, "segment_ids")
    run_sql(sqlite_url, "DELETE FROM m", "INSERT INTO m VALUES (17, 'stranger')")
    status, answer = call(api, http("POST", f"{path}/resync", {}))
    assert status == 202 and answer["segment_ids"] == [17]
    queued = sqs.receive_message(QueueUrl=aws["SyncQueue"], MaxNumberOfMessages=10)["Messages"]
    resync = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in queued]
    # this warm worker's cached configuration predates the new template: the request goes back ...
    assert worker.lambda_handler({"Records": resync}, Context())["batchItemFailures"]
    # ... and a worker with the current configuration runs it
    worker._worker = None
    assert worker.lambda_handler({"Records": resync}, Context()) == {"batchItemFailures": []}
    assert sorted(rows(sqlite_url, "SELECT client FROM m")) == [("a",), ("b",)]
    status, bad_range = call(
        api,
        http(
            "GET",
            f"/v1/integrations/{created['id']}/stats",
            query={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        ),
    )
    assert status == 400 and bad_range["errors"][0]["field"] == "from"


def test_api_keeps_connector_secrets_in_secrets_manager_and_masks_them(aws: dict[str, str], tmp_path: Path) -> None:
    api = load_function("api")
    body = {
        "name": "local",
        "type": "sqlite",
        "database": str(tmp_path / "c.db"),
        "password": "hunter2",
    }
    status, created = call(api, http("POST", "/v1/connectors", body))
    assert status == 201, created
    assert created["password"] == "***" and created["version"] == 1 and "hunter2" not in json.dumps(created)
    # the config table holds no secret; Secrets Manager does
    items = boto3.client("dynamodb").scan(TableName=aws["ConfigTable"])["Items"]
    assert items and "hunter2" not in json.dumps(items)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=created["secret_id"])
    assert json.loads(secret["SecretString"]) == {"password": "hunter2"}
    path = f"/v1/connectors/{created['id']}"
    status, fetched = call(api, http("GET", path))
    assert status == 200 and fetched == created
    status, listed = call(api, http("GET", "/v1/connectors"))
    assert [item["id"] for item in listed] == [created["id"]]
    status, validated = call(api, http("POST", f"{path}/validate"))
    assert status == 200 and validated["ok"] and validated["server_version"].startswith("3.")
    status, updated = call(api, http("PUT", path, {**body, "password": None, "description": "renamed"}))
    assert status == 200 and updated["version"] == 2 and updated["password"] == "***"
    status, answer = call(api, http("PUT", path, {**body, "type": "postgresql"}))
    assert (status, answer["errors"][0]["field"]) == (422, "host")
    status, answer = call(api, http("POST", "/v1/connectors", {**body, "port": 0}))
    assert (status, answer["errors"][0]["field"]) == (422, "port")
    status, _ = call(api, http("DELETE", path))
    assert status == 204
    status, _ = call(api, http("GET", path))
    assert status == 404
    with pytest.raises(boto3.client("secretsmanager").exceptions.ResourceNotFoundException):
        boto3.client("secretsmanager").get_secret_value(SecretId=created["secret_id"])


@pytest.mark.services
def test_an_integration_through_a_connector_syncs_into_postgresql(aws: dict[str, str], postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    api, ingest, worker = load_function("api"), load_function("ingest"), load_function("sync_worker")
    run_sql(postgres_url, "DROP TABLE IF EXISTS via_connector", "CREATE TABLE via_connector (seg int, client text)")
    url = make_url(postgres_url)
    connector = {"name": "pg", "type": "postgresql", "host": url.host, "port": url.port}
    connector |= {"database": url.database, "username": url.username, "password": "unused-with-trust"}
    status, created = call(api, http("POST", "/v1/connectors", connector))
    assert status == 201, created
    templates = {
        "profiles_added": "INSERT INTO via_connector VALUES ({segment_id}, '{$lead.CustomID}')",
        "profiles_removed": "DELETE FROM via_connector WHERE client = '{$lead.CustomID}'",
    }
    body = integration_body("", templates=templates, connector_id=created["id"])
    del body["target_url"]
    status, answer = call(api, http("POST", "/v1/integrations", {**body, "connector_id": "nope"}))
    assert (status, answer["errors"][0]["field"]) == (422, "connector_id")
    status, answer = call(api, http("POST", "/v1/integrations", {**body, "target_url": "sqlite:///x.db"}))
    assert (status, answer["errors"][0]["field"]) == (422, "connector_id")
    status, integration = call(api, http("POST", "/v1/integrations", body))
    assert status == 201 and integration["connector_id"] == created["id"] and integration["target_url"] is None
    call(ingest, http("POST", "/v1/events", event("segment.profiles_added", ["a", "b"]).model_dump(mode="json")))
    received = boto3.client("sqs").receive_message(QueueUrl=aws["SyncQueue"], MaxNumberOfMessages=10)["Messages"]
    records = [{"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs"} for m in received]
    assert worker.lambda_handler({"Records": records}, Context()) == {"batchItemFailures": []}
    assert sorted(rows(postgres_url, "SELECT client FROM via_connector")) == [("a",), ("b",)]
    # the connector's secrets never reached the config table
    items = boto3.client("dynamodb").scan(TableName=aws["ConfigTable"])["Items"]
    assert "unused-with-trust" not in json.dumps(items)
    # and it cannot be deleted while an integration writes through it
    status, answer = call(api, http("DELETE", f"/v1/connectors/{created['id']}"))
    assert status == 409 and integration["id"] in answer["message"]


def test_the_openapi_document_is_served_and_committed_current(aws: dict[str, str]) -> None:
    api = load_function("api")
    status, document = call(api, http("GET", "/v1/openapi.json"))
    assert status == 200 and "/v1/connectors/{connector_id}/validate" in document["paths"]
    response = api.lambda_handler(http("GET", "/v1/docs"), Context())
    assert response["statusCode"] == 200 and "swagger" in response["body"].lower()
    spec = importlib.util.spec_from_file_location("openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = (ROOT / "openapi.json").read_text("utf-8")
    assert script.generate() == committed, "openapi.json is stale: run `make openapi`"
    # AND the committed document covers every HTTP function: the api's part as it serves it, ingest, customers
    whole = json.loads(committed)
    assert all(whole["paths"][path].keys() >= operations.keys() for path, operations in document["paths"].items())
    assert {"/v1/events", "/track/v2/projects/{project_id}/batch", "/v1/imports"} <= whole["paths"].keys()
    assert whole["components"]["schemas"]["HTTPValidationError"]["required"] == ["statusCode", "message"]


def test_merging_documents_refuses_what_two_functions_define_differently() -> None:
    from sqlsync.api.openapi import merged

    first = {"paths": {"/a": {"get": {"summary": "a"}}}, "components": {"schemas": {"A": {"type": "object"}}}}
    same_schema = {"paths": {"/a": {"post": {}}}, "components": {"schemas": {"A": {"type": "object"}}}}
    assert merged([first, same_schema])["paths"]["/a"].keys() == {"get", "post"}
    with pytest.raises(ValueError, match="GET /a is defined by two functions"):
        merged([first, {"paths": {"/a": {"get": {}}}}])
    with pytest.raises(ValueError, match="schema 'A' differs"):
        merged([first, {"components": {"schemas": {"A": {"type": "string"}}}}])


def authorizer_request(authorization: str | None) -> dict[str, Any]:
    """The REQUEST event an HTTP API hands its Lambda authorizer (payload 2.0)."""
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/v1/integrations",
        "identitySource": [authorization] if authorization is not None else [],
        "routeKey": "GET /v1/integrations",
        "rawPath": "/v1/integrations",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": "GET", "path": "/v1/integrations", "sourceIp": "127.0.0.1"}},
    }


def test_the_authorizer_maps_a_key_to_its_account_and_refuses_anything_else(aws: dict[str, str]) -> None:
    from sqlsync.accounts import ApiKeys
    from sqlsync.store.dynamodb import DynamoDBConfigStore

    keys = ApiKeys(DynamoDBConfigStore(aws["ConfigTable"]))
    issued = keys.issue(42, "platform")
    authorizer = load_function("authorizer")
    answer = authorizer.lambda_handler(authorizer_request(f"Bearer {issued.key}"), Context())
    assert answer == {"isAuthorized": True, "context": {"account_id": 42, "key_id": issued.info.id}}
    for header in (None, issued.key, f"Basic {issued.key}", "Bearer sqk_unknown", f"Bearer {issued.key}x"):
        assert authorizer.lambda_handler(authorizer_request(header), Context()) == {"isAuthorized": False}
    # revoked: refused once this function's short cache has let go of it (a fresh instance here)
    keys.revoke(42, issued.info.id)
    fresh = load_function("authorizer")
    assert fresh.lambda_handler(authorizer_request(f"Bearer {issued.key}"), Context()) == {"isAuthorized": False}


def test_resuming_an_integration_queues_a_catch_up_per_segment(aws: dict[str, str], sqlite_url: str) -> None:
    api = load_function("api")
    body = integration_body(sqlite_url, segment_ids=[17, 18], active=False)
    _, created = call(api, http("POST", "/v1/integrations", body))
    path = f"/v1/integrations/{created['id']}"
    assert call(api, http("PUT", path, {**body, "description": "still paused"}))[0] == 200
    assert queued(aws["SyncQueue"]) == []  # nothing to catch up while it stays paused
    assert call(api, http("PUT", path, {**body, "active": True}))[0] == 200
    requests = [json.loads(message) for message in queued(aws["SyncQueue"])]
    assert sorted((r["kind"], r["integration_id"], r["segment_id"]) for r in requests) == [
        ("catchup", created["id"], 17),
        ("catchup", created["id"], 18),
    ]


def test_dead_letters_are_listed_and_redriven_for_their_integration_only(aws: dict[str, str], sqlite_url: str) -> None:
    api = load_function("api")
    _, created = call(api, http("POST", "/v1/integrations", integration_body(sqlite_url)))
    sqs = boto3.client("sqs")
    mine = event("segment.profiles_added", ["a", "b"]).model_dump_json()
    other = event("segment.profiles_added", ["c"], segment=99).model_dump_json()
    for body in (mine, other):
        sqs.send_message(QueueUrl=aws["SyncDLQ"], MessageBody=body)
    path = f"/v1/integrations/{created['id']}"
    status, listed = call(api, http("GET", f"{path}/dead-letters", query={"limit": "10"}))
    assert status == 200 and listed["complete"] is True, listed
    assert [(m["kind"], m["profiles"]) for m in listed["messages"]] == [("event", 2)]
    assert call(api, http("GET", f"{path}/dead-letters", account=2))[0] == 404
    assert call(api, http("GET", f"{path}/dead-letters", query={"limit": "0"}))[0] == 422
    status, moved = call(api, http("POST", f"{path}/redrive"))
    assert (status, moved["moved"], moved["remaining"]) == (200, 1, 0)
    assert queued(aws["SyncQueue"]) == [mine]
    assert queued(aws["SyncDLQ"]) == [other]


def test_a_store_that_fails_answers_503_in_json_not_a_stack_trace(aws: dict[str, str]) -> None:
    api = load_function("api")
    boto3.client("dynamodb").delete_table(TableName=aws["ConfigTable"])

    status, body = call(api, http("GET", "/v1/integrations"))

    assert status == 503
    assert body == {"statusCode": 503, "message": "storage is unavailable for a moment; resending is safe"}
