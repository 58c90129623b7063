"""Where each dataset's rows come from: sqlsync's own stores, read through their change feeds.

A source turns what changed after a feed cursor into rows (column name -> value, the dataset's stored
names); the runner orders them as the table's columns. Every dataset of the vendor has one here
(docs/exports.md says where each comes from).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Protocol, TypeAlias, TypeVar

from sqlsync.customers.activity import ATTRIBUTION_SECONDS, CLICK_TYPES, MEDIA_TYPE, VENDOR_STATUS, contact_totals
from sqlsync.customers.ids import id_key, split_key
from sqlsync.models.devices import Device
from sqlsync.models.orders import Order
from sqlsync.store.base import (
    ActivityRecord,
    CatalogEntry,
    CatalogKind,
    CustomerAlias,
    CustomerRecord,
    CustomerStore,
    DeviceRecord,
    OrderRecord,
    TrackedEvent,
)

MAX_EVENT_PARAMS = 50
MAX_EVENT_PARAM_CHARS = 300
"""paramsJson keeps the first 50 parameters, each value up to 300 characters, as the vendor's export does."""

# Customer properties read into the contacts columns: the first of the names present wins.
CONTACT_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "email": ("email",),
    "emailstatus": ("email_status", "emailStatus"),
    "firstname": ("first_name", "firstName"),
    "lastname": ("last_name", "lastName"),
    "languagecode": ("language_code", "languageCode", "language"),
    "sms": ("phone", "sms"),
}


CONTACT_NAMES = frozenset(name for names in CONTACT_PROPERTIES.values() for name in names)
"""The properties a contact row reads: only these are decoded from the feed."""


Rows: TypeAlias = Sequence[tuple[str, dict[str, Any] | None]]
"""What a source reads: rows, each with the feed cursor it was read at. A None row only carries a cursor: the
feed's items up to it were read and make no row (the export saves it, so they are not read again)."""


T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
Page = list[tuple[str, T]]
"""A page of a feed: its items, each with its cursor."""


class Source(Protocol):
    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        """Rows changed after the cursor `after`, up to `until` (unix seconds), each with its cursor; empty at
        the feed's end."""


