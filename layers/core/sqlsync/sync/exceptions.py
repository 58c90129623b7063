"""Errors of the segment-sync capability."""

from __future__ import annotations


class SyncError(Exception):
    """Base class."""


class IngestFieldError(SyncError):
    """A request refused at ingest, naming the field (`profiles[3].fields`, or `events[1].profiles[3]`...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def within(self, prefix: str) -> IngestFieldError:
        """The same error, its field named from an outer object: `events[1].` + field."""
        return type(self)(prefix + self.field, self.message)


class PayloadTooLargeError(IngestFieldError):
    """One profile alone does not fit in a queue message."""


class UnencodableValueError(IngestFieldError):
    """A value that is not valid Unicode (a lone UTF-16 surrogate): refused at ingest, naming where."""


class UnknownNameError(IngestFieldError):
    """A name that matches nothing of the account's (a data source an event asks for)."""


class EnqueueError(SyncError):
    """The queue refused messages after retries; the caller may resend the whole request (idempotent)."""


class InvalidIntegrationError(SyncError):
    """An integration that cannot run: a template that does not compile, an unsupported database."""

    def __init__(self, field: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.field = field
        self.message = message
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{field}{where}: {message}")
