"""The datasets a scheduled export writes, with the vendor's columns and types (eSputnik's "List of Data Export
Parameters"), so that queries written against the vendor's own export run unchanged.

Columns are stored under the vendor's name lower-cased (contactId -> contactid): PostgreSQL folds unquoted
names to lower case, so `SELECT contactId FROM contacts` finds the column. Tables are snake_case.

The vendor names no keys. Each dataset's key is what identifies one of its rows for the upsert: it must be
present in every row (key columns are NOT NULL) and stable across exports of the same row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

ColumnType = Literal["bigint", "int", "numeric", "text", "varchar", "timestamp", "json"]

# Plain lower-case names, so that unquoted (case-folded) queries reach them; 63 bytes is PostgreSQL's limit.
_STORED_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Key values are deduplicated within a batch by their text: these types have one text per value (numeric has
# 1.0 and 1.00, json any key order), so two spellings of one key cannot reach ON CONFLICT in one statement.
_KEY_TYPES = frozenset({"bigint", "int", "text", "varchar", "timestamp"})


@dataclass(frozen=True)
class Column:
    name: str
    """As stored: the vendor's name lower-cased (contactId -> contactid)."""
    type: ColumnType
    length: int | None = None
    """varchar(n)'s n; None for every other type."""
    vendor_name: str = ""
    """The vendor's spelling (contactId), for documentation."""

    def __post_init__(self) -> None:
        if not _STORED_NAME.fullmatch(self.name):
            raise ValueError(f"column {self.name!r}: a stored name is lower-case letters, digits and '_'")
        if self.type not in get_args(ColumnType):
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")
        if (self.type == "varchar") != (self.length is not None):
            raise ValueError(f"column {self.name}: a length goes with varchar, and only with varchar")
        if self.length is not None and self.length < 1:
            raise ValueError(f"column {self.name}: varchar length {self.length} is not positive")


@dataclass(frozen=True)
class Dataset:
    name: str
    """The vendor's dataset name (contactActivities)."""
    table: str
    """The table it is exported to, snake_case (contact_activities)."""
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    """The primary key's columns (stored names): what the upsert matches rows on."""

    def __post_init__(self) -> None:
        if not _STORED_NAME.fullmatch(self.table):
            raise ValueError(f"dataset {self.name}: table {self.table!r} is not a plain lower-case name")
        names = [column.name for column in self.columns]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"dataset {self.name}: columns must be present and uniquely named")
        if not self.key or len(set(self.key)) != len(self.key):
            raise ValueError(f"dataset {self.name}: the key must name distinct columns")
        by_name = self.column_map
        for name in self.key:
            if name not in by_name:
                raise ValueError(f"dataset {self.name}: key column {name} is not one of its columns")
            if by_name[name].type not in _KEY_TYPES:
                raise ValueError(f"dataset {self.name}: key column {name} cannot be {by_name[name].type}")

    @property
    def column_map(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}


def column(vendor_name: str, column_type: ColumnType, length: int | None = None) -> Column:
    """A column stored under the vendor's name lower-cased."""
    return Column(vendor_name.lower(), column_type, length, vendor_name)


def _varchar(vendor_name: str, length: int) -> Column:
    return column(vendor_name, "varchar", length)


# The vendor lists the platform's ids (broadcast, message, segment, message instance) as int. sqlsync takes
# them from the platform's events, which do not bound them to 32 bits, and makes message instance ids as
# 63-bit numbers (sqlsync.export.sources.message_instance_id): they are bigint, as orders.orderId.
# Where the vendor renamed a column, "old (new)" in its list, the new name is used: the old one "will be
# removed as overdated". contactActivities and revenue: activity -> activityStatus, errorCode ->
# statusDescription, started -> activityDateTime.
_BROADCASTS = Dataset(
    "broadcasts",
    "broadcasts",
    (
        column("createdDate", "timestamp"),
        column("groupId", "bigint"),
        column("id", "bigint"),
        _varchar("mediaType", 50),
        column("messageId", "bigint"),
        _varchar("name", 1000),
        column("startedDate", "timestamp"),
        _varchar("status", 50),
        column("updatedDate", "timestamp"),
    ),
    # The broadcast's own id.
    key=("id",),
)

_CONTACT_ACTIVITIES = Dataset(
    "contactActivities",
    "contact_activities",
    (
        _varchar("activityStatus", 100),
        column("broadcastId", "bigint"),
        _varchar("campaignType", 50),
        _varchar("clickEventLink", 1000),
        column("contactId", "bigint"),
        _varchar("statusDescription", 1000),
        _varchar("eventKey", 100),
        _varchar("eventTypeKey", 100),
        _varchar("externalCustomerId", 100),
        _varchar("mediaType", 50),
        column("messageInstanceId", "bigint"),
        _varchar("messageLanguageCode", 50),
        _varchar("messageName", 100),
        column("messageId", "bigint"),
        _varchar("messageTags", 200),
        _varchar("messageURL", 1000),
        _varchar("senderName", 200),
        column("activityDateTime", "timestamp"),
        _varchar("utmCampaign", 400),
        column("workflowId", "text"),
        _varchar("workflowInstanceId", 200),
        _varchar("workflowBlockId", 200),
    ),
    # An activity has no id of its own: it is one status of one sending (message instance) to one contact at
    # one time. Two clicks on different links of one sending in the same second are one row (the later link).
    key=("contactid", "messageinstanceid", "activitystatus", "activitydatetime"),
)

