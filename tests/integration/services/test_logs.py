"""CloudWatch Logs through boto3 against a real ``cloudlet up`` server.

Every test uses its own log group names, so tests share the session server
without seeing each other.  The in-process twin of these tests, which covers
more edge cases, is ``test_logs_store.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError


def now_ms() -> int:
    return int(time.time() * 1000)


def unique(prefix: str = "/cloudlet-test") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def logs(aws_client: Callable[..., Any]) -> Any:
    return aws_client("logs")


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = info.value.response["Error"]
    return error["Code"], error.get("Message", "")


def test_log_group_lifecycle(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group, tags={"team": "a"})
    with pytest.raises(ClientError) as info:
        logs.create_log_group(logGroupName=group)
    assert error_of(info) == (
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupName"] == group
    assert described["arn"].startswith("arn:aws:logs:us-east-1:") and described["arn"].endswith(
        f":log-group:{group}:*"
    )
    assert described["logGroupArn"] == described["arn"][:-2]
    assert isinstance(described["creationTime"], int)
    assert described["storedBytes"] == 0

    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    assert (
        logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 7
    )
    logs.delete_retention_policy(logGroupName=group)
    assert (
        "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    )
    with pytest.raises(ClientError) as info:
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    assert error_of(info)[0] == "InvalidParameterException"

    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=group)


def test_invalid_group_name_is_rejected(logs: Any) -> None:
    with pytest.raises(ClientError) as info:
        logs.create_log_group(logGroupName="bad name with spaces")
    assert error_of(info)[0] == "InvalidParameterException"


def test_describe_log_groups_paginator(logs: Any) -> None:
    prefix = unique()
    names = [f"{prefix}/{i:02d}" for i in range(7)]
    for name in names:
        logs.create_log_group(logGroupName=name)
    pages = list(
        logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=prefix, PaginationConfig={"PageSize": 3}
        )
    )
    assert len(pages) == 3
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == names


def test_streams_and_events_round_trip(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName="s1")
    with pytest.raises(ClientError) as info:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="nope",
            logEvents=[{"timestamp": now_ms(), "message": "x"}],
        )
    assert error_of(info) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )

    base = now_ms() - 10_000
    result = logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[{"timestamp": base + i, "message": f"line {i}"} for i in range(5)],
    )
    assert len(result["nextSequenceToken"]) == 56
    assert "rejectedLogEventsInfo" not in result

    head = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True, limit=2)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1"]
    assert head["events"][0]["timestamp"] == base
    assert head["nextForwardToken"].startswith("f/")
    rest = logs.get_log_events(
        logGroupName=group, logStreamName="s1", nextToken=head["nextForwardToken"]
    )
    assert [e["message"] for e in rest["events"]] == ["line 2", "line 3", "line 4"]
    end = logs.get_log_events(
        logGroupName=group, logStreamName="s1", nextToken=rest["nextForwardToken"]
    )
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    tail = logs.get_log_events(logGroupName=group, logStreamName="s1", limit=1)
    assert [e["message"] for e in tail["events"]] == ["line 4"]

    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert stream["logStreamName"] == "s1"
    assert stream["firstEventTimestamp"] == base and stream["lastEventTimestamp"] == base + 4
    assert stream["arn"].endswith(f":log-group:{group}:log-stream:s1")

    logs.delete_log_stream(logGroupName=group, logStreamName="s1")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []


def test_put_log_events_batch_rules(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms()
    with pytest.raises(ClientError) as info:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 5, "message": "a"}],
        )
    assert error_of(info) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    result = logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": t, "message": "now"},
            {"timestamp": t + 3 * 3600 * 1000, "message": "later"},
        ],
    )
    assert result["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}


def test_describe_log_streams_ordering(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    base = now_ms() - 60_000
    for offset, name in [(3, "a"), (1, "b"), (2, "c")]:
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=name,
            logEvents=[{"timestamp": base + offset, "message": name}],
        )
    by_time = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True
    )
    assert [s["logStreamName"] for s in by_time["logStreams"]] == ["a", "c", "b"]
    paged = list(
        logs.get_paginator("describe_log_streams").paginate(
            logGroupName=group, PaginationConfig={"PageSize": 2}
        )
    )
    assert [s["logStreamName"] for p in paged for s in p["logStreams"]] == ["a", "b", "c"]
    with pytest.raises(ClientError) as info:
        logs.describe_log_streams(
            logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a"
        )
    assert error_of(info) == (
        "InvalidParameterException",
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
    )


def test_filter_log_events(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    base = now_ms() - 60_000
    for stream, lines in {
        "app": ["INFO boot", "ERROR disk full", '{"level": "ERROR", "ms": 120}'],
        "worker": ["ERROR crashed", '{"level": "INFO", "ms": 3}'],
    }.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(lines)],
        )
    everything = logs.filter_log_events(logGroupName=group)
    assert len(everything["events"]) == 5
    assert {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"} <= set(
        everything["events"][0]
    )
    assert {s["logStreamName"] for s in everything["searchedLogStreams"]} == {"app", "worker"}

    def messages(**kwargs: Any) -> list[str]:
        return [
            e["message"] for e in logs.filter_log_events(logGroupName=group, **kwargs)["events"]
        ]

    assert messages(filterPattern="ERROR -disk") == [
        "ERROR crashed",
        '{"level": "ERROR", "ms": 120}',
    ]
    assert messages(filterPattern="{ $.ms > 100 }") == ['{"level": "ERROR", "ms": 120}']
    assert messages(filterPattern="%^INFO%") == ["INFO boot"]
    assert messages(logStreamNames=["worker"]) == ["ERROR crashed", '{"level": "INFO", "ms": 3}']
    assert messages(logStreamNamePrefix="wor", startTime=base + 1) == ['{"level": "INFO", "ms": 3}']

    pages = list(
        logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, PaginationConfig={"PageSize": 2}
        )
    )
    assert len([e for p in pages for e in p["events"]]) == 5
    assert len(pages) >= 3

    with pytest.raises(ClientError) as info:
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = ")
    assert error_of(info)[0] == "InvalidParameterException"


def test_tags(logs: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.tag_log_group(logGroupName=group, tags={"a": "1", "b": "2"})
    logs.untag_log_group(logGroupName=group, tags=["a"])
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"b": "2"}
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"env": "dev"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"b": "2", "env": "dev"}
    logs.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "dev"}
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.list_tags_for_resource(resourceArn=arn + "-missing")


def test_aws_cli_reads_logs(logs: Any, server: Any, tmp_path: Any) -> None:
    group = unique()
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    base = now_ms() - 10_000
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": base + i, "message": f"cli line {i}"} for i in range(30)],
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    aws = [
        str(Path(sys.executable).parent / "aws"),
        "--endpoint-url",
        server.endpoint,
        "--output",
        "json",
    ]

    def run(*args: str) -> Any:
        out = subprocess.run([*aws, *args], capture_output=True, text=True, timeout=60, env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    # The CLI follows nextToken by itself (page size 7 forces several pages).
    filtered = run("logs", "filter-log-events", "--log-group-name", group, "--page-size", "7")
    assert [e["message"] for e in filtered["events"]] == [f"cli line {i}" for i in range(30)]
    matched = run(
        "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", '"line 2"'
    )
    assert [e["message"] for e in matched["events"]] == ["cli line 2"] + [
        f"cli line {i}" for i in range(20, 30)
    ]
    got = run(
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        "s",
        "--limit",
        "3",
    )
    assert [e["message"] for e in got["events"]] == ["cli line 27", "cli line 28", "cli line 29"]
    groups = run("logs", "describe-log-groups", "--log-group-name-prefix", group)
    assert [g["logGroupName"] for g in groups["logGroups"]] == [group]
