"""Integration configuration: checked when saved, read by the worker through a short-lived cache."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlsync.connectors import TargetError, check_driver
from sqlsync.dialects import Dialect, UnsupportedDialectError, dialect_for
from sqlsync.models.events import ResyncRequest
from sqlsync.models.integrations import Integration, IntegrationIn, ResyncIn, ResyncOut, StatsBucketOut, StatsOut
from sqlsync.store.base import ConfigStore, StatsStore
from sqlsync.sync.cache import TtlCache
from sqlsync.sync.catchup import catch_up_messages
from sqlsync.sync.exceptions import EnqueueError, InvalidIntegrationError
from sqlsync.sync.queue import MessageSink
from sqlsync.template import CompiledTemplate, TemplateSyntaxError, compile_template


def dialect_of(target_url: str) -> Dialect:
    """The dialect of a target URL's database, with its default settings; InvalidIntegrationError if unknown."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(target_url).get_backend_name()
    except ArgumentError as exc:
        raise InvalidIntegrationError("target_url", f"not a database URL: {exc}") from None
    try:
        return dialect_for(backend)
    except UnsupportedDialectError as exc:
        raise InvalidIntegrationError("target_url", str(exc)) from None


def compile_checked(text: str, dialect: Dialect, field: str) -> CompiledTemplate:
    """The compiled template; a syntax error becomes InvalidIntegrationError naming the field, line, column."""
    try:
        return compile_template(text, dialect, field.rpartition(".")[2])
    except TemplateSyntaxError as exc:
        raise InvalidIntegrationError(field, exc.message, exc.line, exc.column) from None


def target_dialect(
    integration: IntegrationIn, account_id: int, config: ConfigStore | None, require_driver: bool = True
) -> Dialect:
    """The dialect of the integration's database: its connector's type (a connector of the same account),
    or its URL's backend, whose driver must be installed to save it."""
    if (integration.connector_id is None) == (integration.target_url is None):
        raise InvalidIntegrationError("connector_id", "give exactly one of connector_id and target_url")
    if integration.connector_id is not None:
        connector = config.get_connector(integration.connector_id) if config is not None else None
        if connector is None or connector.account_id != account_id:
            raise InvalidIntegrationError(
                "connector_id", f"no connector {integration.connector_id!r} in account {account_id}"
            )
        return dialect_for(connector.type.value)
    url = integration.target_url or ""
    dialect = dialect_of(url)
    if require_driver:
        try:
            check_driver(url)
        except TargetError as exc:
            raise InvalidIntegrationError("target_url", str(exc)) from None
    return dialect


def check_integration(integration: IntegrationIn, account_id: int, config: ConfigStore | None = None) -> None:
    """Raise InvalidIntegrationError naming the field (and line, column) of the first problem."""
    dialect = target_dialect(integration, account_id, config)
    for name, text in integration.templates.items():
        compile_checked(text, dialect, f"templates.{name}")


def new_integration(
    account_id: int, data: IntegrationIn, config: ConfigStore | None = None, now: datetime | None = None
) -> Integration:
    check_integration(data, account_id, config)
    at = now or datetime.now(UTC)
    return Integration(
        **data.model_dump(), account_id=account_id, id=secrets.token_hex(8), created_at=at, updated_at=at
    )


class IntegrationService:
    """What the configuration API does with integrations."""

    def __init__(self, config: ConfigStore, stats: StatsStore) -> None:
        self.config = config
        self.stats = stats

    def create(self, account_id: int, data: IntegrationIn) -> Integration:
        integration = new_integration(account_id, data, self.config)
        self.config.put_integration(integration)
        return integration

    def update(
        self, account_id: int, integration_id: str, data: IntegrationIn, sink: MessageSink
    ) -> Integration | None:
        """Replace an integration's settings (checked as when created); its id and account stay.

        A resume (active false -> true) queues one catch-up request per segment on `sink`, so that what the
        worker held in the ledger while paused is applied. If they cannot be queued, the integration is
        put back as it was (paused) and EnqueueError propagates: repeating the request is safe."""
        current = self.get(account_id, integration_id)
        if current is None:
            return None
        check_integration(data, account_id, self.config)
        updated = Integration(
            **data.model_dump(),
            account_id=account_id,
            id=current.id,
            created_at=current.created_at,
            updated_at=datetime.now(UTC),
        )
        self.config.put_integration(updated)
        if updated.active and not current.active:
            try:
                sink.send(catch_up_messages(updated, updated.updated_at))
            except EnqueueError:
                self.config.put_integration(current)
                raise
        return updated

    def resync(self, integration: Integration, data: ResyncIn, sink: MessageSink) -> ResyncOut:
        """Queue one resync request per segment; the worker rebuilds each from the membership ledger."""
        if integration.templates.segment_cleared is None:
            raise InvalidIntegrationError("templates.segment_cleared", "a resync clears the table first: set it")
        segments = data.segment_ids if data.segment_ids is not None else integration.segment_ids
        unknown = sorted(set(segments) - set(integration.segment_ids))
        if unknown:
            raise InvalidIntegrationError("segment_ids", f"not segments of this integration: {unknown}")
        at = datetime.now(UTC)
        requests = [
            ResyncRequest(
                id=f"resync-{secrets.token_hex(6)}",
                integration_id=integration.id,
                account_id=integration.account_id,
                segment_id=segment_id,
                requested_at=at,
            )
            for segment_id in segments
        ]
        sink.send([request.model_dump_json() for request in requests])
        return ResyncOut(integration_id=integration.id, segment_ids=list(segments), requested_at=at)

    def get(self, account_id: int, integration_id: str) -> Integration | None:
        """The integration, if it belongs to the account: another account's is as good as missing."""
        integration = self.config.get_integration(integration_id)
        return integration if integration is not None and integration.account_id == account_id else None

    def list(self, account_id: int) -> list[Integration]:
        return self.config.list_integrations(account_id)

    def delete(self, account_id: int, integration_id: str) -> bool:
        if self.get(account_id, integration_id) is None:
            return False
        return self.config.delete_integration(integration_id)

    def statistics(self, integration_id: str, start: datetime, end: datetime) -> StatsOut:
        buckets = self.stats.query(integration_id, start, end)
        errors = [bucket for bucket in buckets if bucket.last_error]
        return StatsOut(
            integration_id=integration_id,
            start=start,
            end=end,
            statements=sum(bucket.statements for bucket in buckets),
            profiles=sum(bucket.profiles for bucket in buckets),
            errors=sum(bucket.errors for bucket in buckets),
            last_error=errors[-1].last_error if errors else None,
            buckets=[StatsBucketOut(**vars(bucket)) for bucket in buckets],
        )


def public_view(integration: Integration) -> Integration:
    """The integration as the API returns it: a target URL's password masked."""
    from sqlalchemy.engine import make_url

    if integration.target_url is None:
        return integration
    masked = make_url(integration.target_url).render_as_string(hide_password=True)
    return integration.model_copy(update={"target_url": masked})


class CachedIntegrations:
    """Integrations per account, cached for `ttl` seconds so a warm worker reads the table rarely."""

    def __init__(self, config: ConfigStore, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._cache: TtlCache[int, list[Integration]] = TtlCache(ttl, clock)

    def __call__(self, account_id: int) -> list[Integration]:
        return self._cache.get(account_id, self.config.list_integrations)
