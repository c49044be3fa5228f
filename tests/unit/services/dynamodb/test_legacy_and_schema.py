"""Legacy parameters translated to the expression tree, and CreateTable validation."""

from __future__ import annotations

from typing import Any

import pytest

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb import legacy
from cloudlet.services.dynamodb.expressions.evaluate import apply_update, evaluate
from cloudlet.services.dynamodb.schema import TableDef, build_table_meta

ITEM: dict[str, Any] = {"a": {"N": "5"}, "s": {"S": "hello"}, "tags": {"SS": ["x"]}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"a": {"Value": {"N": "5"}}}, True),
        ({"a": {"Exists": False}}, False),
        ({"zz": {"Exists": False}}, True),
        ({"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "9"}]}}, True),
        ({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}, True),
        ({"tags": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "y"}]}}, True),
        ({"a": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}, True),
        ({"zz": {"ComparisonOperator": "NULL"}}, True),
        ({"a": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "5"}]}}, False),
    ],
)
def test_expected(spec: dict[str, Any], expected: bool) -> None:
    node = legacy.expected({"Expected": spec})
    assert node is not None
    assert evaluate(node, ITEM) is expected


def test_expected_or_and_argument_counts() -> None:
    node = legacy.expected(
        {"Expected": {"a": {"Value": {"N": "1"}}, "s": {"Value": {"S": "hello"}}}, "ConditionalOperator": "OR"}
    )
    assert node is not None and evaluate(node, ITEM)
    with pytest.raises(ValidationError, match="Invalid number of argument"):
        legacy.expected({"Expected": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": []}}})
    with pytest.raises(ValidationError, match="Value must be provided when Exists is true"):
        legacy.expected({"Expected": {"a": {"Exists": True}}})


def test_attribute_updates() -> None:
    update = legacy.attribute_updates(
        {
            "a": {"Action": "ADD", "Value": {"N": "2"}},
            "s": {"Action": "DELETE"},
            "tags": {"Action": "ADD", "Value": {"SS": ["y"]}},
            "new": {"Value": {"BOOL": True}},
        }
    )
    new = apply_update(ITEM, update)
    assert new["a"] == {"N": "7"} and "s" not in new and sorted(new["tags"]["SS"]) == ["x", "y"] and new["new"] == {"BOOL": True}


def meta(**params: Any) -> dict[str, Any]:
    base = {
        "TableName": "t",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    base.update(params)
    return build_table_meta(base, account="1", region="r", now=0.0, table_id="id")


def test_lsi_must_share_the_hash_key() -> None:
    with pytest.raises(ValidationError, match="Index KeySchema does not have the same leading hash key"):
        meta(
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "o", "AttributeType": "S"},
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "l",
                    "KeySchema": [{"AttributeName": "o", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )


def test_keys_and_sparse_index_membership() -> None:
    table = TableDef(
        1,
        "1",
        "r",
        meta(
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {"IndexName": "gi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}
            ],
        ),
    )
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "other": {"S": "o"}}
    assert table.index_key(table.indexes["gi"], item) is None
    with_g = {**item, "g": {"S": "G"}}
    assert table.index_key(table.indexes["gi"], with_g) is not None
    assert table.indexes["gi"].project(with_g, table) == {"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"S": "G"}}
    with pytest.raises(ValidationError, match="The provided key element does not match the schema"):
        table.check_key({"pk": {"S": "a"}, "sk": {"S": "1"}})
