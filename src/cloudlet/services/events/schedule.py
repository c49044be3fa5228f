"""Schedule expressions of EventBridge rules and EventBridge Scheduler (pure, no I/O).

* ``rate(N unit)``: a positive integer and ``minute|hour|day`` — singular when
  N is 1, plural otherwise (``rate(1 minutes)`` and ``rate(5 minute)`` are refused,
  as AWS refuses them).
* ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``: AWS's six
  fields.  ``, - * /`` everywhere; ``?`` in one of the two day fields (exactly
  one of them must be ``?``); ``L`` and ``W`` (``15W``, ``LW``) in
  day-of-month; ``L`` (``6L``: last Friday) and ``#`` (``2#1``: first Monday)
  in day-of-week, where 1 is Sunday; month and weekday names (``JAN``,
  ``MON-FRI``).
* ``at(yyyy-mm-ddThh:mm:ss)`` (Scheduler only): one time.

``Cron.next_after`` evaluates the fields in a time zone (UTC for rules).
Daylight saving time follows EventBridge Scheduler's documented behaviour: a
local time skipped by the spring change does not fire, and a local time that
occurs twice in autumn fires once (at its first occurrence).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
MONTHS = {k.upper(): v for k, v in MONTHS.items()}
WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
MAX_YEAR = 2199
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    """A schedule expression AWS would refuse."""


# -- rate ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # minute | hour | day

    @property
    def seconds(self) -> int:
        return self.value * UNIT_SECONDS[self.unit]

    def next_after(self, after: float, anchor: float) -> float:
        """The first time ``anchor + k * period`` (k >= 1) strictly after ``after`` (epoch seconds)."""
        period = self.seconds
        if after < anchor:
            return anchor + period
        k = int((after - anchor) // period) + 1
        return anchor + k * period


_RATE = re.compile(r"rate\(\s*(\d+)\s+([a-z]+)\s*\)")


def parse_rate(text: str) -> Rate:
    m = _RATE.fullmatch(text.strip())
    if not m:
        raise ScheduleError(f"invalid rate expression {text!r}")
    value, unit = int(m.group(1)), m.group(2)
    base = unit[:-1] if unit.endswith("s") else unit
    if base not in UNIT_SECONDS or value < 1:
        raise ScheduleError(f"invalid rate expression {text!r}")
    if (value == 1) != (unit == base):
        raise ScheduleError(f"invalid rate expression {text!r}: use '{base}' for 1 and '{base}s' otherwise")
    return Rate(value, base)


# -- at ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class At:
    moment: dt.datetime  # naive local date-time, evaluated in the schedule's time zone

    def when(self, zone: dt.tzinfo) -> dt.datetime:
        return self.moment.replace(tzinfo=zone)


_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")


def parse_at(text: str) -> At:
    m = _AT.fullmatch(text.strip())
    if not m:
        raise ScheduleError(f"invalid at expression {text!r}")
    try:
        return At(dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise ScheduleError(f"invalid at expression {text!r}") from None


# -- cron ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DaySpec:
    """Day-of-month or day-of-week selection for one month."""

    any: bool = False  # '?' or '*'
    values: frozenset[int] = frozenset()
    last: bool = False  # 'L' in day-of-month
    last_weekday: bool = False  # 'LW'
    nearest_weekday: int | None = None  # 'nW'
    last_dow: int | None = None  # 'nL' in day-of-week
    nth_dow: tuple[int, int] | None = None  # 'd#n' in day-of-week


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: DaySpec
    months: frozenset[int]
    dow: DaySpec
    years: frozenset[int]
    dom_question: bool
    dow_question: bool

    def days(self, year: int, month: int) -> list[int]:
        """Days of ``month`` selected by the two day fields."""
        length = calendar.monthrange(year, month)[1]
        if self.dow_question:
            return sorted(_dom_days(self.dom, year, month, length))
        return sorted(_dow_days(self.dow, year, month, length))

    def next_after(self, after: dt.datetime, zone: dt.tzinfo = UTC) -> dt.datetime | None:
        """The first firing strictly after ``after`` (aware), as an aware UTC datetime; None if none remain."""
        after_utc = after.astimezone(UTC)
        # Start a little early in local time so a repeated (autumn) hour is not skipped over.
        local = (after_utc.astimezone(zone).replace(tzinfo=None) - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
        for year in sorted(y for y in self.years if y >= local.year):
            for month in sorted(self.months):
                if (year, month) < (local.year, local.month):
                    continue
                for day in self.days(year, month):
                    if (year, month, day) < (local.year, local.month, local.day):
                        continue
                    for hour in sorted(self.hours):
                        for minute in sorted(self.minutes):
                            naive = dt.datetime(year, month, day, hour, minute)
                            if naive < local:
                                continue
                            moment = _localize(naive, zone)
                            if moment is not None and moment > after_utc:
                                return moment
        return None


def _localize(naive: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """UTC instant of a local wall time; None when the time does not exist (spring gap)."""
    aware = naive.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return instant


def _weekday(year: int, month: int, day: int) -> int:
    """AWS day-of-week number: 1 = Sunday … 7 = Saturday."""
    return (dt.date(year, month, day).weekday() + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    day = min(day, length)
    wd = dt.date(year, month, day).weekday()  # Mon=0 … Sun=6
    if wd == 5:  # Saturday → Friday, or Monday if Friday is in the previous month
        return day - 1 if day > 1 else day + 2
    if wd == 6:  # Sunday → Monday, or Friday if Monday is in the next month
        return day + 1 if day < length else day - 2
    return day


def _dom_days(spec: DaySpec, year: int, month: int, length: int) -> set[int]:
    if spec.any:
        return set(range(1, length + 1))
    days = {d for d in spec.values if d <= length}
    if spec.last:
        days.add(length)
    if spec.last_weekday:
        days.add(_nearest_weekday(year, month, length, length))
    if spec.nearest_weekday is not None and spec.nearest_weekday <= length:
        days.add(_nearest_weekday(year, month, spec.nearest_weekday, length))
    return days


def _dow_days(spec: DaySpec, year: int, month: int, length: int) -> set[int]:
    if spec.any:
        return set(range(1, length + 1))
    days = {d for d in range(1, length + 1) if _weekday(year, month, d) in spec.values}
    if spec.last_dow is not None:
        last = max(d for d in range(1, length + 1) if _weekday(year, month, d) == spec.last_dow)
        days.add(last)
    if spec.nth_dow is not None:
        weekday, nth = spec.nth_dow
        matching = [d for d in range(1, length + 1) if _weekday(year, month, d) == weekday]
        if nth <= len(matching):
            days.add(matching[nth - 1])
    return days


def _number(token: str, low: int, high: int, names: dict[str, int] | None) -> int:
    key = token.upper()
    if names and key in names:
        return names[key]
    if not token.isdigit():
        raise ScheduleError(f"invalid cron value {token!r}")
    value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"cron value {value} out of range {low}-{high}")
    return value


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """Values of a plain cron field: ``*``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n``, lists."""
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError("empty cron list element")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"invalid cron step {part!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _number(a, low, high, names), _number(b, low, high, names)
        else:
            start = _number(base, low, high, names)
            end = high if step_text else start
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a wrapping range such as FRI-MON or NOV-FEB
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
    return frozenset(values)


def _dom(text: str) -> DaySpec:
    if text in ("?", "*"):
        return DaySpec(any=True)
    if text == "L":
        return DaySpec(last=True)
    if text == "LW":
        return DaySpec(last_weekday=True)
    m = re.fullmatch(r"(\d{1,2})W", text)
    if m:
        return DaySpec(nearest_weekday=_number(m.group(1), 1, 31, None))
    return DaySpec(values=_field(text, 1, 31))


def _dow(text: str) -> DaySpec:
    if text in ("?", "*"):
        return DaySpec(any=True)
    if text == "L":
        return DaySpec(values=frozenset({7}))
    m = re.fullmatch(r"([A-Za-z]{3}|\d)L", text)
    if m:
        return DaySpec(last_dow=_number(m.group(1), 1, 7, WEEKDAYS))
    m = re.fullmatch(r"([A-Za-z]{3}|\d)#(\d)", text)
    if m:
        nth = int(m.group(2))
        if not 1 <= nth <= 5:
            raise ScheduleError(f"invalid '#' occurrence in {text!r}")
        return DaySpec(nth_dow=(_number(m.group(1), 1, 7, WEEKDAYS), nth))
    return DaySpec(values=_field(text, 1, 7, WEEKDAYS))


_CRON = re.compile(r"cron\((.*)\)")


def parse_cron(text: str) -> Cron:
    m = _CRON.fullmatch(text.strip())
    if not m:
        raise ScheduleError(f"invalid cron expression {text!r}")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise ScheduleError("a cron expression has exactly six fields")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError("exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minute, 0, 59),
        hours=_field(hour, 0, 23),
        dom=_dom(dom),
        months=_field(month, 1, 12, MONTHS),
        dow=_dow(dow),
        years=_field(year, 1970, MAX_YEAR),
        dom_question=dom == "?",
        dow_question=dow == "?",
    )


Expression = Rate | Cron | At


def parse_expression(text: str, *, allow_at: bool = False) -> Expression:
    """A parsed ``rate()``, ``cron()`` (or, for Scheduler, ``at()``) expression."""
    text = text.strip()
    if text.startswith("rate("):
        return parse_rate(text)
    if text.startswith("cron("):
        return parse_cron(text)
    if allow_at and text.startswith("at("):
        return parse_at(text)
    raise ScheduleError(f"invalid schedule expression {text!r}")


def zone_named(name: str | None) -> dt.tzinfo:
    """The IANA time zone ``name`` (UTC when empty); ``ScheduleError`` if unknown."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"invalid time zone {name!r}") from None


def from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, UTC)
