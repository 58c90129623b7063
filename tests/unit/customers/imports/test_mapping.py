"""The import mapping: what the API accepts, what it refuses (naming the field), and its fit to a file's header."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sqlsync.customers.imports.mapping import ImportMapping, MappingProblem, check_columns

EXAMPLE: dict[str, Any] = {
    "properties": [{"from_column": "meno", "to_property": "first_name", "type": "string"}],
    "ids": [{"from_column": "idecko", "to_id": "registered"}],
    "constant_columns": [{"name": "source", "value": "crm-2026"}],
    "timezone": "UTC",
    "update_timestamp": {"from_column": "update_timestamp", "format": "auto"},
    "delimiter": ",",
}


def mapping(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, **changes}


def refusal(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) of each error pydantic gives for the document."""
    with pytest.raises(ValidationError) as refused:
        ImportMapping.model_validate(document)
    return [(".".join(map(str, error["loc"])), error["msg"]) for error in refused.value.errors()]


def test_the_example_of_the_api_is_accepted() -> None:
    accepted = ImportMapping.model_validate(EXAMPLE)
    assert accepted.properties[0].to_property == "first_name"
    assert accepted.ids[0].to_id == "registered"
    assert accepted.constant_columns[0].value == "crm-2026"
    assert accepted.update_timestamp is not None and accepted.update_timestamp.format == "auto"
    assert accepted.zone == ZoneInfo("UTC")


