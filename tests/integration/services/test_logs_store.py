"""CloudWatch Logs provider and store, driven in-process.

A real ``Database`` file in ``tmp_path``, the real ``LogsStore`` and
``LogsProvider``, real ``RequestContext`` objects; operations are called the
way the edge calls them (``await provider.<Operation>(ctx, params)``) with the
params botocore would send, and results are compared with boto3's shapes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.logs import MIGRATIONS, LogsProvider, LogsStore
from cloudlet.services.logs.filters import compile_pattern
from cloudlet.services.logs.model import DAY_MS, HOUR_MS
from cloudlet.storage import Database

T = TypeVar("T")
ACCOUNT = "000000000000"


def now_ms() -> int:
    return int(time.time() * 1000)


class Harness:
    """One database, store and provider on a private event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.open()

    def open(self) -> None:
        self.db = Database(self.path, MIGRATIONS)
        self.run(self.db.open())
        self.store = LogsStore(self.db)
        self.provider = LogsProvider(self.store)

    def close(self) -> None:
        self.run(self.db.close())

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapper() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapper())

    def ctx(
        self, operation: str, region: str = "us-east-1", account: str = ACCOUNT
    ) -> RequestContext:
        return RequestContext(
            request_id=str(uuid.uuid4()),
            service="logs",
            operation=operation,
            region=region,
            account_id=account,
            access_key_id="test",
            endpoint="http://127.0.0.1:4566",
        )

    def call(
        self, operation: str, region: str = "us-east-1", account: str = ACCOUNT, **params: Any
    ) -> Any:
        method: Callable[..., Awaitable[Any]] = getattr(self.provider, operation)
        return self.run(method(self.ctx(operation, region, account), params))

    def error(self, operation: str, **params: Any) -> ServiceError:
        with pytest.raises(ServiceError) as info:
            self.call(operation, **params)
        return info.value


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "logs.db")
    try:
        yield harness
    finally:
        harness.close()
        harness.loop.close()


def group_name() -> str:
    return f"/test/{uuid.uuid4().hex[:12]}"


def put(logs: Harness, group: str, stream: str, *messages: str, start: int | None = None) -> int:
    base = now_ms() - 60_000 if start is None else start
    events = [{"timestamp": base + i, "message": m} for i, m in enumerate(messages)]
    logs.call("PutLogEvents", logGroupName=group, logStreamName=stream, logEvents=events)
    return base


# -------------------------------------------------------------- log groups


