"""Segment sync: ingest events, run the integrations' SQL templates on their targets."""

from sqlsync.sync.exceptions import (
    EnqueueError,
    InvalidIntegrationError,
    PayloadTooLargeError,
    SyncError,
    UnencodableValueError,
)
from sqlsync.sync.ingest import IngestResult, ingest, to_messages
from sqlsync.sync.integrations import CachedIntegrations, IntegrationService, check_integration
from sqlsync.sync.queue import InMemorySink, MessageSink, QueueMessage, SQSSink
from sqlsync.sync.worker import SyncReport, SyncWorker

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
    "ingest",
    "to_messages",
]
