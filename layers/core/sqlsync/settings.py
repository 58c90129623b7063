"""Names of the deployed resources, read from the environment that template.yaml sets."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    config_table: str
    ledger_table: str
    stats_table: str
    sync_queue_url: str
    sync_dlq_url: str = ""
    config_cache_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            config_table=os.environ.get("CONFIG_TABLE", ""),
            ledger_table=os.environ.get("LEDGER_TABLE", ""),
            stats_table=os.environ.get("STATS_TABLE", ""),
            sync_queue_url=os.environ.get("SYNC_QUEUE_URL", ""),
            sync_dlq_url=os.environ.get("SYNC_DLQ_URL", ""),
            config_cache_seconds=float(os.environ.get("SQLSYNC_CONFIG_CACHE_SECONDS", "30")),
        )
