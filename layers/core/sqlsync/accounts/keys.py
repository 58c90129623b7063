"""API keys, one or more per account, issued by the operator (`python -m sqlsync.accounts`).

The HTTP API's Lambda authorizer looks the caller's key up here and hands the key's account to the
functions, which show and change only that account's objects. A key is 256 random bits shown once, when
issued; the config table keeps its SHA-256 only (kind "apikey", id = the digest), which cannot be turned
back into the key, so a leaked table leaks no key. Revoking deletes the item.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlsync.models.accounts import ApiKey
from sqlsync.store.base import ConfigStore

KEY_PREFIX = "sqk_"
_KIND = "apikey"


@dataclass(frozen=True)
class IssuedKey:
    key: str
    info: ApiKey


def digest_of(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None for anything else.

    >>> bearer_token("Bearer sqk_abc"), bearer_token("bearer  sqk_abc "), bearer_token("Basic x"), bearer_token(None)
    ('sqk_abc', 'sqk_abc', None, None)
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class ApiKeys:
    def __init__(self, config: ConfigStore) -> None:
        self.config = config

    def issue(self, account_id: int, name: str, now: datetime | None = None) -> IssuedKey:
        """A new key for the account; the only time the key itself is seen."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = digest_of(key)
        info = ApiKey(
            id=digest[:12], account_id=account_id, name=name, digest=digest, created_at=now or datetime.now(UTC)
        )
        self.config.put_body(_KIND, digest, account_id, info.model_dump_json())
        return IssuedKey(key, info)

    def lookup(self, key: str) -> ApiKey | None:
        """The key's record, or None for a key that was never issued or was revoked."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        body = self.config.get_body(_KIND, digest_of(key))
        return None if body is None else ApiKey.model_validate_json(body)

    def list(self, account_id: int) -> list[ApiKey]:
        return [ApiKey.model_validate_json(body) for body in self.config.list_bodies(_KIND, account_id)]

    def revoke(self, account_id: int, key_id: str) -> bool:
        """Delete the account's key with this public id; False when there is none."""
        for info in self.list(account_id):
            if info.id == key_id:
                return self.config.delete_body(_KIND, info.digest)
        return False
