"""Storage: interfaces and records.

The implementations are imported from their own modules: `sqlsync.store.dynamodb` (so that code which only
needs the interfaces never imports boto3) and the in-memory fakes from `sqlsync.store.memory` (so that a
deployed function never imports them).
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

__all__ = [
    "ConfigStore",
    "LedgerStore",
    "Membership",
    "MembershipState",
    "StatsBucket",
    "StatsDelta",
    "StatsStore",
    "StoreError",
    "minute_bucket",
]
