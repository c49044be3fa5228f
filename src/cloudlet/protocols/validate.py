"""Server-side input validation against the service model.

botocore checks only required members, Python types and ``min`` client-side;
AWS checks everything the model says.  This module checks what a request must
satisfy before it reaches a provider: required members, min/max length of
strings, lists, maps and blobs, min/max value of numbers, ``pattern`` and
``enum``.  Failures are collected (not raised one by one) and reported the way
AWS's front end reports them::

    2 validation errors detected: Value 'a b' at 'functionName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: ...; Value 'a b'
    at 'functionName' failed to satisfy constraint: Member must have length ...

Member paths use the member names with the first letter lower-cased (AWS's
wire names), joined with ``.``; a structure inside a list is addressed as
``tags.1.member.key`` (1-based), one inside a map as ``item.<key>.member.s``.
Constraints on the *elements* of a list of scalars, or on map keys/values, are
reported once at the container, as AWS does: ``Member must satisfy constraint:
[...]``, ``Map keys must satisfy constraint: [...]``, ``Map value must satisfy
constraint: [...]``.

Design: each shape is compiled once (per service model) into a small check
function; shapes with nothing to check compile to ``None`` and cost nothing on
the request path.  Recursive shapes (DynamoDB ``AttributeValue``) are bound
late through the compiled table.

Patterns are Java regular expressions matched against the whole value (Coral
uses ``Matcher.matches``).  ``python_pattern`` translates the Java-only bits
the models use into Python ``re`` syntax:

* ``\\p{Print}``, ``\\p{Graph}``, ``\\p{ASCII}``, ``\\p{Alnum}``, ``\\p{Alpha}``,
  ``\\p{Digit}``, ``\\p{Upper}``, ``\\p{Lower}``, ``\\p{Punct}``, ``\\p{Space}``
  → their ASCII ranges (exact);
* ``\\p{L}`` and ``\\p{N}`` → ``\\w``, ``\\p{Z}`` → ``\\s`` (slightly more
  permissive than Java: never rejects a value AWS accepts, may accept a value
  with ``_`` or a control blank where AWS would not);
* a UTF-16 surrogate pair ``\\uD800\\uDC00`` → the code point it encodes;
* a ``-`` right after a class escape inside ``[...]`` (``[\\w-_]``) → literal.

Patterns that still do not compile are not checked.  String length is counted
in code points (Java counts UTF-16 units; the two differ only for characters
outside the BMP).
"""

from __future__ import annotations

import datetime
import re
import threading
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from botocore.model import ServiceModel, Shape

from cloudlet.errors import ValidationError

#: Error code AWS answers a constraint violation with, per botocore service name.
VALIDATION_ERROR_CODES: dict[str, str] = {
    "lambda": "ValidationException",
    "dynamodb": "ValidationException",
    "dynamodbstreams": "ValidationException",
    "stepfunctions": "ValidationException",
    "events": "ValidationException",
    "scheduler": "ValidationException",
    "kinesis": "ValidationException",
    "apigateway": "BadRequestException",
    "apigatewayv2": "BadRequestException",
    "logs": "InvalidParameterException",
    "s3": "InvalidArgument",
    "sqs": "InvalidParameterValue",
    "sns": "InvalidParameter",
    "sts": "ValidationError",
    "iam": "ValidationError",
    "cloudformation": "ValidationError",
}
DEFAULT_VALIDATION_ERROR_CODE = "ValidationException"

#: One check: (value, path, errors) -> None; appends messages to ``errors``.
Check = Callable[[Any, str, list[str]], None]
#: A constraint on a scalar: value -> failure text (``Member must ...``) or None.
Rule = Callable[[Any], str | None]

