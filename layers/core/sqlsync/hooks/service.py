"""What the configuration API does with hooks: checked when saved, secrets to the secret store, cloned,
tested against their destination."""

from __future__ import annotations

import secrets as random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlsync.hooks.delivery import DeliveryResult, Sender
from sqlsync.hooks.exceptions import HookError
from sqlsync.hooks.message import check_custom_data
from sqlsync.models.events import Profile
from sqlsync.models.hooks import (
    ActivityEvent,
    Hook,
    HookEventType,
    HookIn,
    HookOut,
    HookStatsBucketOut,
    HookStatsOut,
    HookTestOut,
    HttpDestination,
    KafkaDestination,
    RabbitMQDestination,
)
from sqlsync.store.base import ConfigStore, StatsStore
from sqlsync.store.secrets import Secrets, SecretStore

MASK = "***"


class HookService:
    def __init__(
        self,
        config: ConfigStore,
        secret_store: SecretStore,
        allow_private: bool = False,
        stats: StatsStore | None = None,
    ) -> None:
        self.config = config
        self.secret_store = secret_store
        self.allow_private = allow_private
        self.stats = stats

    def statistics(self, hook_id: str, start: datetime, end: datetime) -> HookStatsOut:
        """Delivery counters per minute, kept by the dispatcher (sqlsync.hooks.dispatch.stats_key)."""
        from sqlsync.hooks.dispatch import stats_key

        buckets = self.stats.query(stats_key(hook_id), start, end) if self.stats is not None else []
        errors = [bucket for bucket in buckets if bucket.last_error]
        return HookStatsOut(
            hook_id=hook_id,
            requests=sum(bucket.statements for bucket in buckets),
            sent=sum(bucket.profiles for bucket in buckets),
            retried=sum(bucket.retried for bucket in buckets),
            failed=sum(bucket.errors for bucket in buckets),
            last_error=errors[-1].last_error if errors else None,
            last_error_at=errors[-1].last_error_at if errors else None,
            buckets=[
                HookStatsBucketOut(
                    minute=bucket.bucket,
                    requests=bucket.statements,
                    sent=bucket.profiles,
                    retried=bucket.retried,
                    failed=bucket.errors,
                )
                for bucket in buckets
            ],
        )

    def create(self, account_id: int, data: HookIn, now: datetime | None = None) -> Hook:
        at = now or datetime.now(UTC)
        return self._save(account_id, random.token_hex(8), data, {}, None, at, at)

    def update(self, account_id: int, hook_id: str, data: HookIn, now: datetime | None = None) -> Hook | None:
        current = self.get(account_id, hook_id)
        if current is None:
            return None
        kept = self.secrets_of(current) if _same_destination(current, data) else {}
        return self._save(
            account_id, hook_id, data, kept, current.secret_id, current.created_at, now or datetime.now(UTC)
        )

    def set_active(self, account_id: int, hook_id: str, active: bool, now: datetime | None = None) -> Hook | None:
        current = self.get(account_id, hook_id)
        if current is None:
            return None
        hook = current.model_copy(update={"active": active, "updated_at": now or datetime.now(UTC)})
        self.config.put_hook(hook)
        return hook

    def clone(self, account_id: int, hook_id: str, now: datetime | None = None) -> Hook | None:
        """A copy, paused (so that events do not go out twice until the user says so), with the same
        destination and secrets, named "<name> (copy)"."""
        current = self.get(account_id, hook_id)
        if current is None:
            return None
        at = now or datetime.now(UTC)
        data = HookIn.model_validate({**_as_input(current), "name": f"{current.name} (copy)"[:200], "active": False})
        return self._save(account_id, random.token_hex(8), data, self.secrets_of(current), None, at, at)

    def get(self, account_id: int, hook_id: str) -> Hook | None:
        """The hook, if it belongs to the account: another account's is as good as missing."""
        hook = self.config.get_hook(hook_id)
        return hook if hook is not None and hook.account_id == account_id else None

    def list(self, account_id: int) -> list[Hook]:
        return self.config.list_hooks(account_id)

    def delete(self, account_id: int, hook_id: str) -> bool:
        hook = self.get(account_id, hook_id)
        if hook is None:
            return False
        self.config.delete_hook(hook_id)
        if hook.secret_id:
            self.secret_store.delete(hook.secret_id)
        return True

    def secrets_of(self, hook: Hook) -> Secrets:
        return self.secret_store.get(hook.secret_id) if hook.secret_id else {}

    def signing_secret(self, hook: Hook) -> str | None:
        return self.secrets_of(hook).get("signing_secret")

    def test(self, hook: Hook, now: datetime | None = None) -> HookTestOut:
        """Send one sample event of the hook's first type to its destination now (the vendor's pre-testing)."""
        from sqlsync.hooks.message import outgoing
        from sqlsync.hooks.senders import sender_for

        at = now or datetime.now(UTC)
        event = ActivityEvent(
            id=f"test-{random.token_hex(8)}",
            type=hook.event_types[0] if hook.event_types else HookEventType.OPEN,
            account_id=hook.account_id,
            occurred_at=at,
            profile=Profile(id="test-profile", fields={"email": "test@example.com"}),
            is_test=True,
        )
        sender: Sender = sender_for(hook, self.secrets_of(hook), self.allow_private)
        started = time.perf_counter()
        try:
            result: DeliveryResult = sender.send([outgoing(hook, event)])
        finally:
            sender.close()
        latency = round((time.perf_counter() - started) * 1000, 1)
        return HookTestOut(ok=result.ok, detail=result.detail or ("delivered" if result.ok else ""), latency_ms=latency)

    def _save(
        self,
        account_id: int,
        hook_id: str,
        data: HookIn,
        kept: Secrets,
        secret_id: str | None,
        created_at: datetime,
        updated_at: datetime,
    ) -> Hook:
        check_custom_data(data.custom_data)
        destination, secrets = self._check_destination(data, kept)
        if secrets:
            secret_id = self.secret_store.put(f"sqlsync/{account_id}/hook/{hook_id}", secrets)
        elif secret_id:
            self.secret_store.delete(secret_id)
            secret_id = None
        fields = data.model_dump(exclude={"destination"})
        hook = Hook(
            **fields,
            destination=destination,
            id=hook_id,
            account_id=account_id,
            secret_id=secret_id,
            created_at=created_at,
            updated_at=updated_at,
        )
        self.config.put_hook(hook)
        return hook

    def _check_destination(self, data: HookIn, kept: Secrets) -> tuple[dict[str, Any], Secrets]:
        """The destination as stored (no secret in it) and its secrets; refuses what cannot work."""
        destination = data.destination
        stored: dict[str, Any] = destination.model_dump()
        if isinstance(destination, HttpDestination):
            return self._check_http(destination, stored, kept)
        if isinstance(destination, RabbitMQDestination):
            return self._check_rabbitmq(destination, stored, kept)
        return self._check_kafka(destination, stored, kept)

    def _check_http(
        self, destination: HttpDestination, stored: dict[str, Any], kept: Secrets
    ) -> tuple[dict[str, Any], Secrets]:
        from sqlsync.hooks.addresses import check_url
        from sqlsync.hooks.http import check_headers, new_signing_secret, validate_signing_secret

        # A name that does not resolve yet is let be: HTTP destinations are checked again before each request.
        _allowed("destination.url", lambda: check_url(destination.url, self.allow_private))
        try:
            check_headers(destination.headers)
        except ValueError as exc:
            raise HookError("destination.headers", str(exc)) from None
        given = destination.signing_secret.get_secret_value() if destination.signing_secret else None
        if given is not None:
            try:
                validate_signing_secret(given)
            except ValueError as exc:
                raise HookError("destination.signing_secret", str(exc)) from None
        stored["signing_secret"] = None
        return stored, {"signing_secret": given or kept.get("signing_secret") or new_signing_secret()}

    def _check_rabbitmq(
        self,
        destination: RabbitMQDestination,
        stored: dict[str, Any],
        kept: Secrets,
    ) -> tuple[dict[str, Any], Secrets]:
        from sqlsync.hooks.rabbitmq import validate_rabbitmq_url

        try:
            validate_rabbitmq_url(destination.url)
        except ValueError as exc:
            raise HookError("destination.url", str(exc)) from None
        parts = urlsplit(destination.url)
        _check_host(parts.hostname or "", parts.port or 5672, self.allow_private, "destination.url")
        url, password = split_password(destination.url)
        stored["url"] = url
        if password is not None:
            return stored, {"amqp_password": password}
        if "amqp_password" in kept and _has_user(url):
            return stored, {"amqp_password": kept["amqp_password"]}
        return stored, {}

    def _check_kafka(
        self, destination: KafkaDestination, stored: dict[str, Any], kept: Secrets
    ) -> tuple[dict[str, Any], Secrets]:
        from sqlsync.hooks.kafka import validate_kafka_config

        try:
            validate_kafka_config(destination.bootstrap_servers, destination.topic)
        except ValueError as exc:
            raise HookError("destination", str(exc)) from None
        for server in destination.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            _check_host(host.strip("[]"), int(port), self.allow_private, "destination.bootstrap_servers")
        secrets: Secrets = {}
        password = destination.sasl_password.get_secret_value() if destination.sasl_password else None
        if password or kept.get("sasl_password"):
            secrets["sasl_password"] = password or kept["sasl_password"]
        stored["sasl_password"] = None
        if destination.security_protocol.startswith("SASL") and not (
            destination.sasl_mechanism and destination.sasl_username and "sasl_password" in secrets
        ):
            raise HookError("destination.sasl_mechanism", "SASL needs sasl_mechanism, sasl_username and sasl_password")
        return stored, secrets


