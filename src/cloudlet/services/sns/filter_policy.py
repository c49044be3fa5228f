"""SNS subscription filter policies: validation and matching (pure; no I/O).

A policy is a JSON object.  Every key must match (AND); the conditions listed
for one key are alternatives (OR); ``"$or": [policy, …]`` at any level adds a
group of alternative sub-policies.  With ``MessageAttributes`` scope the
policy is flat and is matched against the message attributes (``String``,
``String.Array`` — each element — and ``Number``; ``Binary`` counts as
absent).  With ``MessageBody`` scope the policy mirrors the JSON body and may
nest objects; arrays in the body match when any element matches.

Conditions: exact strings, numbers, booleans and ``null``; ``prefix``,
``suffix``, ``equals-ignore-case``; ``anything-but`` (a value, a list, or a
``prefix``/``suffix``/``equals-ignore-case`` object); ``numeric`` ranges;
``exists``; ``cidr``.

:func:`validate` raises :class:`FilterPolicyError` with the text AWS puts
after ``Invalid parameter: FilterPolicy:``; :func:`matches` evaluates.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FilterPolicyError",
    "matches",
    "matches_attributes",
    "matches_body",
    "parse",
    "validate",
]

MAX_KEYS = 5
MAX_COMBINATIONS = 150
NUMERIC_LIMIT = 1e9
_NUMERIC_OPERATORS = ("<", "<=", "=", ">", ">=")
_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr")
_ABSENT = object()


class FilterPolicyError(ValueError):
    """An invalid filter policy; ``str()`` is AWS's reason text."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- validation ---------------------------------------------------------------


def parse(text: str, scope: str = "MessageAttributes") -> dict[str, Any]:
    """The policy object of ``text`` after validation (an empty string is no policy: ``{}``)."""
    if not text or not text.strip():
        return {}
    try:
        policy = json.loads(text)
    except ValueError:
        raise FilterPolicyError("failed to parse JSON. Unexpected character") from None
    validate(policy, scope)
    return policy if isinstance(policy, dict) else {}


def validate(policy: Any, scope: str = "MessageAttributes") -> None:
    if scope not in ("MessageAttributes", "MessageBody"):
        raise FilterPolicyError(f"Invalid value [{scope}] for FilterPolicyScope")
    if not isinstance(policy, dict):
        raise FilterPolicyError("Filter policy must be a JSON object")
    alternatives = _alternatives(policy, scope, nested=False)
    combinations = 0
    for keys, product in alternatives:
        if keys > MAX_KEYS:
            raise FilterPolicyError(f"Filter policy can not have more than {MAX_KEYS} keys")
        combinations += product
    if combinations > MAX_COMBINATIONS:
        raise FilterPolicyError(
            f"Filter policy is too complex. Total combination of values must not exceed {MAX_COMBINATIONS}."
        )


def _alternatives(policy: Mapping[str, Any], scope: str, nested: bool) -> list[tuple[int, int]]:
    """(leaf keys, product of condition counts) for each expansion of the ``$or`` groups."""
    if not policy:
        raise FilterPolicyError("Empty objects are not allowed")
    result = [(0, 1)]
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPolicyError("$or must be an array of at least 2 objects")
            options: list[tuple[int, int]] = []
            for sub in value:
                if not isinstance(sub, dict):
                    raise FilterPolicyError("$or must be an array of at least 2 objects")
                options.extend(_alternatives(sub, scope, nested))
        elif isinstance(value, dict):
            if scope == "MessageAttributes":
                raise FilterPolicyError(
                    "Filter policy scope MessageAttributes does not support nested filter policy"
                )
            options = _alternatives(value, scope, nested=True)
        elif isinstance(value, list):
            _validate_conditions(key, value)
            options = [(1, len(value))]
        else:
            raise FilterPolicyError(f'"{key}" must be an object or an array')
        result = [(k1 + k2, p1 * p2) for k1, p1 in result for k2, p2 in options]
    return result


def _validate_conditions(key: str, conditions: list[Any]) -> None:
    if not conditions:
        raise FilterPolicyError("Empty arrays are not allowed")
    for condition in conditions:
        if condition is None or isinstance(condition, str | bool):
            continue
        if _is_number(condition):
            _check_range(condition, "=")
            continue
        if isinstance(condition, list):
            raise FilterPolicyError(f'"{key}" match pattern must not contain nested arrays')
        if not isinstance(condition, dict):
            raise FilterPolicyError(f'Unrecognized match type for "{key}"')
        if len(condition) != 1:
            raise FilterPolicyError("Only one operator is allowed per match pattern object")
        ((operator, operand),) = condition.items()
        _validate_operator(operator, operand)


def _validate_operator(operator: str, operand: Any) -> None:
    if operator not in _OPERATORS:
        raise FilterPolicyError(f"Unrecognized match type {operator}")
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(operand, str):
            raise FilterPolicyError(f"{operator} match pattern must be a string")
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise FilterPolicyError("exists match pattern must be either true or false.")
    elif operator == "cidr":
        try:
            ipaddress.ip_network(str(operand), strict=False)
        except ValueError:
            raise FilterPolicyError("Malformed CIDR, one '/' required") from None
    elif operator == "numeric":
        _validate_numeric(operand)
    elif operator == "anything-but":
        _validate_anything_but(operand)


def _validate_anything_but(operand: Any) -> None:
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise FilterPolicyError(
                "Value of anything-but must be an array or single string/number value."
            )
        ((inner, value),) = operand.items()
        if inner not in ("prefix", "suffix", "equals-ignore-case"):
            raise FilterPolicyError(f"Unsupported anything-but pattern: {inner}")
        if not isinstance(value, str | list):
            raise FilterPolicyError(f"{inner} match pattern must be a string")
        return
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise FilterPolicyError("Empty arrays are not allowed")
    for value in values:
        if not (isinstance(value, str) or _is_number(value)):
            raise FilterPolicyError(
                "Inside anything but list, start|null|boolean is not supported."
            )


