"""Stream helpers that need no server: Lambda event records, iterators, the TTL sweeper."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cloudlet.context import RequestContext
from cloudlet.services.dynamodb import MIGRATIONS, DynamoDBProvider
from cloudlet.services.dynamodb.streams import lambda_record
from cloudlet.storage import Database


def test_lambda_record_is_json_ready() -> None:
    record = {
        "eventID": "1",
        "eventName": "REMOVE",
        "dynamodb": {"Keys": {"pk": {"B": b"\x01"}}, "OldImage": {"s": {"BS": [b"a"]}}, "SequenceNumber": "000000000000000000001"},
        "userIdentity": {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},
    }
    event = lambda_record(record, "arn:stream")
    assert event["dynamodb"]["Keys"] == {"pk": {"B": "AQ=="}}
    assert event["dynamodb"]["OldImage"] == {"s": {"BS": ["YQ=="]}}
    assert event["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert event["eventSourceARN"] == "arn:stream"


def ctx() -> RequestContext:
    return RequestContext(
        request_id="r", service="dynamodb", operation="Op", region="us-east-1", account_id="111122223333",
        access_key_id=None, endpoint="http://localhost",
    )


def test_ttl_sweep_in_process(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(tmp_path / "ddb.db", MIGRATIONS)
        await db.open()
        provider = DynamoDBProvider(db, ttl_interval_s=3600)
        await provider.start()
        try:
            await provider.CreateTable(ctx(), {
                "TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
            })
            await provider.UpdateTimeToLive(ctx(), {"TableName": "t", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "ttl"}})
            now = time.time()
            await provider.PutItem(ctx(), {"TableName": "t", "Item": {"pk": {"S": "a"}, "ttl": {"N": str(int(now) + 100)}}})
            assert await provider.ttl.sweep(now) == 0
            assert await provider.ttl.sweep(now + 101) == 1
            assert await provider.GetItem(ctx(), {"TableName": "t", "Key": {"pk": {"S": "a"}}}) == {}
            described = await provider.DescribeTable(ctx(), {"TableName": "t"})
            assert described["Table"]["ItemCount"] == 0 and described["Table"]["TableSizeBytes"] == 0
        finally:
            await provider.stop()
            await db.close()

    asyncio.run(scenario())
