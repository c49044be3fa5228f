"""The legacy (pre-expression) parameters, translated into the expression tree.

``Expected``, ``KeyConditions``, ``QueryFilter``, ``ScanFilter`` become a
``Condition``; ``AttributeUpdates`` becomes an ``Update``; ``AttributesToGet``
becomes projection paths.  Evaluation is then shared with expressions.
"""

from __future__ import annotations

from typing import Any

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.types import SET_TYPES, normalize_value

_COMPARATORS = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_ARG_COUNTS = {"NULL": 0, "NOT_NULL": 0, "BETWEEN": 2, "IN": None}


def _values(name: str, condition: dict[str, Any]) -> list[ast.Value]:
    raw = condition.get("AttributeValueList") or []
    operator = condition["ComparisonOperator"]
    wanted = _ARG_COUNTS.get(operator, 1)
    if (wanted is None and not raw) or (wanted is not None and len(raw) != wanted):
        raise ValidationError(
            f"One or more parameter values were invalid: Invalid number of argument(s) for the {operator} ComparisonOperator"
        )
    return [ast.Value(normalize_value(v)) for v in raw]


def comparison(name: str, condition: dict[str, Any]) -> ast.Condition:
    path = ast.Path((name,))
    operator = condition["ComparisonOperator"]
    values = _values(name, condition)
    if operator in _COMPARATORS:
        kind = next(iter(values[0].value))
        if operator not in ("EQ", "NE") and kind not in ("S", "N", "B"):
            raise ValidationError(
                f"One or more parameter values were invalid: ComparisonOperator {operator} is not valid for {kind} AttributeValue type"
            )
        return ast.Compare(_COMPARATORS[operator], path, values[0])
    if operator == "NULL":
        return ast.Function("attribute_not_exists", (path,))
    if operator == "NOT_NULL":
        return ast.Function("attribute_exists", (path,))
    if operator == "CONTAINS":
        return ast.Function("contains", (path, values[0]))
    if operator == "NOT_CONTAINS":
        return ast.And(ast.Function("attribute_exists", (path,)), ast.Not(ast.Function("contains", (path, values[0]))))
    if operator == "BEGINS_WITH":
        return ast.Function("begins_with", (path, values[0]))
    if operator == "IN":
        return ast.In(path, tuple(values))
    if operator == "BETWEEN":
        return ast.Between(path, values[0], values[1])
    raise ValidationError(f"Unsupported ComparisonOperator: {operator}")


def _combine(conditions: list[ast.Condition], operator: str | None) -> ast.Condition | None:
    if not conditions:
        return None
    node = conditions[0]
    for other in conditions[1:]:
        node = ast.Or(node, other) if operator == "OR" else ast.And(node, other)
    return node


def expected(params: dict[str, Any]) -> ast.Condition | None:
    parts: list[ast.Condition] = []
    for name, spec in (params.get("Expected") or {}).items():
        if "ComparisonOperator" in spec:
            if "Value" in spec:
                raise ValidationError(
                    "One or more parameter values were invalid: Value and AttributeValueList cannot be used together"
                )
            parts.append(comparison(name, spec))
            continue
        exists = spec.get("Exists", True)
        if "Value" in spec:
            if not exists:
                raise ValidationError(
                    "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: " + name
                )
            parts.append(ast.Compare("=", ast.Path((name,)), ast.Value(normalize_value(spec["Value"]))))
        elif exists:
            raise ValidationError(
                "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: " + name
            )
        else:
            parts.append(ast.Function("attribute_not_exists", (ast.Path((name,)),)))
    return _combine(parts, params.get("ConditionalOperator"))


def filters(conditions: dict[str, Any] | None, operator: str | None) -> ast.Condition | None:
    return _combine([comparison(name, spec) for name, spec in (conditions or {}).items()], operator)


def attribute_updates(updates: dict[str, Any]) -> ast.Update:
    actions: list[ast.Action] = []
    for name, spec in updates.items():
        action = spec.get("Action", "PUT")
        path = ast.Path((name,))
        value = normalize_value(spec["Value"]) if spec.get("Value") is not None else None
        if action == "PUT":
            if value is None:
                raise ValidationError("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
            actions.append(ast.Action("SET", path, ast.Value(value)))
        elif action == "DELETE":
            if value is None:
                actions.append(ast.Action("REMOVE", path))
            else:
                if next(iter(value)) not in SET_TYPES:
                    raise ValidationError("One or more parameter values were invalid: DELETE action with value is not supported for the type " + next(iter(value)))
                actions.append(ast.Action("DELETE", path, ast.Value(value)))
        else:
            if value is None:
                raise ValidationError("One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified")
            if next(iter(value)) not in ("N", *SET_TYPES):
                raise ValidationError("One or more parameter values were invalid: ADD action is not supported for the type " + next(iter(value)))
            actions.append(ast.Action("ADD", path, ast.Value(value)))
    return ast.Update(tuple(actions))


def attributes_to_get(names: list[str]) -> list[ast.Path]:
    if len(set(names)) != len(names):
        raise ValidationError("One or more parameter values were invalid: Duplicate value in attribute name: " + names[0])
    return [ast.Path((name,)) for name in names]
