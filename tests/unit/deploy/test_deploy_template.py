"""Template loading: YAML tags, Globals, implicit APIs, parameters, conditions, ordering."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlet.deploy.intrinsics import TemplateError
from cloudlet.deploy.template import (
    IMPLICIT_HTTP_API,
    IMPLICIT_REST_API,
    bind_parameters,
    deployment_order,
    load_template,
    merge_globals,
    parse_yaml,
)

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_short_form_tags_become_long_form() -> None:
    body = parse_yaml(
        textwrap.dedent(
            """
            Resources:
              Q:
                Type: AWS::SQS::Queue
                Properties:
                  A: !Ref Param
                  B: !GetAtt Other.Arn
                  C: !Sub "${AWS::StackName}-x"
                  D: !Sub ["${X}", {X: !Ref Param}]
                  E: !Join [",", [!Ref A, !Select [0, !Split [",", "a,b"]]]]
                  F: !If [Cond, !GetAtt [Other, Arn], !Ref "AWS::NoValue"]
                  G: !Not [!Condition Cond]
                  Version: 2012-10-17
            """
        )
    )
    props = body["Resources"]["Q"]["Properties"]
    assert props["A"] == {"Ref": "Param"}
    assert props["B"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["C"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["D"] == {"Fn::Sub": ["${X}", {"X": {"Ref": "Param"}}]}
    assert props["E"] == {"Fn::Join": [",", [{"Ref": "A"}, {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}]]}
    assert props["F"] == {"Fn::If": ["Cond", {"Fn::GetAtt": ["Other", "Arn"]}, {"Ref": "AWS::NoValue"}]}
    assert props["G"] == {"Fn::Not": [{"Condition": "Cond"}]}
    assert props["Version"] == "2012-10-17"


def test_template_without_resources_is_rejected() -> None:
    with pytest.raises(TemplateError):
        parse_yaml("Parameters: {}\n")
    with pytest.raises(TemplateError):
        parse_yaml("Resources: [\n")


def test_globals_are_merged_into_functions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Globals:
          Function:
            Runtime: python3.12
            Timeout: 10
            Environment: {Variables: {A: "1", B: "2"}}
            Layers: [l1]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Timeout: 3
              Environment: {Variables: {B: "override", C: "3"}}
              Layers: [l2]
          Q:
            Type: AWS::SQS::Queue
        """,
    )
    template = load_template(path)
    props = template.resources["Fn"]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Timeout"] == 3
    assert props["Environment"] == {"Variables": {"A": "1", "B": "override", "C": "3"}}
    assert props["Layers"] == ["l1", "l2"]
    assert template.resources["Q"]["Properties"] == {}


@given(
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=5),
)
def test_merge_globals_local_values_win(global_map: dict[str, int], local_map: dict[str, int]) -> None:
    merged = merge_globals(global_map, local_map)
    assert merged == {**global_map, **local_map}


