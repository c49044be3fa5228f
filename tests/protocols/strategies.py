"""Hypothesis strategies for botocore shapes: every protocol test draws from here.

``params_for(shape)`` generates a value a boto3 user could pass (or receive)
for ``shape`` that survives every wire format we speak:

* constraints respected: min/max length and value, enums (sampled), patterns
  (``from_regex(fullmatch=True)`` on the Python translation from
  ``cloudlet.protocols.validate.python_pattern``; plain text when the pattern
  cannot be compiled), required members always present, optional members
  sometimes, tagged unions (and DynamoDB's ``AttributeValue``) exactly one
  member;
* recursion is depth-limited: once a shape occurs twice on the current path,
  only required members are generated and containers are as small as allowed;
* timestamps are UTC-aware datetimes with whole seconds, blobs are bytes,
  documents are small JSON values;
* strings use characters XML 1.0, JSON, query strings and URIs can all carry
  (no control characters, surrogates or non-characters).  With
  ``location_aware`` (the default), members bound to HTTP headers are printable
  ASCII without leading/trailing blanks (list elements also without ``,`` and
  ``"``; ``headers`` map keys are lower-case tokens), URI labels are non-empty
  and never ``.``/``..``, and host labels are DNS-label characters.

Event-stream shapes are skipped (never generated).
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Callable
from typing import Any

from botocore.model import OperationModel, Shape
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from cloudlet.protocols.validate import python_pattern

ALL_SERVICES = ("lambda", "s3", "sqs", "sns", "dynamodb")

#: Structures that are unions on the wire although the model does not say so.
UNION_LIKE = frozenset({"AttributeValue"})

#: How long strings/lists/maps get when the model allows more.
MAX_TEXT = 24
MAX_ITEMS = 3
MAX_BLOB = 32

BODY_ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs", "Co", "Cn"),
)
HEADER_ALPHABET = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
HEADER_LIST_ALPHABET = st.sampled_from([c for c in string.printable[:95] if c not in ',"'])
HEADER_NAME_ALPHABET = st.sampled_from(string.ascii_lowercase + string.digits + "-_")
HOST_LABEL_ALPHABET = st.sampled_from(string.ascii_lowercase + string.digits)

_EPOCH_MIN = datetime.datetime(1971, 1, 1)
_EPOCH_MAX = datetime.datetime(2090, 12, 31)

# Contexts a scalar can be placed in; they decide the alphabet.
BODY, HEADER, HEADER_LIST, URI, QUERY, HOST = "body", "header", "header-list", "uri", "query", "host"


def _is_event_stream(shape: Shape) -> bool:
    return bool(shape.serialization.get("eventstream") or shape.serialization.get("event"))


def _length_bounds(shape: Shape, default_max: int) -> tuple[int, int]:
    lo = int(shape.metadata.get("min", 0))
    hi = int(shape.metadata.get("max", lo + default_max))
    return lo, min(hi, max(lo, default_max))


def _text(shape: Shape, context: str) -> SearchStrategy[str]:
    meta = shape.metadata
    enum = meta.get("enum")
    lo, hi = _length_bounds(shape, MAX_TEXT)
    if context in (HEADER, HEADER_LIST, URI, HOST):
        lo = max(lo, 1)
        hi = max(hi, lo)
    if enum:
        values = [v for v in enum if _fits(v, context)]
        return st.sampled_from(values or list(enum))
    alphabet = {
        HEADER: HEADER_ALPHABET,
        HEADER_LIST: HEADER_LIST_ALPHABET,
        HOST: HOST_LABEL_ALPHABET,
    }.get(context, BODY_ALPHABET)
    pattern = meta.get("pattern")
    compiled = python_pattern(pattern) if pattern else None
    strategy: SearchStrategy[str]
    if compiled is not None and context != HOST:
        true_lo, true_hi = int(meta.get("min", 0)), int(meta.get("max", 10**9))
        strategy = st.from_regex(compiled, fullmatch=True, alphabet=alphabet).filter(
            lambda s: max(true_lo, lo) <= len(s) <= true_hi
        )
    else:
        strategy = st.text(alphabet, min_size=lo, max_size=hi)
    return strategy.filter(lambda s: _fits(s, context))


def _fits(value: str, context: str) -> bool:
    if context in (HEADER, HEADER_LIST):
        return value == value.strip() and all(0x20 <= ord(c) <= 0x7E for c in value) and bool(value)
    if context == URI:
        return value not in ("", ".", "..")
    return True


def _number(shape: Shape) -> SearchStrategy[Any]:
    meta = shape.metadata
    lo, hi = meta.get("min"), meta.get("max")
    if shape.type_name in ("integer", "long"):
        bound = 2**31 - 1 if shape.type_name == "integer" else 2**53
        return st.integers(
            min_value=int(lo) if lo is not None else -bound,
            max_value=int(hi) if hi is not None else bound,
        )
    return st.floats(
        min_value=float(lo) if lo is not None else -1e12,
        max_value=float(hi) if hi is not None else 1e12,
        allow_nan=False,
        allow_infinity=False,
    )


def _timestamps() -> SearchStrategy[datetime.datetime]:
    return st.datetimes(min_value=_EPOCH_MIN, max_value=_EPOCH_MAX).map(
        lambda d: d.replace(microsecond=0, tzinfo=datetime.UTC)
    )


_JSON_SCALARS: SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(BODY_ALPHABET, max_size=8)
)
DOCUMENTS: SearchStrategy[Any] = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(BODY_ALPHABET, max_size=6), inner, max_size=3),
    max_leaves=6,
)


class _Builder:
    def __init__(self, location_aware: bool) -> None:
        self.location_aware = location_aware

    def build(self, shape: Shape, path: tuple[str, ...], context: str) -> SearchStrategy[Any]:
        limited = path.count(shape.name) >= 2
        path = (*path, shape.name)
        if shape.serialization.get("jsonvalue"):
            return st.dictionaries(st.text(string.ascii_letters, max_size=6), _JSON_SCALARS, max_size=3)
        builder: Callable[[Shape, tuple[str, ...], str, bool], SearchStrategy[Any]] = getattr(
            self, f"_build_{shape.type_name}", self._build_unknown
        )
        return builder(shape, path, context, limited)

    def _member_context(self, member: Shape, context: str) -> str:
        if not self.location_aware:
            return BODY
        if member.serialization.get("hostLabel"):
            return HOST
        return {
            "header": HEADER,
            "headers": HEADER,
            "uri": URI,
            "querystring": QUERY,
        }.get(member.serialization.get("location", ""), context)

    def _build_unknown(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        raise NotImplementedError(f"no strategy for shape type {shape.type_name}")

    def _build_string(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        return _text(shape, context)

    _build_character = _build_string

    def _build_blob(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        lo, hi = _length_bounds(shape, MAX_BLOB)
        return st.binary(min_size=lo, max_size=hi)

    def _build_boolean(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        return st.booleans()

    def _build_integer(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        return _number(shape)

    _build_long = _build_integer
    _build_float = _build_integer
    _build_double = _build_integer

    def _build_timestamp(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        return _timestamps()

    def _build_list(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        lo, hi = _length_bounds(shape, MAX_ITEMS)
        if limited:
            hi = lo
        element_context = HEADER_LIST if context == HEADER else context
        return st.lists(self.build(shape.member, path, element_context), min_size=lo, max_size=hi)  # type: ignore[attr-defined]

    def _build_map(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        lo, hi = _length_bounds(shape, MAX_ITEMS)
        if limited:
            hi = lo
        key_shape: Shape = shape.key  # type: ignore[attr-defined]
        keys: SearchStrategy[str]
        if context == HEADER:
            # ``headers`` maps (x-amz-meta-*): keys become header names.
            keys = st.text(HEADER_NAME_ALPHABET, min_size=1, max_size=12)
        else:
            keys = _text(key_shape, context)
        values = self.build(shape.value, path, context)  # type: ignore[attr-defined]
        return st.dictionaries(keys, values, min_size=lo, max_size=hi)

    def _build_structure(self, shape: Shape, path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        if shape.metadata.get("document"):
            return DOCUMENTS
        members: dict[str, Shape] = {
            name: member
            for name, member in shape.members.items()  # type: ignore[attr-defined]
            if not _is_event_stream(member)
        }
        if shape.metadata.get("union") or shape.name in UNION_LIKE:
            return self._union(members, path, context, limited)
        required = set(shape.metadata.get("required", ()))
        fixed = {
            name: self.build(members[name], path, self._member_context(members[name], context))
            for name in members
            if name in required
        }
        optional = {} if limited else {
            name: self.build(member, path, self._member_context(member, context))
            for name, member in members.items()
            if name not in required
        }
        return st.fixed_dictionaries(fixed, optional=optional)

    def _union(self, members: dict[str, Shape], path: tuple[str, ...], context: str, limited: bool) -> SearchStrategy[Any]:
        choices = members
        if limited:
            choices = {n: m for n, m in members.items() if m.type_name not in ("structure", "list", "map")}
            choices = choices or members
        options = [
            self.build(member, path, self._member_context(member, context)).map(lambda v, n=name: {n: v})
            for name, member in sorted(choices.items())
        ]
        return st.one_of(options)


def params_for(shape: Shape, *, location_aware: bool = True) -> SearchStrategy[Any]:
    """Values a boto3 user could pass for ``shape`` that survive every wire format."""
    return _Builder(location_aware).build(shape, (), BODY)


def input_params(operation: OperationModel) -> SearchStrategy[dict[str, Any]]:
    """Parameters for ``operation`` as a boto3 user passes them (``{}`` when it has no input)."""
    shape = operation.input_shape
    if shape is None:
        return st.just({})
    return params_for(shape)


def output_result(operation: OperationModel) -> SearchStrategy[dict[str, Any]]:
    """A result dict for ``operation`` as a boto3 user receives it (minus ``ResponseMetadata``).

    A member bound to the HTTP status (``location: statusCode``) is 200 or 202.
    """
    shape = operation.output_shape
    if shape is None:
        return st.just({})
    status_members = [
        name
        for name, member in shape.members.items()  # type: ignore[attr-defined]
        if member.serialization.get("location") == "statusCode"
    ]
    strategy: SearchStrategy[dict[str, Any]] = params_for(shape)
    if status_members:
        status = st.sampled_from([200, 202])
        strategy = st.tuples(strategy, status).map(
            lambda pair: {**pair[0], **dict.fromkeys(status_members, pair[1])}
        )
    return strategy
