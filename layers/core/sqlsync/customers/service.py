"""Customers: find one by any of its ids, merge updates into it, keep its events (docs/customers.md).

One item per customer with a version rather than one item per property: reading a customer is one
GetItem, and an update is one read plus one conditional write in the common case (no other writer in
between), whatever the number of properties. When another writer came first the write is refused, and the
update is resolved and merged again over what that writer stored: nothing is lost, and since the merge rule
(sqlsync.customers.merge) does not depend on order, the result is the same as if the two had come one after
the other.

Ids: a customer lives under the key of the first id it was known by; each later id is an alias item
pointing there, created in the same transaction as the write that attaches it. Ids that belong to two
known customers are refused (never merged), and so is a second value of a hard id type (registered).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlsync.customers.exceptions import CustomerError, CustomerIdCollisionError
from sqlsync.customers.ids import HARD_ID_TYPES, id_keys, id_type_of
from sqlsync.customers.merge import Stamped, merge
from sqlsync.store.base import CustomerAlias, CustomerRecord, CustomerStore, TrackedEvent
from sqlsync.store.exceptions import StoreError

MAX_ROUNDS = 20
"""Refused writes before giving up (each round means another writer changed the customer meanwhile)."""
MAX_AHEAD_SECONDS = 3600.0
"""How far ahead of the server's clock a timestamp may be. A later one would pin the property against
every real update until then, so it is refused as a mistake (milliseconds sent as seconds, usually)."""
MAX_PROPERTY_NAME_CHARS = 128


@dataclass(frozen=True)
class Update:
    """What an update did: the customer's home key, the properties it changed, the ids it attached."""

    key: str
    changed: dict[str, Stamped] = field(default_factory=dict)
    attached: tuple[str, ...] = ()
    created: bool = False


@dataclass(frozen=True)
class _Resolved:
    home: str
    record: CustomerRecord | None
    new_ids: tuple[str, ...]


