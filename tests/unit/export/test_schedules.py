"""Export schedules: EventBridge's rate() and cron() (UTC), the next time each names after a moment, and the
mistakes each refuses, with a message naming what is wrong."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sqlsync.export.schedules import RateSchedule, parse_schedule
from sqlsync.models.exports import ExportIn


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


NEXT_TIMES = [
    # every day at 10:00: strictly after, so 10:00 itself is followed by the next day's
    ("cron(0 10 * * ? *)", "2024-05-01 09:59", "2024-05-01 10:00"),
    ("cron(0 10 * * ? *)", "2024-05-01 10:00", "2024-05-02 10:00"),
    ("cron(15 12 * * ? *)", "2024-12-31 12:15", "2025-01-01 12:15"),
    # lists, ranges, increments
    ("cron(0,30 * * * ? *)", "2024-05-01 10:30", "2024-05-01 11:00"),
    ("cron(0/15 * * * ? *)", "2024-05-01 10:46", "2024-05-01 11:00"),
    ("cron(5/20 * * * ? *)", "2024-05-01 10:26", "2024-05-01 10:45"),
    ("cron(*/20 * * * ? *)", "2024-05-01 10:41", "2024-05-01 11:00"),
    ("cron(10-40/15 * * * ? *)", "2024-05-01 10:26", "2024-05-01 10:40"),
    ("cron(0 */6 * * ? *)", "2024-05-01 18:00", "2024-05-02 00:00"),
    ("cron(0 8,12,17 ? * MON-FRI *)", "2024-05-03 17:00", "2024-05-06 08:00"),  # Friday to Monday
    ("cron(0 22-2 * * ? *)", "2024-05-01 02:00", "2024-05-01 22:00"),  # a range past midnight
    ("cron(0 0 ? * FRI-MON *)", "2024-05-06 00:00", "2024-05-10 00:00"),  # and past Saturday
    # names, in any case; day-of-week 1 is Sunday
    ("cron(0 0 1 JAN,JUL ? *)", "2024-01-01 00:00", "2024-07-01 00:00"),
    ("cron(0 0 1 mar-may/2 ? *)", "2024-03-01 00:00", "2024-05-01 00:00"),
    ("cron(0 18 ? * mon-fri *)", "2024-05-04 12:00", "2024-05-06 18:00"),
    ("cron(0 0 ? * 1 *)", "2024-05-01 00:00", "2024-05-05 00:00"),
    ("cron(0 0 ? * SUN,SAT *)", "2024-05-01 00:00", "2024-05-04 00:00"),
    # month ends and leap years
    ("cron(0 8 1 * ? *)", "2024-01-31 23:59", "2024-02-01 08:00"),
    ("cron(0 0 31 * ? *)", "2024-04-01 00:00", "2024-05-31 00:00"),  # April has no 31st
    ("cron(0 0 29 2 ? *)", "2024-03-01 00:00", "2028-02-29 00:00"),
    ("cron(0 0 29 2 ? 1999-2001)", "1999-01-01 00:00", "2000-02-29 00:00"),  # 2000: divisible by 400
    # L: the month's last day
    ("cron(0 9 L * ? *)", "2024-02-01 00:00", "2024-02-29 09:00"),
    ("cron(0 9 L * ? *)", "2023-02-01 00:00", "2023-02-28 09:00"),
    ("cron(0 9 L * ? *)", "2024-04-30 09:00", "2024-05-31 09:00"),
    # W: the nearest weekday, never in another month
    ("cron(0 0 LW * ? *)", "2024-08-01 00:00", "2024-08-30 00:00"),  # the 31st is a Saturday
    ("cron(0 0 LW * ? *)", "2024-03-01 00:00", "2024-03-29 00:00"),  # the 31st is a Sunday
    ("cron(0 0 LW * ? *)", "2024-05-01 00:00", "2024-05-31 00:00"),  # a Friday
    ("cron(0 0 15W * ? *)", "2024-06-01 00:00", "2024-06-14 00:00"),  # Saturday: Friday before
    ("cron(0 0 15W * ? *)", "2024-09-01 00:00", "2024-09-16 00:00"),  # Sunday: Monday after
    ("cron(0 0 1W * ? *)", "2024-05-31 00:00", "2024-06-03 00:00"),  # Saturday the 1st: Monday the 3rd
    ("cron(0 0 1W * ? *)", "2024-08-31 00:00", "2024-09-02 00:00"),  # Sunday the 1st: Monday the 2nd
    ("cron(0 0 31W * ? *)", "2024-03-01 00:00", "2024-03-29 00:00"),  # Sunday the 31st: Friday the 29th
    ("cron(0 0 31W * ? *)", "2024-03-29 00:00", "2024-05-31 00:00"),  # April has no 31st
    # L and # in day-of-week
    ("cron(0 0 ? * L *)", "2024-05-01 00:00", "2024-05-04 00:00"),  # alone: Saturday
    ("cron(0 0 ? * 5L *)", "2024-02-01 00:00", "2024-02-29 00:00"),  # the last Thursday
    ("cron(0 0 ? * 5L *)", "2024-10-01 00:00", "2024-10-31 00:00"),  # the month's last day
    ("cron(0 0 ? * THUL *)", "2024-11-01 00:00", "2024-11-28 00:00"),
    ("cron(0 12 ? * 3#2 *)", "2024-05-01 00:00", "2024-05-14 12:00"),  # the second Tuesday
    ("cron(0 0 ? * MON#1 *)", "2024-05-31 00:00", "2024-06-03 00:00"),
    ("cron(0 0 ? * 6#5 *)", "2024-03-30 00:00", "2024-05-31 00:00"),  # April has four Fridays
    # years
    ("cron(0 0 1 1 ? 2030)", "2024-06-01 00:00", "2030-01-01 00:00"),
    ("cron(0 0 1 1 ? 2030)", "2030-01-01 00:00", None),
    ("cron(0 0 1 1 ? 2020)", "2024-06-01 00:00", None),
    ("cron(0 0 1 1 ? 2024/4)", "2024-06-01 00:00", "2028-01-01 00:00"),
    ("cron(59 23 31 12 ? 2199)", "2199-12-31 23:58", "2199-12-31 23:59"),
    ("cron(59 23 31 12 ? 2199)", "2199-12-31 23:59", None),
    ("cron( 0 10 * * ? * )", "2024-05-01 09:59", "2024-05-01 10:00"),  # spaces inside the parentheses
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT_TIMES)
def test_the_next_time_a_cron_names(expression: str, after: str, expected: str | None) -> None:
    assert parse_schedule(expression).next_after(at(after)) == (None if expected is None else at(expected))


def test_cron_counts_whole_minutes_in_utc() -> None:
    schedule = parse_schedule("cron(0 10 * * ? *)")
    assert schedule.next_after(at("2024-05-01 09:59") + timedelta(seconds=59.9)) == at("2024-05-01 10:00")
    assert schedule.next_after(at("2024-05-01 10:00") + timedelta(seconds=30)) == at("2024-05-02 10:00")
    in_prague = datetime(2024, 5, 1, 11, 59, tzinfo=timezone(timedelta(hours=2)))  # 09:59 UTC
    assert schedule.next_after(in_prague) == at("2024-05-01 10:00")
    assert schedule.next_after(datetime(2024, 5, 1, 9, 59)) == at("2024-05-01 10:00")  # naive: UTC


def test_a_rate_counts_from_the_moment_given() -> None:
    started = datetime(2024, 5, 1, 9, 59, 30, 250000, tzinfo=UTC)
    assert parse_schedule("rate(1 hour)") == RateSchedule(3600)
    assert parse_schedule("  rate(15 minutes) ").next_after(started) == started + timedelta(minutes=15)
    assert parse_schedule("rate(2 days)").next_after(started) == started + timedelta(days=2)


INVALID = [
    ("every day", "a rate(N minutes|hours|days) or cron(minutes hours day-of-month month day-of-week year)"),
    ("rate(5 minute)", "write rate(1 minute) for one, rate(N minutes) for more (EventBridge's spelling)"),
    ("rate(0 hours)", "the rate must be at least 1"),
    ("rate(1 week)", "a rate expression such as rate(15 minutes), rate(1 hour) or rate(1 day)"),
    ("cron(0 0 1 * ? *", "cron(): the closing parenthesis is missing"),
    ("cron(0 0 1 * ?)", "cron(): six fields (minutes hours day-of-month month day-of-week year), not 5"),
    ("cron(0 0 1 * ? * *)", "cron(): six fields (minutes hours day-of-month month day-of-week year), not 7"),
    ("cron(60 0 1 * ? *)", "cron(): minutes: 60 is not 0-59"),
    ("cron(0 24 1 * ? *)", "cron(): hours: 24 is not 0-23"),
    ("cron(0 0 32 * ? *)", "cron(): day-of-month: 32 is not 1-31"),
    ("cron(0 0 0 * ? *)", "cron(): day-of-month: 0 is not 1-31"),
    ("cron(0 0 1 13 ? *)", "cron(): month: 13 is not 1-12 or JAN-DEC"),
    ("cron(0 0 1 JANUARY ? *)", "cron(): month: JANUARY is not 1-12 or JAN-DEC"),
    ("cron(0 0 ? * 8 *)", "cron(): day-of-week: 8 is not 1-7 or SUN-SAT"),
    ("cron(0 0 ? * 0 *)", "cron(): day-of-week: 0 is not 1-7 or SUN-SAT"),
    ("cron(0 0 1 * ? 1969)", "cron(): year: 1969 is not 1970-2199"),
    ("cron(0 0 1 * ? 2200)", "cron(): year: 2200 is not 1970-2199"),
    ("cron(0 0 1,,2 * ? *)", "cron(): day-of-month: nothing is not 1-31"),
    ("cron(x 0 1 * ? *)", "cron(): minutes: X is not 0-59"),
    ("cron(0 0 * * * *)", "cron(): day-of-month or day-of-week must be ? (the days are named by the other one)"),
    ("cron(0 0 1 * MON *)", "cron(): day-of-month or day-of-week must be ? (the days are named by the other one)"),
    ("cron(0 0 ? * ? *)", "cron(): day-of-month and day-of-week cannot both be ?"),
    ("cron(? 0 1 * ? *)", "cron(): minutes: ? stands only alone, in day-of-month or day-of-week"),
    ("cron(0 0 1,? * ? *)", "cron(): day-of-month: ? stands only alone, in day-of-month or day-of-week"),
    ("cron(*/0 * * * ? *)", "cron(): minutes: /0: the increment must be 1-60"),
    ("cron(0 0 1 */13 ? *)", "cron(): month: /13: the increment must be 1-12"),
    ("cron(0 0 1 * ? 2030-2025)", "cron(): year: the range 2030-2025 runs backwards"),
    (
        "cron(0 0 1,15W * ? *)",
        "cron(): day-of-month: 1,15W: L and W stand alone (L, LW, 15W), not in a list, range or increment",
    ),
    (
        "cron(0 0 L-3 * ? *)",
        "cron(): day-of-month: L-3: L and W stand alone (L, LW, 15W), not in a list, range or increment",
    ),
    ("cron(0 0 32W * ? *)", "cron(): day-of-month: 32 is not 1-31"),
    (
        "cron(0 0 ? * 3#1,6#3 *)",
        "cron(): day-of-week: 3#1,6#3: L and # stand alone (L, 6L, 3#2), not in a list or range",
    ),
    ("cron(0 0 ? * 2-5L *)", "cron(): day-of-week: 2-5L: L and # stand alone (L, 6L, 3#2), not in a list or range"),
    ("cron(0 0 ? * 3#6 *)", "cron(): day-of-week: 3#6: the week after # must be 1-5"),
    ("cron(0 0 ? * 3#0 *)", "cron(): day-of-week: 3#0: the week after # must be 1-5"),
    ("cron(0 0 ? * 8#1 *)", "cron(): day-of-week: 8 is not 1-7 or SUN-SAT"),
    ("cron(0 0 ? * 9L *)", "cron(): day-of-week: 9 is not 1-7 or SUN-SAT"),
    # expressions that name no time at all
    ("cron(0 0 30 2 ? *)", "cron(): no day of 1970-2199 fits it (such as February 30)"),
    ("cron(0 0 29 2 ? 2100)", "cron(): no day of 1970-2199 fits it (such as February 30)"),  # 2100 is no leap year
    ("cron(0 0 31W 4,6 ? *)", "cron(): no day of 1970-2199 fits it (such as February 30)"),
]


@pytest.mark.parametrize(("expression", "message"), INVALID)
def test_a_wrong_expression_is_refused_saying_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_schedule(expression)
    assert str(refused.value).startswith(message)


def test_an_export_takes_rate_and_cron_and_refuses_naming_the_schedule() -> None:
    base = {"name": "nightly", "connector_id": "c", "datasets": ["contacts"]}
    assert (
        ExportIn.model_validate({**base, "schedule": " cron(0 2 ? * MON-FRI *) "}).schedule == "cron(0 2 ? * MON-FRI *)"
    )
    assert ExportIn.model_validate({**base, "schedule": "rate(1 day)"}).schedule == "rate(1 day)"
    with pytest.raises(ValidationError) as refused:
        ExportIn.model_validate({**base, "schedule": "cron(0 0 ? * 8 *)"})
    (error,) = refused.value.errors()
    assert error["loc"] == ("schedule",) and "cron(): day-of-week: 8 is not 1-7 or SUN-SAT" in error["msg"]


# The property check: random expressions, each generated with its own meaning (sets of values, a predicate
# for days) written out independently of the parser, against a matcher that walks the calendar minute by
# minute (skipping whole days that do not match).

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIRST_YEAR, LAST_YEAR = 2023, 2030
"""The moments checked, and the years an expression names (but for * and increments, which run on)."""


@dataclass(frozen=True)
class Generated:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day: Callable[[date], bool]

    def on(self, day: date) -> bool:
        return day.year in self.years and day.month in self.months and self.day(day)


def eventbridge_weekday(day: date) -> int:
    return day.isoweekday() % 7 + 1  # ISO: Monday 1 ... Sunday 7; EventBridge: Sunday 1 ... Saturday 7


def days_of_month(day: date) -> list[date]:
    return [day.replace(day=n) for n in range(1, calendar.monthrange(day.year, day.month)[1] + 1)]


@st.composite
def term(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[str, set[int]]:
    def spell(value: int) -> str:
        by_name = bool(names) and draw(st.booleans())
        return names[value - low] if by_name else str(value)

    first, last = draw(st.integers(low, high)), draw(st.integers(low, high))
    step = draw(st.integers(1, high - low + 1))
    walk = list(range(first, high + 1)) + list(range(low, first))  # from `first`, wrapping past the end
    walk = walk[: walk.index(last) + 1]
    kind = draw(st.sampled_from(["*", "value", "range", "range/step", "value/step", "*/step"]))
    if kind == "*":
        return "*", set(range(low, high + 1))
    if kind == "value":
        return spell(first), {first}
    if kind == "range":
        return f"{spell(first)}-{spell(last)}", set(walk)
    if kind == "range/step":
        return f"{spell(first)}-{spell(last)}/{step}", set(walk[::step])
    if kind == "value/step":
        return f"{spell(first)}/{step}", set(range(first, high + 1, step))
    return f"*/{step}", set(range(low, high + 1, step))


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...] = ()) -> tuple[str, frozenset[int]]:
    terms = draw(st.lists(term(low, high, names), min_size=1, max_size=3))
    return ",".join(text for text, _ in terms), frozenset().union(*(values for _, values in terms))


@st.composite
def years(draw: st.DrawFn) -> tuple[str, frozenset[int]]:
    if draw(st.booleans()):
        return "*", frozenset(range(1970, 2200))
    first = draw(st.integers(FIRST_YEAR, LAST_YEAR))
    last = draw(st.integers(first, LAST_YEAR))
    step = draw(st.integers(1, 3))
    return draw(
        st.sampled_from(
            [
                (str(first), frozenset({first})),
                (f"{first}-{last}", frozenset(range(first, last + 1))),
                (f"{first}/{step}", frozenset(range(first, 2200, step))),
            ]
        )
    )


def nearest_weekday(n: int | None) -> Callable[[date], bool]:
    def matches(day: date) -> bool:
        month = days_of_month(day)
        target = len(month) if n is None else n
        if target > len(month):
            return False
        weekdays = [d for d in month if d.weekday() < 5]
        return day == min(weekdays, key=lambda d: abs(d.day - target))

    return matches


DAY_KINDS = ["days", "L", "LW", "nW", "weekdays", "weekday L", "last weekday", "nth weekday"]


@st.composite
def days(draw: st.DrawFn, kind: str) -> tuple[str, str, Callable[[date], bool]]:
    """day-of-month and day-of-week, one of them ?, and which days they name."""
    if kind == "days":
        text, values = draw(field(1, 31))
        return text, "?", lambda day: day.day in values
    if kind == "L":
        return "L", "?", lambda day: (day + timedelta(days=1)).month != day.month
    if kind == "LW":
        return "LW", "?", nearest_weekday(None)
    if kind == "nW":
        n = draw(st.sampled_from(range(1, 32)))
        return f"{n}W", "?", nearest_weekday(n)
    if kind == "weekdays":
        text, values = draw(field(1, 7, WEEKDAYS))
        return "?", text, lambda day: eventbridge_weekday(day) in values
    if kind == "weekday L":
        return "?", "L", lambda day: day.weekday() == 5
    weekday = draw(st.sampled_from(range(1, 8)))
    spelled = WEEKDAYS[weekday - 1] if draw(st.booleans()) else str(weekday)
    if kind == "last weekday":
        return (
            "?",
            f"{spelled}L",
            lambda day: eventbridge_weekday(day) == weekday and (day + timedelta(days=7)).month != day.month,
        )
    week = draw(st.sampled_from(range(1, 6)))
    return "?", f"{spelled}#{week}", lambda day: eventbridge_weekday(day) == weekday and (day.day - 1) // 7 + 1 == week


@st.composite
def expressions(draw: st.DrawFn, day_kind: str) -> Generated:
    minutes, minute_values = draw(field(0, 59))
    hours, hour_values = draw(field(0, 23))
    day_of_month, day_of_week, day = draw(days(day_kind))
    # every month half the time, as every year: else most next times fall in the few months named
    if draw(st.booleans()):
        month, month_values = "*", frozenset(range(1, 13))
    else:
        month, month_values = draw(field(1, 12, MONTHS))
    year, year_values = draw(years())
    text = f"cron({minutes} {hours} {day_of_month} {month} {day_of_week} {year})"
    return Generated(text, minute_values, hour_values, month_values, year_values, day)


def brute_force_next(expression: Generated, after: datetime, until: datetime) -> datetime | None:
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < until:
        if not expression.on(moment.date()):  # then none of its minutes matches: on to the next day
            moment = datetime.combine(moment.date() + timedelta(days=1), time(), UTC)
        elif moment.hour in expression.hours and moment.minute in expression.minutes:
            return moment
        else:
            moment += timedelta(minutes=1)
    return None


WINDOW = timedelta(days=800)


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """Any minute of the years checked, or, as often, one of a month's last days (where L, W and #5 fall)."""
    anywhere = draw(st.datetimes(datetime(FIRST_YEAR, 1, 1), datetime(LAST_YEAR, 12, 31), timezones=st.just(UTC)))
    if draw(st.booleans()):
        return anywhere
    length = calendar.monthrange(anywhere.year, anywhere.month)[1]
    return anywhere.replace(day=draw(st.integers(length - 7, length)))


# Each kind of day rule on its own, so that none goes unchecked by chance.
@pytest.mark.parametrize("day_kind", DAY_KINDS)
@settings(max_examples=150, deadline=None)
@given(data=st.data(), after=moments())
def test_next_after_agrees_with_a_minute_by_minute_matcher(day_kind: str, data: st.DataObject, after: datetime) -> None:
    expression = data.draw(expressions(day_kind), label="expression")
    try:
        schedule = parse_schedule(expression.text)
    except ValueError as refused:
        # only an expression that names no day at all is refused, and only if no year of it has one
        assert "no day of 1970-2199 fits it" in str(refused), expression.text
        named_years = [year for year in expression.years if year <= LAST_YEAR + 1]
        first_days = [date(year, month, 1) for year in named_years for month in range(1, 13)]
        assert not any(expression.on(day) for first in first_days for day in days_of_month(first))
        return
    expected = brute_force_next(expression, after, after + WINDOW)
    found = schedule.next_after(after)
    if expected is None:
        assert found is None or found >= after + WINDOW, expression.text
    else:
        assert found == expected, expression.text
