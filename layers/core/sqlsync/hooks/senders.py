"""A hook's Sender, built from its destination and secrets; the dispatcher keeps one per hook version so
that a warm Lambda reuses its connections."""

from __future__ import annotations

import threading

from sqlsync.hooks.delivery import Sender
from sqlsync.models.hooks import (
    Hook,
    HttpDestination,
    KafkaDestination,
    RabbitMQDestination,
    RabbitMQQueueDestination,
)
from sqlsync.store.secrets import Secrets, SecretStore


def sender_for(hook: Hook, secrets: Secrets, allow_private: bool) -> Sender:
    """A new Sender for the hook's destination (client libraries are imported here, on first use)."""
    destination = hook.destination
    if isinstance(destination, HttpDestination):
        from sqlsync.hooks.http import HttpSender

        return HttpSender(
            destination.url,
            headers=destination.headers,
            signing_secret=secrets["signing_secret"],
            timeout_seconds=destination.timeout_seconds,
            allow_private=allow_private,
        )
    if isinstance(destination, RabbitMQDestination):
        from sqlsync.hooks.rabbitmq import RabbitMQSender
        from sqlsync.hooks.service import with_password

        password = secrets.get("amqp_password")
        url = with_password(destination.url, password) if password is not None else destination.url
        if isinstance(destination, RabbitMQQueueDestination):
            return RabbitMQSender(url, queue=destination.queue)
        return RabbitMQSender(url, exchange=destination.exchange, routing_key=destination.routing_key)
    if isinstance(destination, KafkaDestination):
        from sqlsync.hooks.kafka import KafkaSender

        return KafkaSender(
            destination.bootstrap_servers,
            destination.topic,
            security_protocol=destination.security_protocol,
            sasl_mechanism=destination.sasl_mechanism,
            sasl_username=destination.sasl_username,
            sasl_password=secrets.get("sasl_password"),
        )
    raise TypeError(f"no sender for {type(destination).__name__}")


class SenderPool:
    """One Sender per hook version: a changed hook gets a new one (the old one is closed)."""

    def __init__(self, secret_store: SecretStore, allow_private: bool) -> None:
        self.secret_store = secret_store
        self.allow_private = allow_private
        self._senders: dict[str, tuple[str, Sender]] = {}
        self._lock = threading.Lock()

    def __call__(self, hook: Hook) -> Sender:
        version = hook.updated_at.isoformat()
        with self._lock:
            cached = self._senders.get(hook.id)
            if cached is not None and cached[0] == version:
                return cached[1]
            if cached is not None:
                cached[1].close()
            secrets = self.secret_store.get(hook.secret_id) if hook.secret_id else {}
            sender = sender_for(hook, secrets, self.allow_private)
            self._senders[hook.id] = (version, sender)
            return sender

    def close(self) -> None:
        with self._lock:
            for _, sender in self._senders.values():
                sender.close()
            self._senders.clear()
