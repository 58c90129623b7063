"""Storage: interfaces, records and in-memory implementations.

The DynamoDB implementations live in `sqlsync.store.dynamodb` and are imported from there, so that code
which only needs the interfaces (or the fakes) never imports boto3.
"""

from sqlsync.store.base import (
    ConfigStore,
    LedgerStore,
    Membership,
    MembershipState,
    StatsBucket,
    StatsDelta,
    StatsStore,
    minute_bucket,
)
from sqlsync.store.exceptions import StoreError
from sqlsync.store.memory import InMemoryConfigStore, InMemoryLedgerStore, InMemoryStatsStore

__all__ = [
    "ConfigStore",
    "InMemoryConfigStore",
    "InMemoryLedgerStore",
    "InMemoryStatsStore",
    "LedgerStore",
    "Membership",
    "MembershipState",
    "StatsBucket",
    "StatsDelta",
    "StatsStore",
    "StoreError",
    "minute_bucket",
]
