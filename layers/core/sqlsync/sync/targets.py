"""Which database an integration writes to: its own URL, or its connector's. Connectors are read through a
short cache, their secrets through the secret store's cache, and each connector keeps one engine per
version, so a changed connector takes effect within the cache time, without a redeploy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlsync.connectors import Target, TargetError, target_for
from sqlsync.connectors.urls import connector_target
from sqlsync.models.connectors import Connector
from sqlsync.models.integrations import Integration
from sqlsync.store.base import ConfigStore
from sqlsync.store.secrets import SecretStore
from sqlsync.sync.cache import TtlCache


def target_key(integration: Integration) -> str:
    """What two integrations share when they write to the same database through the same settings."""
    return f"connector:{integration.connector_id}" if integration.connector_id else f"url:{integration.target_url}"


class TargetResolver:
    def __init__(
        self,
        config: ConfigStore | None = None,
        secrets: SecretStore | None = None,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self._connectors: TtlCache[str, Connector | None] = TtlCache(ttl, clock)
        self._targets: dict[str, tuple[int, Target]] = {}
        self._lock = threading.Lock()

    def __call__(self, integration: Integration) -> Target:
        if integration.connector_id is None:
            return target_for(integration.target_url or "")
        return self.by_connector(integration.connector_id, integration.account_id)

    def by_connector(self, connector_id: str, account_id: int) -> Target:
        """The target of an account's connector: one engine per connector version, kept while warm."""
        connector = self.connector(connector_id)
        if connector is None or connector.account_id != account_id:
            raise TargetError(f"connector {connector_id!r} not found", transient=False)
        with self._lock:
            cached = self._targets.get(connector.id)
            if cached is not None and cached[0] == connector.version:
                return cached[1]
        secrets = self.secrets.get(connector.secret_id) if self.secrets and connector.secret_id else {}
        target = connector_target(connector, secrets)
        with self._lock:
            old = self._targets.get(connector.id)
            self._targets[connector.id] = (connector.version, target)
        if old is not None:
            old[1].dispose()
        return target

    def connector(self, connector_id: str) -> Connector | None:
        if self.config is None:
            return None
        return self._connectors.get(connector_id, self.config.get_connector)
