"""Errors of the data-sources capability."""

from __future__ import annotations


class DataSourceError(ValueError):
    """A data source or a query on it that cannot be used as sent: names the field (`table`, `conditions[0].field`)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class UnknownDataSourceError(LookupError):
    """The account has no data source of that name (an event asked for one deleted since, say)."""
