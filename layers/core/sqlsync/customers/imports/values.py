"""Converting the text of a CSV cell to a property value or a timestamp (unix seconds).

Every function takes a non-empty cell (an empty cell means "no value in this row" and never gets here) and
raises ValueError with a reason meant for the user's error report.

Local times (ISO 8601 without a zone, or a date alone) are read in the mapping's timezone with fold=0, the
default of PEP 495:
* a time that occurs twice (clocks go back) is its first occurrence, the one still in summer time;
* a time that does not exist (clocks go forward) is read with the offset in force before the gap, so it
  lands as far after the gap's start as it was written: 02:30 on a night when 02:00 becomes 03:00 is 03:30.
A row is never refused for its local time alone: an import of a whole year would otherwise lose the rows of
that hour every spring.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

PropertyType = Literal["string", "number", "boolean", "date"]
TimestampFormat = Literal["auto", "unix_seconds", "unix_ms", "iso8601"]

MILLISECONDS_FROM = 1e11
"""In "auto", a number this large (in absolute value) is unix milliseconds: as seconds it would be after the
year 5000, while as milliseconds it is any time after March 1973."""

# The range of a timestamp (years 1 to 9999): beyond it, a number is a mistake such as microseconds read as
# milliseconds, and no date library could show it.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC).timestamp()

# ASCII digits only: int() and float() would also take other scripts' digits, such as "٤٢".
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_ISO8601 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

_ISO_EXAMPLES = "2026-11-23, 2026-11-23T10:00:00, 2026-11-23 10:00:00.5 or 2026-11-23T10:00:00+01:00 (Z for UTC)"
_EXPECTED: dict[TimestampFormat, str] = {
    "auto": f"unix seconds, unix milliseconds or ISO 8601 such as {_ISO_EXAMPLES}",
    "unix_seconds": "unix seconds, a number such as 1763888400 or 1763888400.25",
    "unix_ms": "unix milliseconds, a number such as 1763888400250",
    "iso8601": f"ISO 8601 such as {_ISO_EXAMPLES}",
}


def parse_number(text: str) -> int | float:
    """An int for integral text ("42", "-7"), else a float ("3.5", "1e3"); surrounding spaces are ignored.
    No NaN, no infinity and no decimal comma: none of them can be compared or stored as a JSON number."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _DECIMAL.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number):
            return number
    raise ValueError(f"not a number: {text!r}")


def parse_boolean(text: str) -> bool:
    """true/false, 1/0 or yes/no, in any case, surrounding spaces ignored."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r} (expected true/false, 1/0 or yes/no)")


def parse_timestamp(text: str, format: TimestampFormat, tz: tzinfo) -> float:
    """Unix seconds (fractions kept) of a cell in the given format; naive ISO times and dates are in `tz`."""
    stripped = text.strip()
    if format == "iso8601" or (format == "auto" and _ISO8601.fullmatch(stripped)):
        seconds = _parse_iso8601(stripped, text, format, tz)
    else:
        seconds = _parse_unix(stripped, text, format)
    if not EARLIEST <= seconds <= LATEST:
        raise ValueError(f"timestamp out of range: {text!r} (expected a time in the years 1 to 9999)")
    return seconds


def parse_date(text: str, tz: tzinfo) -> int | float:
    """A date property: any timestamp "auto" reads, as unix seconds; an int when whole (dates usually are)."""
    seconds = parse_timestamp(text, "auto", tz)
    return int(seconds) if seconds.is_integer() else seconds


def convert(text: str, type: PropertyType, tz: tzinfo) -> Any:
    """The value of a property of the given type; the text as it is for a string."""
    if type == "number":
        return parse_number(text)
    if type == "boolean":
        return parse_boolean(text)
    if type == "date":
        return parse_date(text, tz)
    return text


def _parse_unix(stripped: str, text: str, format: TimestampFormat) -> float:
    number = float(stripped) if _DECIMAL.fullmatch(stripped) else math.nan
    if not math.isfinite(number):
        raise ValueError(f"not a timestamp: {text!r} (expected {_EXPECTED[format]})")
    if format == "unix_ms" or (format == "auto" and abs(number) >= MILLISECONDS_FROM):
        return number / 1000
    return number


def _parse_iso8601(stripped: str, text: str, format: TimestampFormat, tz: tzinfo) -> float:
    match = _ISO8601.fullmatch(stripped)
    if match is None:
        raise ValueError(f"not a timestamp: {text!r} (expected {_EXPECTED[format]})")
    part = match.groupdict()
    try:
        whole_seconds = datetime(
            int(part["year"]),
            int(part["month"]),
            int(part["day"]),
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
            tzinfo=_zone(part["zone"]) if part["zone"] else tz,
        ).timestamp()
    except (ValueError, OverflowError) as error:
        raise ValueError(f"not a valid date and time: {text!r} ({error})") from None
    # The fraction is added to the whole seconds rather than given to datetime, which keeps only microseconds.
    return whole_seconds + float(f"0.{part['fraction']}") if part["fraction"] else whole_seconds


def _zone(designator: str) -> tzinfo:
    """The fixed offset of "Z", "+02:00", "+0200" or "+02"."""
    if designator in ("Z", "z"):
        return UTC
    sign = -1 if designator[0] == "-" else 1
    digits = designator[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"zone offset {designator} out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
