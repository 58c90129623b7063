"""Schedule expressions as EventBridge writes them, in UTC: rate(N minutes|hours|days) and
cron(minutes hours day-of-month month day-of-week year), wildcards and all
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html).

Exports keep one each (docs/exports.md); the local stack reads its rules' rate() with it. Both kinds answer
one question, `next_after(moment)`: a rate counts from the moment given (a run's start), a cron names
minutes of the calendar.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import product
from typing import Protocol

_RATE = re.compile(r"rate\((\d{1,6}) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_EXPECTED = (
    "a rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year) expression, "
    "such as rate(1 hour) or cron(0 2 * * ? *)"
)


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime | None:
        """The schedule's first time strictly after `moment` (UTC); None when it names no later time."""
        ...


NEVER = datetime(9999, 12, 31, 23, 59, tzinfo=UTC).timestamp()
"""The next run time (unix seconds) of a schedule that names no later time (a cron() of past years): it never
comes due. A time rather than none, so that stored states keep their type."""


def next_run_time(expression: str, after: float) -> float:
    """The schedule's first time after `after` (unix seconds), as unix seconds; NEVER when there is none."""
    following = parse_schedule(expression).next_after(datetime.fromtimestamp(after, UTC))
    return NEVER if following is None else following.timestamp()


def parse_schedule(expression: str) -> Schedule:
    """The schedule of a rate() or cron() expression; ValueError saying what is wrong."""
    text = expression.strip()
    if text.startswith("rate("):
        return _parse_rate(text)
    if text.startswith("cron("):
        return _parse_cron(text)
    raise ValueError(_EXPECTED)


@dataclass(frozen=True)
class RateSchedule:
    seconds: int

    def next_after(self, moment: datetime) -> datetime:
        """A rate counts from when the run started, not from the clock's minutes."""
        return moment + timedelta(seconds=self.seconds)


def _parse_rate(text: str) -> RateSchedule:
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError("a rate expression such as rate(15 minutes), rate(1 hour) or rate(1 day)")
    count, unit = int(match.group(1)), match.group(2).removesuffix("s")
    if count < 1:
        raise ValueError("the rate must be at least 1")
    if (count == 1) != (not match.group(2).endswith("s")):
        raise ValueError(f"write rate(1 {unit}) for one, rate(N {unit}s) for more (EventBridge's spelling)")
    return RateSchedule(count * _UNIT_SECONDS[unit])


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """names[i] stands for low + i (JAN = 1, SUN = 1)."""
    cyclic: bool = True
    """A range may wrap past the end (FRI-MON, 22-2), as Quartz's cron (which EventBridge's follows) reads it;
    a range of years may not."""

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    @property
    def allowed(self) -> str:
        numbers = f"{self.low}-{self.high}"
        return f"{numbers} or {self.names[0]}-{self.names[-1]}" if self.names else numbers

    def error(self, message: str) -> ValueError:
        return ValueError(f"cron(): {self.name}: {message}")