def test_create_and_describe_log_group(logs: Harness) -> None:
    before = now_ms()
    assert logs.call("CreateLogGroup", logGroupName="/app/one", tags={"team": "a"}) == {}
    [group] = logs.call("DescribeLogGroups", logGroupNamePrefix="/app/one")["logGroups"]
    assert group["logGroupName"] == "/app/one"
    assert before <= group["creationTime"] <= now_ms()
    assert group["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/one:*"
    assert group["logGroupArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/one"
    assert group["storedBytes"] == 0
    assert group["metricFilterCount"] == 0
    assert group["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in group
    assert logs.call("ListTagsLogGroup", logGroupName="/app/one") == {"tags": {"team": "a"}}


def test_create_duplicate_group_fails(logs: Harness) -> None:
    logs.call("CreateLogGroup", logGroupName="dup")
    error = logs.error("CreateLogGroup", logGroupName="dup")
    assert error.code == "ResourceAlreadyExistsException"
    assert error.message == "The specified log group already exists"
    assert error.status == 400


@pytest.mark.parametrize("name", ["has space", "colon:name", "star*", "", "x" * 513])
def test_invalid_group_names_are_rejected(logs: Harness, name: str) -> None:
    error = logs.error("CreateLogGroup", logGroupName=name)
    assert error.code == "InvalidParameterException"
    assert "logGroupName" in error.message


def test_groups_are_per_region_and_account(logs: Harness) -> None:
    logs.call("CreateLogGroup", logGroupName="shared")
    logs.call("CreateLogGroup", region="eu-west-1", logGroupName="shared")
    logs.call("CreateLogGroup", account="111111111111", logGroupName="shared")
    west = logs.call("DescribeLogGroups", region="eu-west-1")["logGroups"]
    assert [g["arn"] for g in west] == [f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:shared:*"]
    other = logs.call("DescribeLogGroups", account="111111111111")["logGroups"]
    assert [g["arn"] for g in other] == ["arn:aws:logs:us-east-1:111111111111:log-group:shared:*"]
    logs.call("DeleteLogGroup", region="eu-west-1", logGroupName="shared")
    assert len(logs.call("DescribeLogGroups")["logGroups"]) == 1


def test_describe_log_groups_pages_in_name_order(logs: Harness) -> None:
    names = [f"/page/{i:02d}" for i in range(7)]
    for name in reversed(names):
        logs.call("CreateLogGroup", logGroupName=name)
    logs.call("CreateLogGroup", logGroupName="/other")
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"logGroupNamePrefix": "/page/", "limit": 3}
        if token:
            params["nextToken"] = token
        page = logs.call("DescribeLogGroups", **params)
        pages += 1
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == names
    assert pages == 3


def test_describe_log_groups_by_pattern_is_a_case_sensitive_substring(logs: Harness) -> None:
    for name in ["DataLogs", "aws/DataLogs", "GroupDataLogs", "datalogs", "Data/logs"]:
        logs.call("CreateLogGroup", logGroupName=name)
    found = logs.call("DescribeLogGroups", logGroupNamePattern="DataLogs")["logGroups"]
    assert sorted(g["logGroupName"] for g in found) == ["DataLogs", "GroupDataLogs", "aws/DataLogs"]
    # With a pattern AWS answers only the name, creation time and ARN.
    assert set(found[0]) == {"logGroupName", "creationTime", "arn"}
    error = logs.error("DescribeLogGroups", logGroupNamePattern="a", logGroupNamePrefix="a")
    assert error.code == "InvalidParameterException"


def test_describe_log_groups_rejects_bad_limit_and_token(logs: Harness) -> None:
    assert logs.error("DescribeLogGroups", limit=0).code == "InvalidParameterException"
    assert logs.error("DescribeLogGroups", limit=51).code == "InvalidParameterException"
    assert (
        logs.error("DescribeLogGroups", nextToken="not-a-token").code == "InvalidParameterException"
    )


def test_delete_log_group_removes_streams_and_events(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    put(logs, group, "s", "hello")
    logs.call("DeleteLogGroup", logGroupName=group)
    assert logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"] == []
    error = logs.error("GetLogEvents", logGroupName=group, logStreamName="s")
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
    error = logs.error("DeleteLogGroup", logGroupName=group)
    assert error.code == "ResourceNotFoundException"
    # Recreating gives an empty group.
    logs.call("CreateLogGroup", logGroupName=group)
    assert logs.call("DescribeLogStreams", logGroupName=group)["logStreams"] == []
    count = logs.run(logs.db.fetchone("SELECT count(*) FROM log_events"))
    assert count is not None and count[0] == 0


# ------------------------------------------------------------- log streams


def test_create_describe_delete_log_stream(logs: Harness) -> None:
    group = group_name()
    error = logs.error("CreateLogStream", logGroupName=group, logStreamName="s1")
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    error = logs.error(
        "CreateLogStream", logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc"
    )
    assert (error.code, error.message) == (
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
    )
    [stream] = logs.call("DescribeLogStreams", logGroupName=group)["logStreams"]
    assert stream["logStreamName"] == "2024/01/01/[$LATEST]abc"
    assert (
        stream["arn"]
        == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:log-stream:2024/01/01/[$LATEST]abc"
    )
    assert stream["storedBytes"] == 0
    assert "lastEventTimestamp" not in stream
    assert len(stream["uploadSequenceToken"]) == 56
    logs.call("DeleteLogStream", logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc")
    assert logs.call("DescribeLogStreams", logGroupName=group)["logStreams"] == []
    error = logs.error(
        "DeleteLogStream", logGroupName=group, logStreamName="2024/01/01/[$LATEST]abc"
    )
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
    assert (
        logs.error("CreateLogStream", logGroupName=group, logStreamName="a:b").code
        == "InvalidParameterException"
    )


def test_describe_log_streams_orders_and_pages(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    base = now_ms() - 3_600_000
    # Names in one order, last event times in another; "empty" has no events.
    for offset, name in [(3, "a"), (1, "b"), (5, "c"), (2, "d")]:
        logs.call("CreateLogStream", logGroupName=group, logStreamName=name)
        put(logs, group, name, f"event of {name}", start=base + offset * 1000)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="empty")

    def names(**params: Any) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = logs.call(
                "DescribeLogStreams",
                logGroupName=group,
                limit=2,
                **params,
                **({"nextToken": token} if token else {}),
            )
            assert len(page["logStreams"]) <= 2
            out += [s["logStreamName"] for s in page["logStreams"]]
            token = page.get("nextToken")
            if not token:
                return out

    assert names() == ["a", "b", "c", "d", "empty"]
    assert names(descending=True) == ["empty", "d", "c", "b", "a"]
    assert names(orderBy="LastEventTime") == ["empty", "b", "d", "a", "c"]
    assert names(orderBy="LastEventTime", descending=True) == ["c", "a", "d", "b", "empty"]
    assert names(logStreamNamePrefix="e") == ["empty"]
    error = logs.error(
        "DescribeLogStreams", logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a"
    )
    assert error.code == "InvalidParameterException"
    assert error.message == "Cannot order by LastEventTime with a logStreamNamePrefix."
    # logGroupIdentifier accepts the group's ARN.
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"
    by_arn = logs.call("DescribeLogStreams", logGroupIdentifier=arn)["logStreams"]
    assert len(by_arn) == 5
    [c] = [s for s in by_arn if s["logStreamName"] == "c"]
    assert c["firstEventTimestamp"] == c["lastEventTimestamp"] == base + 5000
    assert c["lastIngestionTime"] >= c["creationTime"]


# ------------------------------------------------------------ PutLogEvents


def test_put_log_events_stores_and_counts_bytes(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    t = now_ms()
    first = logs.call(
        "PutLogEvents",
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": t, "message": "héllo"}, {"timestamp": t, "message": "world"}],
        sequenceToken="ignored-anyway",
    )
    assert set(first) == {"nextSequenceToken"}
    second = logs.call(
        "PutLogEvents",
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": t + 1, "message": "!"}],
    )
    assert int(second["nextSequenceToken"]) > int(first["nextSequenceToken"])
    events = logs.call("GetLogEvents", logGroupName=group, logStreamName="s", startFromHead=True)[
        "events"
    ]
    assert [e["message"] for e in events] == ["héllo", "world", "!"]
    assert all(e["ingestionTime"] >= t for e in events)
    [described] = logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"]
    assert described["storedBytes"] == len("héllo".encode()) + 5 + 1
    [stream] = logs.call("DescribeLogStreams", logGroupName=group)["logStreams"]
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"]) == (t, t + 1)
    assert stream["uploadSequenceToken"] == second["nextSequenceToken"]


def test_put_log_events_to_missing_stream_or_group(logs: Harness) -> None:
    group = group_name()
    events = [{"timestamp": now_ms(), "message": "x"}]
    error = logs.error("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=events)
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
    logs.call("CreateLogGroup", logGroupName=group)
    error = logs.error("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=events)
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )


def test_put_log_events_batch_rules(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    t = now_ms()

    def attempt(events: list[dict[str, Any]]) -> ServiceError:
        return logs.error("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=events)

    error = attempt([{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    assert error.code == "InvalidParameterException"
    assert (
        error.message
        == "Log events in a single PutLogEvents request must be in chronological order."
    )
    error = attempt(
        [{"timestamp": t - DAY_MS - 1, "message": "a"}, {"timestamp": t, "message": "b"}]
    )
    assert (
        error.message
        == "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
    )
    # 1,048,576 bytes including 26 per event: 4 events of 262,118 bytes fit exactly ...
    fits: list[dict[str, Any]] = [
        {"timestamp": t, "message": "x" * (262_144 - 26)} for _ in range(4)
    ]
    logs.call("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=fits)
    # ... one more byte does not.
    fits[0]["message"] += "x"
    assert "Upload too large" in attempt(fits).message
    too_many = [{"timestamp": t, "message": "x"} for _ in range(10_001)]
    assert attempt(too_many).code == "InvalidParameterException"
    logs.call("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=too_many[:10_000])
    assert attempt([]).code == "InvalidParameterException"
    # Nothing from a refused batch was stored.
    [described] = logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"]
    assert described["storedBytes"] == 4 * (262_144 - 26) + 10_000


def test_put_log_events_rejects_too_old_and_too_new(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    t = now_ms()
    old = t - 14 * DAY_MS - 60_000
    batch = [
        {"timestamp": old, "message": "too old"},
        {"timestamp": old + 1, "message": "too old too"},
        {"timestamp": t - 12 * DAY_MS, "message": "fine"},
    ]
    # The span rule applies to the whole batch, so split: old+fine, then fine+new.
    result = logs.call(
        "PutLogEvents", logGroupName=group, logStreamName="s", logEvents=[batch[0], batch[1]]
    )
    assert result["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    new = [
        {"timestamp": t, "message": "now"},
        {"timestamp": t + 3 * HOUR_MS, "message": "too new"},
    ]
    result = logs.call("PutLogEvents", logGroupName=group, logStreamName="s", logEvents=new)
    assert result["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    logs.call("PutRetentionPolicy", logGroupName=group, retentionInDays=1)
    result = logs.call(
        "PutLogEvents",
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": t - DAY_MS - 500, "message": "expired"},
            {"timestamp": t - 1000, "message": "kept"},
        ],
    )
    assert result["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    messages = [
        e["message"]
        for e in logs.call(
            "GetLogEvents", logGroupName=group, logStreamName="s", startFromHead=True
        )["events"]
    ]
    assert messages == ["kept", "now"]


# ------------------------------------------------------------ GetLogEvents


def seeded(logs: Harness, count: int = 10) -> tuple[str, int]:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    base = put(logs, group, "s", *[f"m{i}" for i in range(count)])
    return group, base


def test_get_log_events_default_reads_the_tail(logs: Harness) -> None:
    group, _ = seeded(logs)
    page = logs.call("GetLogEvents", logGroupName=group, logStreamName="s", limit=3)
    assert [e["message"] for e in page["events"]] == ["m7", "m8", "m9"]
    assert page["nextForwardToken"].startswith("f/") and page["nextForwardToken"].endswith("/s")
    assert page["nextBackwardToken"].startswith("b/")
    # Walk backwards to the head.
    seen = [e["message"] for e in page["events"]]
    token = page["nextBackwardToken"]
    while True:
        page = logs.call(
            "GetLogEvents", logGroupName=group, logStreamName="s", limit=3, nextToken=token
        )
        if not page["events"]:
            assert page["nextBackwardToken"] == token  # the same token at the end
            break
        seen = [e["message"] for e in page["events"]] + seen
        token = page["nextBackwardToken"]
    assert seen == [f"m{i}" for i in range(10)]


def test_get_log_events_forward_pagination_and_follow(logs: Harness) -> None:
    group, base = seeded(logs)
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 4, "startFromHead": True}
        if token:
            params["nextToken"] = token
        page = logs.call("GetLogEvents", logGroupName=group, logStreamName="s", **params)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    assert seen == [f"m{i}" for i in range(10)]
    # The last forward token picks up events written later.
    put(logs, group, "s", "late", start=base + 100)
    page = logs.call("GetLogEvents", logGroupName=group, logStreamName="s", nextToken=token)
    assert [e["message"] for e in page["events"]] == ["late"]


def test_get_log_events_time_window(logs: Harness) -> None:
    group, base = seeded(logs)
    page = logs.call(
        "GetLogEvents",
        logGroupName=group,
        logStreamName="s",
        startTime=base + 2,
        endTime=base + 5,
        startFromHead=True,
    )
    assert [e["message"] for e in page["events"]] == ["m2", "m3", "m4"]  # endTime is exclusive
    assert [e["timestamp"] for e in page["events"]] == [base + 2, base + 3, base + 4]


def test_get_log_events_errors(logs: Harness) -> None:
    group, _ = seeded(logs, 1)
    error = logs.error("GetLogEvents", logGroupName=group, logStreamName="nope")
    assert (error.code, error.message) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
    assert (
        logs.error("GetLogEvents", logGroupName=group, logStreamName="s", nextToken="x/1/s").code
        == "InvalidParameterException"
    )
    assert (
        logs.error("GetLogEvents", logGroupName=group, logStreamName="s", limit=10_001).code
        == "InvalidParameterException"
    )


def test_get_log_events_on_empty_stream(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    page = logs.call("GetLogEvents", logGroupName=group, logStreamName="s")
    assert page["events"] == []
    put(logs, group, "s", "first")
    later = logs.call(
        "GetLogEvents", logGroupName=group, logStreamName="s", nextToken=page["nextForwardToken"]
    )
    assert [e["message"] for e in later["events"]] == ["first"]


# --------------------------------------------------------- FilterLogEvents


def filter_seeded(logs: Harness) -> tuple[str, int]:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    base = now_ms() - 60_000
    for stream in ["app-1", "app-2", "worker"]:
        logs.call("CreateLogStream", logGroupName=group, logStreamName=stream)
    put(
        logs,
        group,
        "app-1",
        "INFO start",
        "ERROR disk full",
        '{"level": "ERROR", "ms": 120}',
        start=base,
    )
    put(
        logs,
        group,
        "app-2",
        "WARN slow",
        "ERROR timeout",
        '{"level": "INFO", "ms": 5}',
        start=base + 10,
    )
    put(logs, group, "worker", "ERROR worker crashed", start=base + 20)
    return group, base


def test_filter_log_events_interleaves_streams(logs: Harness) -> None:
    group, base = filter_seeded(logs)
    result = logs.call("FilterLogEvents", logGroupName=group)
    assert [(e["logStreamName"], e["timestamp"]) for e in result["events"]] == [
        ("app-1", base), ("app-1", base + 1), ("app-1", base + 2),
        ("app-2", base + 10), ("app-2", base + 11), ("app-2", base + 12),
        ("worker", base + 20),
    ]  # fmt: skip
    event = result["events"][0]
    assert set(event) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert len({e["eventId"] for e in result["events"]}) == 7
    assert "nextToken" not in result
    assert result["searchedLogStreams"] == [
        {"logStreamName": name, "searchedCompletely": True} for name in ["app-1", "app-2", "worker"]
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            "ERROR",
            [
                "ERROR disk full",
                '{"level": "ERROR", "ms": 120}',
                "ERROR timeout",
                "ERROR worker crashed",
            ],
        ),
        ("ERROR -disk -timeout", ['{"level": "ERROR", "ms": 120}', "ERROR worker crashed"]),
        ('"disk full"', ["ERROR disk full"]),
        ("?WARN ?timeout", ["WARN slow", "ERROR timeout"]),
        ('{ $.level = "ERROR" }', ['{"level": "ERROR", "ms": 120}']),
        (
            "{ $.ms < 100 || $.level = ERROR }",
            ['{"level": "ERROR", "ms": 120}', '{"level": "INFO", "ms": 5}'],
        ),
        ("%^(WARN|INFO) %", ["INFO start", "WARN slow"]),
        ("", None),
    ],
)
def test_filter_log_events_patterns(
    logs: Harness, pattern: str, expected: list[str] | None
) -> None:
    group, _ = filter_seeded(logs)
    messages = [
        e["message"]
        for e in logs.call("FilterLogEvents", logGroupName=group, filterPattern=pattern)["events"]
    ]
    assert messages == expected if expected is not None else len(messages) == 7


def test_filter_log_events_stream_selection_and_time(logs: Harness) -> None:
    group, base = filter_seeded(logs)
    by_names = logs.call(
        "FilterLogEvents", logGroupName=group, logStreamNames=["worker", "app-2", "missing"]
    )
    assert {e["logStreamName"] for e in by_names["events"]} == {"worker", "app-2"}
    assert [s["logStreamName"] for s in by_names["searchedLogStreams"]] == ["app-2", "worker"]
    by_prefix = logs.call("FilterLogEvents", logGroupName=group, logStreamNamePrefix="app-")
    assert {e["logStreamName"] for e in by_prefix["events"]} == {"app-1", "app-2"}
    window = logs.call("FilterLogEvents", logGroupName=group, startTime=base + 2, endTime=base + 11)
    assert [e["timestamp"] for e in window["events"]] == [
        base + 2,
        base + 10,
        base + 11,
    ]  # both ends inclusive
    error = logs.error(
        "FilterLogEvents", logGroupName=group, logStreamNames=["a"], logStreamNamePrefix="a"
    )
    assert error.code == "InvalidParameterException"
    error = logs.error("FilterLogEvents", logGroupName=group, filterPattern="{ $.a = ")
    assert (error.code, error.message) == (
        "InvalidParameterException",
        "Invalid filter pattern: { $.a = ",
    )
    error = logs.error("FilterLogEvents", logGroupName="/missing/group")
    assert error.code == "ResourceNotFoundException"


@pytest.mark.parametrize("pattern", ["", "ERROR", '{ $.level = "ERROR" }'])
def test_filter_log_events_pagination(logs: Harness, pattern: str) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="a")
    logs.call("CreateLogStream", logGroupName=group, logStreamName="b")
    message = '{"level": "ERROR"}' if pattern else "ERROR x"
    base = now_ms() - 60_000
    put(logs, group, "a", *[message] * 5, start=base)
    put(logs, group, "b", *[message] * 5, start=base)  # equal timestamps across streams
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 3, "filterPattern": pattern}
        if token:
            params["nextToken"] = token
        page = logs.call("FilterLogEvents", logGroupName=group, **params)
        assert len(page["events"]) <= 3
        seen += [e["eventId"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == 10 and len(set(seen)) == 10


def test_filter_log_events_scan_limit_returns_a_token(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    put(logs, group, "s", *["noise"] * 30, '{"hit": 1}')
    pattern = compile_pattern("{ $.hit = 1 }")
    page = logs.run(
        logs.store.filter_events("us-east-1", ACCOUNT, group, pattern=pattern, scan_limit=10)
    )
    # Nothing matched in the first 10 rows: no events, but a token to go on.
    assert page.events == [] and page.next_key is not None
    rest = logs.run(
        logs.store.filter_events("us-east-1", ACCOUNT, group, pattern=pattern, after=page.next_key)
    )
    assert [e.message for e in rest.events] == ['{"hit": 1}'] and rest.next_key is None


# --------------------------------------------------------------- retention


def test_retention_policy(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("PutRetentionPolicy", logGroupName=group, retentionInDays=14)
    [described] = logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 14
    error = logs.error("PutRetentionPolicy", logGroupName=group, retentionInDays=2)
    assert error.code == "InvalidParameterException"
    assert "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30" in error.message
    logs.call("DeleteRetentionPolicy", logGroupName=group)
    [described] = logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"]
    assert "retentionInDays" not in described
    assert (
        logs.error("PutRetentionPolicy", logGroupName="/nope", retentionInDays=1).code
        == "ResourceNotFoundException"
    )
    assert (
        logs.error("DeleteRetentionPolicy", logGroupName="/nope").code
        == "ResourceNotFoundException"
    )


def test_purge_deletes_events_past_retention(logs: Harness) -> None:
    group = group_name()
    now = now_ms()
    logs.run(
        logs.store.put_events(
            "us-east-1", ACCOUNT, group, "s", [(now - 3 * DAY_MS, "old"), (now, "new")]
        )
    )
    logs.call("PutRetentionPolicy", logGroupName=group, retentionInDays=1)
    assert logs.run(logs.store.purge_expired()) == 1
    events = logs.call("GetLogEvents", logGroupName=group, logStreamName="s", startFromHead=True)[
        "events"
    ]
    assert [e["message"] for e in events] == ["new"]
    [described] = logs.call("DescribeLogGroups", logGroupNamePrefix=group)["logGroups"]
    assert described["storedBytes"] == 3


def test_provider_sweeper_runs_between_start_and_stop(logs: Harness) -> None:
    group = group_name()
    now = now_ms()
    logs.run(logs.store.put_events("us-east-1", ACCOUNT, group, "s", [(now - 3 * DAY_MS, "old")]))
    logs.call("PutRetentionPolicy", logGroupName=group, retentionInDays=1)
    provider = LogsProvider(logs.store, purge_interval_s=0.01)

    async def scenario() -> None:
        await provider.start()
        await asyncio.sleep(0.2)
        await provider.stop()

    logs.run(scenario())
    assert logs.call("GetLogEvents", logGroupName=group, logStreamName="s")["events"] == []


# -------------------------------------------------------------------- tags


def test_tag_log_group(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    logs.call("TagLogGroup", logGroupName=group, tags={"a": "1", "b": "2"})
    logs.call("TagLogGroup", logGroupName=group, tags={"b": "3"})
    assert logs.call("ListTagsLogGroup", logGroupName=group) == {"tags": {"a": "1", "b": "3"}}
    logs.call("UntagLogGroup", logGroupName=group, tags=["a", "zzz"])
    assert logs.call("ListTagsLogGroup", logGroupName=group) == {"tags": {"b": "3"}}
    assert (
        logs.error("TagLogGroup", logGroupName="/nope", tags={"a": "1"}).code
        == "ResourceNotFoundException"
    )
    many = {f"k{i}": "v" for i in range(50)}
    assert (
        logs.error("TagLogGroup", logGroupName=group, tags=many).code == "InvalidParameterException"
    )
    assert logs.call("ListTagsLogGroup", logGroupName=group) == {"tags": {"b": "3"}}


def test_tag_resource_by_arn(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group)
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"
    logs.call("TagResource", resourceArn=arn, tags={"env": "dev", "x": "y"})
    assert logs.call("ListTagsForResource", resourceArn=arn) == {"tags": {"env": "dev", "x": "y"}}
    assert logs.call("ListTagsForResource", resourceArn=arn + ":*") == {
        "tags": {"env": "dev", "x": "y"}
    }
    logs.call("UntagResource", resourceArn=arn, tagKeys=["x"])
    assert logs.call("ListTagsLogGroup", logGroupName=group) == {"tags": {"env": "dev"}}
    error = logs.error("TagResource", resourceArn=arn, tags={f"k{i}": "v" for i in range(50)})
    assert error.code == "TooManyTagsException"
    missing = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/missing"
    assert (
        logs.error("ListTagsForResource", resourceArn=missing).code == "ResourceNotFoundException"
    )
    other_region = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{group}"
    assert (
        logs.error("TagResource", resourceArn=other_region, tags={"a": "b"}).code
        == "ResourceNotFoundException"
    )


# ------------------------------------------------------------ Lambda's path


def test_put_events_creates_group_and_stream_in_one_write(logs: Harness) -> None:
    before = logs.db.statistics().writes
    now = now_ms()
    logs.run(
        logs.store.put_events(
            "us-east-1", ACCOUNT, "/aws/lambda/fn", "2026/01/01/[$LATEST]abc",
            [(now, "START RequestId: 1 Version: $LATEST"), (now + 1, "END RequestId: 1")],
        )
    )  # fmt: skip
    assert logs.db.statistics().writes == before + 1
    [group] = logs.call("DescribeLogGroups", logGroupNamePrefix="/aws/lambda/")["logGroups"]
    assert group["logGroupName"] == "/aws/lambda/fn"
    # A second call reuses both.
    logs.run(
        logs.store.put_events(
            "us-east-1", ACCOUNT, "/aws/lambda/fn", "2026/01/01/[$LATEST]abc", [(now + 2, "REPORT")]
        )
    )
    [stream] = logs.call("DescribeLogStreams", logGroupName="/aws/lambda/fn")["logStreams"]
    assert stream["lastEventTimestamp"] == now + 2
    result = logs.call("FilterLogEvents", logGroupName="/aws/lambda/fn", filterPattern="RequestId")
    assert [e["message"] for e in result["events"]] == [
        "START RequestId: 1 Version: $LATEST",
        "END RequestId: 1",
    ]


def test_concurrent_put_events_all_land(logs: Harness) -> None:
    now = now_ms()

    async def burst() -> None:
        await asyncio.gather(
            *(
                logs.store.put_events(
                    "us-east-1", ACCOUNT, "/aws/lambda/c", f"s{i % 4}", [(now + i, f"e{i}")]
                )
                for i in range(200)
            )
        )

    logs.run(burst())
    events = logs.call("FilterLogEvents", logGroupName="/aws/lambda/c")["events"]
    assert sorted(e["message"] for e in events) == sorted(f"e{i}" for i in range(200))
    assert len(logs.call("DescribeLogStreams", logGroupName="/aws/lambda/c")["logStreams"]) == 4


def test_state_survives_reopen(logs: Harness) -> None:
    group = group_name()
    logs.call("CreateLogGroup", logGroupName=group, tags={"k": "v"})
    logs.call("CreateLogStream", logGroupName=group, logStreamName="s")
    put(logs, group, "s", "persisted")
    logs.close()
    logs.open()
    events = logs.call("GetLogEvents", logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["persisted"]
    assert logs.call("ListTagsLogGroup", logGroupName=group) == {"tags": {"k": "v"}}