def stable_id(account: int, key: str) -> int:
    """A 63-bit number for a string key (the vendor's contactId and eventId are numbers; sqlsync's are keys):
    the same key always gives the same number, so re-exports update the same rows."""
    return int.from_bytes(hashlib.sha256(f"{account}#{key}".encode()).digest()[:8], "big") >> 1


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ContactsSource:
    """contacts: the customers store (tracking and imports), with the counters of their message activity.

    Its feed is the customers' feed merged with the activity feed (both ordered by cursor: the time of the
    write, then the key), so that a contact comes again when the customer changes and when its profile (the
    profile whose id is its registered id) has new activity. Counters and last dates are those of the profile's
    kept activity (contact_totals); NULL for a contact whose profile has none."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        # One Query: activity is kept only for accounts that export it, and most contacts exports have none.
        any_activity = bool(self.customers.changed_activities(account, "", until, 1))

        def page_of(cursor: str) -> Page[CustomerRecord | ActivityRecord]:
            customers = self.customers.changed_customers(account, cursor, until, limit, CONTACT_NAMES)
            if not any_activity:
                return list(customers)
            activity = self.customers.changed_activities(account, cursor, until, limit)
            return list(islice(heapq.merge(customers, activity, key=_cursor_of), limit))

        def rows_of(page: Page[CustomerRecord | ActivityRecord]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
            touched = self._customers_of(
                account, {item.profile_id for _, item in page if isinstance(item, ActivityRecord)}
            )
            contacts = [item if isinstance(item, CustomerRecord) else touched.get(item.profile_id) for _, item in page]
            totals = self._totals(account, contacts) if any_activity else {}
            # A contact once per page, where it last comes (a customer and its activity, or several events).
            last = {record.key: index for index, record in enumerate(contacts) if record is not None}
            for index, ((cursor, _), record) in enumerate(zip(page, contacts, strict=True)):
                if record is None or last[record.key] != index:  # activity of a profile no customer has: no row
                    yield []
                    continue
                row = contact_row(account, record)
                profile = row["externalcustomerid"]
                row.update(totals.get(profile, _NO_TOTALS) if profile is not None else _NO_TOTALS)
                yield [(cursor, row)]

        return read_on(page_of, rows_of, after, limit)

    def _customers_of(self, account: int, profile_ids: set[str]) -> dict[str, CustomerRecord]:
        """The customers whose registered ids those profile ids are, by profile id (the properties all decoded)."""
        found = by_registered_id(self.customers, account, profile_ids)
        homes = {item.home for item in found.values() if isinstance(item, CustomerAlias)}
        at_home = self.customers.read(account, list(homes)) if homes else {}
        customers: dict[str, CustomerRecord] = {}
        for profile_id, item in found.items():
            record = at_home.get(item.home) if isinstance(item, CustomerAlias) else item
            if isinstance(record, CustomerRecord):
                customers[profile_id] = record
        return customers

    def _totals(self, account: int, contacts: list[CustomerRecord | None]) -> dict[str, dict[str, Any]]:
        """contact_totals of each of the contacts' profiles that has activity: one Query each, of all its activity
        kept (whenever it occurred: the feed moves by when activity is received)."""
        profiles = {_registered_id(record.ids) for record in contacts if record is not None} - {None}
        active = self.customers.profiles_with_activity(account, {profile for profile in profiles if profile})
        ordered = sorted(active)
        activity = queried(lambda profile: self.customers.activities_of(account, profile, 0.0, _END_OF_TIME), ordered)
        return {profile: contact_totals(kept) for profile, kept in zip(ordered, activity, strict=True)}


QUERY_THREADS = 8
"""Queries one source makes at once (a contact's activity, an order's clicks): each waits on the network."""


def queried(function: Callable[[U], V], items: Sequence[U]) -> list[V]:
    """`function` of each item, in order, run a few at a time (each makes a DynamoDB Query)."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), QUERY_THREADS)) as pool:
        return list(pool.map(function, items))


_END_OF_TIME = 253402300799.0
"""9999-12-31T23:59:59Z: later than any time an event can have (AwareDatetime's range)."""
_NO_TOTALS: dict[str, Any] = {}
"""A contact without activity: its counter columns stay NULL."""


def _cursor_of(item: tuple[str, object]) -> str:
    return item[0]


def contact_row(account: int, record: CustomerRecord) -> dict[str, Any]:
    properties = record.properties
    row: dict[str, Any] = {
        "contactid": stable_id(account, record.key),
        "contactsource": record.source or None,
        "createddate": _utc(record.created_at) if record.created_at else None,
        "externalcustomerid": _registered_id(record.ids),
    }
    # Loops rather than next() over generators: once per column of every contact exported.
    for column, names in CONTACT_PROPERTIES.items():
        found = None
        for name in names:
            stamped = properties.get(name)
            if stamped is not None and stamped.value not in (None, ""):
                found = stamped.value
                break
        row[column] = found
    email = row["email"]
    row["emaildomain"] = email.rpartition("@")[2].lower() if isinstance(email, str) and "@" in email else None
    return row


def by_registered_id(
    customers: CustomerStore, account: int, profile_ids: set[str]
) -> dict[str, CustomerRecord | CustomerAlias]:
    """The stored items of the profiles' registered ids (a profile's id is its customer's registered id), by
    profile id: the customer, or an alias to its home. One read; a profile no customer has is left out."""
    if not profile_ids:
        return {}
    keys = {id_key("registered", profile_id): profile_id for profile_id in profile_ids}
    return {keys[key]: item for key, item in customers.read(account, list(keys)).items()}


def registered_ids(customers: CustomerStore, account: int, homes: set[str]) -> dict[str, str | None]:
    """The registered id of each of those customers (by home key) that exists, read at once."""
    found = customers.read(account, list(homes))
    return {home: _registered_id(item.ids) for home, item in found.items() if isinstance(item, CustomerRecord)}


