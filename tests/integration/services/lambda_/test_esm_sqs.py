"""SQS event source mappings end to end: queue → poller → function → delete / retry / DLQ.

The in-process tests run a real hub (SQS provider, engine, Lambda with the
mapping mixin).  ``test_boto3_*`` use the real server and skip until the lead
has wired the mixin into ``LambdaProvider``.
"""

from __future__ import annotations

import asyncio
import hashlib
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


async def queue(hub: Hub, name: str, **attributes: str) -> tuple[str, str]:
    url = (await hub.call("sqs", "CreateQueue", QueueName=name, Attributes=attributes))["QueueUrl"]
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


async def counts(hub: Hub, url: str) -> tuple[int, int]:
    attrs = (
        await hub.call(
            "sqs",
            "GetQueueAttributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def setup(hub: Hub, out: Path, **mapping: Any) -> tuple[str, str, str]:
    fn = unique("fn")
    await hub.esm("CreateFunction", **function_params(fn, out))
    url, arn = await queue(hub, unique("q"), **mapping.pop("queue_attributes", {}))
    created = await hub.esm(
        "CreateEventSourceMapping", EventSourceArn=arn, FunctionName=fn, **mapping
    )
    return url, arn, str(created["UUID"])


def run(tmp_path: Path, body: Callable[[Hub, Path], Any]) -> None:
    async def main() -> None:
        async with esm_hub(tmp_path / "data", error_backoff_s=0.5) as hub:
            await body(hub, tmp_path / "out.jsonl")

    asyncio.run(main())


def test_batch_shape_and_delete(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        url, arn, _ = await setup(hub, out)
        await hub.call(
            "sqs",
            "SendMessage",
            QueueUrl=url,
            MessageBody="hello",
            MessageAttributes={"color": {"DataType": "String", "StringValue": "red"}},
        )
        await hub.call("sqs", "SendMessage", QueueUrl=url, MessageBody="plain")
        await wait_for(lambda: len(records_of(out)) >= 2)
        records = {r["body"]: r for r in records_of(out)}
        first = records["hello"]
        assert list(first) == [
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "md5OfMessageAttributes",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        ]
        assert first["eventSource"] == "aws:sqs"
        assert first["eventSourceARN"] == arn
        assert first["awsRegion"] == REGION
        assert first["md5OfBody"] == hashlib.md5(b"hello").hexdigest()
        assert first["messageAttributes"] == {
            "color": {
                "stringValue": "red",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        }
        attributes = first["attributes"]
        assert {
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
        } <= set(attributes)
        assert attributes["ApproximateReceiveCount"] == "1"
        assert all(isinstance(v, str) for v in attributes.values())
        assert "md5OfMessageAttributes" not in records["plain"]
        assert records["plain"]["messageAttributes"] == {}

        async def drained() -> bool:
            return await counts(hub, url) == (0, 0)

        await wait_for(drained)

    run(tmp_path, body)


def test_report_batch_item_failures_and_dlq(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        _, dlq_arn = await queue(hub, unique("dlq"))
        dlq_url = (await hub.call("sqs", "GetQueueUrl", QueueName=dlq_arn.rsplit(":", 1)[1]))[
            "QueueUrl"
        ]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
        url, _, _ = await setup(
            hub,
            out,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            queue_attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive},
        )
        for body_text in ("ok-1", "fail-2", "ok-3"):
            await hub.call("sqs", "SendMessage", QueueUrl=url, MessageBody=body_text)

        async def in_dlq() -> bool:
            got = await hub.call("sqs", "ReceiveMessage", QueueUrl=dlq_url, WaitTimeSeconds=1)
            messages = got.get("Messages") or []
            assert all(m["Body"] == "fail-2" for m in messages)
            return bool(messages)

        await wait_for(in_dlq, timeout=20)
        bodies = [r["body"] for r in records_of(out)]
        assert bodies.count("ok-1") == 1 and bodies.count("ok-3") == 1
        assert bodies.count("fail-2") == 2  # maxReceiveCount deliveries, then the DLQ
        assert await counts(hub, url) == (0, 0)

    run(tmp_path, body)


def test_function_error_retries_whole_batch(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        url, _, esm_id = await setup(hub, out, queue_attributes={"VisibilityTimeout": "1"})
        await hub.call("sqs", "SendMessage", QueueUrl=url, MessageBody="boom")
        await wait_for(lambda: len(records_of(out)) >= 2, timeout=15)
        receive_counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in records_of(out)]
        assert receive_counts[:2] == [1, 2]
        await hub.esm("DeleteEventSourceMapping", UUID=esm_id)

    run(tmp_path, body)


def test_filter_criteria_drops_non_matching(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        pattern = json.dumps({"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}})
        url, _, _ = await setup(hub, out, FilterCriteria={"Filters": [{"Pattern": pattern}]})
        sent = [
            {"kind": "order", "total": 50},
            {"kind": "order", "total": 5},
            {"kind": "refund", "total": 50},
        ]
        for payload in sent:
            await hub.call("sqs", "SendMessage", QueueUrl=url, MessageBody=json.dumps(payload))
        await hub.call("sqs", "SendMessage", QueueUrl=url, MessageBody="not json")

        async def drained() -> bool:
            return await counts(hub, url) == (0, 0)

        await wait_for(drained)
        await asyncio.sleep(0.2)
        assert [json.loads(r["body"]) for r in records_of(out)] == [sent[0]]

    run(tmp_path, body)


def test_batching_window_gathers_more_than_ten(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        url, _, _ = await setup(hub, out, BatchSize=25, MaximumBatchingWindowInSeconds=1)
        for start in range(0, 20, 10):
            entries = [{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)]
            await hub.call("sqs", "SendMessageBatch", QueueUrl=url, Entries=entries)
        await wait_for(lambda: len(records_of(out)) >= 20)
        from tests.integration.services.lambda_.esm_support import read_events

        sizes = [len(event["Records"]) for event in read_events(out)]
        assert max(sizes) > 10, sizes

    run(tmp_path, body)


def test_disable_enable_and_scale_out(tmp_path: Path) -> None:
    async def body(hub: Hub, out: Path) -> None:
        url, _, esm_id = await setup(hub, out, ScalingConfig={"MaximumConcurrency": 3})
        await hub.esm("UpdateEventSourceMapping", UUID=esm_id, Enabled=False)
        assert hub.lambda_.esm_statistics()["esm_runners"] == 0
        for start in range(0, 60, 10):
            entries = [{"Id": str(n), "MessageBody": f"m{start + n}"} for n in range(10)]
            await hub.call("sqs", "SendMessageBatch", QueueUrl=url, Entries=entries)
        await asyncio.sleep(0.3)
        assert records_of(out) == []
        await hub.esm("UpdateEventSourceMapping", UUID=esm_id, Enabled=True)
        most = 0
        deadline = time.monotonic() + 20
        while len(records_of(out)) < 60 and time.monotonic() < deadline:
            most = max(most, hub.lambda_.esm_statistics()["esm_workers"])
            await asyncio.sleep(0.01)
        assert sorted(r["body"] for r in records_of(out)) == sorted(f"m{n}" for n in range(60))
        assert 1 < most <= 3

    run(tmp_path, body)


# -- through boto3 against the server (needs the lead's wiring) ---------------------------


def test_boto3_sqs_to_function(aws_client: Callable[..., Any], tmp_path: Path) -> None:
    lam = aws_client("lambda")
    try:
        lam.list_event_source_mappings()
    except Exception as exc:
        pytest.skip(f"the server's Lambda provider has no event source mappings yet: {exc}")
    sqs = aws_client("sqs")
    out = tmp_path / "out.jsonl"
    fn = unique("fn")
    lam.create_function(**function_params(fn, out))
    url = sqs.create_queue(QueueName=unique("q"), Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName=fn, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    sqs.send_message(QueueUrl=url, MessageBody="ok-a")
    sqs.send_message(QueueUrl=url, MessageBody="fail-b")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bodies = [r["body"] for r in records_of(out)]
        if bodies.count("fail-b") >= 2:
            break
        time.sleep(0.1)
    bodies = [r["body"] for r in records_of(out)]
    assert bodies.count("ok-a") == 1
    assert bodies.count("fail-b") >= 2
