"""EventBridge through boto3 against the real server: buses, rules, targets, PutEvents → Lambda/SQS."""

from __future__ import annotations

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

ROLE = "arn:aws:iam::000000000000:role/r"
ACCOUNT = "000000000000"

WRITER = """
import json, os
def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\\n")
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def create_writer(aws_client: Callable[..., Any], out: Path) -> str:
    fn = aws_client("lambda").create_function(
        FunctionName=unique("writer"),
        Runtime="python3.12",
        Role=ROLE,
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


def code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_put_events_reaches_lambda_targets_with_the_event_and_a_transformed_input(
    aws_client: Callable[..., Any], tmp_path: Path
) -> None:
    events = aws_client("events")
    out = tmp_path / "events.jsonl"
    arn = create_writer(aws_client, out)
    rule = unique("orders")
    pattern = {"source": ["shop.orders"], "detail": {"total": [{"numeric": [">", 100]}]}}
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "raw", "Arn": arn},
            {
                "Id": "shaped",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"order": "$.detail.order", "total": "$.detail.total", "src": "$.source"},
                    "InputTemplate": '{"text": "order <order> from <src>", "total": <total>, "order": <order>, "rule": "<aws.events.rule-name>"}',
                },
            },
        ],
    )
    result = events.put_events(
        Entries=[
            {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": json.dumps({"order": "o-1", "total": 250}), "Resources": ["arn:aws:s3:::b"]},
            {"Source": "shop.orders", "DetailType": "Order Placed", "Detail": json.dumps({"order": "o-2", "total": 5})},
            {"Source": "other", "DetailType": "Order Placed", "Detail": json.dumps({"order": "o-3", "total": 500})},
        ]
    )
    assert result["FailedEntryCount"] == 0
    ids = [e["EventId"] for e in result["Entries"]]
    assert len(set(ids)) == 3

    got = read_lines(out, 2)
    time.sleep(0.3)
    got = read_lines(out, 2)
    assert len(got) == 2, "only the matching event reaches the targets, once per target"
    raw = next(e for e in got if "detail-type" in e)
    shaped = next(e for e in got if "text" in e)
    assert raw["version"] == "0"
    assert raw["id"] == ids[0]
    assert raw["detail-type"] == "Order Placed"
    assert raw["source"] == "shop.orders"
    assert raw["account"] == ACCOUNT
    assert raw["region"] == "us-east-1"
    assert raw["resources"] == ["arn:aws:s3:::b"]
    assert raw["detail"] == {"order": "o-1", "total": 250}
    assert time.strptime(raw["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert shaped == {"text": "order o-1 from shop.orders", "total": 250, "order": "o-1", "rule": rule}
    assert events.list_rule_names_by_target(TargetArn=arn)["RuleNames"] == [rule]
    assert rule_arn.endswith(f":rule/{rule}")


def test_custom_bus_rule_delivers_to_sqs_with_input_path(aws_client: Callable[..., Any]) -> None:
    events, sqs = aws_client("events"), aws_client("sqs")
    bus = unique("bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    assert bus_arn == f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{bus}"
    queue_url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = unique("r")
    rule_arn = events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"detail-type": [{"prefix": "user."}]}))["RuleArn"]
    assert rule_arn == f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{bus}/{rule}"
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn, "InputPath": "$.detail"}])
    # An event on the default bus does not reach a rule of another bus.
    events.put_events(Entries=[{"Source": "s", "DetailType": "user.created", "Detail": '{"n": 0}'}])
    events.put_events(Entries=[{"Source": "s", "DetailType": "user.created", "Detail": '{"n": 1}', "EventBusName": bus_arn}])
    deadline = time.monotonic() + 10
    bodies: list[Any] = []
    while time.monotonic() < deadline and not bodies:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        bodies.extend(json.loads(m["Body"]) for m in messages)
    assert bodies == [{"n": 1}]
    assert [b["Name"] for b in events.list_event_buses(NamePrefix=bus)["EventBuses"]] == [bus]
    with pytest.raises(ClientError) as info:
        events.delete_event_bus(Name=bus)
    assert code(info) == "ValidationException"


def test_put_events_entry_errors_and_limits(aws_client: Callable[..., Any]) -> None:
    events = aws_client("events")
    result = events.put_events(
        Entries=[
            {"Source": "a", "DetailType": "t", "Detail": "{}"},
            {"Source": "a", "DetailType": "t", "Detail": "not json"},
            {"Source": "a", "DetailType": "t", "Detail": "[1, 2]"},
            {"Source": "a", "DetailType": "t", "Detail": "{}", "EventBusName": "no-such-bus"},
            {"DetailType": "t", "Detail": "{}"},
        ]
    )
    assert result["FailedEntryCount"] == 4
    entries = result["Entries"]
    assert "EventId" in entries[0]
    assert entries[1]["ErrorCode"] == "MalformedDetail"
    assert entries[2]["ErrorCode"] == "MalformedDetail"
    assert entries[3]["ErrorCode"] == "InvalidArgument"
    assert entries[4]["ErrorCode"] == "InvalidArgument" and "Source" in entries[4]["ErrorMessage"]
    with pytest.raises(ClientError) as info:
        events.put_events(Entries=[{"Source": "a", "DetailType": "t", "Detail": "{}"}] * 11)
    assert code(info) == "ValidationException"
    big = json.dumps({"x": "y" * 200_000})
    with pytest.raises(ClientError) as info:
        events.put_events(Entries=[{"Source": "a", "DetailType": "t", "Detail": big}] * 2)
    assert code(info) == "ValidationException"


def test_rule_lifecycle_validation_and_pagination(aws_client: Callable[..., Any]) -> None:
    events = aws_client("events")
    prefix = unique("life")
    for i in range(5):
        events.put_rule(Name=f"{prefix}-{i}", EventPattern='{"source": ["x"]}', Description=f"rule {i}")
    names: list[str] = []
    token: dict[str, Any] = {}
    pages = 0
    while True:
        page = events.list_rules(NamePrefix=prefix, Limit=2, **token)
        names.extend(r["Name"] for r in page["Rules"])
        pages += 1
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert names == [f"{prefix}-{i}" for i in range(5)] and pages == 3

    name = f"{prefix}-0"
    described = events.describe_rule(Name=name)
    assert described["State"] == "ENABLED" and described["Description"] == "rule 0"
    assert described["EventBusName"] == "default"
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"

    target_arn = "arn:aws:lambda:us-east-1:000000000000:function:x"
    events.put_targets(Rule=name, Targets=[{"Id": str(i), "Arn": target_arn} for i in range(5)])
    with pytest.raises(ClientError) as info:
        events.put_targets(Rule=name, Targets=[{"Id": "6", "Arn": target_arn}])
    assert code(info) == "LimitExceededException"
    with pytest.raises(ClientError) as info:
        events.delete_rule(Name=name)
    assert code(info) == "ValidationException"
    assert "targets" in info.value.response["Error"]["Message"]
    removed = events.remove_targets(Rule=name, Ids=[str(i) for i in range(5)])
    assert removed["FailedEntryCount"] == 0
    assert events.list_targets_by_rule(Rule=name)["Targets"] == []
    events.delete_rule(Name=name)
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name=name)
    assert code(info) == "ResourceNotFoundException"

    for bad in ('{"source": "x"}', '{"source": [{"numeric": [">", "a"]}]}', "[]"):
        with pytest.raises(ClientError) as info:
            events.put_rule(Name=f"{prefix}-bad", EventPattern=bad)
        assert code(info) == "InvalidEventPatternException"
    for expression in ("rate(1 minutes)", "rate(5 minute)", "cron(0 12 * * * *)", "cron(0 12 * * ?)"):
        with pytest.raises(ClientError) as info:
            events.put_rule(Name=f"{prefix}-bad", ScheduleExpression=expression)
        assert code(info) == "ValidationException"
    with pytest.raises(ClientError) as info:
        events.put_rule(Name=f"{prefix}-bad")
    assert code(info) == "ValidationException"
    with pytest.raises(ClientError) as info:
        events.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": target_arn}])
    assert code(info) == "ResourceNotFoundException"

    bus = unique("bus")
    events.create_event_bus(Name=bus)
    with pytest.raises(ClientError) as info:
        events.put_rule(Name=f"{prefix}-s", EventBusName=bus, ScheduleExpression="rate(5 minutes)")
    assert code(info) == "ValidationException"
    with pytest.raises(ClientError) as info:
        events.create_event_bus(Name=bus)
    assert code(info) == "ResourceAlreadyExistsException"
    events.delete_event_bus(Name=bus)


def test_test_event_pattern_and_tags(aws_client: Callable[..., Any]) -> None:
    events = aws_client("events")
    event = {
        "id": "1", "account": ACCOUNT, "source": "com.app", "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail-type": "t", "detail": {"ip": "10.1.2.3", "kind": "Photo"},
    }
    ok = {"detail": {"ip": [{"cidr": "10.1.0.0/16"}], "kind": [{"equals-ignore-case": "photo"}]}}
    assert events.test_event_pattern(EventPattern=json.dumps(ok), Event=json.dumps(event))["Result"] is True
    no = {"detail": {"kind": [{"anything-but": {"prefix": "Pho"}}]}}
    assert events.test_event_pattern(EventPattern=json.dumps(no), Event=json.dumps(event))["Result"] is False
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern='{"a": [{"wildcard": "**"}]}', Event=json.dumps(event))
    assert code(info) == "InvalidEventPatternException"
    with pytest.raises(ClientError) as info:
        events.test_event_pattern(EventPattern='{"a": ["b"]}', Event='{"source": "x"}')
    assert code(info) == "ValidationException"

    name = unique("tagged")
    arn = events.put_rule(Name=name, ScheduleExpression="cron(0 12 * * ? *)", Tags=[{"Key": "team", "Value": "a"}])["RuleArn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    tags = {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags == {"team": "a", "env": "dev"}
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert events.describe_rule(Name=name)["ScheduleExpression"] == "cron(0 12 * * ? *)"
    events.delete_rule(Name=name)


def test_sns_target_publishes_the_event(aws_client: Callable[..., Any]) -> None:
    events, sns, sqs = aws_client("events"), aws_client("sns"), aws_client("sqs")
    topic_arn = sns.create_topic(Name=unique("t"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    rule = unique("to-sns")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [{"wildcard": "app.*.billing"}]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": topic_arn, "Input": '{"fixed": "yes"}'}])
    events.put_events(Entries=[{"Source": "app.eu.billing", "DetailType": "t", "Detail": "{}"}])
    deadline = time.monotonic() + 10
    bodies: list[str] = []
    while time.monotonic() < deadline and not bodies:
        bodies.extend(m["Body"] for m in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []))
    assert [json.loads(b) for b in bodies] == [{"fixed": "yes"}]
