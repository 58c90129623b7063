"""Scheduled dataset exports: which datasets go to which database, how often (docs/exports.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from sqlsync.export.schedules import parse_schedule

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class ExportDataset(StrEnum):
    """The vendor's datasets (eSputnik/Reteno data export)."""

    BROADCASTS = "broadcasts"
    CONTACT_ACTIVITIES = "contactActivities"
    CONTACTS = "contacts"
    DEVICES = "devices"
    EVENTS = "events"
    MESSAGES = "messages"
    ORDER_ITEMS = "orderItems"
    ORDERS = "orders"
    REVENUE = "revenue"


class ExportIn(BaseModel):
    """What a user sends to create or replace an export (POST/PUT /v1/exports)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    active: bool = True
    connector_id: str = Field(
        min_length=1, max_length=100, description="a PostgreSQL or MySQL connector of this account"
    )
    schedule: str = Field(
        default="rate(1 hour)",
        max_length=256,
        description="when it runs, in UTC: rate(N minutes|hours|days) or "
        "cron(minutes hours day-of-month month day-of-week year), as EventBridge writes them",
    )
    datasets: list[ExportDataset] = Field(min_length=1, max_length=len(ExportDataset))
    target_schema: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="must exist already; default: public on PostgreSQL, the connector's database on MySQL",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, expression: str) -> str:
        parse_schedule(expression)
        return expression.strip()

    @field_validator("datasets")
    @classmethod
    def _unique(cls, datasets: list[ExportDataset]) -> list[ExportDataset]:
        if len(set(datasets)) != len(datasets):
            raise ValueError("each dataset may appear once")
        return datasets


class Export(ExportIn):
    id: str
    account_id: int = Field(ge=0)
    created_at: datetime
    updated_at: datetime


class ExportOut(BaseModel):
    """An export and its state: when it runs next, how its last run went, how far each dataset got."""

    id: str
    name: str
    active: bool
    connector_id: str
    schedule: str
    datasets: list[ExportDataset]
    target_schema: str | None
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None
    running: bool
    last_run: dict[str, Any] | None = Field(description="started_at, finished_at, status, rows per dataset, error")
    watermarks: dict[str, datetime | None] = Field(
        description="per dataset: the time of the last change exported (the next run starts after it)"
    )