def _registered_id(ids: tuple[str, ...]) -> str | None:
    for key in ids:
        id_type, value = split_key(key)
        if id_type == "registered":
            return value
    return None


class EventsSource:
    """events: the events tracked for customers (customers/events)."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        return [
            (cursor, event_row(account, home, cursor, event))
            for cursor, home, event in self.customers.changed_events(account, after, until, limit)
        ]


def event_row(account: int, home: str, cursor: str, event: TrackedEvent) -> dict[str, Any]:
    # The event's identity is its place under the customer (time and digest), not when it was received.
    identity = cursor.partition("#")[2]
    params = dict(list(event.properties.items())[:MAX_EVENT_PARAMS])
    return {
        "contactid": stable_id(account, home),
        "eventid": stable_id(account, identity),
        "eventtypekey": event.event_type,
        "keyvalue": _text(event.properties.get("key")),
        "occured": _utc(event.timestamp),
        "paramsjson": {name: _short(value) for name, value in params.items()},
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _short(value: Any) -> Any:
    return value[:MAX_EVENT_PARAM_CHARS] if isinstance(value, str) else value


def order_id(account: int, external_order_id: str) -> int:
    """orders.orderId, the vendor's internal order id: a stable number for the account's external order id."""
    return stable_id(account, f"order#{external_order_id}")


class OrdersSource:
    """orders: the orders sent to ingest as order events, each as last received."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        return [
            (cursor, order_row(account, record))
            for cursor, record in self.customers.changed_orders(account, after, until, limit)
        ]


def order_row(account: int, record: OrderRecord) -> dict[str, Any]:
    order = Order.model_validate(record.order)
    return {
        "contactid": stable_id(account, record.home),  # the contacts row of the same customer
        "deliveryaddress": order.delivery_address,
        "deliverymethod": order.delivery_method,
        "discount": order.discount,
        "email": order.email,
        "externalorderid": order.external_order_id,
        "firstname": order.first_name,
        "lastname": order.last_name,
        "ordercreateddate": _utc(record.created_at),
        "orderdate": order.date.astimezone(UTC),
        "orderid": order_id(account, order.external_order_id),
        "paymentmethod": order.payment_method,
        "phone": order.phone,
        "status": order.status,
        "totalcost": order.total_cost,
    }


def read_on(
    read_page: Callable[[str], Page[T]],
    rows_of: Callable[[Page[T]], Iterable[list[tuple[str, dict[str, Any]]]]],
    after: str,
    limit: int,
) -> list[tuple[str, dict[str, Any] | None]]:
    """Rows of a feed's items (`rows_of` gives each item's rows, with the item's cursor), page after page of
    `limit` items, until `limit` rows, the feed's end, or MAX_PAGES_READ pages. Items that make no row are read
    past, and a None row at the end carries the cursor of the last one read, so that the export does not read
    them again. Rows end at an item's end, so the last cursor is a whole item's."""
    rows: list[tuple[str, dict[str, Any] | None]] = []
    last: str | None = None  # the cursor of the last item read
    for _ in range(MAX_PAGES_READ):
        page = read_page(after if last is None else last)
        for (cursor, _), item_rows in zip(page, rows_of(page), strict=False):
            rows += item_rows
            last = cursor
            if len(rows) >= limit:
                return rows
        if len(page) < limit:
            break
    if last is not None and (not rows or rows[-1][0] < last):
        rows.append((last, None))  # how far the items without a row went
    return rows


MAX_PAGES_READ = 10
"""Pages of items one read goes through at most: the export saves its cursor (and looks at the time left)
between reads, however few of the items make rows."""