MINUTES = _Field("minutes", 0, 59)
HOURS = _Field("hours", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
DAY_OF_WEEK = _Field("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
YEAR = _Field("year", 1970, 2199, cyclic=False)


class _Days(Protocol):
    """Which days of a month a schedule runs on: day-of-month's rule or day-of-week's (the other is ?)."""

    def days(self, year: int, month: int) -> list[int]:
        """In order."""
        ...


@dataclass(frozen=True)
class CronSchedule:
    """A cron() expression's values, each tuple in order."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: _Days
    months: tuple[int, ...]
    years: tuple[int, ...]

    def next_after(self, moment: datetime) -> datetime | None:
        """A naive `moment` is taken as UTC."""
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        if moment.year > YEAR.high:
            return None
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for day in self._dates_from(start.date()):
            earliest = (start.hour, start.minute) if day == start.date() else (0, 0)
            for hour, minute in product(self.hours, self.minutes):
                if (hour, minute) >= earliest:
                    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        return None

    def _dates_from(self, first: date) -> Iterator[date]:
        for year in self.years:
            if year < first.year:
                continue
            for month in self.months:
                if (year, month) < (first.year, first.month):
                    continue
                for day in self.days.days(year, month):
                    if date(year, month, day) >= first:
                        yield date(year, month, day)


def _parse_cron(text: str) -> CronSchedule:
    if not text.endswith(")"):
        raise ValueError("cron(): the closing parenthesis is missing")
    fields = text[len("cron(") : -1].upper().split()  # names, L and W are read in any case, as Quartz does
    if len(fields) != 6:
        raise ValueError(f"cron(): six fields (minutes hours day-of-month month day-of-week year), not {len(fields)}")
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if day_of_month == "?" and day_of_week == "?":
        raise ValueError("cron(): day-of-month and day-of-week cannot both be ?")
    if day_of_month != "?" and day_of_week != "?":
        raise ValueError("cron(): day-of-month or day-of-week must be ? (the days are named by the other one)")
    schedule = CronSchedule(
        minutes=_values(MINUTES, minutes),
        hours=_values(HOURS, hours),
        days=_day_of_week(day_of_week) if day_of_month == "?" else _day_of_month(day_of_month),
        months=_values(MONTH, month),
        years=_values(YEAR, year),
    )
    if schedule.next_after(datetime(YEAR.low, 1, 1, tzinfo=UTC) - timedelta(minutes=1)) is None:
        raise ValueError(f"cron(): no day of {YEAR.low}-{YEAR.high} fits it (such as February 30)")
    return schedule


def _values(field: _Field, text: str) -> tuple[int, ...]:
    """A field of numbers: a list (,) of *, values, ranges (-) and increments (/)."""
    if "?" in text:
        raise field.error("? stands only alone, in day-of-month or day-of-week")
    values: set[int] = set()
    for term in text.split(","):
        values |= _term(field, term)
    return tuple(sorted(values))


def _term(field: _Field, term: str) -> set[int]:
    base, slash, step_text = term.partition("/")
    if base == "*":
        first, last = field.low, field.high
    else:
        first_text, dash, last_text = base.partition("-")
        first = _value(field, first_text)
        # 5/15 runs from 5 to the field's end, as */15 from its start
        last = _value(field, last_text) if dash else field.high if slash else first
    step = _step(field, step_text) if slash else 1
    if last < first and not field.cyclic:
        raise field.error(f"the range {base} runs backwards")
    count = (last - first) % field.size + 1
    return {field.low + (first - field.low + offset) % field.size for offset in range(0, count, step)}


def _value(field: _Field, text: str) -> int:
    if text in field.names:
        return field.low + field.names.index(text)
    if _is_number(text) and field.low <= int(text) <= field.high:
        return int(text)
    raise field.error(f"{text or 'nothing'} is not {field.allowed}")


def _step(field: _Field, text: str) -> int:
    if _is_number(text) and 1 <= int(text) <= field.size:
        return int(text)
    raise field.error(f"/{text}: the increment must be 1-{field.size}")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 9


def _day_of_month(text: str) -> _Days:
    if text == "L":
        return _LastDay()
    nearest = re.fullmatch(r"(\w+)W", text)
    if nearest is not None:
        return _NearestWeekday(None if nearest.group(1) == "L" else _value(DAY_OF_MONTH, nearest.group(1)))
    if "L" in text or "W" in text:
        raise DAY_OF_MONTH.error(f"{text}: L and W stand alone (L, LW, 15W), not in a list, range or increment")
    return _DaysOfMonth(_values(DAY_OF_MONTH, text))


def _day_of_week(text: str) -> _Days:
    if text == "L":
        return _Weekdays((7,))  # alone, L is the week's last day: Saturday
    last = re.fullmatch(r"(\w+)L", text)
    if last is not None:
        return _LastWeekday(_value(DAY_OF_WEEK, last.group(1)))
    nth = re.fullmatch(r"(\w+)#(\w*)", text)
    if nth is not None:
        weekday, week = _value(DAY_OF_WEEK, nth.group(1)), nth.group(2)
        if not (_is_number(week) and 1 <= int(week) <= 5):
            raise DAY_OF_WEEK.error(f"{text}: the week after # must be 1-5")
        return _NthWeekday(weekday, int(week))
    if "L" in text or "#" in text:
        raise DAY_OF_WEEK.error(f"{text}: L and # stand alone (L, 6L, 3#2), not in a list or range")
    return _Weekdays(_values(DAY_OF_WEEK, text))


def _length(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _weekday(year: int, month: int, day: int) -> int:
    """EventBridge's number of the day's weekday: 1 = Sunday ... 7 = Saturday."""
    return (date(year, month, day).weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class _DaysOfMonth:
    """1,15 or 1-10 or */2: a day the month lacks (31 in April) is not run."""

    values: tuple[int, ...]

    def days(self, year: int, month: int) -> list[int]:
        length = _length(year, month)
        return [day for day in self.values if day <= length]


@dataclass(frozen=True)
class _LastDay:
    """L in day-of-month."""

    def days(self, year: int, month: int) -> list[int]:
        return [_length(year, month)]


@dataclass(frozen=True)
class _NearestWeekday:
    """15W: the weekday nearest the 15th, within the month (1W on a Saturday is Monday the 3rd; 31W on a
    Sunday is Friday the 29th); a month without that day is not run. LW (day None): the last weekday."""

    day: int | None

    def days(self, year: int, month: int) -> list[int]:
        length = _length(year, month)
        day = length if self.day is None else self.day
        if day > length:
            return []
        weekday = _weekday(year, month, day)
        if weekday == 7:  # Saturday: Friday before, unless that is last month
            return [day - 1 if day > 1 else day + 2]
        if weekday == 1:  # Sunday: Monday after, unless that is next month
            return [day + 1 if day < length else day - 2]
        return [day]


@dataclass(frozen=True)
class _Weekdays:
    """MON-FRI or 1,7: every such day of the month."""

    weekdays: tuple[int, ...]

    def days(self, year: int, month: int) -> list[int]:
        return [day for day in range(1, _length(year, month) + 1) if _weekday(year, month, day) in self.weekdays]


@dataclass(frozen=True)
class _LastWeekday:
    """5L: the month's last Thursday."""

    weekday: int

    def days(self, year: int, month: int) -> list[int]:
        length = _length(year, month)
        return [length - (_weekday(year, month, length) - self.weekday) % 7]


@dataclass(frozen=True)
class _NthWeekday:
    """3#2: the month's second Tuesday; a month without a fifth one is not run by 3#5."""

    weekday: int
    week: int

    def days(self, year: int, month: int) -> list[int]:
        day = 1 + (self.weekday - _weekday(year, month, 1)) % 7 + 7 * (self.week - 1)
        return [day] if day <= _length(year, month) else []
