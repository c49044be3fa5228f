"""Server-side validation of modelled constraints (cloudlet.protocols.validate)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.model import ServiceModel
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.errors import ValidationError
from cloudlet.protocols import load_service_model
from cloudlet.protocols.validate import (
    python_pattern,
    render_value,
    validate_params,
    validation_error_code,
)


def _model(service_name: str = "widgets") -> ServiceModel:
    shapes: dict[str, Any] = {
        "Input": {
            "type": "structure",
            "required": ["Name"],
            "members": {
                "Name": {"shape": "Name"},
                "Color": {"shape": "Color"},
                "Count": {"shape": "Count"},
                "Ratio": {"shape": "Ratio"},
                "Data": {"shape": "Data"},
                "Config": {"shape": "Config"},
                "Items": {"shape": "ItemList"},
                "Labels": {"shape": "LabelList"},
                "ByKey": {"shape": "ItemMap"},
                "Tags": {"shape": "TagMap"},
                "Tree": {"shape": "Node"},
            },
        },
        "Name": {"type": "string", "min": 1, "max": 8, "pattern": "[a-z]+"},
        "Color": {"type": "string", "enum": ["red", "green"]},
        "Count": {"type": "integer", "min": 0, "max": 10},
        "Ratio": {"type": "double", "min": 0.5},
        "Data": {"type": "blob", "max": 4},
        "Config": {"type": "structure", "members": {"InnerName": {"shape": "Name"}}},
        "Item": {"type": "structure", "required": ["Name"], "members": {"Name": {"shape": "Name"}}},
        "ItemList": {"type": "list", "member": {"shape": "Item"}, "max": 2},
        "LabelList": {"type": "list", "member": {"shape": "Label"}},
        "Label": {"type": "string", "max": 3},
        "ItemMap": {"type": "map", "key": {"shape": "Plain"}, "value": {"shape": "Item"}},
        "TagMap": {"type": "map", "key": {"shape": "TagKey"}, "value": {"shape": "Label"}},
        "TagKey": {"type": "string", "pattern": "[A-Z]+"},
        "Plain": {"type": "string"},
        "Node": {
            "type": "structure",
            "members": {"Value": {"shape": "Count"}, "Children": {"shape": "NodeList"}},
        },
        "NodeList": {"type": "list", "member": {"shape": "Node"}},
    }
    return ServiceModel(
        {
            "metadata": {"protocol": "json", "apiVersion": "2020-01-01", "jsonVersion": "1.0", "targetPrefix": "W"},
            "operations": {"Do": {"name": "Do", "http": {"method": "POST", "requestUri": "/"}, "input": {"shape": "Input"}}},
            "shapes": shapes,
        },
        service_name=service_name,
    )


MODEL = _model()
INPUT = MODEL.operation_model("Do").input_shape


def _errors(params: dict[str, Any], model: ServiceModel = MODEL) -> str:
    with pytest.raises(ValidationError) as info:
        validate_params(model, model.operation_model("Do").input_shape, params)
    return info.value.message


def test_valid_params_pass() -> None:
    validate_params(
        MODEL,
        INPUT,
        {
            "Name": "abc",
            "Color": "red",
            "Count": 10,
            "Ratio": 0.5,
            "Data": b"1234",
            "Config": {"InnerName": "x"},
            "Items": [{"Name": "a"}],
            "Labels": ["abc"],
            "ByKey": {"k": {"Name": "z"}},
            "Tags": {"K": "v"},
            "Tree": {"Value": 1, "Children": [{"Value": 2, "Children": []}]},
        },
    )


def test_no_shape_and_no_constraints_pass() -> None:
    validate_params(MODEL, None, {"anything": 1})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"),
        (
            {"Name": "abcdefghi"},
            "1 validation error detected: Value 'abcdefghi' at 'name' failed to satisfy constraint: "
            "Member must have length less than or equal to 8",
        ),
        (
            {"Name": "a1"},
            "1 validation error detected: Value 'a1' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-z]+",
        ),
        (
            {"Name": "a", "Color": "blue"},
            "1 validation error detected: Value 'blue' at 'color' failed to satisfy constraint: "
            "Member must satisfy enum value set: [red, green]",
        ),
        (
            {"Name": "a", "Count": 11},
            "1 validation error detected: Value '11' at 'count' failed to satisfy constraint: "
            "Member must have value less than or equal to 10",
        ),
        (
            {"Name": "a", "Count": -1},
            "1 validation error detected: Value '-1' at 'count' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0",
        ),
        (
            {"Name": "a", "Ratio": 0.25},
            "1 validation error detected: Value '0.25' at 'ratio' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0.5",
        ),
        (
            {"Name": "a", "Data": b"12345"},
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=5 cap=5]' at 'data' "
            "failed to satisfy constraint: Member must have length less than or equal to 4",
        ),
    ],
)
def test_each_constraint_has_awss_message(params: dict[str, Any], message: str) -> None:
    assert _errors(params) == message


def test_nested_paths_use_lower_camel_names_and_one_based_indexes() -> None:
    message = _errors(
        {
            "Name": "a",
            "Config": {"InnerName": "BAD"},
            "Items": [{"Name": "ok"}, {"Name": "NO"}],
            "ByKey": {"k1": {"Name": "X"}},
        }
    )
    assert message.startswith("3 validation errors detected: ")
    assert "Value 'BAD' at 'config.innerName' failed to satisfy constraint" in message
    assert "Value 'NO' at 'items.2.member.name' failed" in message
    assert "Value 'X' at 'byKey.k1.member.name' failed" in message
    assert message.count("; ") == 2


def test_required_members_inside_lists() -> None:
    assert "Value null at 'items.1.member.name' failed to satisfy constraint: Member must not be null" in _errors(
        {"Name": "a", "Items": [{}]}
    )


def test_container_sizes_and_element_constraints_are_reported_at_the_container() -> None:
    message = _errors(
        {
            "Name": "a",
            "Items": [{"Name": "a"}, {"Name": "b"}, {"Name": "c"}],
            "Labels": ["ok", "toolong", "waytoolong"],
            "Tags": {"lower": "ok"},
        }
    )
    assert message.startswith("3 validation errors detected: ")
    assert "at 'items' failed to satisfy constraint: Member must have length less than or equal to 2" in message
    # Element failures are listed once per distinct constraint.
    assert (
        "Value '[ok, toolong, waytoolong]' at 'labels' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length less than or equal to 3]"
    ) in message
    assert (
        "Value '{lower=ok}' at 'tags' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [A-Z]+]"
    ) in message


def test_recursive_shapes_are_checked_at_depth() -> None:
    tree = {"Value": 1, "Children": [{"Value": 2, "Children": [{"Value": 99}]}]}
    assert "at 'tree.children.1.member.children.1.member.value'" in _errors({"Name": "a", "Tree": tree})


def test_error_code_is_the_services_own() -> None:
    assert validation_error_code(MODEL) == "ValidationException"
    sqs_like = _model("sqs")
    assert validation_error_code(sqs_like) == "InvalidParameterValue"
    with pytest.raises(ValidationError) as info:
        validate_params(sqs_like, sqs_like.operation_model("Do").input_shape, {})
    assert (info.value.code, info.value.status) == ("InvalidParameterValue", 400)


def test_real_model_lambda_create_function() -> None:
    model = load_service_model("lambda")
    shape = model.operation_model("CreateFunction").input_shape
    with pytest.raises(ValidationError) as info:
        validate_params(model, shape, {"FunctionName": "a b", "Role": "arn:aws:iam::123456789012:role/r", "Code": {}, "Timeout": 0})
    message = info.value.message
    assert message.startswith("2 validation errors detected: ")
    assert "Value 'a b' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern" in message
    assert "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1" in message


@pytest.mark.parametrize(
    ("java", "matches", "rejects"),
    [
        (r"\p{Print}+", ["a b~"], ["tab\there", ""]),
        (r"[\w-_]+", ["a-b_c"], ["a b"]),
        (r"[\u0020-\uD7FF\uD800\uDC00-\uDBFF\uDFFF]*", ["x\U0001f600"], ["\x01"]),
        (r"\P{Digit}+", ["abc"], ["a1"]),
        (r"abc\z", ["abc"], ["abcd"]),
    ],
)
def test_java_patterns_are_translated(java: str, matches: list[str], rejects: list[str]) -> None:
    compiled = python_pattern(java)
    assert compiled is not None
    for text in matches:
        assert compiled.fullmatch(text), text
    for text in rejects:
        assert compiled.fullmatch(text) is None, text


def test_untranslatable_patterns_are_skipped() -> None:
    assert python_pattern("[a-z&&[^b]]") is None
    assert python_pattern(r"\p{InGreek}") is None


def test_values_render_like_java() -> None:
    assert render_value(None) == "null"
    assert render_value(True) == "true"
    assert render_value([1, "a"]) == "[1, a]"
    assert render_value({"k": [False]}) == "{k=[false]}"


# -- properties ---------------------------------------------------------------

NAME = re.compile("[a-z]+")


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("ab1 Z"), max_size=12))
def test_string_constraints_property(name: str) -> None:
    expected = [
        text
        for failed, text in (
            (len(name) < 1, "Member must have length greater than or equal to 1"),
            (len(name) > 8, "Member must have length less than or equal to 8"),
            (NAME.fullmatch(name) is None, "Member must satisfy regular expression pattern: [a-z]+"),
        )
        if failed
    ]
    if not expected:
        validate_params(MODEL, INPUT, {"Name": name})
        return
    message = _errors({"Name": name})
    noun = "error" if len(expected) == 1 else "errors"
    assert message.startswith(f"{len(expected)} validation {noun} detected: ")
    for text in expected:
        assert f"Value '{name}' at 'name' failed to satisfy constraint: {text}" in message


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-5, 15), max_size=4))
def test_each_out_of_range_value_is_reported_at_its_own_path(values: list[int]) -> None:
    tree = {"Children": [{"Value": v} for v in values]}
    bad = [i for i, v in enumerate(values, 1) if not 0 <= v <= 10]
    if not bad:
        validate_params(MODEL, INPUT, {"Name": "a", "Tree": tree})
        return
    message = _errors({"Name": "a", "Tree": tree})
    assert message.startswith(f"{len(bad)} validation error")
    for index in bad:
        assert f"at 'tree.children.{index}.member.value'" in message
