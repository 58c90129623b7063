"""Customer tracking and lookup through the customers function's handler, on moto."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from testkit import call, http, load_function

ACCOUNT = 5
BATCH = f"/track/v2/projects/{ACCOUNT}/batch"


@pytest.fixture
def customers(aws: dict[str, str]) -> ModuleType:
    return load_function("customers")


def customer(function: ModuleType, customer_id: str, **query: str) -> tuple[int, Any]:
    return call(function, http("GET", f"/api/customers/{customer_id}", query=query, account=ACCOUNT))


def test_the_vendor_example_batch_then_the_customer_plain_and_with_timestamps(customers: ModuleType) -> None:
    status, body = call(
        customers,
        http(
            "POST",
            BATCH,
            {
                "commands": [
                    {"name": "system/time"},
                    {
                        "name": "customers",
                        "data": {
                            "customer_ids": {"registered": "mgalik"},
                            "properties": {"first_name": "Marian"},
                            "update_timestamp": 1570001049,
                        },
                    },
                    {
                        "name": "customers/events",
                        "data": {
                            "customer_ids": {"registered": "mgalik"},
                            "event_type": "purchase",
                            "timestamp": 1570001050.5,
                            "properties": {"total": 12.5},
                        },
                    },
                ]
            },
            account=ACCOUNT,
        ),
    )
    assert status == 200 and body["success"] is True
    time_result, update_result, event_result = body["results"]
    assert time_result["success"] is True and time_result["time"] > 1.7e9
    assert update_result == {"success": True} and event_result == {"success": True}

    assert customer(customers, "mgalik") == (
        200,
        {"ids": {"registered": ["mgalik"]}, "properties": {"first_name": "Marian"}},
    )
    for flag in ("0", "false"):
        assert customer(customers, "mgalik", include_timestamps=flag)[1]["properties"] == {"first_name": "Marian"}
    assert customer(customers, "mgalik", include_timestamps="1")[1]["properties"] == {
        "first_name": {"value": "Marian", "last_update": 1570001049}
    }


def test_an_older_update_does_not_overwrite_and_a_malformed_command_fails_alone(customers: ModuleType) -> None:
    commands = [
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "a"}, "properties": {"x": "new"}, "update_timestamp": 200},
        },
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "a"}, "properties": {"x": "old"}, "update_timestamp": 100},
        },
        {"name": "customers", "data": {"customer_ids": {"registered": 7}, "properties": {"x": "bad"}}},
        {"name": "customers", "data": {"customer_ids": {"registered": "a"}, "update_timstamp": 300}},
        {"name": "customers/delete", "data": {}},
        "not a command",
        {
            "name": "customers",
            "data": {"customer_ids": {"registered": "a"}, "properties": {"y": 1}, "update_timestamp": 150},
        },
    ]
    status, body = call(customers, http("POST", BATCH, {"commands": commands}, account=ACCOUNT))
    assert status == 200
    assert [result["success"] for result in body["results"]] == [True, True, False, False, False, False, True]
    assert body["results"][2]["errors"] == ["data.customer_ids.registered: a non-empty string"]
    assert body["results"][3]["errors"][0].startswith("data.update_timstamp: unknown field")
    assert body["results"][4]["errors"][0].startswith("name: unknown command 'customers/delete'")
    assert body["results"][5]["errors"][0].startswith("command: an object")
    assert customer(customers, "a", include_timestamps="1")[1]["properties"] == {
        "x": {"value": "new", "last_update": 200},
        "y": {"value": 1, "last_update": 150},
    }


def test_ids_resolve_to_one_customer_and_colliding_ids_are_refused(customers: ModuleType) -> None:
    def update(ids: dict[str, str], properties: dict[str, Any]) -> dict[str, Any]:
        command = {"name": "customers", "data": {"customer_ids": ids, "properties": properties}}
        result: dict[str, Any] = call(customers, http("POST", BATCH, {"commands": [command]}, account=ACCOUNT))[1]
        return result["results"][0]

    assert update({"cookie": "c-1"}, {"visits": 1})["success"]
    assert update({"cookie": "c-1", "registered": "anna"}, {"email": "anna@x"})["success"]
    assert update({"registered": "boris"}, {})["success"]
    refused = update({"registered": "boris", "cookie": "c-1"}, {"email": "boris@x"})
    assert refused["success"] is False and "belong to different customers" in refused["errors"][0]

    status, anna = customer(customers, "c-1", id_type="cookie")
    assert status == 200 and anna == {
        "ids": {"cookie": ["c-1"], "registered": ["anna"]},
        "properties": {"visits": 1, "email": "anna@x"},
    }


def test_a_caller_tracks_into_its_own_project_and_reads_only_its_own_customers(customers: ModuleType) -> None:
    command = {"name": "customers", "data": {"customer_ids": {"registered": "z"}, "properties": {"p": 1}}}
    status, body = call(customers, http("POST", "/track/v2/projects/6/batch", {"commands": [command]}, account=ACCOUNT))
    assert status == 403 and body["errors"][0]["field"] == "project_id"
    assert call(customers, http("POST", BATCH, {"commands": [command]}, account=ACCOUNT))[0] == 200
    assert call(customers, http("GET", "/api/customers/z", account=ACCOUNT + 1))[0] == 404
    assert call(customers, http("GET", "/api/customers/z", account=None))[0] == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [({"commands": []}, "commands"), ({"commands": [{}] * 51}, "commands"), ({"command": []}, "commands")],
)
def test_a_malformed_batch_is_refused_whole_naming_the_field(customers: ModuleType, body: Any, field: str) -> None:
    status, reply = call(customers, http("POST", BATCH, body, account=ACCOUNT))
    assert status == 422 and reply["errors"][0]["field"] == field


def test_an_unknown_customer_is_404_and_a_bad_id_type_422(customers: ModuleType) -> None:
    status, body = customer(customers, "nobody")
    assert status == 404 and body["message"] == "customer registered:nobody not found"
    status, body = customer(customers, "x", id_type="Bad Type")
    assert status == 422 and body["errors"][0]["field"] == "customer_id.Bad Type"