class CustomerService:
    def __init__(self, store: CustomerStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def update(
        self,
        account: int,
        customer_ids: Mapping[str, object],
        properties: Mapping[str, Any],
        at: float | None = None,
        timestamp_field: str = "update_timestamp",
        source: str = "API",
    ) -> Update:
        """Merge `properties`, all stamped `at` (the server's time when None), into the customer those ids
        name, creating it when none is known. Raises CustomerError naming the field at fault."""
        keys = id_keys(customer_ids)
        stamp = self.timestamp(at, timestamp_field)
        _check_properties(properties)
        for _ in range(MAX_ROUNDS):
            found = self._resolve(account, keys)
            stored = found.record.properties if found.record is not None else {}
            changed = merge(stored, properties, stamp)
            if not changed and not found.new_ids:
                return Update(found.home)
            if self._write(account, found, {**stored, **changed}, source):
                return Update(found.home, changed, found.new_ids, found.record is None)
        raise StoreError(f"customer {keys[0]!r}: still contended after {MAX_ROUNDS} rounds")

    def track(
        self,
        account: int,
        customer_ids: Mapping[str, object],
        event_type: str,
        properties: Mapping[str, Any],
        timestamp: float | None = None,
    ) -> Update:
        """Keep an event for the customer those ids name (created when none is known, as an update would)."""
        id_keys(customer_ids)  # the ids are checked first, as they always were
        if not isinstance(event_type, str) or not event_type or len(event_type) > MAX_PROPERTY_NAME_CHARS:
            raise CustomerError("event_type", f"a non-empty string of at most {MAX_PROPERTY_NAME_CHARS} characters")
        stamp = self.timestamp(timestamp, "timestamp")
        _check_properties(properties)
        found = self.ensure(account, customer_ids)
        self.store.add_event(account, found.key, TrackedEvent(event_type, stamp, dict(properties), self.clock()))
        return found

    def ensure(self, account: int, customer_ids: Mapping[str, object]) -> Update:
        """The customer those ids name, created without properties when none is known (source API), with
        the ids it lacks attached: what an event of a customer (tracked, or an order) needs first. Raises
        CustomerError naming the field at fault (ids of two customers are refused, never merged)."""
        keys = id_keys(customer_ids)
        for _ in range(MAX_ROUNDS):
            found = self._resolve(account, keys)
            if not found.new_ids and found.record is not None:
                break
            stored = found.record.properties if found.record is not None else {}
            if self._write(account, found, stored, "API"):
                break
        else:
            raise StoreError(f"customer {keys[0]!r}: still contended after {MAX_ROUNDS} rounds")
        return Update(found.home, attached=found.new_ids, created=found.record is None)

    def find(self, account: int, id_type: str, value: str) -> CustomerRecord | None:
        """The customer known by that id, or None."""
        (key,) = id_keys({id_type: value}, field="customer_id")
        item = self.store.read(account, [key]).get(key)
        if isinstance(item, CustomerAlias):
            item = self.store.read(account, [item.home]).get(item.home)
        return item if isinstance(item, CustomerRecord) else None

    def timestamp(self, at: object, name: str) -> float:
        """A checked timestamp in unix seconds (fractions kept); the server's time when None."""
        now = self.clock()
        if at is None:
            return now
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at) or at < 0:
            raise CustomerError(name, "unix seconds: a number at least 0 (fractions allowed)")
        if at > now + MAX_AHEAD_SECONDS:
            raise CustomerError(
                name, f"{at} is more than an hour ahead of the server's time ({now:.0f}); milliseconds sent as seconds?"
            )
        return float(at)

    def _resolve(self, account: int, keys: Sequence[str]) -> _Resolved:
        found = self.store.read(account, keys)
        homes = {item.key if isinstance(item, CustomerRecord) else item.home for item in found.values()}
        if len(homes) > 1:
            owners = ", ".join(
                f"{key} is customer {item.key if isinstance(item, CustomerRecord) else item.home}"
                for key, item in found.items()
            )
            raise CustomerIdCollisionError(
                "customer_ids", f"these ids belong to different customers ({owners}); refused, customers are not merged"
            )
        if not homes:
            return _Resolved(keys[0], None, tuple(keys))
        home = homes.pop()
        record = found.get(home)
        if not isinstance(record, CustomerRecord):
            record = self.store.read(account, [home]).get(home)
            if not isinstance(record, CustomerRecord):
                raise StoreError(f"customer id {keys[0]!r} points at {home!r}, which is not a customer")
        new_ids = tuple(key for key in keys if key not in found)
        for key in new_ids:
            id_type = id_type_of(key)
            taken = [known for known in record.ids if id_type_of(known) == id_type]
            if id_type in HARD_ID_TYPES and taken:
                raise CustomerIdCollisionError(
                    f"customer_ids.{id_type}",
                    f"customer {home} already has {taken[0]}; a customer has one {id_type} id, refused",
                )
        return _Resolved(home, record, new_ids)

    def _write(self, account: int, found: _Resolved, properties: dict[str, Stamped], source: str) -> bool:
        now = self.clock()
        old = found.record
        record = CustomerRecord(
            found.home,
            (*(old.ids if old is not None else ()), *found.new_ids),
            properties,
            (old.version if old is not None else 0) + 1,
            created_at=old.created_at if old is not None else now,
            updated_at=now,
            source=old.source if old is not None else source,
        )
        return self.store.write(account, record, [key for key in found.new_ids if key != found.home])


def _check_properties(properties: Mapping[str, Any]) -> None:
    if not isinstance(properties, Mapping):
        raise CustomerError("properties", "an object of property name -> value")
    for name in properties:
        if not isinstance(name, str) or not name or len(name) > MAX_PROPERTY_NAME_CHARS:
            raise CustomerError(f"properties.{name}", f"a name of 1 to {MAX_PROPERTY_NAME_CHARS} characters")
