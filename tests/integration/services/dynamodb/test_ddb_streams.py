"""DynamoDB Streams through boto3, and TTL expiry with its REMOVE records."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.servers import ServerProcess, make_client


def read_all(streams: Any, arn: str, iterator_type: str = "TRIM_HORIZON", **extra: Any) -> tuple[list[dict[str, Any]], str]:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=iterator_type, **extra)["ShardIterator"]
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=iterator, Limit=2)
        records += page["Records"]
        iterator = page["NextShardIterator"]
        if not page["Records"]:
            return records, iterator


@pytest.mark.parametrize("view", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_records_follow_changes_with_view_type(ddb: Any, streams: Any, make_table: Any, view: str) -> None:
    name = make_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    table = ddb.describe_table(TableName=name)["Table"]
    arn = table["LatestStreamArn"]
    assert arn.startswith(table["TableArn"] + "/stream/") and table["LatestStreamLabel"] in arn
    key = {"pk": {"S": "k"}, "sk": {"S": "1"}}
    ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}})
    ddb.put_item(TableName=name, Item={**key, "v": {"N": "1"}})  # no change, no record
    ddb.update_item(TableName=name, Key=key, UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "2"}})
    ddb.delete_item(TableName=name, Key=key)
    records, _ = read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    for record in records:
        assert record["eventSource"] == "aws:dynamodb" and record["awsRegion"] == "us-east-1"
        assert record["dynamodb"]["Keys"] == key and record["dynamodb"]["StreamViewType"] == view
    new_images = [r["dynamodb"].get("NewImage") for r in records]
    old_images = [r["dynamodb"].get("OldImage") for r in records]
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert new_images == [{**key, "v": {"N": "1"}}, {**key, "v": {"N": "2"}}, None]
    else:
        assert new_images == [None, None, None]
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert old_images == [None, {**key, "v": {"N": "1"}}, {**key, "v": {"N": "2"}}]
    else:
        assert old_images == [None, None, None]


def test_iterator_types_and_list_describe(ddb: Any, streams: Any, make_table: Any) -> None:
    name = make_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    listed = streams.list_streams(TableName=name)["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": name, "StreamLabel": arn.rsplit("/", 1)[1]}]
    for i in range(3):
        ddb.put_item(TableName=name, Item={"pk": {"S": str(i)}, "sk": {"S": "x"}})
    records, _ = read_all(streams, arn)
    second = records[1]["dynamodb"]["SequenceNumber"]
    at, _ = read_all(streams, arn, "AT_SEQUENCE_NUMBER", SequenceNumber=second)
    after, _ = read_all(streams, arn, "AFTER_SEQUENCE_NUMBER", SequenceNumber=second)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in at] == ["1", "2"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in after] == ["2"]
    latest, iterator = read_all(streams, arn, "LATEST")
    assert latest == []
    ddb.put_item(TableName=name, Item={"pk": {"S": "later"}, "sk": {"S": "x"}})
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]] == ["later"]
    description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamStatus"] == "ENABLED" and description["TableName"] == name
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    closed = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert closed["StreamStatus"] == "DISABLED"
    assert "EndingSequenceNumber" in closed["Shards"][0]["SequenceNumberRange"]
    with pytest.raises(streams.exceptions.ResourceNotFoundException):
        streams.describe_stream(StreamArn=arn + "x")


def test_ttl_deletes_expired_items_with_service_identity(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(tmp_path / "ttl", env={"CLOUDLET_DYNAMODB_TTL_INTERVAL": "0.2"})
    ddb = make_client(server.endpoint, "dynamodb")
    streams = make_client(server.endpoint, "dynamodbstreams")
    ddb.create_table(
        TableName="ttl",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "OLD_IMAGE"},
    )
    now = int(time.time())
    ddb.put_item(TableName="ttl", Item={"pk": {"S": "old"}, "exp": {"N": str(now - 10)}})
    ddb.put_item(TableName="ttl", Item={"pk": {"S": "future"}, "exp": {"N": str(now + 3600)}})
    ddb.put_item(TableName="ttl", Item={"pk": {"S": "text"}, "exp": {"S": "0"}})
    ddb.update_time_to_live(TableName="ttl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "Item" in ddb.get_item(TableName="ttl", Key={"pk": {"S": "old"}}):
        time.sleep(0.1)
    assert "Item" not in ddb.get_item(TableName="ttl", Key={"pk": {"S": "old"}})
    assert "Item" in ddb.get_item(TableName="ttl", Key={"pk": {"S": "future"}})
    assert "Item" in ddb.get_item(TableName="ttl", Key={"pk": {"S": "text"}})
    arn = ddb.describe_table(TableName="ttl")["Table"]["LatestStreamArn"]
    records, _ = read_all(streams, arn)
    removes = [r for r in records if r["eventName"] == "REMOVE"]
    assert len(removes) == 1
    assert removes[0]["userIdentity"] == {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert removes[0]["dynamodb"]["OldImage"]["pk"] == {"S": "old"}
    assert all("userIdentity" not in r for r in records if r["eventName"] == "INSERT")


def test_items_and_stream_records_survive_kill_9(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    data = tmp_path / "durable"
    server = start_server(data)
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="durable",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for i in range(20):
        ddb.put_item(TableName="durable", Item={"pk": {"S": f"{i:02d}"}})
    server.kill9()
    again = start_server(data)
    ddb = again.client("dynamodb")
    table = ddb.describe_table(TableName="durable")["Table"]
    assert table["ItemCount"] == 20
    records, _ = read_all(again.client("dynamodbstreams"), table["LatestStreamArn"])
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == [f"{i:02d}" for i in range(20)]
