"""PostgreSQL's COPY data for exports: the columns checked whole and passed as they are (texts that fit and
need no escape, ints in range, NULLs) give the same bytes as the converters value by value, and whatever they
cannot pass goes to the converters, which fit, escape or refuse it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqlsync.dialects.exceptions import RenderError
from sqlsync.dialects.postgresql import PostgreSQLDialect, PostgreSQLExport, _copy_converter
from sqlsync.export.datasets import Dataset, column

DATASET = Dataset(
    "things",
    "things",
    (column("id", "bigint"), column("count", "int"), column("name", "varchar", 5), column("note", "text")),
    key=("id",),
)
EXPORT = PostgreSQLExport(PostgreSQLDialect(), "public", DATASET)


def one_by_one(rows: list[tuple[Any, ...]]) -> bytes:
    """The COPY data made with the converters alone, a value at a time (the last row of a key winning)."""
    converters = [_copy_converter(spec) for spec in DATASET.columns]
    lines = {row[0]: "\t".join(convert(value) for convert, value in zip(converters, row, strict=True)) for row in rows}
    return "".join(line + "\n" for line in lines.values()).encode()


texts = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=7))
rows = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1), st.just(True)),
        texts,
        st.one_of(texts, st.integers(), st.decimals(allow_nan=False, allow_infinity=False)),
    ),
    min_size=1,
    max_size=8,
)


@given(rows)
def test_the_copy_data_is_what_the_converters_make_value_by_value(batch: list[tuple[Any, ...]]) -> None:
    try:
        expected = one_by_one(batch)
    except RenderError:
        with pytest.raises(RenderError):
            EXPORT.copy_rows(batch)
        return
    assert b"".join(EXPORT.copy_rows(batch)) == expected


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ((1, 2**31, "a", "b"), "out of range for integer"),
        ((1, 1, "abcdef", "b"), r"more than varchar\(5\)"),
        ((1, True, "a", "b"), "integer expects an int, not bool"),
    ],
)
def test_a_value_its_column_cannot_hold_is_still_refused_naming_the_row_and_column(
    row: tuple[Any, ...], problem: str
) -> None:
    with pytest.raises(RenderError, match=problem) as refused:
        EXPORT.copy_rows([(0, 1, "ok", None), row])

    assert str(refused.value).startswith("things rows[1], column ")


def test_texts_that_need_an_escape_are_escaped() -> None:
    data = b"".join(EXPORT.copy_rows([(1, None, "a\tb", "back\\slash\nnewline"), (2, 7, None, Decimal("1.50"))]))

    assert data == b"1\t\\N\ta\\tb\tback\\\\slash\\nnewline\n2\t7\t\\N\t1.50\n"
