"""Errors of the action-hooks capability."""

from __future__ import annotations


class HookError(ValueError):
    """A hook that cannot be saved as sent: names the field (`destination.url`, `custom_data.values.k`)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
