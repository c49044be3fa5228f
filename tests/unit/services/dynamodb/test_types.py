"""Attribute values: number semantics, validation, sizes and the key encoding order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb.types import (
    add_numbers,
    canonical_number,
    compare_scalars,
    dump_item,
    encode_key,
    item_size,
    load_item,
    normalize_item,
    normalize_value,
    parse_number,
    value_size,
    values_equal,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("01.50", "1.5"), ("1E+2", "100"), ("-0", "0"), ("0.000", "0"), ("-12.340", "-12.34"), ("1e-5", "0.00001")],
)
def test_numbers_are_normalized(text: str, canonical: str) -> None:
    assert canonical_number(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "The parameter cannot be converted to a numeric value: abc"),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("1E+126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1E-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
    ],
)
def test_invalid_numbers(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_number(text)
    assert info.value.message == message


def test_38_digits_fit_and_arithmetic_is_exact() -> None:
    big = "9" * 38
    assert canonical_number(big) == big
    assert add_numbers("0.1", "0.2") == "0.3"
    assert add_numbers("5", "7", subtract=True) == "-2"
    with pytest.raises(ValidationError):
        add_numbers(big, "0.1")


def test_sets_must_be_non_empty_and_unique() -> None:
    with pytest.raises(ValidationError, match="An string set  may not be empty"):
        normalize_value({"SS": []})
    with pytest.raises(ValidationError, match=r"Input collection \[1, 1.0\] contains duplicates"):
        normalize_value({"NS": ["1", "1.0"]})
    assert normalize_value({"NS": ["1.50", "2"]}) == {"NS": ["1.5", "2"]}


def test_attribute_value_shapes() -> None:
    with pytest.raises(ValidationError, match="Supplied AttributeValue is empty"):
        normalize_value({})
    with pytest.raises(ValidationError, match="more than one datatypes"):
        normalize_value({"S": "a", "N": "1"})
    with pytest.raises(ValidationError, match="Null attribute value types must have the value of true"):
        normalize_value({"NULL": False})
    nested: dict = {"S": "leaf"}
    for _ in range(32):
        nested = {"L": [nested]}
    with pytest.raises(ValidationError, match="Nesting Levels have exceeded supported limits"):
        normalize_value(nested)


def test_sizes_follow_aws_rules() -> None:
    assert value_size({"S": "héllo"}) == 6
    assert value_size({"N": "12345"}) == 4  # (5 digits + 1) // 2 + 1
    assert value_size({"B": b"\x00\x01\x02"}) == 3
    assert value_size({"BOOL": True}) == 1
    assert value_size({"L": [{"S": "ab"}, {"NULL": True}]}) == 3 + (1 + 2) + (1 + 1)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert item_size({"name": {"S": "abc"}, "n": {"N": "1"}}) == 4 + 3 + 1 + 2


def test_equality_of_numbers_and_sets() -> None:
    assert values_equal({"N": "1.0"}, {"N": "1"})
    assert values_equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert not values_equal({"S": "1"}, {"N": "1"})
    assert compare_scalars({"S": "a"}, {"N": "1"}) is None


def test_storage_round_trip_keeps_bytes() -> None:
    item = normalize_item({"b": {"B": b"\xff\x00"}, "bs": {"BS": [b"a", b"b"]}, "m": {"M": {"__b": {"S": "x"}}}})
    assert load_item(dump_item(item)) == item


numbers = st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e25"), max_value=Decimal("1e25"), places=10)


@settings(deadline=None)
@given(numbers, numbers)
def test_number_encoding_preserves_order(a: Decimal, b: Decimal) -> None:
    ea, eb = encode_key({"N": str(a)}), encode_key({"N": str(b)})
    assert (ea < eb) == (a < b)
    assert (ea == eb) == (a == b)


@settings(deadline=None)
@given(st.text(), st.text())
def test_string_encoding_orders_by_utf8_bytes(a: str, b: str) -> None:
    ea, eb = encode_key({"S": a}), encode_key({"S": b})
    assert (ea < eb) == (a.encode() < b.encode())


@settings(deadline=None)
@given(st.integers(min_value=-(10**37), max_value=10**37), st.integers(min_value=-(10**37), max_value=10**37))
def test_integer_encoding_and_compare_agree(a: int, b: int) -> None:
    order = compare_scalars({"N": str(a)}, {"N": str(b)})
    assert order == (a > b) - (a < b)
    assert (encode_key({"N": str(a)}) < encode_key({"N": str(b)})) == (a < b)
