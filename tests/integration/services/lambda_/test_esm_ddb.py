"""DynamoDB stream event source mappings end to end: table → stream → poller → function.

In-process tests use a real hub (DynamoDB + Streams, SQS, engine, Lambda with
the mapping mixin); ``test_boto3_*`` use the real server and skip until the lead
has wired the mixin into ``LambdaProvider``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.lambda_.esm_support import (
    ACCOUNT,
    REGION,
    Hub,
    esm_hub,
    function_params,
    providers_available,
    records_of,
    unique,
    wait_for,
)

pytestmark = pytest.mark.skipif(
    providers_available() is not None, reason=str(providers_available())
)

INTERVALS: dict[str, Any] = {
    "stream_poll_interval_s": 0.05,
    "retry_base_s": 0.02,
    "retry_max_s": 0.1,
    "error_backoff_s": 0.2,
}


async def table(hub: Hub, name: str, view: str = "NEW_AND_OLD_IMAGES") -> str:
    created = await hub.call(
        "dynamodb",
        "CreateTable",
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    return str(created["TableDescription"]["LatestStreamArn"])


async def put(hub: Hub, name: str, pk: str, msg: str) -> None:
    await hub.call("dynamodb", "PutItem", TableName=name, Item={"pk": {"S": pk}, "Msg": {"S": msg}})


def run(tmp_path: Path, body: Callable[[Hub, Path], Any]) -> None:
    async def main() -> None:
        async with esm_hub(tmp_path / "data", **INTERVALS) as hub:
            await body(hub, tmp_path / "out.jsonl")

    asyncio.run(main())


def test_stream_records_in_order_with_images(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        name = unique("tbl")
        stream_arn = await table(hub, name)
        fn = unique("fn")
        await hub.esm("CreateFunction", **function_params(fn, out))
        await put(hub, name, "early", "before the mapping")
        created = await hub.esm(
            "CreateEventSourceMapping",
            EventSourceArn=stream_arn,
            FunctionName=fn,
            StartingPosition="LATEST",
        )
        await asyncio.sleep(0.3)  # the poller has taken its LATEST position
        await put(hub, name, "k1", "v1")
        await put(hub, name, "k1", "v2")
        await hub.call("dynamodb", "DeleteItem", TableName=name, Key={"pk": {"S": "k1"}})
        await wait_for(lambda: len(records_of(out)) >= 3)
        records = records_of(out)
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
        first = records[0]
        assert list(first)[:6] == [
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
        ]
        assert first["eventVersion"] == "1.1"
        assert first["eventSource"] == "aws:dynamodb"
        assert first["awsRegion"] == REGION
        assert first["eventSourceARN"] == stream_arn
        assert first["dynamodb"]["Keys"] == {"pk": {"S": "k1"}}
        assert first["dynamodb"]["NewImage"] == {"pk": {"S": "k1"}, "Msg": {"S": "v1"}}
        assert "OldImage" not in first["dynamodb"]
        assert first["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], (int, float))
        assert records[1]["dynamodb"]["OldImage"]["Msg"] == {"S": "v1"}
        assert records[2]["dynamodb"]["OldImage"]["Msg"] == {"S": "v2"}
        assert "NewImage" not in records[2]["dynamodb"]
        sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
        assert sequences == sorted(sequences)

        async def ok() -> bool:
            got = await hub.esm("GetEventSourceMapping", UUID=created["UUID"])
            return bool(got["LastProcessingResult"] == "OK")

        await wait_for(ok)

    run(tmp_path, body)


def test_trim_horizon_filter_and_checkpoint_across_restart(tmp_path: Path) -> None:
    async def main() -> None:
        out = tmp_path / "out.jsonl"
        name = unique("tbl")
        async with esm_hub(tmp_path / "data", **INTERVALS) as hub:
            stream_arn = await table(hub, name)
            fn = unique("fn")
            await hub.esm("CreateFunction", **function_params(fn, out))
            await put(hub, name, "a", "first")
            await put(hub, name, "skip", "filtered out")
            pattern = json.dumps({"dynamodb": {"Keys": {"pk": {"S": [{"anything-but": "skip"}]}}}})
            await hub.esm(
                "CreateEventSourceMapping",
                EventSourceArn=stream_arn,
                FunctionName=fn,
                StartingPosition="TRIM_HORIZON",
                FilterCriteria={"Filters": [{"Pattern": pattern}]},
            )
            await wait_for(lambda: len(records_of(out)) >= 1)
            await asyncio.sleep(0.2)
        async with esm_hub(tmp_path / "data", **INTERVALS) as hub:
            await put(hub, name, "b", "second")
            await wait_for(lambda: len(records_of(out)) >= 2)
            await asyncio.sleep(0.3)
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records_of(out)]
        assert keys == ["a", "b"]  # nothing re-delivered after the restart, "skip" filtered

    asyncio.run(main())


def test_bisect_retries_and_on_failure_destination(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        name = unique("tbl")
        stream_arn = await table(hub, name)
        fn = unique("fn")
        await hub.esm("CreateFunction", **function_params(fn, out))
        dlq = unique("dlq")
        dlq_url = (await hub.call("sqs", "CreateQueue", QueueName=dlq))["QueueUrl"]
        for pk, msg in (("a", "ok"), ("b", "ok"), ("c", "boom"), ("d", "ok")):
            await put(hub, name, pk, msg)
        created = await hub.esm(
            "CreateEventSourceMapping",
            EventSourceArn=stream_arn,
            FunctionName=fn,
            StartingPosition="TRIM_HORIZON",
            MaximumRetryAttempts=1,
            BisectBatchOnFunctionError=True,
            DestinationConfig={
                "OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq}"}
            },
        )

        async def failure_message() -> dict[str, Any] | None:
            got = await hub.call("sqs", "ReceiveMessage", QueueUrl=dlq_url, WaitTimeSeconds=1)
            messages = got.get("Messages") or []
            return json.loads(messages[0]["Body"]) if messages else None

        found: list[dict[str, Any]] = []

        async def check() -> bool:
            message = await failure_message()
            if message:
                found.append(message)
            return bool(found)

        await wait_for(check, timeout=20)
        report = found[0]
        assert report["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert report["requestContext"]["functionArn"].endswith(f":function:{fn}")
        assert report["responseContext"]["functionError"] == "Unhandled"
        assert report["version"] == "1.0"
        info = report["DDBStreamBatchInfo"]
        assert info["batchSize"] == 2 and info["streamArn"] == stream_arn
        batches = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in _events(out)]
        assert batches[0] == ["a", "b", "c", "d"]
        assert ["a", "b"] in batches and ["c", "d"] in batches

        await put(hub, name, "e", "ok")  # the shard moves on after giving up
        await wait_for(
            lambda: any(r["dynamodb"]["Keys"]["pk"]["S"] == "e" for r in records_of(out))
        )
        got = await hub.esm("GetEventSourceMapping", UUID=created["UUID"])
        assert got["LastProcessingResult"] in ("OK", "PROBLEM: Function call failed")

    run(tmp_path, body)


def test_report_batch_item_failures_resumes_from_lowest(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        name = unique("tbl")
        stream_arn = await table(hub, name)
        fn = unique("fn")
        await hub.esm("CreateFunction", **function_params(fn, out))
        for pk, msg in (("a", "ok"), ("b", "fail"), ("c", "ok")):
            await put(hub, name, pk, msg)
        await hub.esm(
            "CreateEventSourceMapping",
            EventSourceArn=stream_arn,
            FunctionName=fn,
            StartingPosition="TRIM_HORIZON",
            MaximumRetryAttempts=1,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
        await wait_for(lambda: len(_events(out)) >= 2)
        await asyncio.sleep(0.2)
        await put(hub, name, "z", "later")
        await wait_for(
            lambda: any(r["dynamodb"]["Keys"]["pk"]["S"] == "z" for r in records_of(out))
        )
        batches = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in _events(out)]
        # One retry (MaximumRetryAttempts=1) from the lowest failed record, then it moves on.
        assert batches == [["a", "b", "c"], ["b", "c"], ["z"]]

    run(tmp_path, body)


def _events(out: Path) -> list[dict[str, Any]]:
    from tests.integration.services.lambda_.esm_support import read_events

    return read_events(out)


# -- through boto3 against the server (needs the lead's wiring) ---------------------------


def test_boto3_stream_to_function(aws_client: Callable[..., Any], tmp_path: Path) -> None:
    lam = aws_client("lambda")
    try:
        lam.list_event_source_mappings()
    except Exception as exc:
        pytest.skip(f"the server's Lambda provider has no event source mappings yet: {exc}")
    ddb = aws_client("dynamodb")
    out = tmp_path / "out.jsonl"
    fn = unique("fn")
    lam.create_function(**function_params(fn, out))
    name = unique("tbl")
    described = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    stream_arn = described["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=fn, StartingPosition="TRIM_HORIZON", BatchSize=10
    )
    for n in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{n}"}, "Msg": {"S": "hi"}})
    deadline = time.monotonic() + 30
    while len(records_of(out)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    records = records_of(out)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == [f"k{n}" for n in range(5)]
    assert all(r["eventName"] == "INSERT" and r["eventSourceARN"] == stream_arn for r in records)
