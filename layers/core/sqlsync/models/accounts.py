"""API keys: each acts for one account."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints


class ApiKey(BaseModel):
    """A key as stored: never the key itself, only its SHA-256."""

    id: str = Field(description="public id of the key: the first 12 hex digits of its SHA-256")
    account_id: int = Field(ge=0)
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    digest: str = Field(description="SHA-256 of the key, hex")
    created_at: datetime
