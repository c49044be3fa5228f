"""Intrinsic functions evaluated against parameters, pseudo parameters and deployed resources."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.deploy.intrinsics import NO_VALUE, Resolver, TemplateError, references

DEPLOYED = {
    "Queue": ("https://q/url", {"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "QueueName": "q"}),
    "Api": ("abc123", {"ApiEndpoint": "http://abc123.execute-api.localhost:4566"}),
}


def lookup_ref(name: str) -> Any:
    if name not in DEPLOYED:
        raise TemplateError(f"unknown {name}")
    return DEPLOYED[name][0]


def lookup_att(name: str, attr: str) -> Any:
    return DEPLOYED[name][1][attr]


def resolver(**conditions: bool) -> Resolver:
    return Resolver(
        parameters={"Stage": "dev", "Sizes": ["64", "128"]},
        pseudo={"AWS::Region": "us-east-1", "AWS::AccountId": "000000000000", "AWS::StackName": "s"},
        ref=lookup_ref,
        get_att=lookup_att,
        mappings={"Env": {"dev": {"Memory": 256}}},
        conditions=conditions,
    )


def test_ref_of_parameter_pseudo_parameter_and_resource() -> None:
    r = resolver()
    assert r.resolve({"Ref": "Stage"}) == "dev"
    assert r.resolve({"Ref": "AWS::Region"}) == "us-east-1"
    assert r.resolve({"Ref": "Queue"}) == "https://q/url"
    with pytest.raises(TemplateError):
        r.resolve({"Ref": "Nope"})


def test_get_att_in_both_forms() -> None:
    r = resolver()
    assert r.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == DEPLOYED["Queue"][1]["Arn"]
    assert r.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "q"


def test_sub_string_form_with_refs_attributes_and_literals() -> None:
    r = resolver()
    text = "${Api.ApiEndpoint}/${Stage}/${AWS::Region}/${!Literal}/${Queue}"
    assert r.resolve({"Fn::Sub": text}) == (
        "http://abc123.execute-api.localhost:4566/dev/us-east-1/${Literal}/https://q/url"
    )


def test_sub_list_form_uses_local_variables_first() -> None:
    r = resolver()
    value = {"Fn::Sub": ["${Stage}-${Name}-${Extra}", {"Name": {"Ref": "AWS::StackName"}, "Extra": "x"}]}
    assert r.resolve(value) == "dev-s-x"


def test_join_select_split_and_find_in_map() -> None:
    r = resolver()
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}) == "a-dev-3"
    assert r.resolve({"Fn::Select": [1, {"Ref": "Sizes"}]}) == "128"
    assert r.resolve({"Fn::Split": [",", "a,b"]}) == ["a", "b"]
    assert r.resolve({"Fn::FindInMap": ["Env", {"Ref": "Stage"}, "Memory"]}) == 256
    with pytest.raises(TemplateError):
        r.resolve({"Fn::Select": [5, ["a"]]})


def test_conditions_if_and_no_value() -> None:
    r = resolver(IsProd=False, IsDev=True)
    assert r.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "small"
    assert r.resolve({"Fn::Equals": [{"Ref": "Stage"}, "dev"]}) is True
    assert r.resolve({"Fn::Not": [{"Condition": "IsProd"}]}) is True
    assert r.resolve({"Fn::And": [{"Condition": "IsDev"}, {"Fn::Equals": ["a", "a"]}]}) is True
    assert r.resolve({"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]}) is True
    props = {"A": 1, "B": {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}, "L": [1, {"Ref": "AWS::NoValue"}]}
    assert r.resolve(props) == {"A": 1, "L": [1]}
    assert r.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_unsupported_function_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="Fn::Cidr"):
        resolver().resolve({"Fn::Cidr": ["10.0.0.0/16", 2, 8]})


def test_references_finds_resources_through_every_form() -> None:
    fragment = {
        "A": {"Ref": "Queue"},
        "B": [{"Fn::GetAtt": "Api.ApiEndpoint"}],
        "C": {"Fn::Sub": "${Bucket}/${Table.Arn}/${AWS::Region}/${!Skip}"},
        "D": {"Fn::Sub": ["${Local}${Other}", {"Local": {"Ref": "Topic"}}]},
    }
    assert references(fragment) == {"Queue", "Api", "Bucket", "Table", "Topic", "Other"}


names = st.from_regex(r"[A-Z][A-Za-z0-9]{0,10}", fullmatch=True)
plain = st.text(alphabet=st.characters(blacklist_characters="$"), max_size=30)


@given(plain)
def test_sub_without_placeholders_is_identity(text: str) -> None:
    assert resolver().resolve({"Fn::Sub": text}) == text


@given(st.text(max_size=3), st.lists(plain, max_size=6))
def test_join_of_strings_is_str_join(delimiter: str, items: list[str]) -> None:
    assert resolver().resolve({"Fn::Join": [delimiter, items]}) == delimiter.join(items)


@given(st.lists(names, max_size=8), st.lists(names, max_size=8))
def test_references_are_exactly_the_names_used(refs: list[str], atts: list[str]) -> None:
    fragment = {"refs": [{"Ref": n} for n in refs], "atts": [{"Fn::GetAtt": [n, "Arn"]} for n in atts]}
    assert references(fragment) == set(refs) | set(atts)
