"""The expression parser (errors, round trip) and the evaluator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.expressions.evaluate import (
    apply_update,
    check_overlaps,
    evaluate,
    project,
)
from cloudlet.services.dynamodb.expressions.parser import (
    Placeholders,
    parse_condition,
    parse_projection,
    parse_update,
)


def cond(text: str, names: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> ast.Condition:
    ph = Placeholders(names, values)
    node = parse_condition(text, "ConditionExpression", ph)
    ph.check_unused()
    return node


def error(fn: Any, *args: Any) -> str:
    with pytest.raises(ValidationError) as info:
        fn(*args)
    return info.value.message


ITEM: dict[str, Any] = {
    "pk": {"S": "user#1"},
    "n": {"N": "42"},
    "tags": {"SS": ["a", "b"]},
    "doc": {"M": {"x": {"L": [{"N": "1"}, {"BOOL": True}]}, "title": {"S": "hello world"}}},
    "lst": {"L": [{"S": "zero"}, {"S": "one"}]},
}


def test_precedence_not_and_or() -> None:
    node = cond("a = :x OR b = :x AND NOT c = :x", values={":x": {"S": "1"}})
    assert isinstance(node, ast.Or)
    assert isinstance(node.right, ast.And)
    assert isinstance(node.right.right, ast.Not)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n = :n", True),
        ("n <> :n", False),
        ("n BETWEEN :lo AND :hi", True),
        ("n IN (:lo, :n)", True),
        ("begins_with(pk, :pre)", True),
        ("contains(tags, :a)", True),
        ("contains(doc.title, :w)", True),
        ("size(tags) = :two", True),
        ("size(doc.x) > :one", True),
        ("attribute_exists(doc.x[1])", True),
        ("attribute_not_exists(doc.x[2])", True),
        ("attribute_type(n, :ntype)", True),
        ("doc.x[0] = :one", True),
        ("absent <> :n", True),
        ("absent = :n", False),
        ("NOT (n < :lo) AND (n > :hi OR pk = :pk)", True),
        ("n > :pk", False),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    values = {
        ":n": {"N": "42.0"}, ":lo": {"N": "1"}, ":hi": {"N": "100"}, ":pre": {"S": "user#"}, ":a": {"S": "a"},
        ":w": {"S": "world"}, ":two": {"N": "2"}, ":one": {"N": "1"}, ":ntype": {"S": "N"}, ":pk": {"S": "user#1"},
    }
    ph = Placeholders(None, values)
    node = parse_condition(text, "ConditionExpression", ph)
    assert evaluate(node, ITEM) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = ", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'),
        ("a == :v", 'Invalid ConditionExpression: Syntax error; token: "=", near: "== :v"'),
        ("foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
        ("status = :v", "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"),
        ("#n = :v", "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: #n"),
        ("a = :missing", "Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: :missing"),
        ("begins_with(a, :num)", "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("attribute_exists(a, :v)", "Invalid ConditionExpression: Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
        ("a BETWEEN :big AND :num", "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:9}, upper bound operand: AttributeValue: {N:1}"),
    ],
)
def test_condition_errors(text: str, message: str) -> None:
    values = {":v": {"S": "x"}, ":num": {"N": "1"}, ":big": {"N": "9"}}
    assert error(parse_condition, text, "ConditionExpression", Placeholders(None, values)) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ADD hits : incr", 'Invalid UpdateExpression: Syntax error; token: ":", near: "hits : incr"'),
        ("INVALID SYNTAX HERE", 'Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX"'),
        ("SET a = :v, #, b = :v", 'Invalid UpdateExpression: Syntax error; token: "#", near: ", #,"'),
        ("SET a", 'Invalid UpdateExpression: Syntax error; token: "<EOF>", near: "a"'),
        ("", "Invalid UpdateExpression: The expression can not be empty;"),
    ],
)
def test_update_syntax_errors_quote_the_neighbourhood(text: str, message: str) -> None:
    assert error(parse_update, text, Placeholders(None, {":v": {"S": "x"}})) == message


def test_unused_placeholders() -> None:
    ph = Placeholders({"#a": "a", "#b": "b"}, {":v": {"S": "x"}, ":w": {"S": "y"}})
    parse_condition("#a = :v", "ConditionExpression", ph)
    assert error(ph.check_unused) == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    ph.used_names.add("#b")
    assert error(ph.check_unused) == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"


def test_projection_nested_paths_and_indexes() -> None:
    paths = parse_projection("pk, doc.x[1], #l[1]", Placeholders({"#l": "lst"}, None))
    assert project(ITEM, paths) == {
        "pk": {"S": "user#1"},
        "doc": {"M": {"x": {"L": [{"BOOL": True}]}}},
        "lst": {"L": [{"S": "one"}]},
    }


def update(text: str, item: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    node = parse_update(text, Placeholders(None, values))
    check_overlaps(node)
    return apply_update(item, node)


def test_update_set_arithmetic_and_functions() -> None:
    values = {":one": {"N": "1"}, ":zero": {"N": "0"}, ":items": {"L": [{"S": "two"}]}, ":s": {"S": "new"}}
    new = update(
        "SET n = n + :one, c = if_not_exists(c, :zero) - :one, lst = list_append(lst, :items), doc.title = :s",
        ITEM,
        values,
    )
    assert new["n"] == {"N": "43"}
    assert new["c"] == {"N": "-1"}
    assert [v["S"] for v in new["lst"]["L"]] == ["zero", "one", "two"]
    assert new["doc"]["M"]["title"] == {"S": "new"}
    assert ITEM["n"] == {"N": "42"}  # input untouched


def test_update_remove_add_delete() -> None:
    values = {":t": {"SS": ["c"]}, ":d": {"SS": ["a", "b"]}, ":five": {"N": "5"}}
    new = update("REMOVE lst[0], doc.x ADD cnt :five, tags :t", ITEM, values)
    assert new["lst"]["L"] == [{"S": "one"}]
    assert "x" not in new["doc"]["M"]
    assert new["cnt"] == {"N": "5"}
    assert sorted(new["tags"]["SS"]) == ["a", "b", "c"]
    assert "tags" not in update("DELETE tags :d", ITEM, values)


def test_update_errors() -> None:
    values = {":v": {"S": "x"}, ":n": {"N": "1"}}
    assert error(update, "SET a = :v SET b = :v", ITEM, values) == (
        'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;'
    )
    assert error(update, "SET a = :v, a.b = :v", ITEM, values).startswith(
        "Invalid UpdateExpression: Two document paths overlap with each other"
    )
    assert error(update, "SET pk = pk + :n", ITEM, values) == "An operand in the update expression has an incorrect data type"
    assert error(update, "SET nope.deeper = :v", ITEM, values) == (
        "The document path provided in the update expression is invalid for update"
    )
    assert error(update, "ADD a :v", ITEM, values) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
    )
    assert error(update, "SET a = absent", ITEM, values) == (
        "The provided expression refers to an attribute that does not exist in the item"
    )


# -- round trip: render a generated tree, parse it again --------------------------------------

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
paths = st.builds(
    lambda first, rest: ast.Path((first, *rest)),
    names,
    st.lists(st.one_of(names, st.integers(min_value=0, max_value=9)), max_size=3),
)
values = st.one_of(
    st.builds(lambda s: ast.Value({"S": s}), st.text(max_size=5)),
    st.builds(lambda n: ast.Value({"N": str(n)}), st.integers(min_value=-1000, max_value=1000)),
)
operands = st.one_of(paths, values, st.builds(ast.Size, paths))
leaves = st.one_of(
    st.builds(ast.Compare, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), operands, operands),
    st.builds(lambda p: ast.Function("attribute_exists", (p,)), paths),
    st.builds(lambda p, v: ast.Function("contains", (p, v)), paths, values),
    st.builds(lambda o, opts: ast.In(o, tuple(opts)), operands, st.lists(operands, min_size=1, max_size=4)),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(st.builds(ast.And, inner, inner), st.builds(ast.Or, inner, inner), st.builds(ast.Not, inner)),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(conditions)
def test_condition_round_trip(node: ast.Condition) -> None:
    renderer = ast.Renderer()
    text = renderer.condition(node)
    again = parse_condition(text, "ConditionExpression", Placeholders(renderer.names or None, renderer.values or None))
    assert again == node
    # values compare by placeholder only; check the substituted values too
    assert ast.Renderer().condition(again) == ast.Renderer().condition(node)


actions = st.one_of(
    st.builds(lambda p, v: ast.Action("SET", p, v), paths, values),
    st.builds(lambda p, a, b: ast.Action("SET", p, ast.Arithmetic("+", a, b)), paths, paths, values),
    st.builds(lambda p: ast.Action("REMOVE", p), paths),
    st.builds(lambda p, n: ast.Action("ADD", p, ast.Value({"N": str(n)})), paths, st.integers(0, 9)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(actions, min_size=1, max_size=5))
def test_update_round_trip(action_list: list[ast.Action]) -> None:
    # The renderer groups actions by clause; compare against that grouping.
    order = {"SET": 0, "REMOVE": 1, "ADD": 2}
    first_seen: dict[str, int] = {}
    for i, action in enumerate(action_list):
        first_seen.setdefault(action.kind, i)
    grouped = sorted(action_list, key=lambda a: first_seen[a.kind] * 10 + order[a.kind])
    node = ast.Update(tuple(grouped))
    renderer = ast.Renderer()
    text = renderer.update(node)
    again = parse_update(text, Placeholders(renderer.names or None, renderer.values or None))
    assert again == node
