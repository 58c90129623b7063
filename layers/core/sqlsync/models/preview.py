"""Template preview: a sample event in, the SQL the worker would run out, nothing executed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from sqlsync.models.events import EventType, Profile, Segment
from sqlsync.models.integrations import TemplateText


class PreviewIn(BaseModel):
    """POST /v1/integrations/{id}/preview: the event to render for, as ingest would receive it."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = EventType.PROFILES_ADDED
    segment: Segment | None = Field(default=None, description="default: the integration's first segment")
    profiles: list[Profile] = Field(default_factory=list, max_length=10_000)
    occurred_at: AwareDatetime | None = Field(default=None, description="default: now")
    template: TemplateText | None = Field(
        default=None, description="SQL to try instead of the saved template for this event type (not saved)"
    )


class PreviewChunk(BaseModel):
    profiles: list[str] = Field(description="ids of the profiles rendered together, in batch order")
    statements: list[str] = Field(default_factory=list)
    error: str | None = Field(default=None, description="why this chunk would fail: it would not be executed")


class PreviewOut(BaseModel):
    integration_id: str | None
    event_type: EventType
    template: str = Field(description="the template field that was rendered, e.g. templates.profiles_added")
    dialect: str
    mode: Literal["batch", "per_lead", "once"] = Field(
        description="batch: one render per chunk of batch_size; per_lead: per profile; once: per event"
    )
    event_time: datetime
    chunks: list[PreviewChunk]
