"""The worker's targets: an integration's URL, or its connector's, one engine per connector version."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlsync.connectors import TargetError
from sqlsync.connectors.service import ConnectorService
from sqlsync.models.connectors import ConnectorIn
from sqlsync.store.memory import InMemoryConfigStore
from sqlsync.store.secrets import InMemorySecretStore
from sqlsync.sync.targets import TargetResolver, target_key
from testkit import integration

TEMPLATES = {"profiles_added": "SELECT 1", "profiles_removed": "SELECT 1"}


def test_a_changed_connector_gets_a_new_engine_after_the_cache_time(tmp_path: Path) -> None:
    config, secrets = InMemoryConfigStore(), InMemorySecretStore()
    service = ConnectorService(config, secrets)
    body = {"name": "c", "type": "sqlite", "database": str(tmp_path / "one.db")}
    connector = service.create(1, ConnectorIn.model_validate(body))
    now = [0.0]
    resolve = TargetResolver(config, secrets, ttl=30, clock=lambda: now[0])
    uses = integration(None, TEMPLATES, connector_id=connector.id)
    first = resolve(uses)
    assert resolve(uses) is first and str(first.url).endswith("one.db")
    service.update(1, connector.id, ConnectorIn.model_validate({**body, "database": str(tmp_path / "two.db")}))
    assert resolve(uses) is first  # within the cache time
    now[0] = 31
    second = resolve(uses)
    assert second is not first and str(second.url).endswith("two.db")
    assert target_key(uses) == f"connector:{connector.id}"


def test_a_missing_or_foreign_connector_fails_like_a_target_that_is_down(tmp_path: Path) -> None:
    config, secrets = InMemoryConfigStore(), InMemorySecretStore()
    foreign = ConnectorService(config, secrets).create(
        2, ConnectorIn.model_validate({"name": "c", "type": "sqlite", "database": "x.db"})
    )
    resolve = TargetResolver(config, secrets)
    for connector_id in ("missing", foreign.id):
        with pytest.raises(TargetError, match="not found"):
            resolve(integration(None, TEMPLATES, connector_id=connector_id))