def public_view(hook: Hook) -> HookOut:
    """The hook as the API shows it: secrets as '***' when set."""
    destination = dict(hook.destination.model_dump())
    if destination["kind"] == "http":
        destination["signing_secret"] = MASK
    elif destination["kind"] == "kafka":
        destination["sasl_password"] = MASK if hook.secret_id else None
    elif hook.secret_id and _has_user(destination["url"]):
        destination["url"] = with_password(destination["url"], MASK)
    return HookOut(**hook.model_dump(exclude={"destination", "account_id", "secret_id"}), destination=destination)


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (None when it has none)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.password


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:{password}@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _check_host(host: str, port: int, allow_private: bool, field: str) -> None:
    """The address policy of HTTP destinations, for brokers too."""
    from sqlsync.hooks.addresses import check_host

    _allowed(field, lambda: check_host(host, port, allow_private))


def _allowed(field: str, check: Callable[[], object]) -> None:
    """Run an address check; a refusal names the field, a name that does not resolve yet is let be (it may
    resolve only later, or only inside a VPC)."""
    from sqlsync.hooks.addresses import DestinationRefused, HostNotResolved

    try:
        check()
    except HostNotResolved:
        pass
    except DestinationRefused as exc:
        raise HookError(field, str(exc)) from None


def _has_user(url: str) -> bool:
    return urlsplit(url).username is not None


def _same_destination(hook: Hook, data: HookIn) -> bool:
    """Secrets are kept on update only for the same kind of destination at the same place."""
    old, new = hook.destination, data.destination
    if old.kind != new.kind:
        return False
    if isinstance(old, KafkaDestination) and isinstance(new, KafkaDestination):
        return old.bootstrap_servers == new.bootstrap_servers
    if isinstance(old, HttpDestination):
        return True  # the signing secret belongs to the hook; the receiver keeps verifying after a URL change
    old_url = getattr(old, "url", "")
    return urlsplit(old_url).hostname == urlsplit(split_password(getattr(new, "url", ""))[0]).hostname


def _as_input(hook: Hook) -> dict[str, Any]:
    return hook.model_dump(exclude={"id", "account_id", "secret_id", "created_at", "updated_at"})
