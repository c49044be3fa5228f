"""EventBridge Scheduler through boto3 against the real server: CRUD, groups, on-time firing, restarts."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.servers import ServerProcess

ROLE = "arn:aws:iam::000000000000:role/sched"
ACCOUNT = "000000000000"
LAMBDA_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:nothing"

WRITER = """
import json, os, time
def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps({"event": event, "at": time.time()}) + "\\n")
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def create_writer(lambda_client: Any, out: Path) -> str:
    fn = lambda_client.create_function(
        FunctionName=unique("sched-writer"),
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda",
        Handler="app.handler",
        Code={"ZipFile": make_zip(WRITER)},
        Environment={"Variables": {"OUT": str(out)}},
    )
    return str(fn["FunctionArn"])


def read_lines(path: Path, count: int, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if len(found) >= count:
                return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} lines in {path}")


def at_expression(seconds: float) -> str:
    return "at(" + dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + ")"


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def target(**extra: Any) -> dict[str, Any]:
    return {"Arn": LAMBDA_ARN, "RoleArn": ROLE, **extra}


def test_schedule_crud_and_validation(aws_client: Callable[..., Any]) -> None:
    scheduler = aws_client("scheduler")
    name = unique("s")
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris",
        StartDate=start,
        EndDate=end,
        Description="weekday report",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=target(Input='{"job": "report"}', RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}),
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/{name}"
    got = scheduler.get_schedule(Name=name)
    assert got["Arn"] == arn and got["GroupName"] == "default" and got["State"] == "ENABLED"
    assert got["StartDate"] == start and got["EndDate"] == end
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}
    assert got["ActionAfterCompletion"] == "NONE"

    scheduler.update_schedule(
        Name=name, ScheduleExpression="rate(2 hours)", State="DISABLED", FlexibleTimeWindow={"Mode": "OFF"}, Target=target()
    )
    got = scheduler.get_schedule(Name=name)
    assert got["ScheduleExpression"] == "rate(2 hours)" and got["State"] == "DISABLED"
    assert "Description" not in got  # Update replaces the whole definition
    assert got["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    listed = scheduler.list_schedules(NamePrefix=name)["Schedules"]
    assert [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed] == [(name, "DISABLED", LAMBDA_ARN)]
    assert scheduler.list_schedules(NamePrefix=name, State="ENABLED")["Schedules"] == []

    with pytest.raises(ClientError) as info:
        scheduler.create_schedule(Name=name, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target())
    assert code(info) == "ConflictException"
    bad_cases: list[dict[str, Any]] = [
        {"ScheduleExpression": "rate(1 hours)", "FlexibleTimeWindow": {"Mode": "OFF"}},
        {"ScheduleExpression": "cron(0 9 * * * *)", "FlexibleTimeWindow": {"Mode": "OFF"}},
        {"ScheduleExpression": "at(2030-13-01T00:00:00)", "FlexibleTimeWindow": {"Mode": "OFF"}},
        {"ScheduleExpression": "rate(1 hour)", "ScheduleExpressionTimezone": "Mars/Base", "FlexibleTimeWindow": {"Mode": "OFF"}},
        {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "FLEXIBLE"}},
        {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "OFF"}, "StartDate": end, "EndDate": start},
        {"ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5000}},
    ]
    for case in bad_cases:
        with pytest.raises(ClientError) as info:
            scheduler.create_schedule(Name=unique("bad"), Target=target(), **case)
        assert code(info) == "ValidationException", case
    with pytest.raises(ClientError) as info:
        scheduler.get_schedule(Name=unique("missing"))
    assert code(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        scheduler.create_schedule(Name=unique("s"), GroupName=unique("nogroup"), ScheduleExpression="rate(1 hour)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target())
    assert code(info) == "ResourceNotFoundException"
    scheduler.delete_schedule(Name=name)
    with pytest.raises(ClientError) as info:
        scheduler.delete_schedule(Name=name)
    assert code(info) == "ResourceNotFoundException"


def test_schedule_groups_and_tags(aws_client: Callable[..., Any]) -> None:
    scheduler = aws_client("scheduler")
    group = unique("g")
    arn = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "team", "Value": "ops"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/{group}"
    got = scheduler.get_schedule_group(Name=group)
    assert got["State"] == "ACTIVE" and got["Arn"] == arn
    assert scheduler.get_schedule_group(Name="default")["Name"] == "default"
    names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and group in names
    with pytest.raises(ClientError) as info:
        scheduler.create_schedule_group(Name=group)
    assert code(info) == "ConflictException"

    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    assert {t["Key"] for t in scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"]} == {"team", "env"}
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    name = unique("in-group")
    sched_arn = scheduler.create_schedule(
        Name=name, GroupName=group, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target()
    )["ScheduleArn"]
    assert sched_arn.endswith(f":schedule/{group}/{name}")
    assert [s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]] == [name]
    with pytest.raises(ClientError) as info:
        scheduler.get_schedule(Name=name)  # it is not in the default group
    assert code(info) == "ResourceNotFoundException"
    scheduler.delete_schedule_group(Name=group)
    with pytest.raises(ClientError) as info:
        scheduler.get_schedule_group(Name=group)
    assert code(info) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        scheduler.delete_schedule_group(Name="default")
    assert code(info) == "ValidationException"


def test_at_schedule_fires_its_lambda_within_a_second(aws_client: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "at.jsonl"
    fn = create_writer(aws_client("lambda"), out)
    aws_client("lambda").invoke(FunctionName=fn, Payload=b'{"warm": true}')  # the first (cold) start is not the scheduler's
    scheduler = aws_client("scheduler")
    due = float(int(time.time()) + 2)
    name = unique("at")
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=at_expression(due),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": fn, "RoleArn": ROLE, "Input": '{"when": "<aws.scheduler.scheduled-time>"}'},
    )
    lines = read_lines(out, 2)
    fired = lines[1]
    assert fired["event"] == {"when": dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    # The schedule fires at ``due`` (to the millisecond, see the in-process tests); the margin covers
    # the asynchronous Lambda queue and the worker on a loaded machine.
    assert due <= fired["at"] < due + 1.5, fired["at"] - due
    # ActionAfterCompletion=NONE keeps the completed one-time schedule.
    assert scheduler.get_schedule(Name=name)["Name"] == name


def test_schedules_due_while_the_server_was_stopped(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    out_once = tmp_path / "once.jsonl"
    out_recurring = tmp_path / "recurring.jsonl"
    lambda_client = server.client("lambda")
    once_fn = create_writer(lambda_client, out_once)
    recurring_fn = create_writer(lambda_client, out_recurring)
    scheduler = server.client("scheduler")
    due = float(int(time.time()) + 3)
    scheduler.create_schedule(
        Name="once",
        ScheduleExpression=at_expression(due),
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": once_fn, "RoleArn": ROLE, "Input": '{"at": "<aws.scheduler.scheduled-time>"}'},
    )
    scheduler.create_schedule(
        Name="recurring",
        ScheduleExpression="rate(1 hour)",
        StartDate=dt.datetime.fromtimestamp(due, dt.UTC),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": recurring_fn, "RoleArn": ROLE},
    )
    server.stop()
    time.sleep(max(0.0, due + 1 - time.time()))
    assert not out_once.exists() and not out_recurring.exists()

    restarted = start_server(tmp_path / "data")
    (fired,) = read_lines(out_once, 1)
    assert fired["event"] == {"at": dt.datetime.fromtimestamp(due, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    time.sleep(1.0)
    assert len(read_lines(out_once, 1)) == 1, "a missed one-time schedule fires exactly once"
    assert not out_recurring.exists(), "recurring schedules do not backfill missed firings"
    scheduler = restarted.client("scheduler")
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    assert names == ["recurring"]  # the one-time schedule deleted itself after running


def receive(sqs: Any, queue_url: str, count: int, timeout: float = 10.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    messages: list[Any] = []
    while time.monotonic() < deadline and len(messages) < count:
        messages.extend(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", []))
    return messages


def test_sqs_and_event_bus_targets(aws_client: Callable[..., Any]) -> None:
    scheduler, sqs, events = aws_client("scheduler"), aws_client("sqs"), aws_client("events")
    queue_url = sqs.create_queue(QueueName=unique("sched-q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = unique("sched-bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    rule = unique("from-scheduler")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["my.scheduler"]}))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    due = float(int(time.time()) + 1)
    scheduler.create_schedule(
        Name=unique("to-sqs"),
        ScheduleExpression=at_expression(due),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": queue_arn, "RoleArn": ROLE, "Input": "plain text <aws.scheduler.attempt-number>"},
    )
    scheduler.create_schedule(
        Name=unique("to-bus"),
        ScheduleExpression=at_expression(due),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": bus_arn,
            "RoleArn": ROLE,
            "Input": '{"report": "daily"}',
            "EventBridgeParameters": {"DetailType": "Report Due", "Source": "my.scheduler"},
        },
    )
    bodies = sorted((m["Body"] for m in receive(sqs, queue_url, 2)), key=len)
    assert bodies[0] == "plain text 1"
    event = json.loads(bodies[1])
    assert event["source"] == "my.scheduler" and event["detail-type"] == "Report Due"
    assert event["detail"] == {"report": "daily"}
