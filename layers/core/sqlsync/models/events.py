"""Segment events as the ingest endpoint accepts them and the sync queue carries them (activity events for
action hooks: models/hooks.py; the request body that takes both: models/ingest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=256)]
SinceEpoch = Annotated[AwareDatetime, Field(ge=datetime(1970, 1, 1, tzinfo=UTC))]
"""A time kept as unix seconds in a feed or a sort key (orders, devices, activity): none is before 1970, where
those would sort backwards."""


class EventType(StrEnum):
    PROFILES_ADDED = "segment.profiles_added"
    PROFILES_REMOVED = "segment.profiles_removed"
    CLEARED = "segment.cleared"
    UPSERTED = "segment.upserted"
    DELETED = "segment.deleted"

    @property
    def carries_profiles(self) -> bool:
        return self in (EventType.PROFILES_ADDED, EventType.PROFILES_REMOVED)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NonEmpty
    fields: dict[str, Any] = Field(default_factory=dict)


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=0)
    name: str | None = Field(default=None, max_length=1024)


class Database(BaseModel):
    """The platform's profile database a segment belongs to (an account may have several)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=0)
    name: str | None = Field(default=None, max_length=1024)


class SegmentEvent(BaseModel):
    """One platform event about a static segment. On the queue it may carry only a part of its profiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NonEmpty
    type: EventType
    account_id: int = Field(ge=0)
    occurred_at: AwareDatetime
    segment: Segment
    database: Database | None = Field(
        default=None, description="the profile database of the segment; integrations scoped to one see only its events"
    )
    profiles: list[Profile] = Field(default_factory=list)

    @property
    def version(self) -> str:
        """A totally ordered version: the event time, then the event id to break ties deterministically."""
        return version_of(self.occurred_at, self.id)


class ResyncRequest(BaseModel):
    """On the sync queue, from POST /v1/integrations/{id}/resync: rebuild one segment of one integration's
    table from the membership ledger (the segment_cleared template, then every current member)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["resync"] = "resync"
    id: NonEmpty
    integration_id: NonEmpty
    account_id: int = Field(ge=0)
    segment_id: int = Field(ge=0)
    requested_at: AwareDatetime


class CatchUpRequest(BaseModel):
    """On the sync queue when a paused integration is resumed (sqlsync.sync.catchup): apply to one segment
    what the membership ledger kept while the integration was paused (docs/pause-and-resume.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["catchup"] = "catchup"
    id: NonEmpty
    integration_id: NonEmpty
    account_id: int = Field(ge=0)
    segment_id: int = Field(ge=0)
    requested_at: AwareDatetime
    resumed_at: AwareDatetime = Field(
        description="updated_at of the integration as resumed: a worker whose cached configuration is older "
        "sends the request back to the queue instead of taking it for a paused integration"
    )
    reason: Literal["resume", "batch_timeout"] = Field(
        default="resume",
        description="resume: the integration was resumed; batch_timeout: the flush of a gathered batch",
    )


def version_of(occurred_at: datetime, event_id: str) -> str:
    # Fixed-width UTC timestamp first, so plain string comparison orders versions by time.
    return f"{occurred_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{event_id}"
