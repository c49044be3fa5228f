"""Scheduled rules and Scheduler schedules fire their Lambda targets on time (injected clock).

The providers run in-process with real SQLite, a real Lambda provider and the
real execution engine; only the clock is injected, so a minute passes in an
instant.  The Lambda handler appends the event it gets to a file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.engine import Engine
from cloudlet.services.events import MIGRATIONS as EVENTS_MIGRATIONS
from cloudlet.services.events import EventsProvider
from cloudlet.services.lambda_ import MIGRATIONS as LAMBDA_MIGRATIONS
from cloudlet.services.lambda_ import LambdaProvider
from cloudlet.services.logs import MIGRATIONS as LOGS_MIGRATIONS
from cloudlet.services.logs import LogsStore
from cloudlet.services.scheduler import MIGRATIONS as SCHEDULER_MIGRATIONS
from cloudlet.services.scheduler import SchedulerProvider
from cloudlet.storage import BlobStore, Database

ACCOUNT = "000000000000"
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:4566"
ROLE = "arn:aws:iam::000000000000:role/r"

WRITER = """
import json, os
def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\\n")
"""


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ctx(service: str, operation: str = "Test") -> RequestContext:
    return RequestContext(str(uuid.uuid4()), service, operation, REGION, ACCOUNT, "test", ENDPOINT)


class Hub:
    """The part of ServiceHub that providers use: ``call`` and ``settings.endpoint``."""

    def __init__(self) -> None:
        self.providers: dict[str, Any] = {}
        self.settings = SimpleNamespace(endpoint=ENDPOINT)

    async def call(self, service: str, operation: str, params: dict[str, Any], *, region: str, account_id: str, endpoint: str | None = None) -> dict[str, Any]:
        method = getattr(self.providers[service], operation)
        result: dict[str, Any] = await method(ctx(service, operation), params)
        return result


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


@asynccontextmanager
async def world(root: Path, clock: Clock) -> AsyncIterator[Hub]:
    hub = Hub()
    dbs = {
        name: Database(root / f"{name}.db", migrations)
        for name, migrations in (
            ("lambda", LAMBDA_MIGRATIONS), ("logs", LOGS_MIGRATIONS), ("events", EVENTS_MIGRATIONS), ("scheduler", SCHEDULER_MIGRATIONS)
        )
    }
    for db in dbs.values():
        await db.open()
    engine = Engine(root / "engine", keep_warm_s=30, max_workers=4)
    await engine.start()
    hub.providers["lambda"] = LambdaProvider(dbs["lambda"], BlobStore(root / "blobs"), engine, LogsStore(dbs["logs"]))
    hub.providers["events"] = EventsProvider(dbs["events"], hub, clock=clock)
    hub.providers["scheduler"] = SchedulerProvider(dbs["scheduler"], hub, clock=clock)
    for provider in hub.providers.values():
        await provider.start()
    try:
        yield hub
    finally:
        for provider in reversed(hub.providers.values()):
            await provider.stop()
        await engine.stop()
        for db in dbs.values():
            await db.close()


async def create_writer(hub: Hub, name: str, out: Path) -> str:
    result = await hub.providers["lambda"].CreateFunction(
        ctx("lambda"),
        {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": ROLE,
            "Handler": "app.handler",
            "Code": {"ZipFile": make_zip(WRITER)},
            "Environment": {"Variables": {"OUT": str(out)}},
        },
    )
    return str(result["FunctionArn"])


async def lines(path: Path, count: int, timeout: float = 15.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if len(found) >= count:
                return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} lines in {path}; got {path.read_text() if path.exists() else 'no file'}")


async def advance(hub: Hub, clock: Clock, to: float, service: str) -> None:
    clock.now = to
    hub.providers[service].wake_timer()
    await asyncio.sleep(0.1)


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rate_rule_fires_its_lambda_every_minute(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    out = tmp_path / "rule.jsonl"

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            events = hub.providers["events"]
            arn = await create_writer(hub, "ticker", out)
            t0 = clock.now
            rule = await events.PutRule(ctx("events"), {"Name": "every-minute", "ScheduleExpression": "rate(1 minute)"})
            await events.PutTargets(ctx("events"), {"Rule": "every-minute", "Targets": [{"Id": "fn", "Arn": arn}]})

            await advance(hub, clock, t0 + 59.5, "events")
            await asyncio.sleep(0.5)
            assert not out.exists(), "fired before its minute"

            await advance(hub, clock, t0 + 60, "events")
            (first,) = await lines(out, 1)
            assert first["detail-type"] == "Scheduled Event"
            assert first["source"] == "aws.events"
            assert first["resources"] == [rule["RuleArn"]]
            assert first["time"] == iso(t0 + 60)
            assert first["detail"] == {} and first["version"] == "0"
            assert first["account"] == ACCOUNT and first["region"] == REGION

            await advance(hub, clock, t0 + 120.2, "events")
            second = (await lines(out, 2))[1]
            assert second["time"] == iso(t0 + 120)
            assert second["id"] != first["id"]

            # Disabled rules do not fire.
            await events.DisableRule(ctx("events"), {"Name": "every-minute"})
            await advance(hub, clock, t0 + 240, "events")
            await asyncio.sleep(0.5)
            assert len(await lines(out, 2)) == 2

    asyncio.run(main())


def test_scheduler_at_schedule_fires_once_on_time_and_deletes_itself(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    out = tmp_path / "at.jsonl"

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            scheduler = hub.providers["scheduler"]
            arn = await create_writer(hub, "once", out)
            due = clock.now + 120
            when = dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            created = await scheduler.CreateSchedule(
                ctx("scheduler"),
                {
                    "Name": "one-shot",
                    "ScheduleExpression": f"at({when})",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "ActionAfterCompletion": "DELETE",
                    "Target": {
                        "Arn": arn,
                        "RoleArn": ROLE,
                        "Input": json.dumps({"at": "<aws.scheduler.scheduled-time>", "arn": "<aws.scheduler.schedule-arn>", "n": "<aws.scheduler.attempt-number>"}),
                    },
                },
            )
            await advance(hub, clock, due - 1, "scheduler")
            await asyncio.sleep(0.5)
            assert not out.exists()
            await advance(hub, clock, due, "scheduler")
            (event,) = await lines(out, 1)
            assert event == {"at": iso(due), "arn": created["ScheduleArn"], "n": "1"}
            assert scheduler.schedules == {}  # ActionAfterCompletion=DELETE

            await advance(hub, clock, due + 3600, "scheduler")
            await asyncio.sleep(0.3)
            assert len(await lines(out, 1)) == 1

    asyncio.run(main())


def test_scheduler_cron_in_a_time_zone_with_default_payload(tmp_path: Path) -> None:
    # 2026-07-01 09:00 in Paris is 07:00 UTC.
    start = dt.datetime(2026, 7, 1, 6, 0, tzinfo=dt.UTC).timestamp()
    clock = Clock(start)
    out = tmp_path / "cron.jsonl"

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            scheduler = hub.providers["scheduler"]
            arn = await create_writer(hub, "daily", out)
            await scheduler.CreateSchedule(
                ctx("scheduler"),
                {
                    "Name": "paris-nine",
                    "ScheduleExpression": "cron(0 9 * * ? *)",
                    "ScheduleExpressionTimezone": "Europe/Paris",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {"Arn": arn, "RoleArn": ROLE},
                },
            )
            await advance(hub, clock, start + 3599, "scheduler")
            assert not out.exists()
            await advance(hub, clock, start + 3600, "scheduler")
            (event,) = await lines(out, 1)
            assert event["source"] == "aws.scheduler" and event["detail-type"] == "Scheduled Event"
            assert event["time"] == "2026-07-01T07:00:00Z"
            assert event["resources"] == [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/paris-nine"]

    asyncio.run(main())


def test_scheduler_retries_then_dead_letters(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            scheduler = hub.providers["scheduler"]
            scheduler.invoker.retry_base_s = 0.01

            class Sqs:
                async def stop(self) -> None:
                    pass

                async def SendMessage(self, _ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
                    sent.append(params)
                    return {"MessageId": "m"}

            hub.providers["sqs"] = Sqs()
            await scheduler.CreateSchedule(
                ctx("scheduler"),
                {
                    "Name": "broken",
                    "ScheduleExpression": "rate(1 hour)",
                    "FlexibleTimeWindow": {"Mode": "OFF"},
                    "Target": {
                        "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:does-not-exist",
                        "RoleArn": ROLE,
                        "Input": '{"x": 1}',
                        "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 60},
                        "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"},
                    },
                },
            )
            deadline = time.monotonic() + 10
            while not sent and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            (message,) = sent
            assert message["QueueUrl"] == f"{ENDPOINT}/{ACCOUNT}/dlq"
            assert message["MessageBody"] == '{"x": 1}'
            attributes = message["MessageAttributes"]
            assert attributes["ERROR_CODE"]["StringValue"] == "ResourceNotFoundException"
            assert attributes["RETRY_ATTEMPTS"]["StringValue"] == "2"
            assert scheduler.invoker.dead_lettered == 1

    asyncio.run(main())


def test_rule_target_retries_then_dead_letters_with_eventbridge_attributes(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            events = hub.providers["events"]
            events.deliverer.retry_base_s = 0.01

            class Sqs:
                async def stop(self) -> None:
                    pass

                async def SendMessage(self, _ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
                    sent.append(params)
                    return {"MessageId": "m"}

            hub.providers["sqs"] = Sqs()
            rule = await events.PutRule(ctx("events"), {"Name": "r", "EventPattern": '{"source": ["a"]}'})
            missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:missing"
            await events.PutTargets(
                ctx("events"),
                {
                    "Rule": "r",
                    "Targets": [
                        {
                            "Id": "t",
                            "Arn": missing,
                            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60},
                            "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"},
                        }
                    ],
                },
            )
            result = await events.PutEvents(ctx("events"), {"Entries": [{"Source": "a", "DetailType": "d", "Detail": '{"k": 1}'}]})
            assert result["FailedEntryCount"] == 0
            deadline = time.monotonic() + 10
            while not sent and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            (message,) = sent
            assert json.loads(message["MessageBody"])["detail"] == {"k": 1}
            attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
            assert attributes["RULE_ARN"] == rule["RuleArn"]
            assert attributes["TARGET_ARN"] == missing
            assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
            assert events.deliverer.dead_lettered == 1

    asyncio.run(main())


def test_rules_survive_a_restart_and_skip_missed_firings(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    fired: list[dict[str, Any]] = []

    async def main() -> None:
        async with world(tmp_path, clock) as hub:
            events = hub.providers["events"]
            await events.PutRule(ctx("events"), {"Name": "tick", "ScheduleExpression": "rate(5 minutes)"})
            await events.PutTargets(ctx("events"), {"Rule": "tick", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]})
        t0 = clock.now
        clock.now = t0 + 3 * 300 + 10  # three firings missed while stopped
        async with world(tmp_path, clock) as hub:
            events = hub.providers["events"]

            async def record(payload: dict[str, Any]) -> None:
                fired.append(json.loads(payload["input"]))

            events.deliverer.sender = record
            (rule,) = events.rules.values()
            assert rule.next_fire == t0 + 4 * 300
            assert (await events.ListTargetsByRule(ctx("events"), {"Rule": "tick"}))["Targets"][0]["Id"] == "t"
            await advance(hub, clock, t0 + 4 * 300, "events")
            deadline = time.monotonic() + 5
            while not fired and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert [e["time"] for e in fired] == [iso(t0 + 4 * 300)]

    asyncio.run(main())


def test_missed_at_schedule_fires_once_after_restart_unless_too_old(tmp_path: Path) -> None:
    clock = Clock(float(int(time.time())))
    fired: list[str] = []

    async def record(payload: dict[str, Any], text: str) -> None:
        fired.append(payload["schedule"].rsplit("/", 1)[1])

    async def main() -> None:
        t0 = clock.now
        when = dt.datetime.fromtimestamp(t0 + 60, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        async with world(tmp_path, clock) as hub:
            scheduler = hub.providers["scheduler"]
            for name, max_age in (("fresh", 3600), ("stale", 60)):
                await scheduler.CreateSchedule(
                    ctx("scheduler"),
                    {
                        "Name": name,
                        "ScheduleExpression": f"at({when})",
                        "FlexibleTimeWindow": {"Mode": "OFF"},
                        "Target": {"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": ROLE, "RetryPolicy": {"MaximumEventAgeInSeconds": max_age, "MaximumRetryAttempts": 0}},
                    },
                )
        clock.now = t0 + 60 + 600  # the server was down across the due time
        async with world(tmp_path, clock) as hub:
            scheduler = hub.providers["scheduler"]
            scheduler.invoker.sender = record
            scheduler.wake_timer()
            deadline = time.monotonic() + 5
            while not fired and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert fired == ["fresh"]
            assert {s.name: s.next_fire for s in scheduler.schedules.values()} == {"fresh": None, "stale": None}

    asyncio.run(main())
