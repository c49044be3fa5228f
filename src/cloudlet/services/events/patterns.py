"""EventBridge event patterns: validation and matching (pure functions, no I/O).

A pattern is a JSON object that mirrors the event.  Every key must match
(AND); a key maps either to a nested object (the event's value must be an
object that matches it) or to a non-empty array of *matchers*, any of which
may match (OR).  ``"$or": [pattern, pattern, …]`` at any object level is an OR
of whole sub-patterns, ANDed with the other keys of that level.

Matchers:

* a literal string, number, ``true``/``false`` or ``null`` — exact match
  (numbers compare numerically, so ``5`` matches ``5.0``);
* ``{"prefix": "x"}`` / ``{"prefix": {"equals-ignore-case": "x"}}``;
* ``{"suffix": "x"}`` / ``{"suffix": {"equals-ignore-case": "x"}}``;
* ``{"equals-ignore-case": "x"}``;
* ``{"wildcard": "a*b"}`` (``\\*`` is a literal star; ``**`` is refused);
* ``{"anything-but": v | [v, …] | {"prefix": …} | {"suffix": …} |
  {"equals-ignore-case": …} | {"wildcard": …}}`` — the field must be present;
* ``{"numeric": [">", 0, "<=", 5]}`` / ``["=", 3]``;
* ``{"exists": true|false}``;
* ``{"cidr": "10.0.0.0/24"}`` (IPv4 or IPv6).

When the event's value is an array, the key matches if any element does.
``validate`` raises ``PatternError`` with AWS's reasons; ``compile_pattern``
turns a validated pattern into a tree of closures so matching an event is
cheap.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any

_MISSING = object()
Leaf = Callable[[Any], bool]
Matcher = Callable[[dict[str, Any]], bool]

NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
NUMERIC_LIMIT = 5.0e9
MAX_PATTERN_LENGTH = 4096


class PatternError(ValueError):
    """An invalid event pattern (``InvalidEventPatternException`` on the wire)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


# -- parsing and validation ------------------------------------------------------------


def parse(text: str | dict[str, Any]) -> dict[str, Any]:
    """The validated pattern object of a JSON text (or of an object)."""
    if isinstance(text, dict):
        pattern: Any = text
    else:
        try:
            pattern = json.loads(text)
        except ValueError as error:
            raise PatternError(f"Filter is not valid JSON: {error.args[0] if error.args else error}") from None
    if not isinstance(pattern, dict):
        raise PatternError("Filter is not an object")
    compile_pattern(pattern)
    return pattern


def compile_pattern(pattern: dict[str, Any]) -> Matcher:
    """A function ``event -> bool`` for a pattern object; raises ``PatternError``."""
    if not isinstance(pattern, dict):
        raise PatternError("Filter is not an object")
    checks: list[Matcher] = []
    for key, value in pattern.items():
        if key == "$or":
            checks.append(_compile_or(value))
            continue
        if isinstance(value, dict):
            if not value:
                raise PatternError("Empty objects are not allowed")
            checks.append(_nested(key, compile_pattern(value)))
        elif isinstance(value, list):
            checks.append(_field(key, _compile_leaves(key, value)))
        else:
            raise PatternError(f'"{key}" must be an object or an array')

    def match(event: dict[str, Any]) -> bool:
        return all(check(event) for check in checks)

    return match


def _compile_or(value: Any) -> Matcher:
    if not isinstance(value, list) or len(value) < 2:
        raise PatternError("Or relationship must have at least 2 elements")
    branches = []
    for branch in value:
        if not isinstance(branch, dict) or not branch:
            raise PatternError("Or relationship elements must be non-empty objects")
        branches.append(compile_pattern(branch))

    def match(event: dict[str, Any]) -> bool:
        return any(branch(event) for branch in branches)

    return match