def _validate_numeric(operand: Any) -> None:
    if not isinstance(operand, list) or not operand or len(operand) % 2:
        raise FilterPolicyError("Value of numeric must be an array.")
    pairs = list(zip(operand[::2], operand[1::2], strict=True))
    if len(pairs) > 2:
        raise FilterPolicyError("Too many elements in numeric expression")
    lower = upper = None
    for operator, value in pairs:
        if operator not in _NUMERIC_OPERATORS:
            raise FilterPolicyError(f"Unrecognized numeric range operator: {operator}")
        if not _is_number(value):
            raise FilterPolicyError(f"Value of {operator} must be numeric")
        _check_range(value, operator)
        if operator == "=" and len(pairs) > 1:
            raise FilterPolicyError("Bad numeric range operator: =")
        if operator in (">", ">="):
            if lower is not None:
                raise FilterPolicyError("Too many lower bounds in numeric range")
            lower = value
        elif operator in ("<", "<="):
            if upper is not None:
                raise FilterPolicyError("Too many upper bounds in numeric range")
            upper = value
    if lower is not None and upper is not None and lower >= upper:
        raise FilterPolicyError("Bottom must be less than top")


def _check_range(value: float, operator: str) -> None:
    if not math.isfinite(value) or abs(value) > NUMERIC_LIMIT:
        raise FilterPolicyError(f"Value of {operator} must be numeric and between -1e9 and 1e9")


# -- matching -----------------------------------------------------------------


def matches(
    policy: Mapping[str, Any], scope: str, attributes: Mapping[str, Any], body: str
) -> bool:
    """Whether a message passes ``policy`` (an empty policy lets everything through)."""
    if not policy:
        return True
    if scope == "MessageBody":
        try:
            document = json.loads(body)
        except ValueError:
            return False
        return matches_body(policy, document)
    return matches_attributes(policy, attributes)


def matches_attributes(policy: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """``attributes``: SNS message attributes ``{name: {"DataType"|"Type", "StringValue"|"Value"}}``."""
    values = {name: _attribute_values(value) for name, value in attributes.items()}
    return _match_object(policy, lambda key: values.get(key, _ABSENT), nested=False)


def matches_body(policy: Mapping[str, Any], document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    return _match_body_object(policy, document)


def _attribute_values(attribute: Mapping[str, Any]) -> Any:
    data_type = str(attribute.get("DataType") or attribute.get("Type") or "String")
    text = attribute.get("StringValue", attribute.get("Value"))
    if data_type.startswith("Binary") or text is None:
        return _ABSENT
    if data_type.startswith("Number"):
        try:
            return [float(text)]
        except ValueError:
            return [text]
    if data_type == "String.Array":
        try:
            items = json.loads(text)
        except ValueError:
            return [text]
        return items if isinstance(items, list) else [items]
    return [str(text)]


def _match_object(policy: Mapping[str, Any], lookup: Any, *, nested: bool) -> bool:
    for key, conditions in policy.items():
        if key == "$or":
            if not any(_match_object(sub, lookup, nested=nested) for sub in conditions):
                return False
        elif not _match_key(conditions, lookup(key)):
            return False
    return True


def _match_body_object(policy: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    for key, conditions in policy.items():
        if key == "$or":
            if not any(_match_body_object(sub, document) for sub in conditions):
                return False
            continue
        value = document.get(key, _ABSENT)
        if isinstance(conditions, dict):
            candidates = value if isinstance(value, list) else [value]
            if not any(
                isinstance(c, dict) and _match_body_object(conditions, c) for c in candidates
            ):
                return False
            continue
        if value is _ABSENT:
            values: Any = _ABSENT
        elif isinstance(value, list):
            values = [v for v in value if not isinstance(v, dict | list)]
        elif isinstance(value, dict):
            values = []
        else:
            values = [value]
        if not _match_key(conditions, values):
            return False
    return True


def _match_key(conditions: list[Any], values: Any) -> bool:
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if (values is not _ABSENT) == condition["exists"]:
                return True
            continue
        if values is _ABSENT:
            continue
        if any(_match_value(condition, value) for value in values):
            return True
    return False


def _equal(condition: Any, value: Any) -> bool:
    if _is_number(condition):
        return _is_number(value) and float(condition) == float(value)
    if isinstance(condition, bool) or condition is None:
        return value is condition or (isinstance(value, bool) and value == condition)
    return isinstance(value, str) and value == condition


def _match_value(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return _equal(condition, value)
    ((operator, operand),) = condition.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "numeric":
        return _is_number(value) and _in_range(operand, float(value))
    if operator == "cidr":
        return _in_network(operand, value)
    if operator == "anything-but":
        return _anything_but(operand, value)
    return False


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        ((inner, pattern),) = operand.items()
        patterns = pattern if isinstance(pattern, list) else [pattern]
        if not isinstance(value, str):
            return False
        return not any(_match_value({inner: p}, value) for p in patterns)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(e, value) for e in excluded)


def _in_range(operand: list[Any], number: float) -> bool:
    for operator, bound in zip(operand[::2], operand[1::2], strict=True):
        limit = float(bound)
        ok = {
            "<": number < limit,
            "<=": number <= limit,
            "=": number == limit,
            ">": number > limit,
            ">=": number >= limit,
        }[operator]
        if not ok:
            return False
    return True


def _in_network(operand: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(operand, strict=False)
    except ValueError:
        return False
