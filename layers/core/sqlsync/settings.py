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
    hook_queue_url: str = ""
    hook_dlq_url: str = ""
    hook_retry_times: int = 4
    """Delivery attempts of a hook batch before it goes to the hook dead-letter queue (the vendor's default)."""
    hook_retry_period_seconds: int = 15
    hook_allow_private_destinations: bool = False
    """Hooks may target loopback and private addresses (tests, a VPC); link-local/metadata never."""
    content_table: str = ""
    hook_content_retention_hours: int = 72
    customers_table: str = ""
    activity_retention_days: int = 400
    imports_bucket: str = ""
    import_queue_url: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            config_table=os.environ.get("CONFIG_TABLE", ""),
            ledger_table=os.environ.get("LEDGER_TABLE", ""),
            stats_table=os.environ.get("STATS_TABLE", ""),
            sync_queue_url=os.environ.get("SYNC_QUEUE_URL", ""),
            sync_dlq_url=os.environ.get("SYNC_DLQ_URL", ""),
            config_cache_seconds=float(os.environ.get("SQLSYNC_CONFIG_CACHE_SECONDS", "30")),
            hook_queue_url=os.environ.get("HOOK_QUEUE_URL", ""),
            hook_dlq_url=os.environ.get("HOOK_DLQ_URL", ""),
            hook_retry_times=int(os.environ.get("HOOK_RETRY_TIMES", "4")),
            hook_retry_period_seconds=int(os.environ.get("HOOK_RETRY_PERIOD_SEC", "15")),
            hook_allow_private_destinations=os.environ.get("HOOK_ALLOW_PRIVATE_DESTINATIONS", "false") == "true",
            content_table=os.environ.get("CONTENT_TABLE", ""),
            hook_content_retention_hours=int(os.environ.get("HOOK_CONTENT_RETENTION_HOURS", "72")),
            customers_table=os.environ.get("CUSTOMERS_TABLE", ""),
            activity_retention_days=int(os.environ.get("ACTIVITY_RETENTION_DAYS", "400")),
            imports_bucket=os.environ.get("IMPORTS_BUCKET", ""),
            import_queue_url=os.environ.get("IMPORT_QUEUE_URL", ""),
        )
