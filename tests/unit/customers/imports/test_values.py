"""Cell conversion: each type, each timestamp format, local times around DST changes, and the reasons given."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sqlsync.customers.imports.values import (
    MILLISECONDS_FROM,
    TimestampFormat,
    convert,
    parse_boolean,
    parse_date,
    parse_number,
    parse_timestamp,
)

BRATISLAVA = ZoneInfo("Europe/Bratislava")
NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", 42), ("-7", -7), ("+3", 3), (" 12 ", 12), ("007", 7), ("3.5", 3.5), ("1e3", 1000.0), ("-.5", -0.5)],
)
def test_numbers_are_ints_when_integral_text_else_floats(text: str, value: float) -> None:
    parsed = parse_number(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_a_huge_integer_stays_exact() -> None:
    assert parse_number("123456789012345678901234567890") == 123456789012345678901234567890


@pytest.mark.parametrize(
    "text", ["1,5", "", " ", "nan", "NaN", "inf", "-Infinity", "1e400", "1_000", "0x10", "4 2", "\u0664\u0662"]
)
def test_what_is_not_a_finite_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a number: ") as refused:
        parse_number(text)
    assert repr(text) in str(refused.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("TRUE", True), (" Yes ", True), ("1", True), ("false", False), ("No", False), ("0", False)],
)
def test_booleans(text: str, value: bool) -> None:
    assert parse_boolean(text) is value


@pytest.mark.parametrize("text", ["", "y", "2", "on", "truth"])
def test_other_words_are_not_booleans(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a boolean: .*expected true/false, 1/0 or yes/no"):
        parse_boolean(text)


def test_strings_are_kept_as_they_are() -> None:
    assert convert("  Ján \r\n", "string", UTC) == "  Ján \r\n"


def test_convert_dispatches_on_the_type() -> None:
    assert convert("42", "number", UTC) == 42
    assert convert("no", "boolean", UTC) is False
    assert convert("2026-11-23", "date", UTC) == utc(2026, 11, 23)
    with pytest.raises(ValueError, match="not a number"):
        convert("x", "number", UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1763888400", 1763888400.0),
        ("1763888400.25", 1763888400.25),
        ("-86400", -86400.0),
        ("99999999999", 99999999999.0),  # just under the threshold: still seconds (year 5138)
        ("100000000000", 100000000.0),  # the threshold: milliseconds (March 1973)
        ("1763888400250", 1763888400.25),
        ("-100000000000", -100000000.0),
        ("2026-11-23T10:00:00Z", utc(2026, 11, 23, 10)),
        ("2026-11-23t10:00:00z", utc(2026, 11, 23, 10)),
        ("2026-11-23 10:00:00+02:00", utc(2026, 11, 23, 8)),
        ("2026-11-23T10:00:00-0530", utc(2026, 11, 23, 15, 30)),
        ("2026-11-23T10:00+01", utc(2026, 11, 23, 9)),
        ("2026-11-23T10:00:00.25Z", utc(2026, 11, 23, 10) + 0.25),
        ("2026-11-23T10:00:00,5Z", utc(2026, 11, 23, 10) + 0.5),
        ("2026-11-23T10:00:00.123456789Z", utc(2026, 11, 23, 10) + 0.123456789),
        ("2026-11-23T10:00:00", utc(2026, 11, 23, 9)),  # naive: Bratislava, winter time (+01:00)
        ("2026-07-01T10:00:00", utc(2026, 7, 1, 8)),  # naive: Bratislava, summer time (+02:00)
        ("2026-11-23", utc(2026, 11, 22, 23)),  # a date alone: midnight in Bratislava
        (" 2026-11-23 ", utc(2026, 11, 22, 23)),
    ],
)
def test_auto_reads_unix_seconds_milliseconds_and_iso8601(text: str, seconds: float) -> None:
    assert parse_timestamp(text, "auto", BRATISLAVA) == pytest.approx(seconds, abs=1e-6)


def test_the_milliseconds_threshold_is_on_the_absolute_value() -> None:
    assert MILLISECONDS_FROM == 1e11
    assert parse_timestamp(str(-(10**11)), "auto", UTC) == -(10**8)
    assert parse_timestamp("-1000000000", "auto", UTC) == utc(1938, 4, 24, 22, 13, 20)


def test_the_fraction_is_kept_beyond_microseconds() -> None:
    # datetime keeps microseconds only; the fraction is added to the whole seconds instead.
    assert parse_timestamp("1970-01-01T00:00:00.0000001Z", "iso8601", UTC) == 1e-7


@pytest.mark.parametrize(
    ("text", "fmt", "seconds"),
    [
        ("1763888400", "unix_seconds", 1763888400.0),
        ("1763888400.5", "unix_seconds", 1763888400.5),
        ("1763888400", "unix_ms", 1763888.4),
        ("1763888400250", "unix_ms", 1763888400.25),
        ("2026-11-23T10:00:00Z", "iso8601", utc(2026, 11, 23, 10)),
    ],
)
def test_explicit_formats(text: str, fmt: TimestampFormat, seconds: float) -> None:
    assert parse_timestamp(text, fmt, UTC) == pytest.approx(seconds)


def test_unix_seconds_never_guesses_milliseconds() -> None:
    assert parse_timestamp("99999999999", "unix_seconds", UTC) == 99999999999
    with pytest.raises(ValueError, match="out of range"):  # 1763888400250 seconds is after the year 9999
        parse_timestamp("1763888400250", "unix_seconds", UTC)


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2026-11-23T10:00:00Z", "unix_seconds", "unix seconds, a number"),
        ("2026-11-23", "unix_ms", "unix milliseconds, a number"),
        ("1763888400", "iso8601", "ISO 8601 such as 2026-11-23"),
        ("yesterday", "auto", "unix seconds, unix milliseconds or ISO 8601"),
        ("23.11.2026", "auto", "unix seconds, unix milliseconds or ISO 8601"),
        ("2026-11-23T10", "auto", "unix seconds, unix milliseconds or ISO 8601"),
        ("2026-11-23T10:00:00 UTC", "auto", "unix seconds, unix milliseconds or ISO 8601"),
        ("20261123", "iso8601", "ISO 8601"),
        ("\u0662\u0660\u0662\u0666-11-23", "auto", "ISO 8601"),
        ("\u0661\u0662", "unix_seconds", "unix seconds"),
        ("nan", "unix_seconds", "unix seconds"),
        ("inf", "auto", "unix seconds"),
        ("", "auto", "unix seconds"),
    ],
)
def test_each_format_accepts_only_its_kind_and_says_what_it_expects(
    text: str, fmt: TimestampFormat, expected: str
) -> None:
    with pytest.raises(ValueError, match=r"^not a timestamp: ") as refused:
        parse_timestamp(text, fmt, UTC)
    assert repr(text) in str(refused.value)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("2026-13-01", "month must be in 1..12"),
        ("2026-02-30", "day is out of range"),
        ("2026-11-23T24:00:00", "hour must be in 0..23"),
        ("2026-11-23T10:00:60", "second must be in 0..59"),
        ("2026-11-23T10:00:00+24:00", "zone offset +24:00 out of range"),
    ],
)
def test_impossible_dates_and_times_say_why(text: str, detail: str) -> None:
    with pytest.raises(ValueError, match=r"^not a valid date and time: ") as refused:
        parse_timestamp(text, "auto", UTC)
    assert detail in str(refused.value)


@pytest.mark.parametrize("text", ["1e20", "-99999999999", "1763888400250000", "0001-01-01T00:00:00+01:00"])
def test_timestamps_outside_the_years_1_to_9999_are_refused(text: str) -> None:
    # 1763888400250000 is microseconds: read as milliseconds it would be the year 57865.
    with pytest.raises(ValueError, match="timestamp out of range"):
        parse_timestamp(text, "auto", UTC)


def test_an_ambiguous_local_time_is_its_first_occurrence() -> None:
    # 2026-10-25 in Bratislava: 03:00 summer time becomes 02:00 winter time, so 02:30 happens twice.
    first = utc(2026, 10, 25, 0, 30)  # 02:30 +02:00
    assert parse_timestamp("2026-10-25T02:30:00", "auto", BRATISLAVA) == first
    assert parse_timestamp("2026-10-25T02:30:00+02:00", "auto", BRATISLAVA) == first
    assert parse_timestamp("2026-10-25T02:30:00+01:00", "auto", BRATISLAVA) == first + 3600


def test_a_local_time_in_the_spring_gap_is_read_with_the_offset_before_the_gap() -> None:
    # 2026-03-29 in Bratislava: 02:00 winter time becomes 03:00 summer time; 02:30 does not exist.
    assert parse_timestamp("2026-03-29T02:30:00", "auto", BRATISLAVA) == utc(2026, 3, 29, 1, 30)  # 02:30 +01:00
    assert parse_timestamp("2026-03-29T03:30:00", "auto", BRATISLAVA) == utc(2026, 3, 29, 1, 30)  # the same instant
    assert parse_timestamp("2026-03-29T01:59:59", "auto", BRATISLAVA) == utc(2026, 3, 29, 0, 59, 59)


def test_a_date_alone_is_midnight_in_the_timezone_including_on_dst_days() -> None:
    assert parse_timestamp("2026-03-08", "iso8601", NEW_YORK) == utc(2026, 3, 8, 5)  # EST, the change is at 02:00
    assert parse_timestamp("2026-03-09", "iso8601", NEW_YORK) == utc(2026, 3, 9, 4)  # EDT


def test_dates_are_unix_seconds_int_when_whole() -> None:
    whole = parse_date("2026-11-23", UTC)
    assert whole == utc(2026, 11, 23)
    assert type(whole) is int
    fractional = parse_date("2026-11-23T10:00:00.5Z", UTC)
    assert fractional == utc(2026, 11, 23, 10) + 0.5
    assert type(fractional) is float
    assert parse_date("1763888400250", UTC) == 1763888400.25
    with pytest.raises(ValueError, match="not a timestamp"):
        parse_date("Nov 23", UTC)