def test_defaults() -> None:
    accepted = ImportMapping.model_validate(
        {"properties": [{"from_column": "a", "to_property": "a"}], "ids": [{"from_column": "id", "to_id": "cookie"}]}
    )
    assert accepted.properties[0].type == "string"
    assert accepted.constant_columns == []
    assert accepted.timezone == "UTC"
    assert accepted.update_timestamp is None
    assert accepted.delimiter == ","
    stamp = ImportMapping.model_validate(mapping(update_timestamp={"from_column": "t"})).update_timestamp
    assert stamp is not None and stamp.format == "auto"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ids": []}, "ids"),
        ({"ids": [{"from_column": "a", "to_id": "Registered"}]}, "ids.0.to_id"),
        ({"ids": [{"from_column": "a", "to_id": "1st"}]}, "ids.0.to_id"),
        ({"ids": [{"from_column": "a", "to_id": "a" * 65}]}, "ids.0.to_id"),
        ({"ids": [{"from_column": "", "to_id": "cookie"}]}, "ids.0.from_column"),
        ({"properties": [{"from_column": "a", "to_property": ""}]}, "properties.0.to_property"),
        ({"properties": [{"from_column": "a", "to_property": "p" * 129}]}, "properties.0.to_property"),
        ({"properties": [{"from_column": "a", "to_property": "p", "type": "integer"}]}, "properties.0.type"),
        ({"properties": [{"from_column": "a", "to_property": "p", "format": "x"}]}, "properties.0.format"),
        ({"constant_columns": [{"name": "source", "value": ""}]}, "constant_columns.0.value"),
        ({"update_timestamp": {"from_column": "t", "format": "rfc2822"}}, "update_timestamp.format"),
        ({"timezone": "Europe/Bratislavaa"}, "timezone"),
        ({"timezone": "utc"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": ""}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"delimiter": "\n"}, "delimiter"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_refusals_name_the_field(changes: dict[str, Any], field: str) -> None:
    assert [name for name, _ in refusal(mapping(**changes))] == [field]


def test_an_unknown_timezone_says_what_is_expected() -> None:
    [(_, message)] = refusal(mapping(timezone="Mars/Olympus"))
    assert "unknown timezone 'Mars/Olympus': expected an IANA name" in message


@pytest.mark.parametrize(
    ("changes", "field", "repeated"),
    [
        (
            {"properties": [{"from_column": c, "to_property": "first_name"} for c in ("a", "b")]},
            "properties",
            "each to_property may appear once; repeated: 'first_name'",
        ),
        (
            {"ids": [{"from_column": c, "to_id": "cookie"} for c in ("a", "b")]},
            "ids",
            "each to_id may appear once; repeated: 'cookie'",
        ),
        (
            {"constant_columns": [{"name": "source", "value": v} for v in ("a", "b")]},
            "constant_columns",
            "each name may appear once; repeated: 'source'",
        ),
    ],
)
def test_names_that_must_be_unique(changes: dict[str, Any], field: str, repeated: str) -> None:
    [(name, message)] = refusal(mapping(**changes))
    assert name == field
    assert repeated in message


def test_one_column_may_feed_several_properties_and_ids() -> None:
    accepted = ImportMapping.model_validate(
        mapping(
            properties=[
                {"from_column": "e", "to_property": "email"},
                {"from_column": "e", "to_property": "contact"},
            ],
            ids=[{"from_column": "e", "to_id": "email_id"}, {"from_column": "e", "to_id": "registered"}],
        )
    )
    assert len(accepted.properties) == 2 and len(accepted.ids) == 2


def test_timezones_and_delimiters_that_are_fine() -> None:
    accepted = ImportMapping.model_validate(mapping(timezone="America/Argentina/Buenos_Aires", delimiter="\t"))
    assert accepted.zone == ZoneInfo("America/Argentina/Buenos_Aires")
    assert ImportMapping.model_validate(mapping(delimiter=";")).delimiter == ";"


HEADER = ["idecko", "meno", "update_timestamp"]


def test_a_mapping_that_fits_the_header_has_no_problems() -> None:
    assert check_columns(ImportMapping.model_validate(EXAMPLE), HEADER) == []


def test_constant_columns_are_columns_for_every_field() -> None:
    fitting = ImportMapping.model_validate(
        mapping(
            properties=[{"from_column": "source", "to_property": "origin"}],
            ids=[{"from_column": "source", "to_id": "batch"}],
            update_timestamp={"from_column": "when"},
            constant_columns=[{"name": "source", "value": "crm"}, {"name": "when", "value": "2026-11-23"}],
        )
    )
    assert check_columns(fitting, ["anything"]) == []


def test_each_missing_column_is_a_problem_of_its_field() -> None:
    missing = ImportMapping.model_validate(
        mapping(
            properties=[
                {"from_column": "meno", "to_property": "first_name"},
                {"from_column": "priezvisko", "to_property": "last_name"},
            ],
            ids=[{"from_column": "idecko", "to_id": "registered"}, {"from_column": "mail", "to_id": "email_id"}],
            update_timestamp={"from_column": "cas"},
        )
    )
    assert check_columns(missing, ["a", "b", "c"]) == [
        MappingProblem("mapping.properties[0].from_column", "no column 'meno' in the file; its columns: a, b, c"),
        MappingProblem("mapping.properties[1].from_column", "no column 'priezvisko' in the file; its columns: a, b, c"),
        MappingProblem("mapping.ids[0].from_column", "no column 'idecko' in the file; its columns: a, b, c"),
        MappingProblem("mapping.ids[1].from_column", "no column 'mail' in the file; its columns: a, b, c"),
        MappingProblem("mapping.update_timestamp.from_column", "no column 'cas' in the file; its columns: a, b, c"),
    ]


def test_columns_match_exactly() -> None:
    problems = check_columns(ImportMapping.model_validate(EXAMPLE), ["Idecko", "meno ", "update_timestamp"])
    assert [problem.field for problem in problems] == [
        "mapping.properties[0].from_column",
        "mapping.ids[0].from_column",
    ]


def test_a_long_header_is_listed_in_part() -> None:
    header = [f"c{number}" for number in range(1, 121)]
    [problem] = check_columns(
        ImportMapping.model_validate(mapping(update_timestamp=None, ids=[{"from_column": "c1", "to_id": "cookie"}])),
        header,
    )
    assert problem.message.endswith("c49, c50 and 70 more")


def test_duplicate_header_names_the_mapping_reads_are_a_problem_unused_ones_are_not() -> None:
    problems = check_columns(ImportMapping.model_validate(EXAMPLE), [*HEADER, "x", "meno", "x", "meno"])
    assert problems == [
        MappingProblem("header", "the column 'meno' appears more than once in the file: columns 2, 5 and 7"),
    ]


def test_a_constant_column_may_not_share_a_name_with_the_file() -> None:
    problems = check_columns(ImportMapping.model_validate(EXAMPLE), [*HEADER, "source"])
    assert problems == [
        MappingProblem(
            "mapping.constant_columns[0].name",
            "the constant column 'source' is also a column of the file: rename it",
        )
    ]