def _nested(key: str, inner: Matcher) -> Matcher:
    def match(event: dict[str, Any]) -> bool:
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(value, dict):
            return inner(value)
        if isinstance(value, list):
            return any(isinstance(item, dict) and inner(item) for item in value)
        # A missing object still satisfies a nested pattern made only of {"exists": false}.
        return value is _MISSING and inner({})

    return match


class _Leaves:
    """The matchers of one key: value matchers plus the two ``exists`` forms."""

    def __init__(self) -> None:
        self.values: list[Leaf] = []
        self.exists: bool | None = None
        self.absent_ok = False


def _field(key: str, leaves: _Leaves) -> Matcher:
    values = leaves.values

    def match(event: dict[str, Any]) -> bool:
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        # Matchers apply to leaves: an object (or an array of only objects) counts as absent.
        items = [] if value is _MISSING else value if isinstance(value, list) else [value]
        items = [item for item in items if not isinstance(item, dict)]
        if not items:
            return leaves.absent_ok
        if leaves.exists is True:
            return True
        return any(leaf(item) for item in items for leaf in values)

    return match


def _compile_leaves(key: str, matchers: list[Any]) -> _Leaves:
    if not matchers:
        raise PatternError("Empty arrays are not allowed")
    leaves = _Leaves()
    for matcher in matchers:
        if isinstance(matcher, dict):
            _compile_rule(key, matcher, leaves)
        elif isinstance(matcher, list):
            raise PatternError("Match value must be String, number, true, false, or null")
        else:
            leaves.values.append(_exact(matcher))
    return leaves


def _compile_rule(key: str, rule: dict[str, Any], leaves: _Leaves) -> None:
    if len(rule) != 1:
        raise PatternError("Only one key allowed in match expression")
    ((name, arg),) = rule.items()
    if name == "exists":
        if not isinstance(arg, bool):
            raise PatternError("exists match pattern must be either true or false.")
        if arg:
            leaves.exists = True
        else:
            leaves.absent_ok = True
        return
    builder = _RULES.get(name)
    if builder is None:
        raise PatternError(f"Unrecognized match type {name}")
    leaves.values.append(builder(arg))


# -- leaf matchers ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _exact(expected: Any) -> Leaf:
    if _is_number(expected):
        number = float(expected)
        return lambda v: _is_number(v) and float(v) == number
    if expected is None:
        return lambda v: v is None
    if isinstance(expected, bool):
        return lambda v: isinstance(v, bool) and v is expected
    if isinstance(expected, str):
        return lambda v: isinstance(v, str) and v == expected
    raise PatternError("Match value must be String, number, true, false, or null")


def _string_arg(name: str, arg: Any) -> tuple[str, bool]:
    """(text, ignore_case) of a prefix/suffix argument."""
    if isinstance(arg, str):
        return arg, False
    if isinstance(arg, dict) and len(arg) == 1 and isinstance(arg.get("equals-ignore-case"), str):
        return arg["equals-ignore-case"], True
    raise PatternError(f"Value of {name} must be a string or a valid equals-ignore-case expression")


def _prefix(arg: Any) -> Leaf:
    text, fold = _string_arg("prefix", arg)
    if fold:
        low = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().startswith(low)
    return lambda v: isinstance(v, str) and v.startswith(text)


def _suffix(arg: Any) -> Leaf:
    text, fold = _string_arg("suffix", arg)
    if fold:
        low = text.casefold()
        return lambda v: isinstance(v, str) and v.casefold().endswith(low)
    return lambda v: isinstance(v, str) and v.endswith(text)


def _ignore_case(arg: Any) -> Leaf:
    if not isinstance(arg, str):
        raise PatternError("equals-ignore-case match pattern must be a string")
    low = arg.casefold()
    return lambda v: isinstance(v, str) and v.casefold() == low


