"""The `date "layout"` filter (Go reference-time layouts) and the `int` filter, through the compiler."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqlsync.dialects import PostgreSQLDialect
from sqlsync.template import RenderError, TemplateSyntaxError, compile_template
from sqlsync.template.filters import date_filter, parse_layout, to_datetime

PG = PostgreSQLDialect()


def render_one(source: str, lead: dict[str, Any]) -> str:
    (statement,) = compile_template(source, PG).render({"event_time": "2026-11-22T10:00:00+00:00"}, [lead])
    return statement


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("2006-01-02", "2026-03-04"),
        ("2006-01-02 15:04:05", "2026-03-04 17:05:09"),
        ("02.01.06", "04.03.26"),
        ("Jan _2, 2006 3:04PM", "Mar  4, 2026 5:05PM"),
        ("Monday, January 2", "Wednesday, March 4"),
        ("Mon 03 pm", "Wed 05 pm"),
        ("2006-01-02T15:04:05.000Z07:00", "2026-03-04T17:05:09.120Z"),
        ("15:04:05.999999", "17:05:09.12"),
        ("2006-01-02T15:04:05-07:00", "2026-03-04T17:05:09+00:00"),
        ("002", "063"),
        ("1/2/06", "3/4/26"),
    ],
)
def test_go_layouts_format_like_go(layout: str, expected: str) -> None:
    moment = datetime(2026, 3, 4, 17, 5, 9, 120000, tzinfo=UTC)
    assert date_filter(layout)(moment) == expected


def test_a_fraction_with_no_digits_left_drops_its_point() -> None:
    assert date_filter("05.999")(datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)) == "07"
    assert date_filter("05.000")(datetime(2026, 1, 1, 0, 0, 7, tzinfo=UTC)) == "07.000"


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-04T19:05:09+02:00",
        "2026-03-04T17:05:09Z",
        "2026-03-04 17:05:09",
        1772643909,
        1772643909.0,
        datetime(2026, 3, 4, 17, 5, 9),
    ],
)
def test_times_are_read_as_iso_8601_or_unix_seconds_and_converted_to_utc(value: Any) -> None:
    assert to_datetime(value) == datetime(2026, 3, 4, 17, 5, 9, tzinfo=UTC)


def test_a_date_alone_is_midnight_utc() -> None:
    assert to_datetime("2026-03-04") == datetime(2026, 3, 4, tzinfo=UTC)
    assert to_datetime(date(2026, 3, 4)) == datetime(2026, 3, 4, tzinfo=UTC)


def test_the_filter_renders_a_literal_and_a_missing_value_as_null() -> None:
    source = 'INSERT INTO t VALUES ({$lead.born|date "2006-01-02"}, \'{$lead.none|date "2006"}\')'
    assert render_one(source, {"born": "1990-05-06T23:30:00-03:00"}) == "INSERT INTO t VALUES ('1990-05-07', NULL)"
    assert render_one(source, {"born": ""}) == "INSERT INTO t VALUES (NULL, NULL)"


def test_event_time_is_formatted_once_per_render() -> None:
    template = compile_template('SELECT {event_time|date "2006/01/02"}, {$lead.id}', PG)
    assert template.render({"event_time": "2026-11-22T10:00:00+00:00"}, [{"id": 1}, {"id": 2}]) == [
        "SELECT '2026/11/22', 1",
        "SELECT '2026/11/22', 2",
    ]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", [1], True, 10**20])
def test_a_value_that_is_no_time_fails_that_profile_with_a_message(value: Any) -> None:
    with pytest.raises(RenderError):
        render_one('SELECT {$lead.t|date "2006"}', {"t": value})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('SELECT {$lead.t|date "hello"}', "has no date element"),
        ("SELECT {$lead.t|date $lead.layout}", "takes a layout string"),
        ("SELECT {$lead.t|date}", "expected a value"),
    ],
)
def test_bad_layouts_are_errors_when_the_template_is_saved(source: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=message) as caught:
        compile_template(source, PG)
    assert caught.value.line == 1


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_the_iso_layout_round_trips_every_time(moment: datetime) -> None:
    text = date_filter("2006-01-02T15:04:05.000000Z07:00")(moment)
    assert text is not None
    assert datetime.fromisoformat(text) == moment


def test_layout_text_between_elements_is_kept_verbatim() -> None:
    pieces = parse_layout("at 15h, day 02!")
    assert [piece for piece in pieces if isinstance(piece, str)] == ["at ", "h, day ", "!"]


def test_int_filter_converts_text_and_refuses_words() -> None:
    assert render_one("SELECT {$lead.n|int}", {"n": " 42 "}) == "SELECT 42"
    assert render_one("SELECT {$lead.n|int}", {}) == "SELECT NULL"
    with pytest.raises(RenderError, match="not an integer"):
        render_one("SELECT {$lead.n|int}", {"n": "4x"})
