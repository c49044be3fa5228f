"""The SQS provider in-process (as an event source poller calls it): long polls, stop, retention, redrive."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.sqs import MIGRATIONS, SqsProvider, store
from cloudlet.storage import Database

CTX = RequestContext(
    request_id="r",
    service="sqs",
    operation="op",
    region="us-east-1",
    account_id="000000000000",
    access_key_id=None,
    endpoint="http://cloudlet:4566",
)


def run(tmp_path: Path, body: Callable[[SqsProvider], Awaitable[None]]) -> None:
    async def main() -> None:
        db = Database(tmp_path / "sqs.db", MIGRATIONS)
        await db.open()
        provider = SqsProvider(db, sweep_interval_s=3600)
        await provider.start()
        try:
            await body(provider)
        finally:
            await provider.stop()
            await db.close()

    asyncio.run(main())


async def create(provider: SqsProvider, name: str, **attributes: str) -> str:
    url: str = (await provider.CreateQueue(CTX, {"QueueName": name, "Attributes": attributes}))[
        "QueueUrl"
    ]
    return url


def test_queue_url_uses_the_called_endpoint(tmp_path: Path) -> None:
    async def body(provider: SqsProvider) -> None:
        assert await create(provider, "q") == "http://cloudlet:4566/000000000000/q"

    run(tmp_path, body)


def test_long_poll_wakes_on_send(tmp_path: Path) -> None:
    async def body(provider: SqsProvider) -> None:
        url = await create(provider, "q")
        start = time.monotonic()
        poll = asyncio.create_task(
            provider.ReceiveMessage(CTX, {"QueueUrl": url, "WaitTimeSeconds": 10})
        )
        await asyncio.sleep(0.1)
        assert not poll.done()
        await provider.SendMessage(CTX, {"QueueUrl": url, "MessageBody": "wake"})
        result = await asyncio.wait_for(poll, 2)
        assert result["Messages"][0]["Body"] == "wake"
        assert time.monotonic() - start < 1.5

    run(tmp_path, body)


def test_long_poll_wakes_when_a_delayed_message_becomes_visible(tmp_path: Path) -> None:
    async def body(provider: SqsProvider) -> None:
        url = await create(provider, "q")
        await provider.SendMessage(
            CTX, {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 1}
        )
        start = time.monotonic()
        result = await provider.ReceiveMessage(CTX, {"QueueUrl": url, "WaitTimeSeconds": 5})
        assert result["Messages"][0]["Body"] == "later"
        assert 0.9 <= time.monotonic() - start < 2.0

    run(tmp_path, body)


def test_stop_ends_long_polls(tmp_path: Path) -> None:
    async def main() -> None:
        db = Database(tmp_path / "sqs.db", MIGRATIONS)
        await db.open()
        provider = SqsProvider(db)
        await provider.start()
        url = await create(provider, "q")
        poll = asyncio.create_task(
            provider.ReceiveMessage(CTX, {"QueueUrl": url, "WaitTimeSeconds": 20})
        )
        await asyncio.sleep(0.1)
        await provider.stop()
        assert await asyncio.wait_for(poll, 2) == {}
        await db.close()

    asyncio.run(main())


def test_retention_sweep_drops_old_messages(tmp_path: Path) -> None:
    async def body(provider: SqsProvider) -> None:
        url = await create(provider, "q", MessageRetentionPeriod="60")
        await provider.SendMessage(CTX, {"QueueUrl": url, "MessageBody": "old"})
        queues = list(provider.by_id.values())
        later = int(time.time() * 1000) + 61_000
        await provider.db.write(lambda conn: store.sweep(conn, queues=queues, now=later))
        attributes = await provider.GetQueueAttributes(
            CTX, {"QueueUrl": url, "AttributeNames": ["All"]}
        )
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"

    run(tmp_path, body)


def test_poller_cycle_with_redrive(tmp_path: Path) -> None:
    """Receive, fail, receive again: over maxReceiveCount the message is in the DLQ, once."""

    async def body(provider: SqsProvider) -> None:
        dlq = await create(provider, "dlq")
        dlq_arn = "arn:aws:sqs:us-east-1:000000000000:dlq"
        src = await create(
            provider,
            "src",
            VisibilityTimeout="0",
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        )
        await provider.SendMessageBatch(
            CTX,
            {
                "QueueUrl": src,
                "Entries": [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(4)],
            },
        )
        received: dict[str, int] = {}
        for _ in range(5):
            got = await provider.ReceiveMessage(CTX, {"QueueUrl": src, "MaxNumberOfMessages": 10})
            for message in got.get("Messages", []):
                received[message["Body"]] = received.get(message["Body"], 0) + 1
                if message["Body"] == "m0":  # the only one the handler gets right
                    await provider.DeleteMessage(
                        CTX, {"QueueUrl": src, "ReceiptHandle": message["ReceiptHandle"]}
                    )
        assert received == {"m0": 1, "m1": 3, "m2": 3, "m3": 3}
        dead: list[Any] = []
        while batch := (
            await provider.ReceiveMessage(CTX, {"QueueUrl": dlq, "MaxNumberOfMessages": 10})
        ).get("Messages"):
            dead += batch
            for message in batch:
                await provider.DeleteMessage(
                    CTX, {"QueueUrl": dlq, "ReceiptHandle": message["ReceiptHandle"]}
                )
        assert sorted(m["Body"] for m in dead) == ["m1", "m2", "m3"]

    run(tmp_path, body)