_CONTACTS = Dataset(
    "contacts",
    "contacts",
    (
        column("contactId", "bigint"),
        _varchar("contactSource", 50),
        column("createdDate", "timestamp"),
        # The vendor's table lost this row's name ("varchar (50) | Contact email"): it is the email.
        _varchar("email", 50),
        _varchar("emailDomain", 100),
        _varchar("emailStatus", 50),
        _varchar("externalCustomerId", 100),
        _varchar("firstName", 50),
        _varchar("languageCode", 20),
        column("lastClickedDate", "timestamp"),
        _varchar("lastName", 50),
        column("lastReceivedDate", "timestamp"),
        column("lastSentDate", "timestamp"),
        column("lastViewedDate", "timestamp"),
        _varchar("sms", 50),
        column("totalClicked", "int"),
        column("totalReceived", "int"),
        column("totalSent", "int"),
        column("totalViewed", "int"),
    ),
    # The vendor's internal contact id (the external id and the email may be missing or change).
    key=("contactid",),
)

_DEVICES = Dataset(
    "devices",
    "devices",
    (
        _varchar("appVersion", 50),
        column("applicationId", "int"),
        _varchar("category", 50),
        column("contactId", "bigint"),
        _varchar("deviceId", 250),
        _varchar("deviceModel", 100),
        _varchar("externalCustomerId", 100),
        _varchar("languageCode", 20),
        _varchar("osType", 50),
        _varchar("osVersion", 50),
        column("pushToken", "text"),  # varchar (max)
        _varchar("timeZone", 100),
    ),
    # One row per device: a device that passes to another contact is updated, not duplicated.
    key=("deviceid",),
)

_EVENTS = Dataset(
    "events",
    "events",
    (
        # The vendor lists both as int. contactId is bigint in every other dataset, and joins the contacts
        # table, so it is bigint here too; sqlsync's contact and event ids are 63-bit numbers
        # (sqlsync.export.sources.stable_id), which an int cannot hold. Wider, so the vendor's queries still run.
        column("contactId", "bigint"),
        column("eventId", "bigint"),
        column("eventTypeKey", "text"),
        column("keyValue", "text"),
        column("occured", "timestamp"),  # sic: the vendor's spelling
        column("paramsJson", "json"),
    ),
    # The event's own id.
    key=("eventid",),
)

_MESSAGES = Dataset(
    "messages",
    "messages",
    (
        column("annoyanceLevel", "int"),
        _varchar("language", 50),
        _varchar("mediaType", 50),
        column("messageId", "bigint"),
        _varchar("name", 200),
        _varchar("replyTo", 200),
        _varchar("sender", 200),
        _varchar("subject", 1000),
        _varchar("tags", 200),
        _varchar("translations", 200),
        column("updateDate", "timestamp"),
    ),
    # The message's own id.
    key=("messageid",),
)

_ORDER_ITEMS = Dataset(
    "orderItems",
    "order_items",
    (
        column("cost", "numeric"),  # listed as "cost float | numeric": the name is cost
        _varchar("description", 300),
        _varchar("externalProductId", 100),
        _varchar("imageUrl", 200),
        _varchar("name", 100),
        column("orderDate", "timestamp"),
        column("orderId", "bigint"),  # the vendor's int: see orders.orderId
        column("quantity", "int"),
        _varchar("url", 200),
    ),
    # One line per product of an order (the vendor gives items no id of their own).
    key=("orderid", "externalproductid"),
)

_ORDERS = Dataset(
    "orders",
    "orders",
    (
        column("contactId", "bigint"),
        _varchar("deliveryAddress", 100),
        _varchar("deliveryMethod", 50),
        column("discount", "numeric"),
        # The vendor's table lost this row's name and description (a bare "varchar (50)" after discount),
        # where its other datasets list the contact's email: it is the email.
        _varchar("email", 50),
        _varchar("externalOrderId", 100),
        _varchar("firstName", 50),
        _varchar("lastName", 50),
        column("orderCreatedDate", "timestamp"),
        column("orderDate", "timestamp"),
        # The vendor lists it as int: sqlsync's order id is a 63-bit number derived from the external order id
        # (sqlsync.export.sources.order_id), which an int cannot hold. Wider, as events.eventId.
        column("orderId", "bigint"),
        _varchar("paymentMethod", 50),
        _varchar("Phone", 50),
        _varchar("Status", 50),
        column("totalCost", "numeric"),
    ),
    # The vendor's internal order id.
    key=("orderid",),
)

_REVENUE = Dataset(
    "revenue",
    "revenue",
    (
        _varchar("activityStatus", 100),
        _varchar("campaignType", 50),
        _varchar("clickEventLink", 1000),
        column("contactId", "bigint"),
        _varchar("currency", 3),
        _varchar("externalCustomerId", 100),
        _varchar("externalOrderId", 200),
        _varchar("mediaType", 50),
        column("messageInstanceId", "bigint"),
        _varchar("messageName", 100),
        _varchar("messageTags", 200),
        _varchar("messageUrl", 1000),
        column("orderDate", "timestamp"),
        _varchar("senderName", 200),
        column("activityDateTime", "timestamp"),
        column("totalCost", "numeric"),
        _varchar("utmCampaign", 400),
    ),
    # An order attributed to a sending: the vendor updates these rows when the order changes (its total cost).
    # The shop's order id is unique in the account, so the contact adds nothing to the key, and would make
    # a second row if the order moved to another (merged) contact.
    key=("externalorderid", "messageinstanceid"),
)

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        _BROADCASTS,
        _CONTACT_ACTIVITIES,
        _CONTACTS,
        _DEVICES,
        _EVENTS,
        _MESSAGES,
        _ORDER_ITEMS,
        _ORDERS,
        _REVENUE,
    )
}
"""Every dataset the vendor exports, by its name."""
