"""Schedule expressions: rate's singular/plural rule, AWS's six-field cron (L, W, #, names), time zones and DST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.events.schedule import (
    At,
    Cron,
    Rate,
    ScheduleError,
    parse_cron,
    parse_expression,
    parse_rate,
    zone_named,
)
from cloudlet.services.scheduler import timing

UTC = dt.UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def firings(expression: str, start: dt.datetime, count: int, zone: dt.tzinfo = UTC) -> list[dt.datetime]:
    cron = parse_cron(expression)
    out: list[dt.datetime] = []
    moment = start
    for _ in range(count):
        found = cron.next_after(moment, zone)
        assert found is not None
        out.append(found)
        moment = found
    return out


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600), ("rate(2 hours)", 7200), ("rate(1 day)", 86400), ("rate(7 days)", 604800)],
)
def test_rate_units(text: str, seconds: int) -> None:
    assert parse_rate(text).seconds == seconds


@pytest.mark.parametrize(
    "text",
    ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(-1 minutes)", "rate(1 second)", "rate(1.5 hours)", "rate(minutes)", "rate(2 weeks)"],
)
def test_rate_rejects_what_aws_rejects(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_rate(text)


def test_rate_fires_relative_to_its_anchor() -> None:
    rate = Rate(1, "minute")
    assert rate.next_after(1000.0, 1000.0) == 1060.0
    assert rate.next_after(1059.9, 1000.0) == 1060.0
    assert rate.next_after(1060.0, 1000.0) == 1120.0
    assert rate.next_after(500.0, 1000.0) == 1060.0


def test_cron_every_fifteen_minutes() -> None:
    assert firings("cron(0/15 * * * ? *)", utc(2026, 1, 1, 10, 7), 3) == [
        utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 10, 45)
    ]


def test_cron_daily_noon_and_weekdays_by_name() -> None:
    assert firings("cron(0 12 * * ? *)", utc(2026, 1, 1, 12, 0), 2) == [utc(2026, 1, 2, 12), utc(2026, 1, 3, 12)]
    # 2026-01-02 is a Friday: MON-FRI skips the weekend.
    assert firings("cron(0 18 ? * MON-FRI *)", utc(2026, 1, 2, 19), 2) == [utc(2026, 1, 5, 18), utc(2026, 1, 6, 18)]
    assert firings("cron(0 18 ? * 2-6 *)", utc(2026, 1, 2, 19), 1) == [utc(2026, 1, 5, 18)]


def test_cron_day_of_week_one_is_sunday() -> None:
    (found,) = firings("cron(0 0 ? * 1 *)", utc(2026, 1, 1), 1)
    assert found.weekday() == 6  # Sunday


def test_cron_last_day_and_last_weekday_of_month() -> None:
    assert firings("cron(0 0 L * ? *)", utc(2026, 1, 15), 3) == [utc(2026, 1, 31), utc(2026, 2, 28), utc(2026, 3, 31)]
    assert firings("cron(0 0 L 2 ? *)", utc(2027, 6, 1), 2) == [utc(2028, 2, 29), utc(2029, 2, 28)]
    # January 2026 ends on a Saturday, May 2026 on a Sunday.
    assert firings("cron(0 0 LW 1 ? 2026)", utc(2026, 1, 1), 1) == [utc(2026, 1, 30)]
    assert firings("cron(0 0 LW 5 ? 2026)", utc(2026, 1, 1), 1) == [utc(2026, 5, 29)]


def test_cron_nearest_weekday() -> None:
    # 2026-02-15 is a Sunday → Monday 16th; 2026-08-01 is a Saturday → Monday 3rd (stays in the month).
    assert firings("cron(0 9 15W 2 ? 2026)", utc(2026, 1, 1), 1) == [utc(2026, 2, 16, 9)]
    assert firings("cron(0 9 1W 8 ? 2026)", utc(2026, 1, 1), 1) == [utc(2026, 8, 3, 9)]
    # 2026-03-14 is a Saturday → Friday 13th.
    assert firings("cron(0 9 14W 3 ? 2026)", utc(2026, 1, 1), 1) == [utc(2026, 3, 13, 9)]


def test_cron_last_and_nth_weekday() -> None:
    # Last Friday of each month, and the first Monday.
    assert firings("cron(0 10 ? * 6L *)", utc(2026, 11, 1), 2) == [utc(2026, 11, 27, 10), utc(2026, 12, 25, 10)]
    assert firings("cron(0 9 ? * 2#1 *)", utc(2026, 11, 3), 2) == [utc(2026, 12, 7, 9), utc(2027, 1, 4, 9)]
    assert firings("cron(0 9 ? * MON#1 *)", utc(2026, 11, 3), 1) == [utc(2026, 12, 7, 9)]
    # A fifth Tuesday only exists in some months.
    fifth = firings("cron(0 0 ? * 3#5 2026)", utc(2026, 1, 1), 2)
    assert [(d.month, d.day) for d in fifth] == [(3, 31), (6, 30)]


def test_cron_lists_ranges_steps_and_years() -> None:
    assert firings("cron(5,35 8-9 1 JAN,JUL ? 2027)", utc(2026, 1, 1), 5) == [
        utc(2027, 1, 1, 8, 5), utc(2027, 1, 1, 8, 35), utc(2027, 1, 1, 9, 5), utc(2027, 1, 1, 9, 35), utc(2027, 7, 1, 8, 5)
    ]
    assert parse_cron("cron(0 0 1 1 ? 2030)").next_after(utc(2030, 6, 1)) is None
    assert parse_cron("cron(0 0 1 */3 ? *)").months == frozenset({1, 4, 7, 10})
    assert parse_cron("cron(0 0 ? * FRI-MON *)").dow.values == frozenset({6, 7, 1, 2})


@pytest.mark.parametrize(
    "text",
    [
        "cron(0 12 * * * *)",  # both day fields set
        "cron(0 12 ? * ? *)",  # both '?'
        "cron(0 12 * * ?)",  # five fields
        "cron(60 12 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 32 * ? *)",
        "cron(0 0 ? 13 * *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 ? * 2#6 *)",
        "cron(0 0 1 * ? 1969)",
        "cron(0 0 1 FOO ? *)",
        "cron(0/0 * * * ? *)",
        "daily",
        "at(2026-01-01T00:00:00)",
    ],
)
def test_cron_rejects_what_aws_rejects(text: str) -> None:
    with pytest.raises(ScheduleError):
        parse_expression(text)


def test_at_is_scheduler_only() -> None:
    parsed = parse_expression("at(2026-03-01T09:30:00)", allow_at=True)
    assert isinstance(parsed, At)
    assert parsed.when(ZoneInfo("Europe/Paris")) == dt.datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    with pytest.raises(ScheduleError):
        parse_expression("at(2026-02-30T09:30:00)", allow_at=True)


# -- time zones and daylight saving time ---------------------------------------------------


def test_cron_in_a_time_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    assert firings("cron(0 9 * * ? *)", utc(2026, 1, 10), 1, paris) == [utc(2026, 1, 10, 8)]
    assert firings("cron(0 9 * * ? *)", utc(2026, 7, 10), 1, paris) == [utc(2026, 7, 10, 7)]


def test_spring_forward_skips_the_missing_time() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
    ny = ZoneInfo("America/New_York")
    got = firings("cron(30 2 * * ? *)", utc(2026, 3, 7, 12), 2, ny)
    assert [g.astimezone(ny).replace(tzinfo=None) for g in got] == [dt.datetime(2026, 3, 9, 2, 30), dt.datetime(2026, 3, 10, 2, 30)]


def test_fall_back_fires_a_repeated_time_once() -> None:
    # 2026-11-01: New York clocks go from 02:00 back to 01:00; 01:30 happens twice but fires once.
    ny = ZoneInfo("America/New_York")
    got = firings("cron(30 1 * * ? *)", utc(2026, 10, 31, 12), 3, ny)
    assert got == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]
    hourly = firings("cron(0 * * * ? *)", utc(2026, 11, 1, 4, 30), 3, ny)
    # 01:00 EDT (05:00Z), then 02:00 EST (07:00Z): the second 01:00 (06:00Z) is skipped.
    assert hourly == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)]


def test_zone_names() -> None:
    assert zone_named(None) is UTC
    assert zone_named("UTC") is UTC
    with pytest.raises(ScheduleError):
        zone_named("Mars/Olympus")


@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_daily_cron_is_next_matching_minute(minute: int, hour: int, start: dt.datetime) -> None:
    cron: Cron = parse_cron(f"cron({minute} {hour} * * ? *)")
    found = cron.next_after(start)
    assert found is not None and found > start
    assert (found.hour, found.minute, found.second) == (hour, minute, 0)
    assert found - start <= dt.timedelta(days=1)


# -- Scheduler timing ------------------------------------------------------------------------


def test_scheduler_rate_starts_at_creation_or_start_date() -> None:
    body = {"ScheduleExpression": "rate(5 minutes)"}
    assert timing.next_nominal(body, 1000.0, 1000.0, first=True) == 1000.0
    assert timing.next_nominal(body, 1000.0, 1000.0) == 1300.0
    with_start = {**body, "StartDate": 5000.0, "EndDate": 5600.0}
    assert timing.next_nominal(with_start, 1000.0, 1000.0, first=True) == 5000.0
    assert timing.next_nominal(with_start, 5300.0, 1000.0) == 5600.0
    assert timing.next_nominal(with_start, 5600.0, 1000.0) is None


def test_scheduler_at_in_a_zone_and_cron_after_start_date() -> None:
    body = {"ScheduleExpression": "at(2026-07-01T12:00:00)", "ScheduleExpressionTimezone": "Asia/Tokyo"}
    expected = utc(2026, 7, 1, 3).timestamp()
    assert timing.next_nominal(body, 0.0, 0.0, first=True) == expected
    assert timing.next_nominal(body, expected, 0.0) is None
    cron = {"ScheduleExpression": "cron(0 9 * * ? *)", "StartDate": utc(2026, 5, 1, 12).timestamp()}
    assert timing.next_nominal(cron, utc(2026, 1, 1).timestamp(), 0.0, first=True) == utc(2026, 5, 2, 9).timestamp()


def test_flexible_window_picks_a_time_inside_the_window() -> None:
    import random

    body = {"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}}
    rng = random.Random(7)
    times = [timing.fire_time(body, 1000.0, rng) for _ in range(200)]
    assert all(1000.0 <= t <= 1600.0 for t in times)
    assert max(times) - min(times) > 300
    assert timing.fire_time({"FlexibleTimeWindow": {"Mode": "OFF"}}, 1000.0) == 1000.0
