"""Where each dataset's rows come from: sqlsync's own stores, read through their change feeds.

A source turns what changed after a feed cursor into rows (column name -> value, the dataset's stored
names); the runner orders them as the table's columns. Datasets without a source here are not kept by
sqlsync yet, and an export naming one is refused when saved (docs/exports.md says where each comes from).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlsync.customers.ids import split_key
from sqlsync.models.orders import Order
from sqlsync.store.base import CustomerRecord, CustomerStore, OrderRecord, TrackedEvent

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


class Source(Protocol):
    def read(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Rows changed after the cursor `after`, up to `until` (unix seconds), each with its cursor."""


def stable_id(account: int, key: str) -> int:
    """A 63-bit number for a string key (the vendor's contactId and eventId are numbers; sqlsync's are keys):
    the same key always gives the same number, so re-exports update the same rows."""
    return int.from_bytes(hashlib.sha256(f"{account}#{key}".encode()).digest()[:8], "big") >> 1


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ContactsSource:
    """contacts: the customers store (tracking and imports). Counters and last-activity dates come from
    message activity, which sqlsync does not keep yet: they are left empty."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        return [
            (cursor, contact_row(account, record))
            for cursor, record in self.customers.changed_customers(account, after, until, limit)
        ]


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

    def read(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
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

    def read(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
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


class OrderItemsSource:
    """orderItems: the items of those orders, one row per product of an order.

    Rows come per order, and a page ends at an order's end (the cursor is the order's): a page holds `limit`
    rows or more, or every order left. An order without items gives no row, so the feed is read on past it;
    otherwise a page of such orders would look like the end of the feed."""

    def __init__(self, customers: CustomerStore) -> None:
        self.customers = customers

    def read(self, account: int, after: str, until: float, limit: int) -> list[tuple[str, dict[str, Any]]]:
        rows: list[tuple[str, dict[str, Any]]] = []
        while len(rows) < limit:
            orders = self.customers.changed_orders(account, after, until, limit)
            for cursor, record in orders:
                rows += [(cursor, row) for row in order_item_rows(account, record)]
                if len(rows) >= limit:
                    return rows
            if len(orders) < limit:
                break
            after = orders[-1][0]
        return rows


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


_SOURCES: dict[str, Callable[[CustomerStore], Source]] = {
    "contacts": ContactsSource,
    "events": EventsSource,
    "orders": OrdersSource,
    "orderItems": OrderItemsSource,
}

AVAILABLE = frozenset(_SOURCES)
"""The datasets sqlsync can export today, by the vendor's dataset name."""


def sources(customers: CustomerStore) -> dict[str, Source]:
    return {name: make(customers) for name, make in _SOURCES.items()}
