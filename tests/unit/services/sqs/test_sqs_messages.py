"""SQS message rules: AWS's MD5 of message attributes, body checks, attribute selection."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.sqs.attributes import normalize, parse_url, redrive_policy
from cloudlet.services.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
)
from cloudlet.services.sqs.messages import (
    api_attributes,
    check_body,
    md5_of_attributes,
    md5_of_body,
    normalize_attributes,
    select_attributes,
    select_system_attributes,
)


def test_md5_of_attributes_matches_published_vectors() -> None:
    # Digests the AWS SDKs compute for these attributes (they verify SendMessage/ReceiveMessage against them).
    assert md5_of_attributes(
        {"SellerName": {"DataType": "String", "StringValue": "Example Store"}}
    ) == ("cd28f3b68aeee4b2eac9c66f2f694b58")
    assert (
        md5_of_attributes(
            {
                "ordinal": {"DataType": "Number", "StringValue": "1"},
                "category": {"DataType": "String", "StringValue": "test"},
            }
        )
        == "d21ae90c49061e927f57df5f5d72be1f"
    )


def test_md5_of_body_is_md5_of_utf8() -> None:
    assert md5_of_body("hi") == "49f68a5c8493ec2c0bf489821c21fc3b"
    assert md5_of_body("é") == hashlib.md5("é".encode()).hexdigest()


def _reference(attributes: dict[str, dict[str, object]]) -> str:
    out = b""
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value["DataType"]).encode()
        out += struct.pack(">I", len(name.encode())) + name.encode()
        out += struct.pack(">I", len(data_type)) + data_type
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            assert isinstance(raw, bytes)
            out += b"\x02" + struct.pack(">I", len(raw)) + raw
        else:
            text = str(value["StringValue"]).encode()
            out += b"\x01" + struct.pack(">I", len(text)) + text
    return hashlib.md5(out).hexdigest()


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789_-", min_size=1, max_size=12)
values = st.one_of(
    st.builds(lambda s: {"DataType": "String", "StringValue": s}, st.text(min_size=1, max_size=20)),
    st.builds(lambda n: {"DataType": "Number", "StringValue": str(n)}, st.integers()),
    st.builds(
        lambda b: {"DataType": "Binary", "BinaryValue": b}, st.binary(min_size=1, max_size=20)
    ),
    st.builds(
        lambda s: {"DataType": "String.custom", "StringValue": s}, st.text(min_size=1, max_size=5)
    ),
)


@given(st.dictionaries(names, values, min_size=1, max_size=10))
def test_md5_is_stable_across_stored_and_api_forms(
    attributes: dict[str, dict[str, object]],
) -> None:
    stored = normalize_attributes(attributes)
    assert md5_of_attributes(attributes) == md5_of_attributes(stored) == _reference(attributes)
    assert api_attributes(stored) == {
        k: {kk: vv for kk, vv in v.items()} for k, v in attributes.items()
    }


def test_body_checks() -> None:
    assert check_body("ok\t\n") == "ok\t\n"
    with pytest.raises(MissingParameter):
        check_body(None)
    with pytest.raises(InvalidParameterValue):
        check_body("")
    with pytest.raises(InvalidMessageContents, match="#x0"):
        check_body("bad\x00")
    with pytest.raises(InvalidMessageContents):
        check_body("bad\ufffe")


@pytest.mark.parametrize(
    "attributes",
    [
        {"AWS.x": {"DataType": "String", "StringValue": "v"}},
        {".x": {"DataType": "String", "StringValue": "v"}},
        {"a..b": {"DataType": "String", "StringValue": "v"}},
        {"a": {"DataType": "Weird", "StringValue": "v"}},
        {"a": {"DataType": "String", "StringValue": ""}},
        {"a": {"DataType": "Number", "StringValue": "abc"}},
        {"a": {"DataType": "Binary", "StringValue": "abc"}},
        {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
    ],
)
def test_invalid_message_attributes(attributes: dict[str, dict[str, str]]) -> None:
    with pytest.raises(InvalidParameterValue):
        normalize_attributes(attributes)


def test_attribute_selection() -> None:
    stored = {"a.x": 1, "a.y": 2, "b": 3}
    assert select_attributes(stored, ["All"]) == stored
    assert select_attributes(stored, [".*"]) == stored
    assert select_attributes(stored, ["a.*"]) == {"a.x": 1, "a.y": 2}
    assert select_attributes(stored, ["b", "zzz"]) == {"b": 3}
    assert select_attributes(stored, None) == {}
    assert "SentTimestamp" in select_system_attributes(["All"])
    assert select_system_attributes(["SenderId", "Bogus"]) == {"SenderId"}


def test_queue_attribute_validation() -> None:
    assert normalize({"VisibilityTimeout": 5, "FifoQueue": "TRUE"}, fifo=True, creating=True) == {
        "VisibilityTimeout": "5",
        "FifoQueue": "true",
    }
    with pytest.raises(InvalidAttributeValue):
        normalize({"VisibilityTimeout": "43201"}, fifo=False, creating=True)
    with pytest.raises(InvalidAttributeName):
        normalize({"Bogus": "1"}, fifo=False, creating=True)
    with pytest.raises(InvalidAttributeName):
        normalize({"ContentBasedDeduplication": "true"}, fifo=False, creating=True)
    with pytest.raises(InvalidAttributeValue):
        redrive_policy('{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:d", "maxReceiveCount": 0}')
    assert (
        redrive_policy('{"deadLetterTargetArn": "arn:aws:sqs:r:1:d", "maxReceiveCount": "3"}')[
            "maxReceiveCount"
        ]
        == 3
    )


def test_queue_url_parsing() -> None:
    assert parse_url("http://localhost:4566/000000000000/q", "1") == ("000000000000", "q")
    assert parse_url("https://sqs.us-east-1.amazonaws.com/123/q.fifo", "1") == ("123", "q.fifo")
    assert parse_url("q", "1") == ("1", "q")
