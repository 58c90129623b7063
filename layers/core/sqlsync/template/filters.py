"""The filters that need more than one line of generated code: `int` and `date "layout"`.

`date` takes Go's reference-time layouts ("2006-01-02 15:04:05"), the style the platforms we follow
document, so users can copy their layouts. A layout is translated once, when the template compiles, into
a list of pieces; formatting is then a join, with no strftime (whose names follow the process locale).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlsync.template.errors import RenderError

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _offset(dt: datetime, sep: str, zulu: bool) -> str:
    offset = dt.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset else 0
    if zulu and minutes == 0:
        return "Z"
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{sep}{minutes:02d}"


# Go's layout elements, longest first so that "2006" wins over "2" and "January" over "Jan".
_ELEMENTS: dict[str, Callable[[datetime], str]] = {
    "January": lambda dt: _MONTHS[dt.month - 1],
    "Monday": lambda dt: _DAYS[dt.weekday()],
    "Z07:00": lambda dt: _offset(dt, ":", zulu=True),
    "-07:00": lambda dt: _offset(dt, ":", zulu=False),
    "Z0700": lambda dt: _offset(dt, "", zulu=True),
    "-0700": lambda dt: _offset(dt, "", zulu=False),
    "2006": lambda dt: f"{dt.year:04d}",
    "Jan": lambda dt: _MONTHS[dt.month - 1][:3],
    "Mon": lambda dt: _DAYS[dt.weekday()][:3],
    "MST": lambda dt: "UTC" if not dt.utcoffset() else _offset(dt, "", zulu=False),
    "002": lambda dt: f"{dt.timetuple().tm_yday:03d}",
    "_2": lambda dt: f"{dt.day:2d}",
    "01": lambda dt: f"{dt.month:02d}",
    "02": lambda dt: f"{dt.day:02d}",
    "03": lambda dt: f"{(dt.hour % 12) or 12:02d}",
    "04": lambda dt: f"{dt.minute:02d}",
    "05": lambda dt: f"{dt.second:02d}",
    "06": lambda dt: f"{dt.year % 100:02d}",
    "15": lambda dt: f"{dt.hour:02d}",
    "PM": lambda dt: "PM" if dt.hour >= 12 else "AM",
    "pm": lambda dt: "pm" if dt.hour >= 12 else "am",
    "1": lambda dt: str(dt.month),
    "2": lambda dt: str(dt.day),
    "3": lambda dt: str((dt.hour % 12) or 12),
    "4": lambda dt: str(dt.minute),
    "5": lambda dt: str(dt.second),
}
_ELEMENT = re.compile("|".join(re.escape(element) for element in _ELEMENTS))
# ".000" prints exactly that many digits of the fraction; ".999" as many, without trailing zeros.
_FRACTION = re.compile(r"[.,](0{1,9}|9{1,9})(?![0-9])")


def _fraction(separator: str, digits: str) -> Callable[[datetime], str]:
    width, trim = len(digits), digits[0] == "9"

    def render(dt: datetime) -> str:
        text = f"{dt.microsecond:06d}{'0' * 3}"[:width]
        if trim:
            text = text.rstrip("0")
            return separator + text if text else ""
        return separator + text

    return render


Layout = list[str | Callable[[datetime], str]]


def parse_layout(layout: str) -> Layout:
    """A Go layout as text pieces and element renderers; raises ValueError when it has no element."""
    pieces: Layout = []
    i = 0
    while i < len(layout):
        fraction = _FRACTION.match(layout, i)
        element = _ELEMENT.match(layout, i)
        if fraction is not None:
            pieces.append(_fraction(layout[i], fraction.group(1)))
            i = fraction.end()
        elif element is not None:
            pieces.append(_ELEMENTS[element.group()])
            i = element.end()
        else:
            last = pieces[-1] if pieces else None
            if isinstance(last, str):
                pieces[-1] = last + layout[i]
            else:
                pieces.append(layout[i])
            i += 1
    if all(isinstance(piece, str) for piece in pieces):
        raise ValueError(f'the layout {layout!r} has no date element; write the reference time, as "2006-01-02"')
    return pieces


def to_datetime(value: Any) -> datetime:
    """A profile value as a UTC time: ISO 8601 text (a date, or a time with or without a zone; without one
    it is taken as UTC) or unix seconds. Times with a zone are converted to UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise RenderError(f"{value!r} is not a time in unix seconds") from None
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RenderError(f"{value[:64]!r} is not an ISO 8601 date or time") from None
    else:
        raise RenderError(f"a {type(value).__name__} is not a date or time")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def date_filter(layout: str) -> Callable[[Any], str | None]:
    """The `date "layout"` filter: a missing value stays missing (NULL), anything else is formatted."""
    pieces = parse_layout(layout)

    def format_date(value: Any) -> str | None:
        if value is None or value == "":
            return None
        dt = to_datetime(value)
        return "".join(piece if isinstance(piece, str) else piece(dt) for piece in pieces)

    return format_date


def filter_int(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return None if value is None else int(value)
    try:
        return int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise RenderError(f"{str(value)[:64]!r} is not an integer") from None
