"""Control plane through boto3: tables, indexes, waiters, TTL, tags, limits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.integration.services.dynamodb.conftest import unique


def test_create_describe_list_delete_with_waiters(ddb: Any) -> None:
    name = unique()
    created = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        Tags=[{"Key": "team", "Value": "a"}],
    )["TableDescription"]
    assert created["TableStatus"] == "CREATING"
    assert created["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    ddb.put_item(TableName=name, Item={"id": {"S": "1"}, "v": {"S": "hello"}})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ItemCount"] == 1
    assert table["TableSizeBytes"] == len("id") + 1 + len("v") + 5
    assert table["TableArn"].endswith(f":table/{name}")
    assert name in ddb.list_tables(Limit=100)["TableNames"] or name in _all_tables(ddb)
    assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    ddb.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": "env", "Value": "dev"}])
    ddb.untag_resource(ResourceArn=table["TableArn"], TagKeys=["team"])
    assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.describe_table(TableName=name)
    assert info.value.response["Error"]["Message"] == f"Requested resource not found: Table: {name} not found"


def _all_tables(ddb: Any) -> list[str]:
    return [n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]


def test_list_tables_pagination(ddb: Any, make_table: Any) -> None:
    names = sorted(make_table(range_type=None) for _ in range(3))
    first = ddb.list_tables(Limit=1)
    assert len(first["TableNames"]) == 1 and "LastEvaluatedTableName" in first
    assert set(names) <= set(_all_tables(ddb))
    after = ddb.list_tables(ExclusiveStartTableName=names[0])["TableNames"]
    assert names[0] not in after and names[1] in after


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}]},
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]},
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [id], AttributeDefinitions: [other]",
        ),
        (
            {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "BillingMode": "PROVISIONED"},
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        ),
    ],
)
def test_create_table_validation(ddb: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError) as info:
        ddb.create_table(TableName=unique(), KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], **kwargs)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == message


def test_update_table_billing_and_gsi_backfill(ddb: Any, make_table: Any) -> None:
    name = make_table()
    for i in range(5):
        item = {"pk": {"S": "p"}, "sk": {"S": f"{i}"}}
        if i % 2 == 0:
            item["g"] = {"S": f"g{i % 4}"}
        ddb.put_item(TableName=name, Item=item)
    table = ddb.update_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[
            {"Create": {"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}}
        ],
    )["TableDescription"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["byG"]
    assert table["TableStatus"] == "UPDATING" and table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    described = ddb.describe_table(TableName=name)["Table"]
    assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == 3  # sparse: only items with g
    found = ddb.query(TableName=name, IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "g0"}})
    assert sorted(i["sk"]["S"] for i in found["Items"]) == ["0", "4"]
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "byG"}}])
    described = ddb.describe_table(TableName=name)["Table"]
    assert "GlobalSecondaryIndexes" not in described
    assert {a["AttributeName"] for a in described["AttributeDefinitions"]} == {"pk", "sk"}
    updated = ddb.update_table(TableName=name, BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
    assert updated["TableDescription"]["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert updated["TableDescription"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 4


def test_ttl_settings(ddb: Any, make_table: Any) -> None:
    name = make_table()
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)["TimeToLiveSpecification"] == spec
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    with pytest.raises(ClientError) as info:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    assert info.value.response["Error"]["Message"] == "TimeToLive is already enabled"


def test_endpoints_and_limits(ddb: Any) -> None:
    assert ddb.describe_endpoints()["Endpoints"][0]["CachePeriodInMinutes"] == 1440
    assert ddb.describe_limits()["TableMaxReadCapacityUnits"] == 40000


def test_point_in_time_recovery_settings(ddb: Any, make_table: Any) -> None:
    name = make_table()
    described = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert described["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    updated = ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    assert updated["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    with pytest.raises(ClientError) as info:
        ddb.describe_continuous_backups(TableName="missing-table")
    assert info.value.response["Error"]["Code"] == "TableNotFoundException"
