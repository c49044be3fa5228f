"""The EventBridge Scheduler provider: schedules, schedule groups, and the loop that fires them.

One timer task sleeps until the earliest ``next_fire`` of any enabled
schedule (no polling; ``wake_timer()`` cuts the sleep short when schedules
change, and tests inject ``clock`` and call ``wake_timer()`` after moving it).
A firing writes the invocation into the outbox and advances the schedule in
one transaction, so an invocation is neither lost nor doubled by a crash
between the two.

Missed firings after a restart.  AWS's documentation does not describe a
scheduler outage, so this is our reading of it:
Scheduler is a managed service that is never "down", so the closest AWS
behaviour is that of an invocation that could not be made on time.  An
invocation is kept and retried until ``RetryPolicy.MaximumEventAgeInSeconds``
(default 86,400 s) after its scheduled time, then dropped ("The maximum amount
of time, in seconds, to continue to make retry attempts", API reference,
RetryPolicy: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html).
Hence:

* a one-time ``at()`` schedule whose time passed while the server was down
  fires once at start-up if its scheduled time is within
  ``MaximumEventAgeInSeconds``; otherwise it is dropped (and, with
  ``ActionAfterCompletion=DELETE``, deleted);
* by the same rule an ``at()`` time already past when the schedule is created
  (or updated) fires at once, within ``MaximumEventAgeInSeconds``;
* a recurring (``rate``/``cron``) schedule does not backfill: the firings it
  missed are skipped and it resumes at its next time after now — AWS
  schedules invoke "with 60 second precision" at each occurrence
  (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html),
  and nothing in Scheduler replays past occurrences.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.events import Outbox, timer_loop
from cloudlet.services.events.schedule import ScheduleError, parse_expression, zone_named
from cloudlet.services.events.targets import DEFAULT_MAX_AGE_S
from cloudlet.services.scheduler import store, timing
from cloudlet.services.scheduler.delivery import Invoker, Sender
from cloudlet.services.scheduler.errors import Conflict, ResourceNotFound, ValidationException
from cloudlet.services.scheduler.store import Group, Schedule
from cloudlet.storage import Database

log = logging.getLogger(__name__)

DEFAULT_GROUP = "default"
IDLE_SLEEP_S = 300.0
FIELDS = (
    "ScheduleExpression",
    "StartDate",
    "EndDate",
    "Description",
    "ScheduleExpressionTimezone",
    "State",
    "KmsKeyArn",
    "Target",
    "FlexibleTimeWindow",
    "ActionAfterCompletion",
)


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _page(items: list[Any], token: Any, limit: Any) -> tuple[list[Any], str | None]:
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationException("Invalid NextToken.") from None
    size = int(limit) if limit else 100
    more = start + size < len(items)
    return items[start : start + size], (str(start + size) if more else None)


class SchedulerProvider:
    """Amazon EventBridge Scheduler (rest-json)."""

    service_name = "scheduler"

    def __init__(
        self,
        db: Database,
        hub: Any,
        *,
        clock: Callable[[], float] = time.time,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
        sender: Sender | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.clock = clock
        self.rng = rng or random.Random()
        self.groups: dict[str, Group] = {}
        self.schedules: dict[str, Schedule] = {}
        self.invoker = Invoker(hub, db, clock=clock, retry_base_s=retry_base_s, retry_cap_s=retry_cap_s, sender=sender)
        self.outbox = Outbox(db, self.invoker.deliver)
        self.invoker.outbox = self.outbox
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self.fired = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        for row in await self.db.fetchall("SELECT * FROM schedule_groups"):
            group = Group.from_row(row)
            self.groups[group.arn] = group
        for row in await self.db.fetchall("SELECT * FROM schedules"):
            schedule = Schedule.from_row(row)
            self.schedules[schedule.arn] = schedule
        await self._skip_missed()
        self._wake = asyncio.Event()
        await self.outbox.start()
        self._timer = asyncio.create_task(self._run_timer(), name="scheduler:timer")

    async def stop(self) -> None:
        task, self._timer = self._timer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbox.stop()

    def statistics(self) -> dict[str, int]:
        """Counts for the console and metrics (pending invocations: ``outbox.pending()``)."""
        return {
            "groups": len(self.groups),
            "schedules": len(self.schedules),
            "fired": self.fired,
            "invoked": self.invoker.invoked,
            "dead_lettered": self.invoker.dead_lettered,
        }

    def wake_timer(self) -> None:
        self._wake.set()

    # -- names ---------------------------------------------------------------------------

    @staticmethod
    def group_arn(region: str, account: str, name: str) -> str:
        return f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"

    @staticmethod
    def schedule_arn(region: str, account: str, group: str, name: str) -> str:
        return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"

    def group(self, ctx: RequestContext, name: Any) -> Group:
        name = name or DEFAULT_GROUP
        arn = self.group_arn(ctx.region, ctx.account_id, name)
        group = self.groups.get(arn)
        if group is None and name == DEFAULT_GROUP:
            group = Group(arn, ctx.account_id, ctx.region, DEFAULT_GROUP, self.clock())
            self.groups[arn] = group
        if group is None:
            raise ResourceNotFound(f"Schedule group {name} does not exist.")
        return group

    def schedule(self, ctx: RequestContext, params: dict[str, Any]) -> Schedule:
        group = self.group(ctx, params.get("GroupName"))
        found = self.schedules.get(self.schedule_arn(ctx.region, ctx.account_id, group.name, params["Name"]))
        if found is None:
            raise ResourceNotFound(f"Schedule {params['Name']} does not exist.")
        return found

    # -- schedules -----------------------------------------------------------------------

    def check(self, body: dict[str, Any]) -> None:
        expression = body["ScheduleExpression"]
        try:
            parse_expression(expression, allow_at=True)
        except ScheduleError:
            raise ValidationException(f"Invalid Schedule Expression {expression}.") from None
        try:
            zone_named(body.get("ScheduleExpressionTimezone"))
        except ScheduleError:
            raise ValidationException(
                f"Invalid ScheduleExpressionTimezone {body.get('ScheduleExpressionTimezone')}."
            ) from None
        window = body.get("FlexibleTimeWindow") or {}
        mode = window.get("Mode")
        if mode == "FLEXIBLE" and not window.get("MaximumWindowInMinutes"):
            raise ValidationException("MaximumWindowInMinutes is required when Mode is FLEXIBLE.")
        if mode == "OFF" and window.get("MaximumWindowInMinutes") is not None:
            raise ValidationException("MaximumWindowInMinutes must not be set when Mode is OFF.")
        start, end = body.get("StartDate"), body.get("EndDate")
        if start is not None and end is not None and start >= end:
            raise ValidationException("The StartDate must come before the EndDate.")
        if end is not None and end <= self.clock() and not timing.is_one_time(body):
            raise ValidationException("The EndDate must be in the future.")
        target = body["Target"]
        if not str(target.get("Arn", "")).startswith("arn:"):
            raise ValidationException(f"Invalid Target Arn {target.get('Arn')}.")

    def body_of(self, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {k: params[k] for k in FIELDS if params.get(k) is not None}
        for key in ("StartDate", "EndDate"):
            if key in body:
                body[key] = _epoch(body[key])
        body.setdefault("State", "ENABLED")
        body.setdefault("ActionAfterCompletion", "NONE")
        target = dict(body["Target"])
        retry = dict(target.get("RetryPolicy") or {})
        retry.setdefault("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)
        retry.setdefault("MaximumRetryAttempts", 185)
        target["RetryPolicy"] = retry
        body["Target"] = target
        return body

    def plan(self, schedule: Schedule, after: float, *, first: bool) -> None:
        """Set the schedule's next nominal and actual firing times after ``after``."""
        if not schedule.enabled:
            schedule.next_nominal = schedule.next_fire = None
            return
        nominal = timing.next_nominal(schedule.body, after, schedule.created, first=first)
        schedule.next_nominal = nominal
        schedule.next_fire = None if nominal is None else timing.fire_time(schedule.body, nominal, self.rng)

    async def CreateSchedule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self.group(ctx, params.get("GroupName"))
        arn = self.schedule_arn(ctx.region, ctx.account_id, group.name, params["Name"])
        if arn in self.schedules:
            raise Conflict(f"Schedule {params['Name']} already exists.")
        body = self.body_of(params)
        self.check(body)
        now = self.clock()
        schedule = Schedule(arn, ctx.account_id, ctx.region, group.name, params["Name"], body, now, now)
        self.plan(schedule, now, first=True)
        await self.db.write(lambda conn: store.save_schedule(conn, schedule))
        self.schedules[arn] = schedule
        self.wake_timer()
        return {"ScheduleArn": arn}

    async def UpdateSchedule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        old = self.schedule(ctx, params)
        body = self.body_of(params)
        self.check(body)
        now = self.clock()
        schedule = Schedule(old.arn, old.account, old.region, old.group, old.name, body, old.created, now)
        self.plan(schedule, now, first=True)
        await self.db.write(lambda conn: store.save_schedule(conn, schedule))
        self.schedules[old.arn] = schedule
        self.wake_timer()
        return {"ScheduleArn": old.arn}

    async def GetSchedule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        schedule = self.schedule(ctx, params)
        out: dict[str, Any] = {
            "Arn": schedule.arn,
            "Name": schedule.name,
            "GroupName": schedule.group,
            "CreationDate": schedule.created,
            "LastModificationDate": schedule.modified,
        }
        out.update(schedule.body)
        return out

    async def DeleteSchedule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        schedule = self.schedule(ctx, params)
        await self.db.write(lambda conn: store.delete_schedule(conn, schedule.arn))
        self.schedules.pop(schedule.arn, None)
        return {}

    async def ListSchedules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("NamePrefix") or ""
        group = params.get("GroupName")
        state = params.get("State")
        items = sorted(
            (
                s for s in self.schedules.values()
                if s.account == ctx.account_id and s.region == ctx.region and s.name.startswith(prefix)
                and (group is None or s.group == group) and (state is None or s.body.get("State") == state)
            ),
            key=lambda s: (s.group, s.name),
        )
        chunk, token = _page(items, params.get("NextToken"), params.get("MaxResults"))
        out: dict[str, Any] = {
            "Schedules": [
                {
                    "Arn": s.arn,
                    "Name": s.name,
                    "GroupName": s.group,
                    "State": s.body.get("State"),
                    "CreationDate": s.created,
                    "LastModificationDate": s.modified,
                    "Target": {"Arn": s.body["Target"]["Arn"]},
                }
                for s in chunk
            ]
        }
        if token:
            out["NextToken"] = token
        return out

    # -- schedule groups -----------------------------------------------------------------

    def describe_group(self, group: Group) -> dict[str, Any]:
        return {
            "Arn": group.arn,
            "Name": group.name,
            "State": "ACTIVE",
            "CreationDate": group.created,
            "LastModificationDate": group.created,
        }

    async def CreateScheduleGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        arn = self.group_arn(ctx.region, ctx.account_id, name)
        if name == DEFAULT_GROUP or arn in self.groups:
            raise Conflict(f"Schedule group {name} already exists.")
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
        group = Group(arn, ctx.account_id, ctx.region, name, self.clock(), tags)
        await self.db.write(lambda conn: store.save_group(conn, group))
        self.groups[arn] = group
        return {"ScheduleGroupArn": arn}

    async def GetScheduleGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_group(self.group(ctx, params["Name"]))

    async def DeleteScheduleGroup(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params["Name"] == DEFAULT_GROUP:
            raise ValidationException("The default schedule group cannot be deleted.")
        group = self.group(ctx, params["Name"])
        await self.db.write(lambda conn: store.delete_group(conn, group))
        self.groups.pop(group.arn, None)
        for arn in [a for a, s in self.schedules.items() if (s.account, s.region, s.group) == (group.account, group.region, group.name)]:
            self.schedules.pop(arn, None)
        return {}

    async def ListScheduleGroups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.group(ctx, DEFAULT_GROUP)
        prefix = params.get("NamePrefix") or ""
        items = sorted(
            (g for g in self.groups.values() if g.account == ctx.account_id and g.region == ctx.region and g.name.startswith(prefix)),
            key=lambda g: g.name,
        )
        chunk, token = _page(items, params.get("NextToken"), params.get("MaxResults"))
        out: dict[str, Any] = {"ScheduleGroups": [self.describe_group(g) for g in chunk]}
        if token:
            out["NextToken"] = token
        return out

    # -- tags (schedule groups only, as on AWS) ------------------------------------------

    def tagged(self, arn: str) -> Group:
        group = self.groups.get(arn)
        if group is None:
            raise ResourceNotFound(f"Resource {arn} does not exist.")
        return group

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self.tagged(params["ResourceArn"])
        group.tags.update({t["Key"]: t["Value"] for t in params.get("Tags") or []})
        await self.db.write(lambda conn: store.save_group(conn, group))
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        group = self.tagged(params["ResourceArn"])
        for key in params.get("TagKeys") or []:
            group.tags.pop(key, None)
        await self.db.write(lambda conn: store.save_group(conn, group))
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.tagged(params["ResourceArn"]).tags.items()]}

    # -- firing --------------------------------------------------------------------------

    async def _skip_missed(self) -> None:
        """Move recurring schedules that fell due while the server was down to their next time."""
        now = self.clock()
        changed = []
        for schedule in self.schedules.values():
            if schedule.next_fire is None or schedule.next_fire > now or timing.is_one_time(schedule.body):
                continue
            self.plan(schedule, now, first=False)
            changed.append(schedule)

        def run(conn: sqlite3.Connection) -> None:
            for schedule in changed:
                store.set_next(conn, schedule)

        if changed:
            log.info("scheduler: %d recurring schedules skipped firings missed while stopped", len(changed))
            await self.db.write(run)

    def next_due(self) -> float | None:
        times = [s.next_fire for s in self.schedules.values() if s.enabled and s.next_fire is not None]
        return min(times) if times else None

    async def _run_timer(self) -> None:
        await timer_loop(
            wake=self._wake, fire_due=self.fire_due, next_due=self.next_due, clock=self.clock,
            idle_s=IDLE_SLEEP_S, label="scheduler",
        )  # fmt: skip

    async def fire_due(self) -> int:
        """Invoke every schedule that is due now; returns how many invocations were queued."""
        now = self.clock()
        due = [s for s in self.schedules.values() if s.enabled and s.next_fire is not None and s.next_fire <= now]
        if not due:
            return 0
        payloads: list[dict[str, Any]] = []
        saves: list[Schedule] = []
        deletes: list[Schedule] = []
        for schedule in due:
            nominal = schedule.next_nominal if schedule.next_nominal is not None else now
            max_age = float(schedule.body["Target"]["RetryPolicy"].get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
            if now - nominal <= max_age:
                payloads.append(
                    {
                        "schedule": schedule.arn,
                        "group": schedule.group,
                        "target": schedule.body["Target"],
                        "scheduled": nominal,
                        "execution_id": str(uuid.uuid4()),
                        "region": schedule.region,
                        "account": schedule.account,
                        "attempt": 0,
                    }
                )
            else:
                log.warning("scheduler: %s invocation of %s is older than its maximum age; dropped", schedule.arn, nominal)
            self.plan(schedule, now, first=False)
            if schedule.next_nominal is None and schedule.body.get("ActionAfterCompletion") == "DELETE":
                deletes.append(schedule)
            else:
                saves.append(schedule)

        def run(conn: sqlite3.Connection) -> None:
            for payload in payloads:
                self.outbox.enqueue(conn, "invoke", payload)
            for schedule in saves:
                store.set_next(conn, schedule)
            for schedule in deletes:
                store.delete_schedule(conn, schedule.arn)

        await self.db.write(run)
        for schedule in deletes:
            self.schedules.pop(schedule.arn, None)
        self.fired += len(payloads)
        self.outbox.wake()
        return len(payloads)
