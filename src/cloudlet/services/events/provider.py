"""The EventBridge provider: PutEvents routing, TestEventPattern and scheduled rules.

``PutEvents`` matches each accepted entry against the enabled rules of its bus
(patterns compiled once, kept in memory) and writes one outbox event per
matched target in the same transaction, so an acknowledged event is delivered
even if the server dies right after answering.

Scheduled rules fire from one timer task that sleeps until the earliest
``next_fire`` (no polling); ``wake_timer()`` cuts the sleep short when rules
change, and tests inject ``clock`` and call ``wake_timer()`` after moving it.
A firing computes the next time strictly after *now*, so firings missed while
the server was down are not replayed (scheduled rules do not backfill); a rule
that was overdue at start-up is moved to its next future time without firing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import uuid
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.events import timer_loop
from cloudlet.services.events import store
from cloudlet.services.events.base import DEFAULT_BUS, bus_name, event_time
from cloudlet.services.events.control import ControlOperations
from cloudlet.services.events.errors import (
    InvalidEventPattern,
    ResourceNotFound,
    ValidationException,
)
from cloudlet.services.events.patterns import PatternError, compile_pattern, parse
from cloudlet.services.events.store import Bus, Rule
from cloudlet.services.events.transform import target_input

log = logging.getLogger(__name__)

MAX_ENTRIES_BYTES = 256 * 1024
#: Longest sleep of the rule timer when no rule is scheduled (a safety net; ``wake_timer`` cuts it short).
IDLE_SLEEP_S = 300.0
REQUIRED_TEST_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def entry_size(entry: dict[str, Any]) -> int:
    """AWS's size of a PutEvents entry: 14 bytes for Time plus the UTF-8 text of the fields."""
    size = 14 if entry.get("Time") else 0
    for key in ("Source", "DetailType", "Detail"):
        if entry.get(key):
            size += len(str(entry[key]).encode())
    size += sum(len(str(r).encode()) for r in entry.get("Resources") or [])
    return size


