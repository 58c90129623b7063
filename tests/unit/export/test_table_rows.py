"""table_rows: the rows in the table's column order, each value fitted to its column as the export's policy
says (a longer text cut to the vendor's width, a number or bool in a text column written as text, anything but
an int in an integer column left NULL), whichever path it takes (checked column by column in C, or fitted value
by value)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sqlsync.export.datasets import Dataset, column
from sqlsync.export.runner import table_rows

DATASET = Dataset(
    "things",
    "things",
    (
        column("id", "bigint"),
        column("count", "int"),
        column("name", "varchar", 5),
        column("note", "text"),
        column("cost", "numeric"),
    ),
    key=("id",),
)


def fitted_one_by_one(row: dict[str, Any]) -> tuple[Any, ...]:
    """The policy, written out for one value at a time."""
    fitted: list[Any] = []
    for spec in DATASET.columns:
        value = row.get(spec.name)
        if value is not None and spec.type in ("varchar", "text"):
            value = value if isinstance(value, str) else str(value)
            if spec.length is not None:
                value = value[: spec.length]
        elif value is not None and spec.type in ("int", "bigint"):
            value = value if isinstance(value, int) and not isinstance(value, bool) else None
        fitted.append(value)
    return tuple(fitted)


def test_values_that_fit_are_kept_as_they_are_in_the_columns_order() -> None:
    rows = table_rows(DATASET, [("c1", {"note": "n", "id": 1, "name": "abcde", "cost": Decimal("1.5")}), ("c2", {})])

    assert rows == [(1, None, "abcde", "n", Decimal("1.5")), (None, None, None, None, None)]


def test_values_that_do_not_fit_are_fitted_in_their_column_only() -> None:
    rows = table_rows(DATASET, [("c1", {"id": 1, "name": "abcdefgh", "note": 7, "count": True}), ("c2", {"id": 2})])

    assert rows == [(1, None, "abcde", "7", None), (2, None, None, None, None)]


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=8),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False),
)
rows = st.lists(st.dictionaries(st.sampled_from(["id", "count", "name", "note", "cost"]), values), max_size=6)


@given(rows)
def test_every_row_is_fitted_as_one_value_at_a_time_would_be(page: list[dict[str, Any]]) -> None:
    assert table_rows(DATASET, [(str(index), row) for index, row in enumerate(page)]) == [
        fitted_one_by_one(row) for row in page
    ]