def test_implicit_apis_are_added_for_api_events(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: .
              Handler: app.handler
              Events:
                Get: {Type: HttpApi, Properties: {Path: /x, Method: get}}
                Old: {Type: Api, Properties: {Path: /y, Method: post}}
        """,
    )
    template = load_template(path)
    assert template.resources[IMPLICIT_HTTP_API]["Type"] == "AWS::Serverless::HttpApi"
    assert IMPLICIT_REST_API in template.resources
    order = deployment_order(template.resources)
    assert order.index(IMPLICIT_HTTP_API) < order.index("Fn")
    assert order.index(IMPLICIT_REST_API) < order.index("Fn")


def test_parameters_defaults_overrides_and_validation() -> None:
    declared: dict[str, Any] = {
        "Size": {"Type": "Number", "Default": 128, "MinValue": 16, "MaxValue": 1024},
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Names": {"Type": "CommaDelimitedList", "Default": "a, b"},
    }
    assert bind_parameters(declared, {}) == {"Size": "128", "Stage": "dev", "Names": ["a", "b"]}
    assert bind_parameters(declared, {"Size": "64", "Stage": "prod"})["Size"] == "64"
    for bad in ({"Size": "8"}, {"Size": "big"}, {"Stage": "test"}, {"Unknown": "1"}):
        with pytest.raises(TemplateError):
            bind_parameters(declared, bad)
    with pytest.raises(TemplateError, match="no Default"):
        bind_parameters({"Required": {"Type": "String"}}, {})


def test_conditions_remove_resources_and_drive_if(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        Parameters:
          Stage: {Type: String, Default: dev}
        Conditions:
          IsProd: !Equals [!Ref Stage, prod]
          IsDev: !Not [!Condition IsProd]
        Resources:
          ProdOnly:
            Type: AWS::SQS::Queue
            Condition: IsProd
          Always:
            Type: AWS::SQS::Queue
        """,
    )
    dev = load_template(path)
    assert dev.conditions == {"IsProd": False, "IsDev": True}
    assert list(dev.resources) == ["Always"]
    prod = load_template(path, {"Stage": "prod"})
    assert set(prod.resources) == {"ProdOnly", "Always"}


def test_order_follows_refs_getatts_subs_and_depends_on() -> None:
    resources: dict[str, Any] = {
        "Fn": {"Type": "T", "Properties": {"Q": {"Fn::GetAtt": ["Queue", "Arn"]}}},
        "Api": {"Type": "T", "Properties": {"X": {"Fn::Sub": "${Fn.Arn}"}}},
        "Queue": {"Type": "T", "Properties": {"Dlq": {"Ref": "Dlq"}}},
        "Dlq": {"Type": "T", "Properties": {}},
        "Last": {"Type": "T", "DependsOn": ["Api"], "Properties": {"P": {"Ref": "SomeParameter"}}},
    }
    assert deployment_order(resources) == ["Dlq", "Queue", "Fn", "Api", "Last"]


def test_cycles_and_unknown_depends_on_are_errors() -> None:
    cycle = {
        "A": {"Type": "T", "Properties": {"X": {"Ref": "B"}}},
        "B": {"Type": "T", "Properties": {"X": {"Ref": "A"}}},
    }
    with pytest.raises(TemplateError, match="circular"):
        deployment_order(cycle)
    with pytest.raises(TemplateError, match="DependsOn"):
        deployment_order({"A": {"Type": "T", "DependsOn": "Ghost", "Properties": {}}})


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 12))
    names = [f"R{i}" for i in range(count)]
    resources: dict[str, Any] = {}
    for i, name in enumerate(names):
        needs = draw(st.lists(st.sampled_from(names[:i]), unique=True)) if i else []
        resources[name] = {"Type": "T", "Properties": {"Deps": [{"Ref": n} for n in needs]}}
    order = draw(st.permutations(names))
    return {name: resources[name] for name in order}


@given(dags())
def test_order_respects_every_edge_and_keeps_all(resources: dict[str, Any]) -> None:
    order = deployment_order(resources)
    assert sorted(order) == sorted(resources)
    position = {name: i for i, name in enumerate(order)}
    for name, resource in resources.items():
        for dep in resource["Properties"]["Deps"]:
            assert position[dep["Ref"]] < position[name]


def test_example_template_loads_in_a_sensible_order() -> None:
    template = load_template(ROOT / "examples" / "thumbnails" / "template.yaml")
    order = deployment_order(template.resources)
    assert order.index("UploadsTopicPolicy") < order.index("ImagesBucket")
    assert order.index("ThumbnailDeadLetterQueue") < order.index("ThumbnailQueue")
    assert order.index("ThumbnailQueue") < order.index("ResizeFunction")
    assert order.index("ThumbnailsApi") < order.index("ServeFunction")
    assert template.parameters["MaxReceiveCount"] == "3"
