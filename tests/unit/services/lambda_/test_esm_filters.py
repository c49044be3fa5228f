"""Event source mapping filter patterns and partial batch responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudlet.errors import ServiceError
from cloudlet.services.lambda_.esm_filters import (
    matches_any,
    parse_filter_criteria,
    prepare_sqs_record,
)
from cloudlet.services.lambda_.esm_pollers import encode_event, parse_item_failures, sqs_record


def criteria(*patterns: Any) -> list[dict[str, Any]]:
    return parse_filter_criteria({"Filters": [{"Pattern": json.dumps(p)} for p in patterns]})


RECORD = {
    "body": {"kind": "order", "total": 42, "tags": ["a", "b"], "note": None, "empty": ""},
    "attributes": {"ApproximateReceiveCount": "1"},
    "eventName": "INSERT",
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT"]}, True),
        ({"eventName": ["MODIFY", "INSERT"]}, True),
        ({"eventName": ["REMOVE"]}, False),
        ({"body": {"kind": ["order"], "total": [42]}}, True),
        ({"body": {"total": [{"numeric": [">", 40, "<=", 42]}]}}, True),
        ({"body": {"total": [{"numeric": ["<", 40]}]}}, False),
        ({"body": {"total": [{"numeric": ["=", 42]}]}}, True),
        ({"body": {"kind": [{"prefix": "ord"}]}}, True),
        ({"body": {"kind": [{"suffix": "der"}]}}, True),
        ({"body": {"kind": [{"equals-ignore-case": "ORDER"}]}}, True),
        ({"body": {"kind": [{"anything-but": ["refund", "return"]}]}}, True),
        ({"body": {"kind": [{"anything-but": "order"}]}}, False),
        ({"body": {"kind": [{"anything-but": {"prefix": "ord"}}]}}, False),
        ({"body": {"tags": ["b"]}}, True),
        ({"body": {"note": [None]}}, True),
        ({"body": {"empty": [""]}}, True),
        ({"body": {"missing": [{"exists": False}]}}, True),
        ({"body": {"kind": [{"exists": True}]}}, True),
        ({"body": {"kind": [{"exists": False}]}}, False),
        ({"body": {"missing": ["x"]}}, False),
        ({"$or": [{"eventName": ["REMOVE"]}, {"body": {"kind": ["order"]}}]}, True),
        ({"$or": [{"eventName": ["REMOVE"]}, {"body": {"kind": ["refund"]}}]}, False),
        ({"body": {"total": ["42"]}}, False),
    ],
)
def test_pattern_matching(pattern: dict[str, Any], expected: bool) -> None:
    assert matches_any(criteria(pattern), RECORD) is expected


def test_any_of_several_filters_and_no_filters() -> None:
    patterns = criteria({"eventName": ["REMOVE"]}, {"eventName": ["INSERT"]})
    assert matches_any(patterns, RECORD)
    assert matches_any([], RECORD)
    assert parse_filter_criteria(None) == []
    assert parse_filter_criteria({"Filters": []}) == []


@pytest.mark.parametrize(
    "criteria_value",
    [
        {"Filters": [{"Pattern": "{"}]},
        {"Filters": [{"Pattern": "[]"}]},
        {"Filters": [{"Pattern": json.dumps({"a": "b"})}]},
        {"Filters": [{"Pattern": json.dumps({"a": []})}]},
        {"Filters": [{"Pattern": json.dumps({"a": [{"bogus": 1}]})}]},
        {"Filters": [{"Pattern": json.dumps({"a": [{"numeric": [">>", 1]}]})}]},
        {"Filters": [{"Pattern": json.dumps({"a": [1]}) + " " * 4096}]},
        {"Filters": [{"Pattern": json.dumps({"a": [n]})} for n in range(6)]},
    ],
)
def test_invalid_patterns(criteria_value: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as info:
        parse_filter_criteria(criteria_value)
    assert info.value.code == "InvalidParameterValueException"


def test_sqs_body_parsed_only_when_json_object() -> None:
    assert prepare_sqs_record({"body": '{"a": 1}'})["body"] == {"a": 1}
    assert prepare_sqs_record({"body": "plain"})["body"] == "plain"
    assert prepare_sqs_record({"body": "[1, 2]"})["body"] == "[1, 2]"
    assert matches_any(criteria({"body": ["plain"]}), prepare_sqs_record({"body": "plain"}))


def test_parse_item_failures() -> None:
    ids = {"m1", "m2"}
    assert parse_item_failures(b"", ids) == set()
    assert parse_item_failures(b"null", ids) == set()
    assert parse_item_failures(b'{"batchItemFailures": []}', ids) == set()
    assert parse_item_failures(b'{"batchItemFailures": null}', ids) == set()
    assert parse_item_failures(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}', ids) == {"m2"}
    for bad in (
        b"not json",
        b'{"batchItemFailures": [{"itemIdentifier": "zz"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"id": "m1"}]}',
        b'{"batchItemFailures": "m1"}',
    ):
        assert parse_item_failures(bad, ids) is None, bad


def test_sqs_record_shape_and_binary_encoding() -> None:
    message = {
        "MessageId": "id-1",
        "ReceiptHandle": "rh",
        "Body": "b",
        "MD5OfBody": "x",
        "MD5OfMessageAttributes": "y",
        "Attributes": {"SentTimestamp": "1"},
        "MessageAttributes": {"bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    }
    record = sqs_record(message, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
    assert record["messageAttributes"]["bin"] == {
        "binaryValue": "AAE=",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }
    assert record["md5OfMessageAttributes"] == "y"
    event = json.loads(encode_event([{"dynamodb": {"NewImage": {"b": {"B": b"\x01"}}}}]))
    assert event == {"Records": [{"dynamodb": {"NewImage": {"b": {"B": "AQ=="}}}}]}
