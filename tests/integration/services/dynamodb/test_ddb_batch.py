"""Batches and transactions through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def key(pk: str, sk: str = "0") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_batch_write_and_get(ddb: Any, make_table: Any) -> None:
    a, b = make_table(), make_table()
    out = ddb.batch_write_item(
        RequestItems={
            a: [{"PutRequest": {"Item": {**key(str(i)), "v": {"N": str(i)}}}} for i in range(20)],
            b: [{"PutRequest": {"Item": key("x")}}],
        }
    )
    assert out["UnprocessedItems"] == {}
    ddb.batch_write_item(RequestItems={a: [{"DeleteRequest": {"Key": key("0")}}]})
    got = ddb.batch_get_item(
        RequestItems={a: {"Keys": [key(str(i)) for i in range(5)], "ProjectionExpression": "v"}, b: {"Keys": [key("x")]}}
    )
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][a]) == [1, 2, 3, 4]
    assert got["Responses"][b] == [key("x")]
    assert got["UnprocessedKeys"] == {}


def test_batch_limits_and_duplicates(ddb: Any, make_table: Any) -> None:
    name, other = make_table(), make_table()
    with pytest.raises(ClientError) as info:
        ddb.batch_get_item(
            RequestItems={name: {"Keys": [key(str(i)) for i in range(60)]}, other: {"Keys": [key(str(i)) for i in range(41)]}}
        )
    assert info.value.response["Error"]["Message"] == "Too many items requested for the BatchGetItem call"
    with pytest.raises(ClientError) as info:
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": key("d")}}, {"DeleteRequest": {"Key": key("d")}}]})
    assert info.value.response["Error"]["Message"] == "Provided list of item keys contains duplicates"
    with pytest.raises(ClientError) as info:
        ddb.batch_write_item(
            RequestItems={name: [{"PutRequest": {"Item": key(str(i))}} for i in range(20)], other: [{"PutRequest": {"Item": key(str(i))}} for i in range(6)]}
        )
    assert info.value.response["Error"]["Message"] == "Too many items requested for the BatchWriteItem call"


def test_batch_writer_of_the_resource(resource: Any, make_table: Any) -> None:
    table = resource.Table(make_table())
    with table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        for i in range(60):
            batch.put_item(Item={"pk": "w", "sk": f"{i:02d}"})
    assert table.scan(Select="COUNT")["Count"] == 60


def test_transact_write_commits_all_or_nothing(ddb: Any, make_table: Any) -> None:
    name = make_table()
    ddb.put_item(TableName=name, Item={**key("acct"), "balance": {"N": "10"}})
    ddb.transact_write_items(
        TransactItems=[
            {"Update": {"TableName": name, "Key": key("acct"), "UpdateExpression": "SET balance = balance - :n",
                        "ConditionExpression": "balance >= :n", "ExpressionAttributeValues": {":n": {"N": "4"}}}},
            {"Put": {"TableName": name, "Item": {**key("log", "1"), "amount": {"N": "4"}}}},
        ]
    )
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": key("new")}},
                {"Update": {"TableName": name, "Key": key("acct"), "UpdateExpression": "SET balance = balance - :n",
                            "ConditionExpression": "balance >= :n", "ExpressionAttributeValues": {":n": {"N": "100"}},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                {"ConditionCheck": {"TableName": name, "Key": key("log", "1"), "ConditionExpression": "attribute_exists(pk)"}},
            ]
        )
    error = info.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert error["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed, None]"
    )
    assert error["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed", "Item": {**key("acct"), "balance": {"N": "6"}}},
        {"Code": "None"},
    ]
    assert "Item" not in ddb.get_item(TableName=name, Key=key("new"))
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": key("acct")}}, {"Get": {"TableName": name, "Key": key("none")}}])
    assert got["Responses"] == [{"Item": {**key("acct"), "balance": {"N": "6"}}}, {}]


def test_transaction_token_and_same_item_twice(ddb: Any, make_table: Any) -> None:
    name = make_table()
    update = {"Update": {"TableName": name, "Key": key("c"), "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}
    ddb.transact_write_items(TransactItems=[update], ClientRequestToken="tok-1")
    ddb.transact_write_items(TransactItems=[update], ClientRequestToken="tok-1")
    assert ddb.get_item(TableName=name, Key=key("c"))["Item"]["n"] == {"N": "1"}
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": key("c")}}], ClientRequestToken="tok-1")
    assert info.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as info:
        ddb.transact_write_items(TransactItems=[update, {"Delete": {"TableName": name, "Key": key("c")}}])
    assert info.value.response["Error"]["Message"] == "Transaction request cannot include multiple operations on one item"