class EventsProvider(ControlOperations):
    """Amazon EventBridge (json 1.1, ``AWSEvents`` target prefix)."""

    _timer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for row in await self.db.fetchall("SELECT * FROM buses"):
            bus = Bus.from_row(row)
            self.buses[bus.arn] = bus
        for row in await self.db.fetchall("SELECT * FROM rules"):
            rule = Rule.from_row(row)
            self.rules[rule.arn] = rule
        for row in await self.db.fetchall("SELECT * FROM targets ORDER BY rule_arn, seq"):
            rule_or_none = self.rules.get(row["rule_arn"])
            if rule_or_none is not None:
                rule_or_none.targets[row["id"]] = json.loads(row["body"])
        await self._skip_missed()
        self._wake = asyncio.Event()
        await self.outbox.start()
        self._timer = asyncio.create_task(self._run_timer(), name="events:rule-timer")

    async def stop(self) -> None:
        task, self._timer = self._timer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.outbox.stop()

    def statistics(self) -> dict[str, int]:
        """Counts for the console and metrics (pending deliveries: ``outbox.pending()``)."""
        return {
            "buses": len(self.buses),
            "rules": len(self.rules),
            "scheduled_rules": sum(1 for r in self.rules.values() if r.next_fire is not None),
            "delivered": self.deliverer.sent,
            "dead_lettered": self.deliverer.dead_lettered,
        }

    # -- PutEvents -------------------------------------------------------------------------

    def build_event(self, ctx: RequestContext, entry: dict[str, Any], detail: Any) -> dict[str, Any]:
        moment: Any = entry.get("Time")
        when = event_time(moment.timestamp() if moment is not None else self.clock())
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": ctx.account_id,
            "time": when,
            "region": ctx.region,
            "resources": list(entry.get("Resources") or []),
            "detail": detail,
        }

    def check_entry(self, ctx: RequestContext, entry: dict[str, Any]) -> tuple[Bus, Any]:
        """(bus, parsed detail) of a valid entry; raises ``_EntryError`` otherwise."""
        for key in ("Source", "DetailType", "Detail"):
            if not entry.get(key):
                raise _EntryError("InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument.")
        try:
            detail = json.loads(entry["Detail"])
        except ValueError:
            raise _EntryError("MalformedDetail", "Detail is malformed.") from None
        if not isinstance(detail, dict):
            raise _EntryError("MalformedDetail", "Detail is malformed.")
        try:
            bus = self.bus(ctx, entry.get("EventBusName"))
        except (ResourceNotFound, ValidationException):
            raise _EntryError("InvalidArgument", f"Event bus {bus_name(entry.get('EventBusName'))} does not exist.") from None
        return bus, detail

    def deliveries(self, ctx: RequestContext, bus: Bus, event: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for rule in self.rules_of(bus):
            if not rule.enabled or rule.matcher is None or not rule.matcher(event):
                continue
            out.extend(self.target_payloads(rule, event, ctx.endpoint))
        return out

    def target_payloads(self, rule: Rule, event: dict[str, Any], endpoint: str | None) -> list[dict[str, Any]]:
        payloads = []
        for target in rule.targets.values():
            try:
                text = target_input(event, target, rule_arn=rule.arn, rule_name=rule.name)
            except Exception:  # a path that cannot be evaluated: AWS drops the invocation
                log.exception("events: input of target %s of %s failed", target.get("Id"), rule.arn)
                continue
            payloads.append(
                {
                    "arn": target["Arn"],
                    "input": text,
                    "rule": rule.arn,
                    "target_id": target["Id"],
                    "region": rule.region,
                    "account": rule.account,
                    "endpoint": endpoint,
                    "sqs": target.get("SqsParameters"),
                    "retry": target.get("RetryPolicy"),
                    "dlq": target.get("DeadLetterConfig"),
                    "first_at": self.clock(),
                    "attempt": 0,
                }
            )
        return payloads

    async def PutEvents(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        entries = params["Entries"]
        if sum(entry_size(e) for e in entries) > MAX_ENTRIES_BYTES:
            raise ValidationException("Total size of the entries in the request is over the limit.")
        results: list[dict[str, Any]] = []
        payloads: list[dict[str, Any]] = []
        for entry in entries:
            try:
                bus, detail = self.check_entry(ctx, entry)
            except _EntryError as error:
                results.append({"ErrorCode": error.code, "ErrorMessage": error.message})
                continue
            event = self.build_event(ctx, entry, detail)
            payloads.extend(self.deliveries(ctx, bus, event))
            results.append({"EventId": event["id"]})
        if payloads:
            await self.db.write(lambda conn: self._enqueue(conn, payloads))
            self.outbox.wake()
        failed = sum(1 for r in results if "ErrorCode" in r)
        return {"FailedEntryCount": failed, "Entries": results}

    def _enqueue(self, conn: sqlite3.Connection, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            self.outbox.enqueue(conn, "target", payload)

    async def TestEventPattern(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        try:
            pattern = parse(params["EventPattern"])
        except PatternError as error:
            raise InvalidEventPattern(str(error)) from None
        try:
            event = json.loads(params["Event"])
        except ValueError:
            raise ValidationException("Parameter Event is not valid.") from None
        if not isinstance(event, dict) or any(k not in event for k in REQUIRED_TEST_FIELDS):
            raise ValidationException("Parameter Event is not valid.")
        return {"Result": compile_pattern(pattern)(event)}

    # -- scheduled rules -------------------------------------------------------------------

    def wake_timer(self) -> None:
        wake = getattr(self, "_wake", None)
        if wake is not None:
            wake.set()

    async def _skip_missed(self) -> None:
        now = self.clock()
        changed = []
        for rule in self.rules.values():
            schedule = rule.body.get("ScheduleExpression")
            if schedule and rule.enabled and (rule.next_fire is None or rule.next_fire <= now):
                rule.next_fire = self.next_fire(schedule, rule.anchor, now)
                changed.append(rule)

        def run(conn: sqlite3.Connection) -> None:
            for rule in changed:
                store.set_next_fire(conn, rule.arn, rule.next_fire)

        if changed:
            await self.db.write(run)

    def next_due(self) -> float | None:
        times = [r.next_fire for r in self.rules.values() if r.enabled and r.next_fire is not None]
        return min(times) if times else None

    async def _run_timer(self) -> None:
        await timer_loop(
            wake=self._wake, fire_due=self.fire_due, next_due=self.next_due, clock=self.clock,
            idle_s=IDLE_SLEEP_S, label="events",
        )  # fmt: skip

    async def fire_due(self) -> int:
        """Fire every scheduled rule that is due now; returns how many fired."""
        now = self.clock()
        due = [r for r in self.rules.values() if r.enabled and r.next_fire is not None and r.next_fire <= now]
        if not due:
            return 0
        payloads: list[dict[str, Any]] = []
        updates: list[tuple[Rule, float | None]] = []
        for rule in due:
            assert rule.next_fire is not None
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": rule.account,
                "time": event_time(rule.next_fire),
                "region": rule.region,
                "resources": [rule.arn],
                "detail": {},
            }
            payloads.extend(self.target_payloads(rule, event, None))
            updates.append((rule, self.next_fire(rule.body["ScheduleExpression"], rule.anchor, now)))

        def run(conn: sqlite3.Connection) -> None:
            self._enqueue(conn, payloads)
            for rule, next_fire in updates:
                store.set_next_fire(conn, rule.arn, next_fire)

        await self.db.write(run)
        for rule, next_fire in updates:
            rule.next_fire = next_fire
        self.outbox.wake()
        return len(due)


class _EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


__all__ = ["DEFAULT_BUS", "EventsProvider"]
