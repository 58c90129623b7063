"""External data sources: a table of the user's database, read by contact for personalisation and
segmentation (the eSputnik PostgreSQL integration; docs/data-sources.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SourceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
"""How templates name it ($!data.get('promo_codes')): lower-case letters, digits and _."""
DbName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A schema, table or column name: checked against the database's catalog, never pasted into SQL."""


class DataSourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: SourceName
    description: str = Field(default="", max_length=2000)
    connector_id: str = Field(min_length=1, max_length=100)
    schema_name: DbName | None = Field(
        default=None, description="default: public on PostgreSQL, the connector's database on MySQL"
    )
    table: DbName
    contact_column: DbName | None = Field(
        default=None, description="the unique contact key column; default: the connector's contact key"
    )
    customer_id_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = Field(
        default="registered", description="which customer id the contact key values are (segmentation)"
    )


class DataSource(DataSourceIn):
    id: str
    account_id: int = Field(ge=0)
    created_at: datetime
    updated_at: datetime


class DataSourceOut(BaseModel):
    name: str
    description: str
    connector_id: str
    schema_name: str | None
    table: str
    contact_column: str | None
    customer_id_type: str
    columns: dict[str, str] = Field(description="the table's columns and their types, as the database reports them")
    created_at: datetime
    updated_at: datetime


Operator = Literal[
    "eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "starts_with", "is_null", "not_null"
]


class Condition(BaseModel):
    """One test on a column: the column is checked against the table, the value always bound."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: DbName
    op: Operator = "eq"
    value: Any = None


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    conditions: list[Condition] = Field(min_length=1, max_length=50)
    match: Literal["all", "any"] = "all"
    limit: int = Field(default=10_000, ge=1, le=100_000)


MAX_CONTACTS = 500
"""Contacts read in one query: the batch form's limit, and the slices trigger enrichment reads in."""


class RowsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    contacts: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] = Field(
        min_length=1, max_length=MAX_CONTACTS
    )
