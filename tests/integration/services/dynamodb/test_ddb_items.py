"""Item operations through boto3: types, conditions, ReturnValues, validation errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError


def message(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Message"])


def test_all_types_round_trip_through_the_resource(resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    item = {
        "pk": "user#1",
        "sk": "profile",
        "n": Decimal("12345678901234567890123456789012345678"),
        "small": Decimal("-1.5E-100"),
        "b": b"\x00\xff",
        "flag": True,
        "nothing": None,
        "doc": {"x": [Decimal(1), "two", {"deep": False}]},
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal("2.5")},
        "bs": {b"x", b"y"},
        "empty_s": "",
        "empty_l": [],
        "empty_m": {},
    }
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": "user#1", "sk": "profile"}, ConsistentRead=True)["Item"]
    assert got["b"].value == b"\x00\xff"
    got["b"] = b"\x00\xff"
    assert got == item


def test_numbers_come_back_normalized(ddb: Any, make_table: Any) -> None:
    name = make_table(range_type=None)
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}, "n": {"N": "0010.500"}, "e": {"N": "1E+3"}})
    got = ddb.get_item(TableName=name, Key={"pk": {"S": "k"}})["Item"]
    assert got["n"] == {"N": "10.5"} and got["e"] == {"N": "1000"}


def test_get_missing_item_and_projection(ddb: Any, make_table: Any) -> None:
    name = make_table()
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "x"}, "sk": {"S": "y"}, "m": {"M": {"a": {"L": [{"S": "0"}, {"S": "1"}]}, "b": {"S": "bb"}}}})
    got = ddb.get_item(
        TableName=name, Key={"pk": {"S": "x"}, "sk": {"S": "y"}}, ProjectionExpression="#m.a[1], pk", ExpressionAttributeNames={"#m": "m"}
    )["Item"]
    assert got == {"pk": {"S": "x"}, "m": {"M": {"a": {"L": [{"S": "1"}]}}}}
    legacy = ddb.get_item(TableName=name, Key={"pk": {"S": "x"}, "sk": {"S": "y"}}, AttributesToGet=["sk"])["Item"]
    assert legacy == {"sk": {"S": "y"}}


def test_conditions_and_return_values(resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    key = {"pk": "a", "sk": "b"}
    table.put_item(Item={**key, "v": 1}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as info:
        table.put_item(Item={**key, "v": 2}, ConditionExpression=Attr("pk").not_exists(), ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert message(info) == "The conditional request failed"
    assert info.value.response["Item"] == {"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"N": "1"}}
    old = table.put_item(Item={**key, "v": 2}, ConditionExpression=Attr("v").eq(1), ReturnValues="ALL_OLD")["Attributes"]
    assert old["v"] == 1
    out = table.update_item(
        Key=key,
        UpdateExpression="SET v = v + :inc, tags = :t REMOVE gone",
        ExpressionAttributeValues={":inc": 5, ":t": {"x"}},
        ReturnValues="UPDATED_NEW",
    )["Attributes"]
    assert out == {"v": 7, "tags": {"x"}}
    out = table.update_item(Key=key, UpdateExpression="ADD v :n", ExpressionAttributeValues={":n": -2}, ReturnValues="UPDATED_OLD")["Attributes"]
    assert out == {"v": 7}
    out = table.update_item(Key=key, UpdateExpression="DELETE tags :t", ExpressionAttributeValues={":t": {"x"}}, ReturnValues="ALL_NEW")["Attributes"]
    assert out == {**key, "v": 5}
    deleted = table.delete_item(Key=key, ConditionExpression=Attr("v").between(1, 10), ReturnValues="ALL_OLD")["Attributes"]
    assert deleted["v"] == 5
    assert "Item" not in table.get_item(Key=key)


def test_update_item_upserts_and_legacy_parameters(ddb: Any, make_table: Any) -> None:
    name = make_table()
    key = {"pk": {"S": "u"}, "sk": {"S": "1"}}
    new = ddb.update_item(
        TableName=name, Key=key, AttributeUpdates={"count": {"Action": "ADD", "Value": {"N": "3"}}}, ReturnValues="ALL_NEW"
    )["Attributes"]
    assert new == {**key, "count": {"N": "3"}}
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, Expected={"count": {"Value": {"N": "4"}}})
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    ddb.put_item(TableName=name, Item=key, Expected={"count": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "2"}]}})
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, Expected={"x": {"Exists": False}}, ConditionExpression="attribute_exists(pk)")
    assert message(info).startswith("Can not use both expression and non-expression parameters in the same request")


@pytest.mark.parametrize(
    ("item", "text"),
    [
        ({"pk": {"S": "a"}, "sk": {"N": "1"}}, "One or more parameter values were invalid: Type mismatch for key sk expected: S actual: N"),
        ({"pk": {"S": "a"}}, "One or more parameter values were invalid: Missing the key sk in the item"),
        (
            {"pk": {"S": ""}, "sk": {"S": "x"}},
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk",
        ),
        ({"pk": {"S": "a"}, "sk": {"S": "b"}, "s": {"SS": []}}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"pk": {"S": "a"}, "sk": {"S": "b"}, "s": {"SS": ["x", "x"]}}, "One or more parameter values were invalid: Input collection [x, x] contains duplicates."),
        ({"pk": {"S": "a"}, "sk": {"S": "b"}, "big": {"S": "x" * 410_000}}, "Item size has exceeded the maximum allowed size"),
        (
            {"pk": {"S": "a" * 2049}, "sk": {"S": "b"}},
            "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ),
        (
            {"pk": {"S": "a"}, "sk": {"S": "b" * 1025}},
            "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ),
    ],
)
def test_put_item_validation(ddb: Any, make_table: Any, item: dict[str, Any], text: str) -> None:
    name = make_table()
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=item)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert message(info) == text


def test_key_and_expression_errors(ddb: Any, make_table: Any) -> None:
    name = make_table()
    key = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    with pytest.raises(ClientError) as info:
        ddb.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert message(info) == "The provided key element does not match the schema"
    with pytest.raises(ClientError) as info:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET pk = :v", ExpressionAttributeValues={":v": {"S": "x"}})
    assert message(info) == "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, ConditionExpression="a = :v", ExpressionAttributeValues={":v": {"S": "x"}, ":w": {"S": "y"}})
    assert message(info) == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, ConditionExpression="a = ")
    assert message(info) == 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'
    with pytest.raises(ClientError) as info:
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET #s = :v", ExpressionAttributeValues={":v": {"S": "x"}})
    assert message(info) == "Invalid UpdateExpression: An expression attribute name used in the document path is not defined; attribute name: #s"
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, ConditionExpression="size = :v", ExpressionAttributeValues={":v": {"S": "x"}})
    assert message(info) == "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: size"
    with pytest.raises(ClientError) as info:
        ddb.put_item(TableName=name, Item=key, ConditionExpression="#a = :v", ExpressionAttributeNames={"a": "a"}, ExpressionAttributeValues={":v": {"S": "x"}})
    assert message(info) == 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.get_item(TableName="does-not-exist", Key=key)
    assert message(info) == "Requested resource not found"


def test_consumed_capacity(ddb: Any, make_table: Any) -> None:
    name = make_table()
    out = ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "v": {"S": "x" * 3000}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0}
    out = ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"S": "b"}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 0.5
