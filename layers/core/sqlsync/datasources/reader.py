"""Reading a data source's table: SQLAlchemy reflects it from the database's catalog, so every schema, table
and column name used is one the catalog has (never a caller's text pasted into SQL), and every value is a
bound parameter. The dialect's SQLAlchemy compiler quotes names and renders parameters for each database.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlsync.connectors import Target
from sqlsync.datasources.exceptions import DataSourceError
from sqlsync.models.datasources import Condition

MAX_ROWS_PER_CONTACT = 100


def reflect(target: Target, schema: str | None, table: str) -> Any:
    """The table as the catalog describes it (sqlalchemy.Table), or DataSourceError naming what is missing."""
    import sqlalchemy as sa

    with target.connection() as connection:
        inspector = sa.inspect(connection)
        schemas = inspector.get_schema_names()
        if schema is not None and schema not in schemas:
            raise DataSourceError("schema_name", f"no schema {schema!r} in the database")
        if table not in inspector.get_table_names(schema=schema) + inspector.get_view_names(schema=schema):
            raise DataSourceError("table", f"no table or view {table!r} in schema {schema or 'default'!r}")
        return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=connection)


def column_types(table: Any) -> dict[str, str]:
    return {column.name: str(column.type) for column in table.columns}


def check_column(table: Any, name: str, field: str) -> Any:
    if name not in table.c:
        raise DataSourceError(
            field, f"no column {name!r} in {table.fullname}; its columns: {', '.join(table.c.keys())}"
        )
    return table.c[name]


def rows_by_contact(
    target: Target, table: Any, contact_column: str, contacts: Sequence[str], limit: int = MAX_ROWS_PER_CONTACT
) -> dict[str, list[dict[str, Any]]]:
    """Each contact's rows (at most `limit` each, in the table's key order when it has one), JSON-typed."""
    import sqlalchemy as sa

    key = table.c[contact_column]
    found: dict[str, list[dict[str, Any]]] = {contact: [] for contact in contacts}
    order = list(table.primary_key.columns) or [key]
    statement = sa.select(table).where(key.in_(sa.bindparam("contacts", expanding=True))).order_by(*order)
    with target.connection() as connection:
        for row in connection.execute(statement, {"contacts": list(contacts)}).mappings():
            kept = found.setdefault(str(row[contact_column]), [])
            if len(kept) < limit:
                kept.append({name: json_value(value) for name, value in row.items()})
    return found


def matching_contacts(
    target: Target, table: Any, contact_column: str, conditions: Sequence[Condition], match_all: bool, limit: int
) -> list[str]:
    """The distinct contact keys of the rows that pass the conditions (all of them, or any)."""
    import sqlalchemy as sa

    tests = [_test(table, index, condition) for index, condition in enumerate(conditions)]
    key = table.c[contact_column]
    statement = (
        sa.select(key)
        .where(sa.and_(*tests) if match_all else sa.or_(*tests))
        .where(key.is_not(None))
        .distinct()
        .order_by(key)
        .limit(limit)
    )
    with target.connection() as connection:
        return [str(value) for value in connection.execute(statement).scalars()]


def _test(table: Any, index: int, condition: Condition) -> Any:
    column = check_column(table, condition.field, f"conditions[{index}].field")
    op, value = condition.op, condition.value
    field = f"conditions[{index}].value"
    if op in ("is_null", "not_null"):
        return column.is_(None) if op == "is_null" else column.is_not(None)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > 1000:
            raise DataSourceError(field, f"{op} takes a list of 1 to 1000 values")
        return column.in_(value) if op == "in" else column.not_in(value)
    if value is None or isinstance(value, list | dict):
        raise DataSourceError(field, f"{op} takes one value (a string, number or boolean)")
    if op in ("contains", "starts_with"):
        if not isinstance(value, str):
            raise DataSourceError(field, f"{op} takes a string")
        # autoescape: % and _ in the value match themselves, not any text.
        return (
            column.contains(value, autoescape=True) if op == "contains" else column.startswith(value, autoescape=True)
        )
    comparisons = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "lt": column.__lt__,
        "lte": column.__le__,
        "gt": column.__gt__,
        "gte": column.__ge__,
    }
    return comparisons[op](value)


def json_value(value: Any) -> Any:
    """A database value as JSON: timestamps ISO 8601 (UTC when the database gives no zone), decimals as
    numbers, bytes as base64, anything else unknown as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return str(value)
