"""Customer imports through the handlers on moto: created by the customers function (file kept in S3, a
slice queued), run by the importer from the import queue, watched and read back."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest

from testkit import Context, call, http, load_function, queued

ACCOUNT = 5
MAPPING = {
    "properties": [{"from_column": "meno", "to_property": "first_name"}],
    "ids": [{"from_column": "idecko", "to_id": "registered"}],
    "update_timestamp": {"from_column": "update_timestamp"},
}
CSV = "idecko,meno,update_timestamp\nmgalik,Marian,1570001049\nbad,Bad,yesterday\njana,Jana,1570001050.5\n"


class ShortOfTime(Context):
    """An invocation with no time to spare: each slice does one chunk, then queues the next."""

    def get_remaining_time_in_millis(self) -> int:
        return 0


@pytest.fixture
def functions(aws: dict[str, str]) -> tuple[ModuleType, ModuleType]:
    return load_function("customers"), load_function("importer")


def drain(importer: ModuleType, queue_url: str, context: Context) -> int:
    """Run the importer on every message of the import queue, as the event source mapping would."""
    slices = 0
    while bodies := queued(queue_url):
        for body in bodies:
            event = {"Records": [{"messageId": f"m{slices}", "body": body, "eventSource": "aws:sqs", "attributes": {}}]}
            assert importer.lambda_handler(event, context) == {"batchItemFailures": []}
            slices += 1
    return slices


def test_an_inline_csv_is_imported_and_its_bad_row_reported(
    functions: tuple[ModuleType, ModuleType], aws: dict[str, str]
) -> None:
    customers, importer = functions
    status, created = call(customers, http("POST", "/v1/imports", {"mapping": MAPPING, "csv": CSV}, account=ACCOUNT))
    assert (
        status == 202 and created["status"] == "queued" and created["columns"] == ["idecko", "meno", "update_timestamp"]
    )

    assert drain(importer, aws["ImportQueue"], Context()) == 1

    status, done = call(customers, http("GET", f"/v1/imports/{created['id']}", account=ACCOUNT))
    assert status == 200 and done["status"] == "succeeded"
    assert (done["rows_imported"], done["rows_failed"], done["customers_created"]) == (2, 1, 2)
    assert done["progress"]["percent"] == 100.0 and done["progress"]["bytes_read"] == len(CSV)
    status, errors = call(customers, http("GET", f"/v1/imports/{created['id']}/errors", account=ACCOUNT))
    assert status == 200 and errors["next_after_row"] is None
    ((error),) = errors["errors"]
    assert error["row"] == 2 and error["line"] == 3 and error["column"] == "update_timestamp"
    assert error["reason"].startswith("update_timestamp: ")
    status, customer = call(
        customers, http("GET", "/api/customers/jana", query={"include_timestamps": "1"}, account=ACCOUNT)
    )
    assert customer["properties"] == {"first_name": {"value": "Jana", "last_update": 1570001050.5}}
    assert [item["id"] for item in call(customers, http("GET", "/v1/imports", account=ACCOUNT))[1]["imports"]] == [
        created["id"]
    ]
    assert call(customers, http("GET", f"/v1/imports/{created['id']}", account=ACCOUNT + 1))[0] == 404


def test_an_uploaded_file_is_imported_in_slices_each_queuing_the_next(
    functions: tuple[ModuleType, ModuleType], aws: dict[str, str]
) -> None:
    customers, importer = functions
    importer.runner().chunk_rows = 10
    rows = "".join(f"c{n},Name {n},{1570000000 + n}\n" for n in range(95))
    status, upload = call(customers, http("POST", "/v1/imports/uploads", account=ACCOUNT))
    assert status == 200 and upload["method"] == "PUT" and "X-Amz-Signature" in upload["upload_url"]
    # the caller's PUT to the signed URL
    boto3.client("s3").put_object(
        Bucket=aws["ImportsBucket"], Key=upload["upload_key"], Body=f"idecko,meno,update_timestamp\n{rows}".encode()
    )
    body = {"mapping": MAPPING, "upload_key": upload["upload_key"]}
    status, created = call(customers, http("POST", "/v1/imports", body, account=ACCOUNT))
    assert status == 202

    assert drain(importer, aws["ImportQueue"], ShortOfTime()) == 10  # 95 rows in chunks of ten
    done = call(customers, http("GET", f"/v1/imports/{created['id']}", account=ACCOUNT))[1]
    assert done["status"] == "succeeded" and done["rows_imported"] == 95 and done["customers_created"] == 95
    assert call(customers, http("GET", "/api/customers/c94", account=ACCOUNT))[1]["properties"] == {
        "first_name": "Name 94"
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mapping": MAPPING}, "csv"),
        ({"mapping": MAPPING, "csv": CSV, "upload_key": "uploads/5/x.csv"}, "csv"),
        ({"mapping": MAPPING, "upload_key": "uploads/6/x.csv"}, "upload_key"),
        ({"mapping": MAPPING, "upload_key": "uploads/5/missing.csv"}, "upload_key"),
        ({"mapping": {**MAPPING, "ids": []}, "csv": CSV}, "mapping.ids"),
        ({"mapping": {**MAPPING, "timezone": "Mars/Olympus"}, "csv": CSV}, "mapping.timezone"),
        ({"mapping": MAPPING, "csv": "id,name\n1,a\n"}, "mapping.properties[0].from_column"),
    ],
)
def test_a_bad_import_is_refused_naming_the_field_and_queues_nothing(
    functions: tuple[ModuleType, ModuleType], aws: dict[str, str], body: dict[str, Any], field: str
) -> None:
    customers, _ = functions
    status, reply = call(customers, http("POST", "/v1/imports", body, account=ACCOUNT))
    assert status == 422, reply
    assert reply["errors"][0]["field"] == field
    assert queued(aws["ImportQueue"]) == []


def test_a_slice_for_an_import_that_does_not_exist_is_dropped(functions: tuple[ModuleType, ModuleType]) -> None:
    _, importer = functions
    body = json.dumps({"account": ACCOUNT, "import_id": "imp_nothing"})
    event = {"Records": [{"messageId": "m", "body": body, "eventSource": "aws:sqs", "attributes": {}}]}
    assert importer.lambda_handler(event, Context()) == {"batchItemFailures": []}
