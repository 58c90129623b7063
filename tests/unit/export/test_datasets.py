"""The datasets against the vendor's own column lists: every column, its stored name and its type, parsed
from the reference's tables (so a typo in a name or a length shows), and keys that can identify rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sqlsync.export.datasets import DATASETS, Column, ColumnType, Dataset
from sqlsync.export.sources import sources
from sqlsync.models.exports import ExportDataset
from sqlsync.store.memory import InMemoryCustomerStore

REFERENCE_FILE = Path("/work/shared/reference/esputnik-postgresql-connector-and-export.txt")
# The first two cells (Parameter | Type) of each row of the reference's "List of Data Export Parameters",
# verbatim, so that the test runs where the reference file is not (CI); it is checked against the file
# where it is. The two rows that lost their name are kept as the vendor prints them.
REFERENCE_TABLES = """
Broadcasts
createdDate | timestamp
groupId | int
id | int
mediaType | varchar (50)
messageId | int
name | varchar (1000)
startedDate | timestamp
status | varchar (50)
updatedDate | timestamp
ContactActivities
activity (activityStatus) * | varchar (100)
broadcastId | int
campaignType | varchar (50)
clickEventLink | varchar (1000)
contactId | bigint
errorCode (statusDescription) * | varchar (1000)
eventKey | varchar (100)
eventTypeKey | varchar (100)
externalCustomerId | varchar (100)
mediaType | varchar (50)
messageInstanceId | int
messageLanguageCode | varchar (50)
messageName | varchar (100)
messageId | int
messageTags | varchar (200)
messageURL | varchar (1000)
senderName | varchar (200)
started (activityDateTime) * | timestamp
utmCampaign | varchar (400)
workflowId | string
workflowInstanceId | varchar (200)
workflowBlockId | varchar (200)
Contacts
contactId | bigint
contactSource | varchar (50)
createdDate | timestamp
varchar (50) | Contact email
emailDomain | varchar (100)
emailStatus | varchar (50)
externalCustomerId | varchar (100)
firstName | varchar (50)
languageCode | varchar (20)
lastClickedDate | timestamp
lastName | varchar (50)
lastReceivedDate | timestamp
lastSentDate | timestamp
lastViewedDate | timestamp
sms | varchar (50)
totalClicked | int
totalReceived | int
totalSent | int
totalViewed | int
Devices
appVersion | varchar (50)
applicationId | int
category | varchar (50)
contactId | bigint
deviceId | varchar (250)
deviceModel | varchar (100)
externalCustomerId | varchar (100)
languageCode | varchar (20)
osType | varchar (50)
osVersion | varchar (50)
pushToken | varchar (max)
timeZone | varchar (100)
Events
contactId | int
eventId | int
eventTypeKey | string
keyValue | string
occured | timestamp
paramsJson | json
Messages
annoyanceLevel | int
language | varchar (50)
mediaType | varchar (50)
messageId | int
name | varchar (200)
replyTo | varchar (200)
sender | varchar (200)
subject | varchar (1000)
tags | varchar (200)
translations | varchar (200)
updateDate | timestamp
OrderItems
cost float | numeric
description | varchar (300)
externalProductId | varchar (100)
imageUrl | varchar (200)
name | varchar (100)
orderDate | timestamp
orderId | int
quantity | int
url | varchar (200)
Orders
contactId | bigint
deliveryAddress | varchar (100)
deliveryMethod | varchar (50)
discount | numeric
varchar (50) |
externalOrderId | varchar (100)
firstName | varchar (50)
lastName | varchar (50)
orderCreatedDate | timestamp
orderDate | timestamp
orderId | int
paymentMethod | varchar (50)
Phone | varchar (50)
Status | varchar (50)
totalCost | numeric
Revenue
activity (activityStatus)* | varchar (100)
campaignType | varchar (50)
clickEventLink | varchar (1000)
contactId | bigint
currency | varchar (3)
externalCustomerId | varchar (100)
externalOrderId | varchar (200)
mediaType | varchar (50)
messageInstanceId | int
messageName | varchar (100)
messageTags | varchar (200)
messageUrl | varchar (1000)
orderDate | timestamp
senderName | varchar (200)
started (activityDateTime)* | timestamp
totalCost | numeric
utmCampaign | varchar (400)
"""
# The datasets the issue (and the vendor) name, and their tables.
TABLES = {
    "broadcasts": "broadcasts",
    "contactActivities": "contact_activities",
    "contacts": "contacts",
    "devices": "devices",
    "events": "events",
    "messages": "messages",
    "orderItems": "order_items",
    "orders": "orders",
    "revenue": "revenue",
}
SECTIONS = {name[0].upper() + name[1:]: name for name in TABLES}
# The rows whose name the vendor's table lost: in both, the contact's email (see datasets.py).
UNNAMED = {"contacts": "email", "orders": "email"}
# Where the datasets deliberately differ from the reference (see datasets.py): (dataset, vendor name) -> type.
WIDENED: dict[tuple[str, str], ColumnType] = {
    ("events", "contactId"): "bigint",
    ("events", "eventId"): "bigint",
    ("orders", "orderId"): "bigint",
    ("orderItems", "orderId"): "bigint",
    # the platform's ids, from its events (not bounded to 32 bits), and sqlsync's 63-bit message instance ids
    ("broadcasts", "groupId"): "bigint",
    ("broadcasts", "id"): "bigint",
    ("broadcasts", "messageId"): "bigint",
    ("contactActivities", "broadcastId"): "bigint",
    ("contactActivities", "messageInstanceId"): "bigint",
    ("contactActivities", "messageId"): "bigint",
    ("messages", "messageId"): "bigint",
    ("revenue", "messageInstanceId"): "bigint",
}
_VARCHAR = re.compile(r"varchar \((\d+|max)\)")
_RENAMED = re.compile(r".*\((\w+)\)\s*\*")  # "activity (activityStatus) *": the name in brackets replaces it

Expected = tuple[str, ColumnType, int | None]  # vendor name, type, varchar length


def parse_type(cell: str) -> tuple[ColumnType, int | None] | None:
    """The column type a reference cell gives, or None if the cell is not a type."""
    varchar = _VARCHAR.fullmatch(cell)
    if varchar:
        return ("text", None) if varchar.group(1) == "max" else ("varchar", int(varchar.group(1)))
    simple: dict[str, ColumnType] = {
        "int": "int",
        "bigint": "bigint",
        "numeric": "numeric",
        "timestamp": "timestamp",
        "json": "json",
        "string": "text",
    }
    return (simple[cell], None) if cell in simple else None


def parse_reference(text: str) -> dict[str, list[Expected]]:
    """Each dataset's columns as the reference's "Parameter | Type" tables list them."""
    tables: dict[str, list[Expected]] = {}
    section = ""
    for line in text.splitlines():
        if line.strip() in SECTIONS:
            section = SECTIONS[line.strip()]
            tables[section] = []
            continue
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 2:  # prose: a table ends
            section = ""
            continue
        if not section or cells[0] in ("Parameter", "---"):
            continue
        name, type_cell = cells[0], cells[1]
        if parse_type(name) is not None:  # a row that lost its name: its type is in the first cell
            name, type_cell = UNNAMED[section], name
        renamed = _RENAMED.fullmatch(name)
        name = renamed.group(1) if renamed else name.split()[0]  # "cost float": the name is cost
        parsed = parse_type(type_cell)
        assert parsed is not None, f"{section}: unknown type {type_cell!r} of {name}"
        tables[section].append((name, *parsed))
    return tables


REFERENCE = parse_reference(REFERENCE_TABLES)


def test_the_embedded_reference_is_the_vendors() -> None:
    if not REFERENCE_FILE.exists():
        pytest.skip(f"{REFERENCE_FILE} is not on this machine")
    assert parse_reference(REFERENCE_FILE.read_text("utf-8")) == REFERENCE


def test_every_dataset_of_the_issue_is_there_with_its_table() -> None:
    assert {name: dataset.table for name, dataset in DATASETS.items()} == TABLES
    assert all(dataset.name == name for name, dataset in DATASETS.items())
    assert set(REFERENCE) == set(TABLES)


@pytest.mark.parametrize("name", TABLES)
def test_the_columns_are_the_references(name: str) -> None:
    columns = [(column.vendor_name, column.type, column.length) for column in DATASETS[name].columns]
    expected = [(vendor, WIDENED.get((name, vendor), kind), length) for vendor, kind, length in REFERENCE[name]]

    assert columns == expected


def test_only_integers_the_reference_lists_as_int_are_widened() -> None:
    for (name, vendor), kind in WIDENED.items():
        assert (vendor, "int", None) in REFERENCE[name]
        assert kind == "bigint"


def test_contacts_columns_and_types() -> None:
    contacts = DATASETS["contacts"].column_map

    assert len(contacts) == 19
    assert (contacts["contactid"].type, contacts["createddate"].type) == ("bigint", "timestamp")
    assert (contacts["email"].type, contacts["email"].length) == ("varchar", 50)
    assert (contacts["languagecode"].type, contacts["languagecode"].length) == ("varchar", 20)
    assert {contacts[name].type for name in ("totalclicked", "totalreceived", "totalsent", "totalviewed")} == {"int"}


def test_renamed_columns_use_the_new_name() -> None:
    for name in ("contactActivities", "revenue"):
        stored = DATASETS[name].column_map
        assert {"activitystatus", "activitydatetime"} <= set(stored)
        assert not {"activity", "started", "errorcode"} & set(stored)
    assert "statusdescription" in DATASETS["contactActivities"].column_map


def test_json_and_unbounded_text() -> None:
    assert DATASETS["events"].column_map["paramsjson"].type == "json"
    assert DATASETS["devices"].column_map["pushtoken"].type == "text"  # varchar (max)
    assert DATASETS["contactActivities"].column_map["workflowid"].type == "text"  # string
    assert DATASETS["orderItems"].column_map["cost"].type == "numeric"  # "cost float | numeric"


@pytest.mark.parametrize("dataset", DATASETS.values(), ids=lambda dataset: dataset.name)
def test_stored_names_are_the_vendors_lower_cased_and_unique(dataset: Dataset) -> None:
    names = [column.name for column in dataset.columns]

    assert names == [column.vendor_name.lower() for column in dataset.columns]
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in names)
    assert len(set(names)) == len(names)


KEYS = {
    "broadcasts": ("id",),
    "contactActivities": ("contactid", "messageinstanceid", "activitystatus", "activitydatetime"),
    "contacts": ("contactid",),
    "devices": ("deviceid",),
    "events": ("eventid",),
    "messages": ("messageid",),
    "orderItems": ("orderid", "externalproductid"),
    "orders": ("orderid",),
    "revenue": ("externalorderid", "messageinstanceid"),
}


def test_keys_name_columns_of_the_dataset() -> None:
    assert {name: dataset.key for name, dataset in DATASETS.items()} == KEYS
    for dataset in DATASETS.values():
        assert set(dataset.key) <= set(dataset.column_map), dataset.name
        assert all(dataset.column_map[name].type not in ("json", "numeric") for name in dataset.key)


@pytest.mark.parametrize(
    ("columns", "key", "message"),
    [
        ((Column("id", "bigint"),), ("missing",), "key column missing is not one of its columns"),
        ((Column("id", "bigint"), Column("id", "text")), ("id",), "columns must be present and uniquely named"),
        ((), ("id",), "columns must be present and uniquely named"),
        ((Column("id", "bigint"),), (), "the key must name distinct columns"),
        ((Column("id", "bigint"),), ("id", "id"), "the key must name distinct columns"),
        ((Column("id", "numeric"),), ("id",), "key column id cannot be numeric"),
        ((Column("doc", "json"),), ("doc",), "key column doc cannot be json"),
    ],
)
def test_a_dataset_that_cannot_be_exported_is_refused(
    columns: tuple[Column, ...], key: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Dataset("things", "things", columns, key)


@pytest.mark.parametrize(
    ("name", "column_type", "length", "message"),
    [
        ("contactId", "bigint", None, "a stored name is lower-case"),
        ("", "bigint", None, "a stored name is lower-case"),
        ("x" * 64, "bigint", None, "a stored name is lower-case"),
        ("email", "varchar", None, "a length goes with varchar, and only with varchar"),
        ("total", "int", 10, "a length goes with varchar, and only with varchar"),
        ("email", "varchar", 0, "varchar length 0 is not positive"),
        ("flag", "boolean", None, "unknown type 'boolean'"),
    ],
)
def test_a_column_that_cannot_be_stored_is_refused(
    name: str, column_type: ColumnType, length: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Column(name, column_type, length)


def test_every_dataset_of_the_vendor_has_a_source_and_may_be_asked_for() -> None:
    assert set(sources(InMemoryCustomerStore())) == set(DATASETS) == {dataset.value for dataset in ExportDataset}
