"""When a Scheduler schedule fires (pure functions over a schedule's API fields).

* ``at(…)`` fires once at that wall time in ``ScheduleExpressionTimezone``
  (``StartDate``/``EndDate`` are ignored for one-time schedules).
* ``rate(…)`` fires at ``StartDate`` (or at creation when there is none: "If you
  do not provide a StartDate for a rate-based schedule, your schedule starts
  invoking the target immediately", Scheduler User Guide, schedule types) and
  then every period.
* ``cron(…)`` fires at each matching wall time in the time zone, not before
  ``StartDate``.
* Nothing fires after ``EndDate``.

``FlexibleTimeWindow`` in ``FLEXIBLE`` mode moves the actual invocation to a
random point within ``MaximumWindowInMinutes`` after the nominal time.
"""

from __future__ import annotations

import random
from typing import Any

from cloudlet.services.events.schedule import (
    At,
    Cron,
    Expression,
    Rate,
    from_epoch,
    parse_expression,
    zone_named,
)


def parse(body: dict[str, Any]) -> Expression:
    return parse_expression(body["ScheduleExpression"], allow_at=True)


def next_nominal(body: dict[str, Any], after: float, created: float, *, first: bool = False) -> float | None:
    """The next nominal firing strictly after ``after`` (at or after it when ``first``)."""
    expression = parse(body)
    zone = zone_named(body.get("ScheduleExpressionTimezone"))
    if isinstance(expression, At):
        moment = expression.when(zone).timestamp()
        return moment if first or moment > after else None
    start = body.get("StartDate")
    end = body.get("EndDate")
    result: float | None
    if isinstance(expression, Rate):
        anchor = float(start) if start is not None else created
        if after < anchor or (first and after <= anchor):
            result = anchor
        else:
            result = expression.next_after(after, anchor)
    else:
        assert isinstance(expression, Cron)
        floor = after - 1e-6 if first else after
        if start is not None and float(start) > floor:
            floor = float(start) - 1e-6
        found = expression.next_after(from_epoch(floor), zone)
        result = found.timestamp() if found is not None else None
    if result is not None and end is not None and result > float(end):
        return None
    return result


def fire_time(body: dict[str, Any], nominal: float, rng: random.Random | None = None) -> float:
    """When to invoke for a nominal time: later by a random part of a flexible window."""
    window = body.get("FlexibleTimeWindow") or {}
    if window.get("Mode") == "FLEXIBLE" and window.get("MaximumWindowInMinutes"):
        return nominal + (rng or random).uniform(0, float(window["MaximumWindowInMinutes"]) * 60)
    return nominal


def is_one_time(body: dict[str, Any]) -> bool:
    return isinstance(parse(body), At)
