"""Segment sync: ingest events, run the integrations' SQL templates on their targets.

The names below are imported from their modules on first use: a function that needs only the queue or the
exceptions (ingest, the hook dispatcher) must not pay at each cold start for the worker and the template
language it never runs. The `ingest` function is imported from `sqlsync.sync.ingest`: here, the name is the
submodule's.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlsync.sync.exceptions import (
        EnqueueError,
        InvalidIntegrationError,
        PayloadTooLargeError,
        SyncError,
        UnencodableValueError,
    )
    from sqlsync.sync.ingest import IngestResult
    from sqlsync.sync.integrations import CachedIntegrations, IntegrationService, check_integration
    from sqlsync.sync.queue import InMemorySink, MessageSink, QueueMessage, SQSSink
    from sqlsync.sync.wire import to_messages
    from sqlsync.sync.worker import SyncReport, SyncWorker

_MODULES = {
    "EnqueueError": "exceptions",
    "InvalidIntegrationError": "exceptions",
    "PayloadTooLargeError": "exceptions",
    "SyncError": "exceptions",
    "UnencodableValueError": "exceptions",
    "IngestResult": "ingest",
    "CachedIntegrations": "integrations",
    "IntegrationService": "integrations",
    "check_integration": "integrations",
    "InMemorySink": "queue",
    "MessageSink": "queue",
    "QueueMessage": "queue",
    "SQSSink": "queue",
    "SyncReport": "worker",
    "SyncWorker": "worker",
    "to_messages": "wire",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(f"sqlsync.sync.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CachedIntegrations",
    "EnqueueError",
    "InMemorySink",
    "IngestResult",
    "IntegrationService",
    "InvalidIntegrationError",
    "MessageSink",
    "PayloadTooLargeError",
    "QueueMessage",
    "SQSSink",
    "SyncError",
    "SyncReport",
    "SyncWorker",
    "UnencodableValueError",
    "check_integration",
    "to_messages",
]
