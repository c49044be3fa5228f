"""Target input: Input, InputPath and InputTransformer with AWS's quoting rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudlet.services.events.transform import TransformError, check_path, target_input, transform

EVENT: dict[str, Any] = {
    "id": "e1",
    "source": "ec2",
    "time": "2026-01-01T00:00:00Z",
    "detail": {"instance-id": "i-123", "state": "running", "count": 3, "tags": {"a": 1}, "list": [10, 20], "quote": 'say "hi"'},
}
PATHS = {
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "count": "$.detail.count",
    "tags": "$.detail.tags",
    "second": "$.detail.list[1]",
    "quote": "$.detail.quote",
    "missing": "$.detail.nope",
}


def test_placeholders_outside_quotes_become_json_values() -> None:
    out = transform(EVENT, PATHS, '{"i": <instance>, "n": <count>, "t": <tags>, "s": <second>, "m": <missing>}')
    assert json.loads(out) == {"i": "i-123", "n": 3, "t": {"a": 1}, "s": 20, "m": None}


def test_placeholders_inside_quotes_are_substituted_as_text() -> None:
    out = transform(EVENT, PATHS, '{"msg": "<instance> is <state> (<count>)", "q": "<quote>", "m": "<missing>"}')
    assert json.loads(out) == {"msg": "i-123 is running (3)", "q": 'say "hi"', "m": ""}


def test_string_template_and_predefined_variables() -> None:
    out = transform(EVENT, PATHS, '"<instance> is in state <state>"')
    assert json.loads(out) == "i-123 is in state running"
    out = transform(EVENT, {}, '{"rule": "<aws.events.rule-name>", "event": <aws.events.event>}', rule_name="r1")
    assert json.loads(out) == {"rule": "r1", "event": EVENT}
    assert transform(EVENT, {}, "<unknown> stays") == "<unknown> stays"


def test_input_and_input_path() -> None:
    assert target_input(EVENT, {"Input": '{"fixed": true}'}) == '{"fixed": true}'
    assert json.loads(target_input(EVENT, {"InputPath": "$.detail.tags"})) == {"a": 1}
    assert json.loads(target_input(EVENT, {})) == EVENT


@pytest.mark.parametrize("path", ["detail", "$.", "$..a", "$[x]", "$.a["])
def test_bad_paths(path: str) -> None:
    with pytest.raises(TransformError):
        check_path(path)