class OrderItemsSource:
    """orderItems: the items of those orders, one row per product of an order (read_on: a page ends at an order's
    end, and orders without items are read past)."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        def rows_of(orders: Page[OrderRecord]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
            for cursor, record in orders:
                yield [(cursor, row) for row in order_item_rows(account, record)]

        return read_on(
            lambda cursor: self.customers.changed_orders(account, cursor, until, limit), rows_of, after, limit
        )


def order_item_rows(account: int, record: OrderRecord) -> list[dict[str, Any]]:
    order = Order.model_validate(record.order)
    common = {"orderdate": order.date.astimezone(UTC), "orderid": order_id(account, order.external_order_id)}
    return [
        {
            **common,
            "cost": item.cost,
            "description": item.description,
            "externalproductid": item.external_product_id,
            "imageurl": item.image_url,
            "name": item.name,
            "quantity": item.quantity,
            "url": item.url,
        }
        for item in order.items
    ]


class DevicesSource:
    """devices: the devices sent to ingest as device events, each as last received, with its customer's
    registered id (read for the whole page at once)."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        page = self.customers.changed_devices(account, after, until, limit)
        registered = registered_ids(self.customers, account, {record.home for _, record in page})
        return [(cursor, device_row(account, record, registered.get(record.home))) for cursor, record in page]


def device_row(account: int, record: DeviceRecord, registered_id: str | None) -> dict[str, Any]:
    device = Device.model_validate(record.device)
    return {
        "appversion": device.app_version,
        "applicationid": device.application_id,
        "category": device.category,
        "contactid": stable_id(account, record.home),  # the contacts row of the same customer
        "deviceid": device.device_id,
        "devicemodel": device.device_model,
        "externalcustomerid": registered_id,
        "languagecode": device.language_code,
        "ostype": device.os_type,
        "osversion": device.os_version,
        "pushtoken": device.push_token,
        "timezone": device.time_zone,
    }


def message_instance_id(account: int, campaign_id: int | None, message_id: int | None, profile_id: str) -> int:
    """contactActivities.messageInstanceId, the vendor's id of one sending: a stable number for the campaign,
    message and profile of an activity (the events of one sending share them)."""
    return stable_id(account, f"instance#{campaign_id}#{message_id}#{profile_id}")


