"""Errors of the customers capability: each names the field of the command (or import row) at fault."""

from __future__ import annotations


class CustomerError(ValueError):
    """An update, event or lookup that cannot be applied as sent (`customer_ids.registered`, `update_timestamp`)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class CustomerIdCollisionError(CustomerError):
    """The ids of one command belong to two customers already known, or would give a customer a second id
    of a type it may have only once: refused, never merged (docs/customers.md)."""
