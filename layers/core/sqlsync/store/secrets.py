"""Connector secrets (password, TLS private key): Secrets Manager in AWS, a dict in tests.

Only this module and the connectors' URL building ever see a secret's value; the config table keeps the
secret's name. Reads go through Powertools' parameters utility, cached per warm Lambda for `max_age`
seconds, so a rotated password takes effect within that time without a redeploy.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

Secrets = dict[str, str]


class SecretStore(ABC):
    @abstractmethod
    def put(self, name: str, secrets: Secrets) -> str:
        """Create or replace the secret `name`; returns the id to read it with."""

    @abstractmethod
    def get(self, secret_id: str) -> Secrets: ...

    @abstractmethod
    def delete(self, secret_id: str) -> None: ...


class SecretsManagerStore(SecretStore):
    def __init__(self, client: SecretsManagerClient | None = None, max_age: int = 300) -> None:
        self._client = client
        self.max_age = max_age

    @property
    def client(self) -> SecretsManagerClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def put(self, name: str, secrets: Secrets) -> str:
        value = json.dumps(secrets)
        try:
            return self.client.create_secret(Name=name, SecretString=value)["ARN"]
        except self.client.exceptions.ResourceExistsException:
            return self.client.put_secret_value(SecretId=name, SecretString=value)["ARN"]

    def get(self, secret_id: str) -> Secrets:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        provider = SecretsProvider(boto3_client=self.client)
        value = provider.get(secret_id, max_age=self.max_age, transform="json")
        return dict(value) if isinstance(value, dict) else {}

    def delete(self, secret_id: str) -> None:
        self.client.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)


class InMemorySecretStore(SecretStore):
    def __init__(self) -> None:
        self._values: dict[str, Secrets] = {}
        self._lock = threading.Lock()

    def put(self, name: str, secrets: Secrets) -> str:
        with self._lock:
            self._values[name] = dict(secrets)
        return name

    def get(self, secret_id: str) -> Secrets:
        with self._lock:
            return dict(self._values.get(secret_id, {}))

    def delete(self, secret_id: str) -> None:
        with self._lock:
            self._values.pop(secret_id, None)