class ContactActivitiesSource:
    """contactActivities: the message activity kept from activity events (sqlsync.customers.activity), one row
    per event of a type the vendor has a status for.

    An event names its profile; the contact is the customer whose `registered` id is that profile id, looked up
    for the whole page at once. One sqlsync does not know yet gets the contactId it will have when tracking
    creates it by that id."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        def rows_of(page: Page[ActivityRecord]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
            contacts = self._contact_ids(account, {record.profile_id for _, record in page})
            for cursor, record in page:
                kept = record.event_type in VENDOR_STATUS  # `sent` makes no row
                yield [(cursor, activity_row(account, record, contacts[record.profile_id]))] if kept else []

        return read_on(
            lambda cursor: self.customers.changed_activities(account, cursor, until, limit), rows_of, after, limit
        )

    def _contact_ids(self, account: int, profile_ids: set[str]) -> dict[str, int]:
        found = by_registered_id(self.customers, account, profile_ids)
        homes = {
            profile_id: item.home if isinstance(item, CustomerAlias) else item.key for profile_id, item in found.items()
        }
        return {
            profile_id: stable_id(account, homes.get(profile_id) or id_key("registered", profile_id))
            for profile_id in profile_ids
        }


def activity_row(account: int, record: ActivityRecord, contact_id: int) -> dict[str, Any]:
    campaign = record.details.get("campaign") or {}
    message = record.details.get("message") or {}
    return {
        "activitystatus": VENDOR_STATUS[record.event_type],
        "broadcastid": campaign.get("id"),
        "clickeventlink": record.details.get("link"),
        "contactid": contact_id,
        "statusdescription": record.details.get("description"),
        "externalcustomerid": record.profile_id,
        "mediatype": MEDIA_TYPE.get(record.event_type),
        "messageinstanceid": message_instance_id(account, campaign.get("id"), message.get("id"), record.profile_id),
        "messagename": message.get("name"),
        "messageid": message.get("id"),
        "activitydatetime": _utc(record.occurred_at),
        "utmcampaign": campaign.get("subid"),
    }


class RevenueSource:
    """revenue: the orders attributed to a message, by the last-click model: an order goes to the last click
    of its customer in a message (activity kept for the profile whose id is the customer's registered id) within
    ATTRIBUTION_SECONDS before the order's date. Read from the orders feed, so an order's row is made again,
    with the clicks known then, whenever the order changes; an order without such a click makes no row.

    Each order's clicks are one Query (orders are far fewer than activity)."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        def rows_of(orders: Page[OrderRecord]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
            registered = registered_ids(self.customers, account, {record.home for _, record in orders})
            rows = queried(lambda item: self._attributed(account, item[1], registered.get(item[1].home)), orders)
            for (cursor, _), row in zip(orders, rows, strict=True):
                yield [] if row is None else [(cursor, row)]

        return read_on(
            lambda cursor: self.customers.changed_orders(account, cursor, until, limit), rows_of, after, limit
        )

    def _attributed(self, account: int, record: OrderRecord, profile_id: str | None) -> dict[str, Any] | None:
        if profile_id is None:
            return None
        order = Order.model_validate(record.order)
        placed = order.date.timestamp()
        window = self.customers.activities_of(account, profile_id, placed - ATTRIBUTION_SECONDS, placed)
        clicks = [activity for activity in window if activity.event_type in CLICK_TYPES]
        return revenue_row(account, record, order, profile_id, clicks[-1]) if clicks else None


def revenue_row(
    account: int, record: OrderRecord, order: Order, profile_id: str, click: ActivityRecord
) -> dict[str, Any]:
    attributed = activity_row(account, click, stable_id(account, record.home))
    return {
        **{name: attributed[name] for name in _ATTRIBUTED},
        "externalcustomerid": profile_id,
        "externalorderid": order.external_order_id,
        "orderdate": order.date.astimezone(UTC),
        "totalcost": order.total_cost,
    }


_ATTRIBUTED = (
    "activitystatus",
    "clickeventlink",
    "contactid",
    "mediatype",
    "messageinstanceid",
    "messagename",
    "activitydatetime",
    "utmcampaign",
)
"""The revenue columns that come from the click (as its contactActivities row has them)."""


class CatalogSource:
    """messages and broadcasts: what activity events said of each message, or of each campaign (the vendor's
    broadcast), as last said; `row` makes the dataset's row of an entry."""

    def __init__(
        self, customers: CustomerStore, kind: CatalogKind, row: Callable[[CatalogEntry], dict[str, Any]]
    ) -> None:
        self.customers = customers
        self.kind: CatalogKind = kind
        self.row = row

    def read(self, account: int, after: str, until: float, limit: int) -> Rows:
        entries = self.customers.changed_entries(account, self.kind, after, until, limit)
        return [(cursor, self.row(entry)) for cursor, entry in entries]


def message_row(entry: CatalogEntry) -> dict[str, Any]:
    values = entry.values
    return {
        "mediatype": values.get("media_type"),
        "messageid": entry.entry_id,
        "name": values.get("name"),
        "subject": values.get("subject"),
        "updatedate": _utc(entry.updated_at),
    }


def broadcast_row(entry: CatalogEntry) -> dict[str, Any]:
    values = entry.values
    started = values.get("started_at")
    return {
        "createddate": _utc(entry.created_at),
        "groupid": values.get("group_id"),
        "id": entry.entry_id,
        "mediatype": values.get("media_type"),
        "messageid": values.get("message_id"),
        "name": values.get("name"),
        "starteddate": _utc(started) if isinstance(started, int | float) else None,
        "updateddate": _utc(entry.updated_at),
    }


_SOURCES: dict[str, Callable[[CustomerStore], Source]] = {
    "contacts": ContactsSource,
    "events": EventsSource,
    "orders": OrdersSource,
    "orderItems": OrderItemsSource,
    "devices": DevicesSource,
    "revenue": RevenueSource,
    "contactActivities": ContactActivitiesSource,
    "messages": lambda customers: CatalogSource(customers, "message", message_row),
    "broadcasts": lambda customers: CatalogSource(customers, "broadcast", broadcast_row),
}


def sources(customers: CustomerStore) -> dict[str, Source]:
    return {name: make(customers) for name, make in _SOURCES.items()}
