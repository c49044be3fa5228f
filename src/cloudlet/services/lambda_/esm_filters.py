"""Event filtering for event source mappings (``FilterCriteria``).

A filter ``Pattern`` is EventBridge-style JSON: an object whose keys name fields
of the record and whose leaves are lists of matchers; a record passes a pattern
when every key matches, and passes the criteria when any of the (at most five)
patterns matches.  The matchers the Lambda filtering rules document:

* a scalar (string, number, ``null``; ``""`` matches an empty string) — equality,
* ``{"prefix": s}``, ``{"suffix": s}``, ``{"equals-ignore-case": s}``,
* ``{"anything-but": v | [v, ...] | {"prefix": s} | {"suffix": s}}``,
* ``{"numeric": [op, n, (op, n)]}`` with ``=``, ``<``, ``<=``, ``>``, ``>=``,
* ``{"exists": true | false}``,

and ``"$or": [pattern, ...]`` inside an object.  When the record's value is a
list, a matcher passes if any element does.

For SQS the record's ``body`` is matched as parsed JSON when it is a JSON
object, as a plain string otherwise (``prepare_sqs_record``).
"""

from __future__ import annotations

import json
from typing import Any

from cloudlet.services.lambda_.errors import InvalidParameterValue

MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096
_MISSING = object()
_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_MATCHER_KEYS = {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}


def invalid_pattern() -> InvalidParameterValue:
    return InvalidParameterValue("Invalid filter pattern definition.")


def parse_filter_criteria(criteria: Any) -> list[dict[str, Any]]:
    """The compiled patterns of ``FilterCriteria`` (raises ``InvalidParameterValue``)."""
    if criteria is None:
        return []
    if not isinstance(criteria, dict):
        raise invalid_pattern()
    filters = criteria.get("Filters") or []
    if not isinstance(filters, list):
        raise invalid_pattern()
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterValue(
            f"Number of filters exceeds the limit of {MAX_FILTERS} for this event source mapping."
        )
    patterns: list[dict[str, Any]] = []
    for entry in filters:
        text = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(text, str) or len(text) > MAX_PATTERN_LENGTH:
            raise invalid_pattern()
        try:
            pattern = json.loads(text)
        except ValueError:
            raise invalid_pattern() from None
        if not isinstance(pattern, dict) or not pattern:
            raise invalid_pattern()
        _check_object(pattern)
        patterns.append(pattern)
    return patterns


def _check_object(pattern: dict[str, Any]) -> None:
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise invalid_pattern()
            for alternative in value:
                if not isinstance(alternative, dict) or not alternative:
                    raise invalid_pattern()
                _check_object(alternative)
        elif isinstance(value, dict):
            if not value:
                raise invalid_pattern()
            _check_object(value)
        elif isinstance(value, list):
            if not value:
                raise invalid_pattern()
            for matcher in value:
                _check_matcher(matcher)
        else:
            raise invalid_pattern()


def _check_matcher(matcher: Any) -> None:
    if matcher is None or (
        isinstance(matcher, (str, int, float)) and not isinstance(matcher, bool)
    ):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise invalid_pattern()
    ((kind, arg),) = matcher.items()
    if kind not in _MATCHER_KEYS:
        raise invalid_pattern()
    if kind in ("prefix", "suffix", "equals-ignore-case") and not isinstance(arg, str):
        raise invalid_pattern()
    if kind == "exists" and not isinstance(arg, bool):
        raise invalid_pattern()
    if kind == "numeric":
        _check_numeric(arg)
    if kind == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix"):
                raise invalid_pattern()
        elif isinstance(arg, list):
            if not arg or any(isinstance(v, (dict, list, bool)) or v is None for v in arg):
                raise invalid_pattern()
        elif not isinstance(arg, (str, int, float)) or isinstance(arg, bool):
            raise invalid_pattern()


def _check_numeric(arg: Any) -> None:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise invalid_pattern()
    for index in range(0, len(arg), 2):
        op, number = arg[index], arg[index + 1]
        if (
            op not in _NUMERIC_OPS
            or not isinstance(number, (int, float))
            or isinstance(number, bool)
        ):
            raise invalid_pattern()


def matches_any(patterns: list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """Whether ``record`` passes the criteria (no patterns: everything passes)."""
    return not patterns or any(_match_object(pattern, record) for pattern in patterns)


def _match_object(pattern: dict[str, Any], data: Any) -> bool:
    for key, expected in pattern.items():
        if key == "$or":
            if not any(_match_object(alternative, data) for alternative in expected):
                return False
            continue
        value = data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
        if isinstance(expected, dict):
            if not _match_object(expected, value if isinstance(value, dict) else {}):
                return False
        elif not _match_leaf(expected, value):
            return False
    return True


def _match_leaf(matchers: list[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(m, dict) and m.get("exists") is False for m in matchers)
    values = value if isinstance(value, list) else [value]
    return any(_match_one(matcher, v) for matcher in matchers for v in values)


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        if matcher is None or value is None:
            return matcher is None and value is None
        if isinstance(matcher, str):
            return isinstance(value, str) and value == matcher
        return _is_number(value) and float(value) == float(matcher)
    ((kind, arg),) = matcher.items()
    if kind == "exists":
        return bool(arg)
    if kind == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if kind == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == arg.lower()
    if kind == "numeric":
        return _is_number(value) and _numeric(arg, float(value))
    return _anything_but(arg, value)


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, dict):
        ((kind, text),) = arg.items()
        if not isinstance(value, str):
            return True
        return not (value.startswith(text) if kind == "prefix" else value.endswith(text))
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_match_one(item, value) for item in excluded)


def _numeric(arg: list[Any], number: float) -> bool:
    for index in range(0, len(arg), 2):
        op, bound = arg[index], float(arg[index + 1])
        ok = {
            "=": number == bound,
            "<": number < bound,
            "<=": number <= bound,
            ">": number > bound,
            ">=": number >= bound,
        }[op]
        if not ok:
            return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def prepare_sqs_record(record: dict[str, Any]) -> dict[str, Any]:
    """The view of an SQS record a pattern is matched against (``body`` parsed when JSON)."""
    body = record.get("body")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return record
        if isinstance(parsed, dict):
            return {**record, "body": parsed}
    return record
