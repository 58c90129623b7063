"""Applying updates to stored customers: read, merge (sqlsync.customers.merge), write on the version read.

One item per customer with a version rather than one item per property: reading a customer is one
GetItem, and an update is one read plus one conditional write in the common case (no other writer in
between), whatever the number of properties. When another writer came first the write is refused, and the
update is merged again over what that writer stored: nothing is lost, and since the merge rule does not
depend on order, the result is the same as if the two had come one after the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlsync.customers.merge import Stamped, merge
from sqlsync.store.base import CustomerStore
from sqlsync.store.exceptions import StoreError

MAX_ROUNDS = 20
"""Refused writes before giving up (each round means another writer changed the customer meanwhile)."""


def apply_update(
    store: CustomerStore, customer_id: str, properties: Mapping[str, Any], at: float
) -> dict[str, Stamped]:
    """Merge the update into the customer; returns what changed (nothing, when every property was older)."""
    for _ in range(MAX_ROUNDS):
        record = store.get(customer_id)
        stored = record.properties if record is not None else {}
        changed = merge(stored, properties, at)
        if not changed:
            return {}
        if store.put_if(customer_id, {**stored, **changed}, record.version if record is not None else None):
            return changed
    raise StoreError(f"customer {customer_id!r}: still contended after {MAX_ROUNDS} rounds")