_POSIX_CLASSES: dict[str, str] = {
    "Print": r"\x20-\x7e",
    "Graph": r"\x21-\x7e",
    "ASCII": r"\x00-\x7f",
    "Alnum": r"a-zA-Z0-9",
    "Alpha": r"a-zA-Z",
    "Digit": r"0-9",
    "Upper": r"A-Z",
    "Lower": r"a-z",
    "Punct": r"!-/:-@\[-`{-~",
    "Space": r" \t\n\x0b\f\r",
    "Blank": r" \t",
    "XDigit": r"0-9a-fA-F",
    "Cntrl": r"\x00-\x1f\x7f",
    "L": r"\w",
    "IsL": r"\w",
    "IsAlphabetic": r"\w",
    "N": r"\w",
    "IsN": r"\w",
    "Z": r"\s",
    "IsZ": r"\s",
}
_CLASS_ESCAPES = frozenset("wWdDsS")
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def _translate_java_regex(pattern: str) -> str | None:
    """Rewrite the Java-only regex syntax the AWS models use; None if unsupported."""
    pattern = _SURROGATE_PAIR.sub(
        lambda m: "\\U%08x"
        % (0x10000 + ((int(m.group(1), 16) - 0xD800) << 10) + (int(m.group(2), 16) - 0xDC00)),
        pattern,
    )
    out: list[str] = []
    in_class = False
    after_class_escape = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in "pP" and i + 2 < len(pattern) and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                if end < 0:
                    return None
                content = _POSIX_CLASSES.get(pattern[i + 3 : end])
                if content is None or (nxt == "P" and in_class):
                    return None
                if in_class:
                    out.append(content)
                else:
                    out.append(f"[{'^' if nxt == 'P' else ''}{content}]")
                after_class_escape = True
                i = end + 1
                continue
            if nxt == "z":
                out.append(r"\Z")
            else:
                out.append(ch + nxt)
            after_class_escape = nxt in _CLASS_ESCAPES
            i += 2
            continue
        if in_class:
            if ch == "-" and after_class_escape and pattern[i + 1 : i + 2] != "]":
                out.append(r"\-")
            elif ch == "&" and pattern[i + 1 : i + 2] == "&":
                return None  # Java class intersection: no Python equivalent
            elif ch == "[":
                return None  # nested class (Java union)
            else:
                out.append(ch)
                if ch == "]":
                    in_class = False
        else:
            out.append(ch)
            if ch == "[":
                in_class = True
                # A leading ']' or '^]' is literal in both dialects.
                if pattern[i + 1 : i + 2] == "^":
                    out.append("^")
                    i += 1
        after_class_escape = False
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def python_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a model ``pattern`` (Java syntax) for Python; None if it cannot be."""
    translated = _translate_java_regex(pattern)
    if translated is None:
        return None
    try:
        return re.compile(translated, re.DOTALL)
    except re.error:
        return None


def lower_camel(name: str) -> str:
    """AWS's wire name for a member in validation messages."""
    return name[:1].lower() + name[1:]


def render_value(value: Any) -> str:
    """A value the way AWS's Java front end prints it in a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray):
        n = len(value)
        return f"java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={render_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def _violation(value: Any, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{render_value(value)}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar_rules(shape: Shape) -> list[Rule]:
    """The constraints of a scalar (or the size of a container), in AWS's order."""
    meta = shape.metadata
    rules: list[Rule] = []
    type_name = shape.type_name
    lo, hi = meta.get("min"), meta.get("max")
    if type_name == "string":
        pattern = meta.get("pattern")
        compiled = python_pattern(pattern) if pattern else None
        if compiled is not None:
            text = f"Member must satisfy regular expression pattern: {pattern}"
            match = compiled.fullmatch
            rules.append(lambda v: text if isinstance(v, str) and match(v) is None else None)
        enum = meta.get("enum")
        if enum:
            allowed = frozenset(enum)
            text_enum = "Member must satisfy enum value set: [" + ", ".join(enum) + "]"
            rules.append(lambda v: text_enum if isinstance(v, str) and v not in allowed else None)
    if type_name in ("string", "blob", "list", "map"):
        sized = (str, bytes, bytearray, list, tuple, Mapping)
        if lo is not None:
            text_lo = f"Member must have length greater than or equal to {lo}"
            rules.append(lambda v: text_lo if isinstance(v, sized) and len(v) < lo else None)
        if hi is not None:
            text_hi = f"Member must have length less than or equal to {hi}"
            rules.append(lambda v: text_hi if isinstance(v, sized) and len(v) > hi else None)
    elif type_name in ("integer", "long", "float", "double"):
        if lo is not None:
            text_vlo = f"Member must have value greater than or equal to {lo}"
            rules.append(lambda v: text_vlo if _number(v) and v < lo else None)
        if hi is not None:
            text_vhi = f"Member must have value less than or equal to {hi}"
            rules.append(lambda v: text_vhi if _number(v) and v > hi else None)
    return rules


def _failures(rules: list[Rule], value: Any) -> list[str]:
    return [text for rule in rules if (text := rule(value)) is not None]


