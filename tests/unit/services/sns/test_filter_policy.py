"""SNS filter policies: every operator, both scopes, $or, and AWS's validation rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.services.sns.filter_policy import (
    FilterPolicyError,
    matches,
    matches_attributes,
    matches_body,
    parse,
    validate,
)


def attrs(**values: Any) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in values.items():
        if isinstance(value, list):
            out[name] = {"Type": "String.Array", "Value": json.dumps(value)}
        elif isinstance(value, int | float):
            out[name] = {"Type": "Number", "Value": str(value)}
        elif isinstance(value, bytes):
            out[name] = {"Type": "Binary", "Value": "AAA="}
        else:
            out[name] = {"Type": "String", "Value": value}
    return out


@pytest.mark.parametrize(
    ("policy", "message", "expected"),
    [
        ({"color": ["red", "blue"]}, attrs(color="red"), True),
        ({"color": ["red", "blue"]}, attrs(color="Red"), False),
        ({"color": ["red"]}, attrs(size="big"), False),
        ({"price": [100]}, attrs(price=100), True),
        ({"price": [100]}, attrs(price=100.0), True),
        ({"price": [100]}, attrs(price="100"), False),
        ({"color": [{"prefix": "bl"}]}, attrs(color="blue"), True),
        ({"color": [{"prefix": "bl"}]}, attrs(color="red"), False),
        ({"file": [{"suffix": ".png"}]}, attrs(file="a.png"), True),
        ({"file": [{"suffix": ".png"}]}, attrs(file="a.jpg"), False),
        ({"color": [{"equals-ignore-case": "RED"}]}, attrs(color="rEd"), True),
        ({"color": [{"anything-but": ["red", "green"]}]}, attrs(color="blue"), True),
        ({"color": [{"anything-but": ["red", "green"]}]}, attrs(color="red"), False),
        ({"color": [{"anything-but": ["red"]}]}, attrs(size="x"), False),
        ({"n": [{"anything-but": 100}]}, attrs(n=101), True),
        ({"n": [{"anything-but": 100}]}, attrs(n=100), False),
        ({"c": [{"anything-but": {"prefix": "tmp"}}]}, attrs(c="tmpfile"), False),
        ({"c": [{"anything-but": {"prefix": "tmp"}}]}, attrs(c="file"), True),
        ({"c": [{"anything-but": {"suffix": ".tmp"}}]}, attrs(c="a.tmp"), False),
        ({"c": [{"anything-but": {"equals-ignore-case": "X"}}]}, attrs(c="x"), False),
        ({"p": [{"numeric": [">", 0, "<=", 150]}]}, attrs(p=150), True),
        ({"p": [{"numeric": [">", 0, "<=", 150]}]}, attrs(p=0), False),
        ({"p": [{"numeric": [">", 0, "<=", 150]}]}, attrs(p=150.5), False),
        ({"p": [{"numeric": ["=", 301.5]}]}, attrs(p=301.5), True),
        ({"p": [{"numeric": [">=", 10]}]}, attrs(p="20"), False),
        ({"store": [{"exists": True}]}, attrs(store="x"), True),
        ({"store": [{"exists": True}]}, attrs(other="x"), False),
        ({"store": [{"exists": False}]}, attrs(other="x"), True),
        ({"store": [{"exists": False}]}, attrs(store="x"), False),
        ({"blob": [{"exists": True}]}, attrs(blob=b"x"), False),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.0.7"), True),
        ({"ip": [{"cidr": "10.0.0.0/24"}]}, attrs(ip="10.0.1.7"), False),
        ({"tags": ["b"]}, attrs(tags=["a", "b"]), True),
        ({"tags": ["c"]}, attrs(tags=["a", "b"]), False),
        ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="L"), True),
        ({"color": ["red"], "size": ["L"]}, attrs(color="red", size="M"), False),
        ({"$or": [{"a": ["x"]}, {"b": [{"numeric": [">", 5]}]}]}, attrs(b=6), True),
        ({"$or": [{"a": ["x"]}, {"b": [{"numeric": [">", 5]}]}]}, attrs(a="y", b=1), False),
        ({"k": ["v"], "$or": [{"a": ["x"]}, {"b": ["y"]}]}, attrs(k="v", b="y"), True),
        ({"k": ["v"], "$or": [{"a": ["x"]}, {"b": ["y"]}]}, attrs(k="w", b="y"), False),
    ],
)
def test_attribute_scope(policy: dict[str, Any], message: dict[str, Any], expected: bool) -> None:
    validate(policy, "MessageAttributes")
    assert matches_attributes(policy, message) is expected


@pytest.mark.parametrize(
    ("policy", "body", "expected"),
    [
        ({"color": ["red"]}, {"color": "red"}, True),
        ({"detail": {"size": [{"numeric": [">", 3]}]}}, {"detail": {"size": 4}}, True),
        ({"detail": {"size": [{"numeric": [">", 3]}]}}, {"detail": {"size": 2}}, False),
        ({"detail": {"size": [{"numeric": [">", 3]}]}}, {"detail": "flat"}, False),
        ({"a": {"b": {"c": ["x"]}}}, {"a": {"b": {"c": "x"}}}, True),
        ({"items": {"kind": ["k"]}}, {"items": [{"kind": "j"}, {"kind": "k"}]}, True),
        ({"tags": ["b"]}, {"tags": ["a", "b"]}, True),
        ({"flag": [True]}, {"flag": True}, True),
        ({"flag": [True]}, {"flag": "true"}, False),
        ({"v": [None]}, {"v": None}, True),
        ({"missing": [{"exists": False}]}, {"other": 1}, True),
        ({"nested": {"x": [{"exists": True}]}}, {"nested": {"x": 0}}, True),
        ({"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}, {"b": {"c": "2"}}, True),
        ({"n": [100]}, {"n": 100.0}, True),
    ],
)
def test_body_scope(policy: dict[str, Any], body: Any, expected: bool) -> None:
    validate(policy, "MessageBody")
    assert matches_body(policy, body) is expected


def test_body_scope_needs_a_json_object_body() -> None:
    assert matches({"a": ["b"]}, "MessageBody", {}, "not json") is False
    assert matches({"a": ["b"]}, "MessageBody", {}, '["b"]') is False
    assert matches({"a": ["b"]}, "MessageBody", {}, '{"a": "b"}') is True
    assert matches({}, "MessageBody", {}, "anything") is True


@pytest.mark.parametrize(
    ("policy", "scope", "reason"),
    [
        ("[1]", "MessageAttributes", "JSON object"),
        ('{"a": "x"}', "MessageAttributes", "must be an object or an array"),
        ('{"a": {"b": ["x"]}}', "MessageAttributes", "does not support nested"),
        ('{"a": []}', "MessageAttributes", "Empty arrays"),
        ('{"a": [{"bogus": 1}]}', "MessageAttributes", "Unrecognized match type bogus"),
        ('{"a": [{"prefix": 1}]}', "MessageAttributes", "prefix match pattern must be a string"),
        ('{"a": [{"exists": "yes"}]}', "MessageAttributes", "exists match pattern"),
        ('{"a": [{"numeric": [">", "x"]}]}', "MessageAttributes", "Value of > must be numeric"),
        (
            '{"a": [{"numeric": ["~", 1]}]}',
            "MessageAttributes",
            "Unrecognized numeric range operator",
        ),
        (
            '{"a": [{"numeric": [">", 5, "<", 1]}]}',
            "MessageAttributes",
            "Bottom must be less than top",
        ),
        ('{"a": [{"numeric": [">", 1e10]}]}', "MessageAttributes", "between -1e9 and 1e9"),
        ('{"a": [{"cidr": "nope"}]}', "MessageAttributes", "CIDR"),
        ('{"$or": [{"a": ["x"]}]}', "MessageAttributes", "$or"),
        (
            '{"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]}',
            "MessageAttributes",
            "more than 5 keys",
        ),
        (json.dumps({k: list(range(6)) for k in "abc"}), "MessageAttributes", "too complex"),
        ("not json", "MessageAttributes", "JSON"),
        ('{"a": ["x"]}', "Elsewhere", "FilterPolicyScope"),
    ],
)
def test_validation_errors(policy: str, scope: str, reason: str) -> None:
    with pytest.raises(FilterPolicyError, match=reason.replace("$", r"\$")):
        parse(policy, scope)


def test_nested_keys_count_as_leaves() -> None:
    parse(json.dumps({"a": {"b": {"c": ["x"], "d": ["y"]}}, "e": ["z"]}), "MessageBody")
    with pytest.raises(FilterPolicyError):
        parse(
            json.dumps(
                {
                    "a": {"b": ["1"], "c": ["1"], "d": ["1"]},
                    "e": {"f": ["1"], "g": ["1"], "h": ["1"]},
                }
            ),
            "MessageBody",
        )


words = st.text(alphabet="abcXYZ", min_size=0, max_size=6)


@given(words, words)
def test_prefix_and_anything_but_prefix_are_complements(value: str, prefix: str) -> None:
    message = attrs(k=value)
    assert matches_attributes({"k": [{"prefix": prefix}]}, message) != matches_attributes(
        {"k": [{"anything-but": {"prefix": prefix}}]}, message
    )


@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_numeric_range_agrees_with_python(value: int, low: int, high: int) -> None:
    if low >= high:
        return
    policy = {"n": [{"numeric": [">=", low, "<", high]}]}
    validate(policy)
    assert matches_attributes(policy, attrs(n=value)) is (low <= value < high)


@given(st.lists(words, min_size=1, max_size=5), words)
def test_exact_list_is_membership_and_anything_but_is_its_negation(
    allowed: list[str], value: str
) -> None:
    message = attrs(k=value)
    assert matches_attributes({"k": allowed}, message) is (value in allowed)
    assert matches_attributes({"k": [{"anything-but": allowed}]}, message) is (value not in allowed)
