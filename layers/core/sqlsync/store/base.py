"""Storage interfaces. `dynamodb.py` implements them on DynamoDB, `memory.py` in memory (tests, benchmarks).

Each store owns its record shapes; the rest of sqlsync sees only the dataclasses below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlsync.models.connectors import Connector
from sqlsync.models.integrations import Integration

MembershipState = Literal["in", "out"]


@dataclass(frozen=True)
class Membership:
    """The ledger's word on one profile of one segment of one integration.

    `version` is the version of the event that set the state (see SegmentEvent.version: a fixed-width
    UTC time, '#', the event id), so plain string comparison orders versions. `fields` are the profile
    fields of that event, kept so that the state can be applied again later (resync, lost races).
    """

    profile_id: str
    version: str
    state: MembershipState
    fields: Mapping[str, Any] = field(default_factory=dict)


class LedgerStore(ABC):
    """Membership ledger: segment -> profile -> newest event version and state.

    Conditions are evaluated by the store atomically; equal versions always pass, so that redelivery of
    one event is applied again (templates are idempotent) instead of being lost after a failed attempt.
    """

    @abstractmethod
    def get_members(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, Membership]:
        """Entries for those profiles that have one (consistent read)."""

    @abstractmethod
    def get_versions(self, integration_id: str, segment_id: int, profile_ids: Sequence[str]) -> dict[str, str]:
        """The versions alone of those profiles that have an entry (consistent read): the cheap check
        after a commit, which usually finds nothing moved."""

    @abstractmethod
    def claim(self, integration_id: str, segment_id: int, membership: Membership) -> Membership | None:
        """Store `membership` unless a strictly newer entry exists. None when stored, else that entry."""

    def claim_many(
        self, integration_id: str, segment_id: int, memberships: Sequence[Membership]
    ) -> list[Membership | None]:
        """`claim` for each membership, results in the same order. Stores with network latency override
        this to claim concurrently; each claim stays its own conditional write."""
        return [self.claim(integration_id, segment_id, membership) for membership in memberships]

    @abstractmethod
    def get_cleared(self, integration_id: str, segment_id: int) -> str | None:
        """Version of the newest 'segment cleared' event seen, or None (consistent read)."""

    @abstractmethod
    def claim_cleared(self, integration_id: str, segment_id: int, version: str) -> str | None:
        """Store the cleared version unless a strictly newer one exists. None when stored, else that one."""

    @abstractmethod
    def members(self, integration_id: str, segment_id: int, newer_than: str = "") -> Iterator[Membership]:
        """Every entry of the segment whose version is strictly greater than `newer_than`."""

    @abstractmethod
    def forget_segment(self, integration_id: str, segment_id: int) -> None:
        """Delete every entry of the segment and its cleared marker (segment deleted)."""


@dataclass(frozen=True)
class StatsDelta:
    statements: int = 0
    profiles: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class StatsBucket:
    """Sync statistics of one integration for one minute (`bucket` like '2026-11-22T10:05Z')."""

    bucket: str
    statements: int
    profiles: int
    errors: int
    last_error: str | None = None
    last_error_at: str | None = None


def minute_bucket(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


class StatsStore(ABC):
    @abstractmethod
    def add(self, integration_id: str, at: datetime, delta: StatsDelta) -> None:
        """Add the counters to the minute bucket of `at` (atomic increments); keep the last error."""

    @abstractmethod
    def query(self, integration_id: str, start: datetime, end: datetime) -> list[StatsBucket]:
        """Buckets with start <= minute <= end, oldest first."""


class ConfigStore(ABC):
    """Configuration objects (integrations, connectors), each kept as its model's JSON under (kind, id)
    and listed per account. Implementations provide the four body operations."""

    def put_integration(self, integration: Integration) -> None:
        self.put_body("integration", integration.id, integration.account_id, integration.model_dump_json())

    def get_integration(self, integration_id: str) -> Integration | None:
        body = self.get_body("integration", integration_id)
        return None if body is None else Integration.model_validate_json(body)

    def list_integrations(self, account_id: int) -> list[Integration]:
        return [Integration.model_validate_json(body) for body in self.list_bodies("integration", account_id)]

    def delete_integration(self, integration_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("integration", integration_id)

    def put_connector(self, connector: Connector) -> None:
        self.put_body("connector", connector.id, connector.account_id, connector.model_dump_json())

    def get_connector(self, connector_id: str) -> Connector | None:
        body = self.get_body("connector", connector_id)
        return None if body is None else Connector.model_validate_json(body)

    def list_connectors(self, account_id: int) -> list[Connector]:
        return [Connector.model_validate_json(body) for body in self.list_bodies("connector", account_id)]

    def delete_connector(self, connector_id: str) -> bool:
        """True when it existed."""
        return self.delete_body("connector", connector_id)

    @abstractmethod
    def put_body(self, kind: str, object_id: str, account_id: int, body: str) -> None: ...

    @abstractmethod
    def get_body(self, kind: str, object_id: str) -> str | None: ...

    @abstractmethod
    def list_bodies(self, kind: str, account_id: int) -> list[str]:
        """The bodies of an account's objects of a kind, ordered by id."""

    @abstractmethod
    def delete_body(self, kind: str, object_id: str) -> bool:
        """True when it existed."""