class _Compiler:
    """Compiles and caches one check per shape name of one service model."""

    def __init__(self, service_model: ServiceModel) -> None:
        self.service_model = service_model
        self._checks: dict[str, Check | None] = {}
        self._in_progress: set[str] = set()
        self._lock = threading.Lock()

    def check_for(self, shape: Shape) -> Check | None:
        name = shape.name
        if name in self._checks:
            return self._checks[name]
        with self._lock:
            return self._compile(shape)

    def _compile(self, shape: Shape) -> Check | None:
        name = shape.name
        if name in self._checks:
            return self._checks[name]
        if name in self._in_progress:
            # Recursive reference: look the finished check up when called.
            checks = self._checks

            def late(value: Any, path: str, errors: list[str]) -> None:
                check = checks.get(name)
                if check is not None:
                    check(value, path, errors)

            return late
        self._in_progress.add(name)
        try:
            builder = getattr(self, f"_compile_{shape.type_name}", self._compile_scalar)
            check: Check | None = builder(shape)
        finally:
            self._in_progress.discard(name)
        self._checks[name] = check
        return check

    def _compile_scalar(self, shape: Shape) -> Check | None:
        rules = _scalar_rules(shape)
        if not rules:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            for text in _failures(rules, value):
                errors.append(_violation(value, path, text))

        return check

    def _compile_structure(self, shape: Shape) -> Check | None:
        if shape.metadata.get("document"):
            return None
        required = tuple(shape.metadata.get("required", ()))
        members: list[tuple[str, str, Check]] = []
        for member_name, member_shape in shape.members.items():
            member_check = self._compile(member_shape)
            if member_check is not None:
                members.append((member_name, lower_camel(member_name), member_check))
        required_paths = tuple((m, lower_camel(m)) for m in required)
        if not members and not required_paths:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if not isinstance(value, Mapping):
                return
            prefix = f"{path}." if path else ""
            for member_name, wire_name in required_paths:
                if value.get(member_name) is None:
                    errors.append(_violation(None, prefix + wire_name, "Member must not be null"))
            for member_name, wire_name, member_check in members:
                member_value = value.get(member_name)
                if member_value is not None:
                    member_check(member_value, prefix + wire_name, errors)

        return check

    def _compile_list(self, shape: Shape) -> Check | None:
        size_rules = _scalar_rules(shape)
        member = shape.member
        element_rules: list[Rule] = []
        element_check: Check | None = None
        if member.type_name in ("structure", "list", "map"):
            element_check = self._compile(member)
        else:
            element_rules = _scalar_rules(member)
        if not size_rules and not element_rules and element_check is None:
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if not isinstance(value, list | tuple):
                return
            for text in _failures(size_rules, value):
                errors.append(_violation(value, path, text))
            if element_rules:
                inner: list[str] = []
                for element in value:
                    for text in _failures(element_rules, element):
                        if text not in inner:
                            inner.append(text)
                if inner:
                    constraint = "Member must satisfy constraint: [" + ", ".join(inner) + "]"
                    errors.append(_violation(value, path, constraint))
            if element_check is not None:
                for index, element in enumerate(value, 1):
                    if element is not None:
                        element_check(element, f"{path}.{index}.member", errors)

        return check

    def _compile_map(self, shape: Shape) -> Check | None:
        size_rules = _scalar_rules(shape)
        key_rules = _scalar_rules(shape.key)
        value_shape = shape.value
        value_rules: list[Rule] = []
        value_check: Check | None = None
        if value_shape.type_name in ("structure", "list", "map"):
            value_check = self._compile(value_shape)
        else:
            value_rules = _scalar_rules(value_shape)
        if not (size_rules or key_rules or value_rules or value_check is not None):
            return None

        def check(value: Any, path: str, errors: list[str]) -> None:
            if not isinstance(value, Mapping):
                return
            for text in _failures(size_rules, value):
                errors.append(_violation(value, path, text))
            for label, rules, items in (
                ("Map keys", key_rules, value.keys()),
                ("Map value", value_rules, value.values()),
            ):
                if not rules:
                    continue
                inner: list[str] = []
                for item in items:
                    for text in _failures(rules, item):
                        if text not in inner:
                            inner.append(text)
                if inner:
                    constraint = f"{label} must satisfy constraint: [" + ", ".join(inner) + "]"
                    errors.append(_violation(value, path, constraint))
            if value_check is not None:
                for key, item in value.items():
                    if item is not None:
                        value_check(item, f"{path}.{key}.member", errors)

        return check


_compilers: dict[int, _Compiler] = {}
_compilers_lock = threading.Lock()


def _compiler_for(service_model: ServiceModel) -> _Compiler:
    compiler = _compilers.get(id(service_model))
    if compiler is None or compiler.service_model is not service_model:
        with _compilers_lock:
            compiler = _Compiler(service_model)
            _compilers[id(service_model)] = compiler
    return compiler


def validation_error_code(service_model: ServiceModel) -> str:
    return VALIDATION_ERROR_CODES.get(service_model.service_name, DEFAULT_VALIDATION_ERROR_CODE)


def validation_message(errors: list[str]) -> str:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)


def validate_params(service_model: ServiceModel, shape: Shape | None, params: Mapping[str, Any]) -> None:
    """Raise ``ValidationError`` (AWS's code and message) if ``params`` break ``shape``'s constraints."""
    if shape is None:
        return
    check = _compiler_for(service_model).check_for(shape)
    if check is None:
        return
    errors: list[str] = []
    check(params, "", errors)
    if errors:
        raise ValidationError(validation_message(errors), code=validation_error_code(service_model))
