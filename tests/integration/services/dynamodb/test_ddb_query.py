"""Query and Scan through boto3: key conditions, order, pages, indexes, Select, filters, segments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError


@pytest.fixture
def numbers_table(resource: Any, make_table: Any) -> Any:
    table = resource.Table(make_table(range_type="N"))
    with table.batch_writer() as batch:
        for i in range(-5, 15):
            batch.put_item(Item={"pk": "p", "sk": Decimal(i) / 2, "even": i % 2 == 0, "tag": f"t{i % 3}"})
        batch.put_item(Item={"pk": "other", "sk": 0})
    return table


def sks(items: list[dict[str, Any]]) -> list[Decimal]:
    return [i["sk"] for i in items]


def test_numeric_sort_key_order_and_conditions(numbers_table: Any) -> None:
    all_items = numbers_table.query(KeyConditionExpression=Key("pk").eq("p"))["Items"]
    assert sks(all_items) == [Decimal(i) / 2 for i in range(-5, 15)]
    backwards = numbers_table.query(KeyConditionExpression=Key("pk").eq("p"), ScanIndexForward=False)["Items"]
    assert sks(backwards) == list(reversed(sks(all_items)))
    between = numbers_table.query(KeyConditionExpression=Key("pk").eq("p") & Key("sk").between(Decimal("-1"), Decimal("1")))
    assert sks(between["Items"]) == [Decimal("-1"), Decimal("-0.5"), 0, Decimal("0.5"), 1]
    less = numbers_table.query(KeyConditionExpression=Key("pk").eq("p") & Key("sk").lt(Decimal("-1.5")))
    assert sks(less["Items"]) == [Decimal("-2.5"), Decimal("-2")]
    filtered = numbers_table.query(KeyConditionExpression=Key("pk").eq("p") & Key("sk").gte(5), FilterExpression=Attr("even").eq(True))
    assert filtered["ScannedCount"] == 5 and filtered["Count"] == 3


def test_pagination_with_limit(numbers_table: Any) -> None:
    seen: list[Decimal] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq("p"), "Limit": 6}
    pages = 0
    while True:
        page = numbers_table.query(**kwargs)
        pages += 1
        seen += sks(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert pages == 4 and seen == [Decimal(i) / 2 for i in range(-5, 15)]
    count = numbers_table.query(KeyConditionExpression=Key("pk").eq("p"), Select="COUNT")
    assert count["Count"] == 20 and "Items" not in count


def test_scan_paginator_and_parallel_segments(ddb: Any, numbers_table: Any) -> None:
    pages = list(ddb.get_paginator("scan").paginate(TableName=numbers_table.name, PaginationConfig={"PageSize": 7}))
    assert sum(p["Count"] for p in pages) == 21
    segments = [numbers_table.scan(Segment=s, TotalSegments=3)["Items"] for s in range(3)]
    keys = sorted((i["pk"], i["sk"]) for seg in segments for i in seg)
    assert len(keys) == 21 and len(set(keys)) == 21
    with pytest.raises(ClientError) as info:
        numbers_table.scan(Segment=3, TotalSegments=3)
    assert info.value.response["Error"]["Message"] == (
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 3 is not less than TotalSegments: 3"
    )


def test_one_megabyte_pages(resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    blob = "x" * 100_000
    with table.batch_writer() as batch:
        for i in range(25):
            batch.put_item(Item={"pk": "big", "sk": f"{i:03d}", "blob": blob})
    first = table.query(KeyConditionExpression=Key("pk").eq("big"))
    assert 0 < first["Count"] < 25 and "LastEvaluatedKey" in first
    rest = table.query(KeyConditionExpression=Key("pk").eq("big"), ExclusiveStartKey=first["LastEvaluatedKey"])
    assert first["Count"] + rest["Count"] + sum(
        p["Count"] for p in [table.query(KeyConditionExpression=Key("pk").eq("big"), ExclusiveStartKey=rest["LastEvaluatedKey"])]
        if "LastEvaluatedKey" in rest
    ) == 25


def test_begins_with_and_string_order(resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    for sk in ["a#2", "a#10", "b#1", "a#1", "\u00e9", "Z"]:
        table.put_item(Item={"pk": "s", "sk": sk})
    assert sks(table.query(KeyConditionExpression=Key("pk").eq("s") & Key("sk").begins_with("a#"))["Items"]) == ["a#1", "a#10", "a#2"]
    assert sks(table.query(KeyConditionExpression=Key("pk").eq("s"))["Items"]) == ["Z", "a#1", "a#10", "a#2", "b#1", "\u00e9"]


def test_indexes_and_select(ddb: Any, resource: Any, make_table: Any) -> None:
    name = make_table(
        ExtraDefinitions=[{"AttributeName": "g", "AttributeType": "S"}, {"AttributeName": "l", "AttributeType": "N"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["extra"]},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "byL",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    table = resource.Table(name)
    for i in range(6):
        table.put_item(Item={"pk": "p", "sk": f"{i}", "g": "G" if i < 4 else "H", "l": 10 - i, "extra": i, "hidden": "h"})
    metrics = table.put_item(Item={"pk": "p", "sk": "sparse"}, ReturnItemCollectionMetrics="SIZE")["ItemCollectionMetrics"]
    assert metrics["ItemCollectionKey"] == {"pk": "p"}
    gsi = table.query(IndexName="byG", KeyConditionExpression=Key("g").eq("G") & Key("l").gt(7))["Items"]
    assert [i["l"] for i in gsi] == [8, 9, 10]
    assert set(gsi[0]) == {"pk", "sk", "g", "l", "extra"}
    lsi = table.query(IndexName="byL", KeyConditionExpression=Key("pk").eq("p"), Limit=2)
    assert [i["l"] for i in lsi["Items"]] == [5, 6]
    assert set(lsi["LastEvaluatedKey"]) == {"pk", "sk", "l"}
    full = table.query(IndexName="byL", KeyConditionExpression=Key("pk").eq("p"), Select="ALL_ATTRIBUTES")["Items"]
    assert full[0]["hidden"] == "h"
    with pytest.raises(ClientError) as info:
        table.query(IndexName="byG", KeyConditionExpression=Key("g").eq("G"), Select="ALL_ATTRIBUTES")
    assert "projection type is not ALL" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        table.query(IndexName="byG", KeyConditionExpression=Key("g").eq("G"), ConsistentRead=True)
    assert info.value.response["Error"]["Message"] == "Consistent reads are not supported on global secondary indexes"
    with pytest.raises(ClientError) as info:
        table.query(IndexName="nope", KeyConditionExpression=Key("g").eq("G"))
    assert info.value.response["Error"]["Message"] == "The table does not have the specified index: nope"
    assert table.scan(IndexName="byG", Select="COUNT")["Count"] == 6
    out = ddb.query(
        TableName=name, IndexName="byG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "H"}},
        ReturnConsumedCapacity="INDEXES",
    )
    assert out["ConsumedCapacity"]["GlobalSecondaryIndexes"]["byG"]["CapacityUnits"] == 0.5


def test_key_condition_errors(ddb: Any, make_table: Any) -> None:
    name = make_table()

    def error(expression: str, values: dict[str, Any], **extra: Any) -> str:
        with pytest.raises(ClientError) as info:
            ddb.query(TableName=name, KeyConditionExpression=expression, ExpressionAttributeValues=values, **extra)
        return str(info.value.response["Error"]["Message"])

    assert error("sk = :v", {":v": {"S": "x"}}) == "Query condition missed key schema element: pk"
    assert error("pk = :v OR sk = :v", {":v": {"S": "x"}}) == "Invalid operator used in KeyConditionExpression: OR"
    assert error("pk = :v", {":v": {"N": "1"}}) == "One or more parameter values were invalid: Condition parameter type does not match schema type"
    assert error("pk = :v AND attr = :v", {":v": {"S": "x"}}) == "Query condition missed key schema element: sk"
    assert error("pk = :v", {":v": {"S": "x"}}, FilterExpression="sk = :v") == (
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk"
    )
    legacy = ddb.query(TableName=name, KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}})
    assert legacy["Count"] == 0


def test_filter_builders_and_legacy_filters(ddb: Any, resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    table.put_item(Item={"pk": "f", "sk": "1", "name": "alpha", "tags": {"x", "y"}, "n": 3, "doc": {"list": [1, 2]}})
    table.put_item(Item={"pk": "f", "sk": "2", "name": "beta", "tags": {"z"}, "n": 7, "flag": None})
    table.put_item(Item={"pk": "f", "sk": "3", "name": "alphabet", "n": 11})

    def matching(condition: Any) -> list[str]:
        return sorted(i["sk"] for i in table.scan(FilterExpression=condition)["Items"])

    assert matching(Attr("name").begins_with("alpha")) == ["1", "3"]
    assert matching(Attr("tags").contains("z")) == ["2"]
    assert matching(Attr("name").contains("ph")) == ["1", "3"]
    assert matching(Attr("tags").size().gt(1)) == ["1"]
    assert matching(Attr("doc.list[1]").eq(2)) == ["1"]
    assert matching(Attr("flag").attribute_type("NULL")) == ["2"]
    assert matching(Attr("tags").not_exists()) == ["3"]
    assert matching(Attr("n").is_in([3, 11]) & ~Attr("name").eq("alpha")) == ["3"]
    assert matching(Attr("n").between(4, 20) | Attr("name").ne("beta")) == ["1", "2", "3"]
    assert matching(Attr("n").lte(3) | Attr("n").gte(11)) == ["1", "3"]
    legacy = ddb.scan(
        TableName=table.name,
        ScanFilter={"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "5"}]}, "tags": {"ComparisonOperator": "NULL"}},
        ConditionalOperator="AND",
    )
    assert [i["sk"]["S"] for i in legacy["Items"]] == ["3"]
    query_filter = ddb.query(
        TableName=table.name,
        KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "f"}]}},
        QueryFilter={"name": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "alpha"}]}},
        AttributesToGet=["sk"],
    )
    assert query_filter["Items"] == [{"sk": {"S": "1"}}, {"sk": {"S": "3"}}]


def test_gsi_follows_updates_and_deletes(resource: Any, make_table: Any) -> None:
    table = resource.Table(
        make_table(
            ExtraDefinitions=[{"AttributeName": "status", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[
                {"IndexName": "byStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
            ],
        )
    )
    table.put_item(Item={"pk": "o", "sk": "1", "status": "open"})
    table.put_item(Item={"pk": "o", "sk": "2", "status": "open"})

    def by_status(value: str) -> list[str]:
        return sorted(i["sk"] for i in table.query(IndexName="byStatus", KeyConditionExpression=Key("status").eq(value))["Items"])

    assert by_status("open") == ["1", "2"]
    table.update_item(Key={"pk": "o", "sk": "1"}, UpdateExpression="SET #s = :c", ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":c": "closed"})
    assert by_status("open") == ["2"] and by_status("closed") == ["1"]
    table.update_item(Key={"pk": "o", "sk": "2"}, UpdateExpression="REMOVE #s", ExpressionAttributeNames={"#s": "status"})
    assert by_status("open") == []
    table.delete_item(Key={"pk": "o", "sk": "1"})
    assert by_status("closed") == []
    with pytest.raises(ClientError) as info:
        table.put_item(Item={"pk": "o", "sk": "3", "status": 5})
    assert info.value.response["Error"]["Message"] == (
        "One or more parameter values were invalid: Type mismatch for Index Key status Expected: S Actual: N IndexName: byStatus"
    )


def test_reverse_pagination(numbers_table: Any) -> None:
    seen: list[Decimal] = []
    kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq("p") & Key("sk").gt(0), "Limit": 4, "ScanIndexForward": False}
    while True:
        page = numbers_table.query(**kwargs)
        seen += sks(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert seen == [Decimal(i) / 2 for i in range(14, 0, -1)]
