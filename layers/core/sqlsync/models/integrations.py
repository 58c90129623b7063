"""Segment-sync integrations: which segments go to which database, with which SQL templates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sqlsync.models.events import EventType

TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=65_536)]


class Templates(BaseModel):
    """The SQL the user wrote for each segment event; the profile templates are mandatory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profiles_added: TemplateText
    profiles_removed: TemplateText
    segment_cleared: TemplateText | None = None
    segment_upserted: TemplateText | None = None
    segment_deleted: TemplateText | None = None

    def for_event(self, event_type: EventType) -> str | None:
        text: str | None = getattr(self, _TEMPLATE_OF[event_type])
        return text

    @staticmethod
    def field_for(event_type: EventType) -> str:
        """The template's field name for an event type: profiles_added, segment_cleared..."""
        return _TEMPLATE_OF[event_type]

    def items(self) -> list[tuple[str, str]]:
        """(field name, template text) of every template that is set."""
        return [(name, text) for name in _TEMPLATE_OF.values() if (text := getattr(self, name)) is not None]


_TEMPLATE_OF = {
    EventType.PROFILES_ADDED: "profiles_added",
    EventType.PROFILES_REMOVED: "profiles_removed",
    EventType.CLEARED: "segment_cleared",
    EventType.UPSERTED: "segment_upserted",
    EventType.DELETED: "segment_deleted",
}


MAX_BATCH_TIMEOUT = 900
"""Seconds: SQS delays a message by at most 15 minutes, and the flush of a gathered batch is one."""


class IntegrationIn(BaseModel):
    """What a user sends to create an integration (POST /v1/integrations) or writes in a config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    description: str = Field(default="", max_length=2000)
    active: bool = True
    connector_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="the connector of the target database (or give target_url)"
    )
    target_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="instead of a connector: a SQLAlchemy URL, sqlite:///..., postgresql+pg8000://..., mysql+pymysql://...",
    )
    segment_ids: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=10_000)
    database_id: int | None = Field(
        default=None,
        ge=0,
        description="scope: only events of this profile database (the event's database.id); none: every database",
    )
    batch_size: int = Field(default=100, ge=1, le=10_000)
    batch_timeout: int = Field(
        default=0,
        ge=0,
        le=MAX_BATCH_TIMEOUT,
        description="seconds that profile changes may wait to fill a batch of batch_size before they are "
        "applied anyway; 0: apply each delivery at once. A delivery of batch_size changes or more never waits",
    )
    templates: Templates


class Integration(IntegrationIn):
    account_id: int = Field(ge=0, description="the account of the API key that created it")
    id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    created_at: datetime
    updated_at: datetime

    def covers(self, account_id: int, segment_id: int, database_id: int | None) -> bool:
        """Whether an event of this account, segment and profile database is this integration's (its scope).
        An event that names no database is in the scope of an integration scoped to all of them only."""
        return (
            account_id == self.account_id
            and segment_id in self.segment_ids
            and (self.database_id is None or database_id == self.database_id)
        )


class ResyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_ids: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, max_length=10_000, description="default: every segment of the integration"
    )


class ResyncOut(BaseModel):
    integration_id: str
    segment_ids: list[int]
    requested_at: datetime


class StatsBucketOut(BaseModel):
    bucket: str = Field(description="UTC minute, as 2026-11-22T10:05Z")
    statements: int
    profiles: int
    errors: int
    last_error: str | None = None
    last_error_at: str | None = None


class StatsOut(BaseModel):
    """Sync statistics: successful statements, profiles synced and errors per minute, with totals."""

    integration_id: str
    start: datetime
    end: datetime
    statements: int
    profiles: int
    errors: int
    last_error: str | None = None
    buckets: list[StatsBucketOut]