def wildcard_regex(text: str) -> re.Pattern[str]:
    """The regular expression of a wildcard text (``*`` any run, ``\\*`` a star)."""
    parts: list[str] = []
    i = 0
    previous_star = False
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in "*\\":
            parts.append(re.escape(text[i + 1]))
            i += 2
            previous_star = False
            continue
        if char == "*":
            if previous_star:
                raise PatternError(f"Consecutive wildcard characters at pos {i}")
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(char))
            previous_star = False
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _wildcard(arg: Any) -> Leaf:
    if not isinstance(arg, str):
        raise PatternError("wildcard match pattern must be a string")
    regex = wildcard_regex(arg)
    return lambda v: isinstance(v, str) and regex.fullmatch(v) is not None


def _numeric(arg: Any) -> Leaf:
    if not isinstance(arg, list):
        raise PatternError("Value of numeric must be an array.")
    if not arg or len(arg) % 2 or len(arg) > 4:
        raise PatternError("Bad numeric range expression")
    bounds: list[tuple[str, float]] = []
    for i in range(0, len(arg), 2):
        op, value = arg[i], arg[i + 1]
        if op not in NUMERIC_OPS:
            raise PatternError(f"Unrecognized numeric range operator: {op}")
        if not _is_number(value):
            raise PatternError(f"Value of {op} must be numeric")
        if not math.isfinite(float(value)) or abs(float(value)) > NUMERIC_LIMIT:
            raise PatternError(f"Value of {op} must be between -5.0E9 and 5.0E9 inclusive")
        bounds.append((op, float(value)))
    if len(bounds) == 2:
        (low_op, low), (high_op, high) = bounds
        if low_op not in (">", ">=") or high_op not in ("<", "<="):
            raise PatternError("Bad numeric range operator: numeric range must be a lower then an upper bound")
        if low > high or (low == high and (low_op, high_op) != (">=", "<=")):
            raise PatternError("Bottom must be less than top")
    elif bounds[0][0] == "=" and len(arg) != 2:
        raise PatternError("Too many elements in numeric expression")

    def match(v: Any) -> bool:
        if not _is_number(v):
            return False
        x = float(v)
        return all(_compare(op, x, bound) for op, bound in bounds)

    return match


def _compare(op: str, x: float, bound: float) -> bool:
    if op == "<":
        return x < bound
    if op == "<=":
        return x <= bound
    if op == "=":
        return x == bound
    if op == ">":
        return x > bound
    return x >= bound


def _cidr(arg: Any) -> Leaf:
    if not isinstance(arg, str) or "/" not in arg:
        raise PatternError("Malformed CIDR, one '/' required")
    try:
        network = ipaddress.ip_network(arg, strict=False)
    except ValueError:
        raise PatternError(f"Nonstandard IP address: {arg.split('/')[0]}") from None

    def match(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return match


def _anything_but(arg: Any) -> Leaf:
    if isinstance(arg, dict):
        if len(arg) != 1:
            raise PatternError("Value of anything-but must be an array or single string/number value.")
        ((name, inner),) = arg.items()
        if name in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            texts = inner if isinstance(inner, list) else [inner]
            if not texts or not all(isinstance(t, str) for t in texts):
                raise PatternError(f"Value of {name} inside anything-but must be a string or an array of strings")
            if name in ("prefix", "suffix") and not isinstance(inner, str):
                raise PatternError(f"Value of {name} inside anything-but must be a string")
            build = _RULES[name]
            positives = [build(t) for t in texts]
            return lambda v: isinstance(v, str) and not any(p(v) for p in positives)
        raise PatternError(f"Unsupported anything-but pattern: {name}")
    values = arg if isinstance(arg, list) else [arg]
    if not values:
        raise PatternError("Empty arrays are not allowed")
    for value in values:
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            raise PatternError("Inside anything but list, start|null|boolean is not supported.")
    exacts = [_exact(value) for value in values]
    return lambda v: not any(e(v) for e in exacts)


_RULES: dict[str, Callable[[Any], Leaf]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _ignore_case,
    "wildcard": _wildcard,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
}


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern`` (validated on the way)."""
    return compile_pattern(pattern)(event)
