"""The import reader: CSV as customers export it (quoted newlines, \\r\\n, a BOM, blank lines, broken rows), and
resuming from a saved position gives exactly what reading straight through gives."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlsync.customers.imports.mapping import ImportMapping
from sqlsync.customers.imports.reader import (
    MAX_LINE_BYTES,
    ImportReader,
    ImportRow,
    Position,
    RowError,
    read_header,
)

Item = ImportRow | RowError

MAPPING = ImportMapping.model_validate(
    {
        "properties": [
            {"from_column": "name", "to_property": "first_name"},
            {"from_column": "age", "to_property": "age", "type": "number"},
            {"from_column": "vip", "to_property": "vip", "type": "boolean"},
            {"from_column": "born", "to_property": "birthday", "type": "date"},
        ],
        "ids": [{"from_column": "id", "to_id": "registered"}, {"from_column": "cookie", "to_id": "cookie"}],
        "update_timestamp": {"from_column": "updated"},
    }
)
HEADER_LINE = "id,cookie,name,age,vip,born,updated\n"


def read(data: bytes, mapping: ImportMapping = MAPPING) -> tuple[list[Item], Position]:
    """Every item of the file read straight through, and the final position."""
    header, start = read_header(io.BytesIO(data), mapping.delimiter)
    reader = ImportReader(io.BytesIO(data[start.offset :]), mapping, header, start)
    return list(reader), reader.position


def read_in_slices(data: bytes, mapping: ImportMapping, every: int) -> tuple[list[Item], Position]:
    """The items of the file read as a job does: stop once `every` items are in and a row is complete, then go
    on with a fresh reader over the bytes from the saved position (as a new invocation would)."""
    header, position = read_header(io.BytesIO(data), mapping.delimiter)
    items: list[Item] = []
    while True:
        reader = ImportReader(io.BytesIO(data[position.offset :]), mapping, header, position)
        stopped = False
        for taken, item in enumerate(reader, start=1):
            items.append(item)
            if taken >= every and reader.position.row == item.row:
                stopped = True
                break
        position = reader.position
        if not stopped:
            return items, position


def test_rows_become_ids_and_typed_properties() -> None:
    data = (HEADER_LINE + "u1,c1,Ján,42,yes,1990-05-17,1763888400\nu2,,Eva,3.5,false,,2026-11-23T10:00:00Z\n").encode()
    items, _ = read(data)
    assert items == [
        ImportRow(
            1,
            2,
            {"registered": "u1", "cookie": "c1"},
            {"first_name": "Ján", "age": 42, "vip": True, "birthday": 642902400},
            1763888400.0,
        ),
        ImportRow(2, 3, {"registered": "u2"}, {"first_name": "Eva", "age": 3.5, "vip": False}, 1795428000.0),
    ]


def test_an_empty_cell_sets_nothing_but_a_space_is_a_value() -> None:
    items, _ = read((HEADER_LINE + ",c1, ,,,,1\n").encode())
    assert items == [ImportRow(1, 2, {"cookie": "c1"}, {"first_name": " "}, 1.0)]


def test_without_update_timestamp_rows_carry_none() -> None:
    mapping = MAPPING.model_copy(update={"update_timestamp": None})
    items, _ = read(b"id,cookie,name,age,vip,born,updated\nu1,,,,,,\n", mapping)
    assert items == [ImportRow(1, 2, {"registered": "u1"}, {}, None)]


def test_quoted_newlines_and_crlf() -> None:
    data = (
        'id,cookie,name,age,vip,born,updated\r\nu1,,"Ján\r\nMrkvička",,,,1\r\n'
        'u2,,"a ""quoted""\nname",,,,2\r\nu3,,,,,,3'
    ).encode()
    items, end = read(data)
    assert items == [
        ImportRow(1, 2, {"registered": "u1"}, {"first_name": "Ján\r\nMrkvička"}, 1.0),
        ImportRow(2, 4, {"registered": "u2"}, {"first_name": 'a "quoted"\nname'}, 2.0),
        ImportRow(3, 6, {"registered": "u3"}, {}, 3.0),  # the last line has no newline
    ]
    assert end == Position(len(data), 3, 6)


def test_the_position_after_each_record_is_its_end_in_bytes() -> None:
    records = ['u1,,"Ján\r\nM",,,,1\r\n', "\n", "u2,,é,,,,2\n", "\r\n", "\r\n", "u3,,,,,,3\n", "\n"]
    data = (HEADER_LINE + "".join(records)).encode()
    header, start = read_header(io.BytesIO(data))
    assert start == Position(len(HEADER_LINE), 0, 1)
    reader = ImportReader(io.BytesIO(data[start.offset :]), MAPPING, header, start)
    positions = [(item.row, item.line, reader.position) for item in reader]
    ends = [len((HEADER_LINE + "".join(records[:count])).encode()) for count in (1, 3, 6)]
    assert positions == [
        (1, 2, Position(ends[0], 1, 3)),
        (2, 5, Position(ends[1], 2, 5)),  # the blank line 4 is skipped: counted as a line, not as a row
        (3, 8, Position(ends[2], 3, 8)),
    ]
    assert reader.position == Position(len(data), 3, 9)  # at the end: past the blank line after the last row


def test_a_bom_is_skipped_and_counted_in_bytes() -> None:
    data = b"\xef\xbb\xbf" + (HEADER_LINE + "u1,,,,,,1\n").encode()
    header, start = read_header(io.BytesIO(data))
    assert header == ["id", "cookie", "name", "age", "vip", "born", "updated"]
    assert start == Position(3 + len(HEADER_LINE), 0, 1)
    items, _ = read(data)
    assert items == [ImportRow(1, 2, {"registered": "u1"}, {}, 1.0)]


def test_only_the_file_starts_with_a_bom() -> None:
    items, _ = read((HEADER_LINE + "\ufeffu1,,\ufeffJán,,,,1\n").encode())
    assert items == [ImportRow(1, 2, {"registered": "\ufeffu1"}, {"first_name": "\ufeffJán"}, 1.0)]


def test_blank_lines_before_the_header_are_skipped() -> None:
    header, start = read_header(io.BytesIO(b"\n\r\na,b\r\n"))
    assert (header, start) == (["a", "b"], Position(8, 0, 3))


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n\n"])
def test_an_empty_file_has_no_header(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^the file is empty$"):
        read_header(io.BytesIO(data))


def test_a_header_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValueError, match="the header cannot be read: line 1 is not UTF-8 text"):
        read_header(io.BytesIO(b"id,n\xe1me\nu1,x\n"))


def test_a_mapping_that_does_not_fit_the_header_is_refused() -> None:
    with pytest.raises(ValueError, match=r"mapping.properties\[1\].from_column: no column 'age' in the file"):
        ImportReader(io.BytesIO(b""), MAPPING, ["id", "cookie", "name", "vip", "born", "updated"], Position(0, 0, 1))


def test_a_wrong_number_of_fields_is_an_error_of_that_row_only() -> None:
    data = (HEADER_LINE + "u1,,,,,,1\nu2,,,\nu3,,,,,,3,extra\nu4,,,,,,4\n").encode()
    items, _ = read(data)
    assert items == [
        ImportRow(1, 2, {"registered": "u1"}, {}, 1.0),
        RowError(2, 3, None, "expected 7 fields, found 4"),
        RowError(3, 4, None, "expected 7 fields, found 8"),
        ImportRow(4, 5, {"registered": "u4"}, {}, 4.0),
    ]


def test_bad_utf8_mid_file_is_an_error_of_that_record_only() -> None:
    data = HEADER_LINE.encode() + b'u1,,"A\n\xff B",,,,1\nu2,,Z\xc3\xa9\xc3,,,,2\nu3,,ok,,,,3\n'
    items, end = read(data)
    assert items == [
        RowError(1, 2, None, "line 3 is not UTF-8 text (invalid start byte at byte 1)"),
        RowError(2, 4, None, "line 4 is not UTF-8 text (invalid continuation byte at byte 8)"),
        ImportRow(3, 5, {"registered": "u3"}, {"first_name": "ok"}, 3.0),
    ]
    assert end == Position(len(data), 3, 5)


def test_invalid_csv_is_an_error_of_that_record_only() -> None:
    # A bare \r inside an unquoted field: the csv module refuses the record.
    data = (HEADER_LINE + "u1,,a\rb,,,,1\nu2,,,,,,2\n").encode()
    items, _ = read(data)
    assert items == [
        RowError(1, 2, None, "not valid CSV: new-line character seen in unquoted field - do you need to open "
                 "the file in universal-newline mode?"),
        ImportRow(2, 3, {"registered": "u2"}, {}, 2.0),
    ]  # fmt: skip


def test_an_overlong_line_is_skipped_without_reading_it_whole() -> None:
    data = (HEADER_LINE + "u1,,,,,,1\nu2,," + "x" * (2 * MAX_LINE_BYTES) + ",,,,2\nu3,,,,,,3\n").encode()
    items, end = read(data)
    assert items == [
        ImportRow(1, 2, {"registered": "u1"}, {}, 1.0),
        RowError(2, 3, None, f"line 3 is longer than {MAX_LINE_BYTES} bytes"),
        ImportRow(3, 4, {"registered": "u3"}, {}, 3.0),
    ]
    assert end == Position(len(data), 3, 4)


def test_all_problems_of_a_row_are_reported_and_the_row_is_not_applied() -> None:
    data = (HEADER_LINE + "u1,,Ján,1\u00a05,maybe,23.11.2026,\n,,,42,,,1\n").encode()
    items, _ = read(data)
    assert items == [
        RowError(1, 2, "updated", "update_timestamp: empty"),
        RowError(1, 2, "age", "age: not a number: '1\\xa05'"),
        RowError(1, 2, "vip", "vip: not a boolean: 'maybe' (expected true/false, 1/0 or yes/no)"),
        RowError(
            1,
            2,
            "born",
            "birthday: not a timestamp: '23.11.2026' (expected unix seconds, unix milliseconds or ISO 8601 such as "
            "2026-11-23, 2026-11-23T10:00:00, 2026-11-23 10:00:00.5 or 2026-11-23T10:00:00+01:00 (Z for UTC))",
        ),
        RowError(2, 3, None, "no customer id: the id columns (id, cookie) are empty"),
    ]


def test_a_column_read_twice_gives_one_error_with_both_reasons() -> None:
    mapping = ImportMapping.model_validate(
        {
            "properties": [
                {"from_column": "v", "to_property": "score", "type": "number"},
                {"from_column": "v", "to_property": "flag", "type": "boolean"},
            ],
            "ids": [{"from_column": "id", "to_id": "registered"}],
        }
    )
    items, _ = read(b"id,v\nu1,x\nu2,1\n", mapping)
    assert items == [
        RowError(1, 2, "v", "score: not a number: 'x'; flag: not a boolean: 'x' (expected true/false, 1/0 or yes/no)"),
        ImportRow(2, 3, {"registered": "u2"}, {"score": 1, "flag": True}, None),
    ]


def test_while_a_rows_errors_are_yielded_the_position_stays_before_the_row() -> None:
    data = (HEADER_LINE + "u1,,,x,y,,1\n").encode()
    header, start = read_header(io.BytesIO(data))
    reader = ImportReader(io.BytesIO(data[start.offset :]), MAPPING, header, start)
    assert [(item, reader.position) for item in reader] == [
        # Stopping here and resuming from `start` yields this error again, and loses nothing.
        (RowError(1, 2, "age", "age: not a number: 'x'"), start),
        (
            RowError(1, 2, "vip", "vip: not a boolean: 'y' (expected true/false, 1/0 or yes/no)"),
            Position(len(data), 1, 2),
        ),
    ]


def test_constant_columns_feed_ids_properties_and_the_timestamp_and_errors_name_them() -> None:
    mapping = ImportMapping.model_validate(
        {
            "properties": [
                {"from_column": "source", "to_property": "source"},
                {"from_column": "batch", "to_property": "batch", "type": "number"},
                {"from_column": "name", "to_property": "name"},
            ],
            "ids": [{"from_column": "id", "to_id": "registered"}, {"from_column": "tenant", "to_id": "tenant"}],
            "constant_columns": [
                {"name": "source", "value": "crm-2026"},
                {"name": "batch", "value": "7"},
                {"name": "tenant", "value": "acme"},
                {"name": "when", "value": "2026-11-23"},
            ],
            "update_timestamp": {"from_column": "when"},
            "timezone": "Europe/Bratislava",
        }
    )
    items, _ = read(b"id,name\nu1,Jan\n,\n", mapping)
    properties = {"source": "crm-2026", "batch": 7}
    assert items == [
        ImportRow(1, 2, {"registered": "u1", "tenant": "acme"}, {**properties, "name": "Jan"}, 1795388400.0),
        ImportRow(2, 3, {"tenant": "acme"}, properties, 1795388400.0),  # the constant id is enough
    ]

    document = mapping.model_dump()
    document["constant_columns"][1]["value"] = "seven"
    broken = ImportMapping.model_validate(document)
    items, _ = read(b"id,name\nu1,Jan\n", broken)
    assert items == [RowError(1, 2, "batch", "batch: not a number: 'seven'")]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(delimiter: str) -> None:
    mapping = MAPPING.model_copy(update={"delimiter": delimiter})
    data = (HEADER_LINE.replace(",", delimiter) + delimiter.join(["u1", "", "a,b", "1", "", "", "5"]) + "\n").encode()
    items, _ = read(data, mapping)
    assert items == [ImportRow(1, 2, {"registered": "u1"}, {"first_name": "a,b", "age": 1}, 5.0)]


# Property tests: random files as customers' tools write them, with broken records mixed in.

STRINGS_MAPPING = ImportMapping.model_validate(
    {
        "properties": [{"from_column": f"c{n}", "to_property": f"c{n}"} for n in range(3)],
        "ids": [{"from_column": "id", "to_id": "registered"}],
    }
)
TRICKY_TEXT = st.text(alphabet=st.sampled_from([*"a,;\"' \t\n\r", "é", "€", "𝄞", "\ufeff", "\x00"]), max_size=6)


def write_csv(rows: list[list[str]], lineterminator: str) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator=lineterminator).writerows(rows)
    return text.getvalue().encode()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=4), TRICKY_TEXT, TRICKY_TEXT, TRICKY_TEXT), max_size=8))
def test_what_csv_writer_writes_is_read_back_cell_for_cell(rows: list[tuple[str, str, str, str]]) -> None:
    written = [write_csv([list(row)], "\r\n") for row in rows]
    data = write_csv([["id", "c0", "c1", "c2"]], "\r\n") + b"".join(written)
    first_lines = [2 + sum(record.count(b"\n") for record in written[:number]) for number in range(len(rows))]
    items, end = read(data, STRINGS_MAPPING)
    assert items == [
        ImportRow(
            number,
            first_lines[number - 1],
            {"registered": row[0]},
            {f"c{n}": cell for n, cell in enumerate(row[1:]) if cell != ""},
            None,
        )
        for number, row in enumerate(rows, start=1)
    ]
    assert end == Position(len(data), len(rows), data.count(b"\n"))


CELLS = {
    "id": st.sampled_from(["", "u1", "u2", "é\nx"]),
    "cookie": st.sampled_from(["", "c1"]),
    "name": TRICKY_TEXT,
    "age": st.sampled_from(["", "42", "-3.5", "1,5", "nan"]),
    "vip": st.sampled_from(["", "yes", "0", "maybe"]),
    "born": st.sampled_from(["", "2026-11-23", "2026-03-29 02:30", "1763888400250", "soon"]),
    "updated": st.sampled_from(["", "1763888400", "2026-11-23T10:00:00.5+01:00", "later"]),
}
GOOD_RECORD = st.fixed_dictionaries(CELLS).map(lambda cells: list(cells.values()))
RECORD = st.one_of(
    GOOD_RECORD.map(lambda cells: ("row", cells)),
    st.sampled_from([b"\n", b"\r\n"]).map(lambda line: ("raw", line)),  # blank lines
    st.sampled_from([b"u1,\xff,,,,,1\n", b'u2,,"\xe9\n",,,,2\r\n']).map(lambda line: ("raw", line)),  # not UTF-8
    st.sampled_from([b"u3,,\n", b"u4,,a\rb,,,,1\n"]).map(lambda line: ("raw", line)),  # field count, bad CSV
)


def build_file(records: list[tuple[str, Any]], lineterminator: str) -> bytes:
    parts = [write_csv([list(CELLS)], lineterminator)]
    parts += [write_csv([content], lineterminator) if kind == "row" else content for kind, content in records]
    return b"".join(parts)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(RECORD, max_size=12),
    st.sampled_from(["\r\n", "\n"]),
    st.booleans(),
    st.integers(min_value=1, max_value=5),
)
def test_resuming_from_any_saved_position_reads_what_reading_straight_through_reads(
    records: list[tuple[str, Any]], lineterminator: str, bom: bool, every: int
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + build_file(records, lineterminator)

    straight, straight_end = read(data, MAPPING)
    sliced, sliced_end = read_in_slices(data, MAPPING, every)

    assert sliced == straight
    assert sliced_end == straight_end == Position(len(data), straight_end.row, data.count(b"\n"))
    assert [item.row for item in straight] == sorted(item.row for item in straight)
    assert {item.row for item in straight} == set(range(1, straight_end.row + 1))  # every row answered
