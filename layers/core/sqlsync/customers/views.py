"""A customer as the API shows it: its ids by type, and its properties plain or with their timestamps."""

from __future__ import annotations

from typing import Any

from sqlsync.customers.ids import ids_view
from sqlsync.store.base import CustomerRecord


def customer_view(record: CustomerRecord, include_timestamps: bool = False) -> dict[str, Any]:
    """{"ids": {...}, "properties": {"first_name": "Marian"}}, or with timestamps
    {"properties": {"first_name": {"value": "Marian", "last_update": 1570001049}}} (-1: time unknown)."""
    if include_timestamps:
        properties: dict[str, Any] = {
            name: {"value": stamped.value, "last_update": _number(stamped.last_update)}
            for name, stamped in record.properties.items()
        }
    else:
        properties = {name: stamped.value for name, stamped in record.properties.items()}
    return {"ids": ids_view(record.ids), "properties": properties}


def _number(seconds: float) -> float | int:
    """Whole seconds as an integer (1570001049, not 1570001049.0), fractions kept."""
    return int(seconds) if seconds.is_integer() else seconds
