"""The HTTP binding shared by the REST protocols (``rest-json`` and ``rest-xml``).

A REST operation is addressed by its HTTP method, a URI template
(``/2015-03-31/functions/{FunctionName}/invocations``, ``/{Bucket}/{Key+}?tagging``)
and the members its input shape binds to the URI, the query string and the
headers.  Everything in this module is about those bindings; how the *body*
is written (JSON or XML) is left to the subclasses of :class:`RestProtocol`.

Routing.  :class:`RouteTable` is compiled once per service.  Every operation
becomes a :class:`Route`: a regular expression over the raw (still
percent-encoded) path, the literal query parts of its template (``?uploads``,
``?list-type=2``) and the query parameters / headers its input requires.  The
routes of one method are sorted most specific first (more literal path
segments, no greedy label, more literal query parts, more required bound
members) and the first one whose constraints all hold wins.  Some models hold
operations that are the same on the wire (S3 ``GetBucketLifecycle`` and
``GetBucketLifecycleConfiguration``); among such exact ties the
non-deprecated operation wins, then the one that recognises more of the
request's query parameters and headers, then the first by name.

Values.  Labels are percent-decoded (a greedy ``{Key+}`` keeps its ``/``);
query parameters and headers are text that is converted by the member's type:
integers, booleans ``true``/``false``, floats (``NaN``/``Infinity``),
timestamps (ISO 8601 in the query string, RFC 822 in headers unless the member
says otherwise), ``jsonvalue`` strings (base64 JSON), blobs (base64), lists
(repeated query keys; comma-separated headers with quoted items) and maps
(unbound query keys; ``locationName``-prefixed headers such as
``x-amz-meta-``).  The writing side does the reverse for response headers and
takes the HTTP status from a member bound to ``statusCode``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel, Shape

from cloudlet.errors import ServiceError, ValidationError
from cloudlet.protocols.base import HttpRequest, HttpResponse, Protocol

__all__ = [
    "RestProtocol",
    "Route",
    "RouteMatch",
    "RouteTable",
    "format_timestamp",
    "parse_timestamp",
]

_LABEL = re.compile(r"\{([^}]+)\}")
_BOUND = ("uri", "querystring", "header", "headers", "statusCode")


# -- timestamps ----------------------------------------------------------------


def parse_timestamp(value: Any) -> datetime:
    """An aware UTC datetime from epoch seconds, ISO 8601 or RFC 822 text."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    text = str(value).strip()
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = parsedate_to_datetime(text)  # raises ValueError when hopeless
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_epoch(seconds: float) -> datetime:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("not a finite timestamp")
    return datetime.fromtimestamp(seconds, UTC)


def format_timestamp(value: Any, fmt: str) -> str | float | int:
    """``value`` (datetime, epoch number or text) in ``iso8601``, ``rfc822`` or ``unixtimestamp``."""
    moment = parse_timestamp(value)
    if fmt == "unixtimestamp":
        whole = calendar.timegm(moment.utctimetuple())
        return whole + moment.microsecond / 1e6 if moment.microsecond else whole
    if fmt == "rfc822":
        return formatdate(calendar.timegm(moment.utctimetuple()), usegmt=True)
    moment = moment.astimezone(UTC)
    # AWS writes milliseconds; keep finer values rather than silently dropping them.
    fraction = moment.microsecond
    suffix = f".{fraction // 1000:03d}Z" if fraction % 1000 == 0 else f".{fraction:06d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + suffix


# -- scalar text <-> value ------------------------------------------------------


def text_to_value(shape: Shape, text: str) -> Any:
    """Convert one query/header/label text to the Python value ``shape`` describes."""
    kind = shape.type_name
    if kind in ("integer", "long", "short", "byte"):
        return int(text)
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"{text!r} is not a boolean")
        return lowered == "true"
    if kind in ("float", "double"):
        return float(text)
    if kind == "timestamp":
        return parse_timestamp(text)
    if kind == "blob":
        return base64.b64decode(text, validate=True)
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return json.loads(base64.b64decode(text))
    return text


def value_to_text(shape: Shape, value: Any, timestamp_format: str) -> str:
    """The wire text of one scalar bound to a label, query parameter or header."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return str(number)
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", timestamp_format)))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()
    return str(value)


def split_header_list(text: str) -> list[str]:
    """Split a comma-separated header list; items may be double-quoted with ``\\"`` escapes."""
    items: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            items.append("".join(chars))
            i = text.find(",", i)
            i = n if i < 0 else i + 1
        else:
            end = text.find(",", i)
            end = n if end < 0 else end
            items.append(text[i:end].strip())
            i = end + 1
    return items


def _join_header_list(items: Iterable[str]) -> str:
    out = []
    for item in items:
        if '"' in item or "," in item:
            item = '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(item)
    return ",".join(out)


def _header_safe(value: str) -> str:
    """Header values go out as latin-1; anything else is RFC 2047 encoded, as S3 does."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="
    return value


# -- routing -------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One operation's place in the URI space."""

    operation: OperationModel
    method: str
    template: str
    pattern: re.Pattern[str]
    #: Member names of the labels, in the order of the pattern's groups.
    labels: tuple[str, ...]
    #: Literal query parts of the template: name -> required value (``None``: any).
    query_literals: tuple[tuple[str, str | None], ...]
    #: Wire names of required query parameters / headers (lower-cased).
    required_query: frozenset[str]
    required_headers: frozenset[str]
    #: Every query parameter / header name the input binds (for tie-breaking).
    known_query: frozenset[str]
    known_headers: frozenset[str]
    literal_segments: int
    greedy: bool
    #: Sort key: larger is more specific (computed once; sorting and matching compare it often).
    rank: tuple[int, int, int, int] = field(init=False, compare=False)
    #: Cheap pre-filter of the path (see :meth:`could_match`): the number of ``/``-separated
    #: parts of the template's path (a minimum when ``greedy``) and its literal parts by position.
    path_parts: int = field(init=False, compare=False)
    literal_parts: tuple[tuple[int, str], ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        required = len(self.required_query) + len(self.required_headers)
        rank = (self.literal_segments, 0 if self.greedy else 1, len(self.query_literals), required)
        object.__setattr__(self, "rank", rank)
        parts = self.template.partition("?")[0].split("/")
        literal: list[tuple[int, str]] = []
        for index, part in enumerate(parts):
            if "{" in part:
                if "+}" in part:  # a greedy label may span parts: nothing after it is fixed
                    break
                continue
            literal.append((index, part))
        object.__setattr__(self, "path_parts", len(parts))
        object.__setattr__(self, "literal_parts", tuple(literal))

    def could_match(self, parts: list[str]) -> bool:
        """Whether the pattern may match the path split at ``/`` (never ``False`` for a path it matches).

        A label that is not greedy matches ``[^/]+``, so the path has exactly as
        many parts as the template (at least as many with a greedy label), and
        every part of the template without a label is literal text.
        """
        if len(parts) != self.path_parts and not (self.greedy and len(parts) > self.path_parts):
            return False
        return all(parts[index] == text for index, text in self.literal_parts)

    @property
    def signature(self) -> tuple[Any, ...]:
        """Everything routing looks at; two routes with one signature are indistinguishable."""
        return (
            self.method,
            self.pattern.pattern,
            self.query_literals,
            self.required_query,
            self.required_headers,
        )

    def accepts(self, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> re.Match[str] | None:
        for name, value in self.query_literals:
            values = query.get(name)
            if values is None or (value is not None and value not in values):
                return None
        if not self.required_query.issubset(query.keys()):
            return None
        if not self.required_headers.issubset(headers.keys()):
            return None
        return self.pattern.fullmatch(path)


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    #: Raw (percent-encoded) label values by member name.
    labels: dict[str, str]
    query: dict[str, list[str]] = field(default_factory=dict)


def compile_route(operation: OperationModel) -> Route:
    """Build the :class:`Route` of one operation from ``http.method`` + ``http.requestUri``."""
    uri: str = operation.http.get("requestUri", "/")
    path, _, literal_query = uri.partition("?")
    shape = operation.input_shape
    members: dict[str, Shape] = dict(shape.members) if shape is not None else {}
    label_member = {
        m.serialization.get("name", name): name
        for name, m in members.items()
        if m.serialization.get("location") == "uri"
    }
    regex, labels, greedy, pos = [], [], False, 0
    for found in _LABEL.finditer(path):
        regex.append(re.escape(path[pos : found.start()]))
        label = found.group(1)
        if label.endswith("+"):
            greedy = True
            regex.append("(.+)")
            label = label[:-1]
        else:
            regex.append("([^/]+)")
        labels.append(label_member.get(label, label))
        pos = found.end()
    regex.append(re.escape(path[pos:]))
    literal_segments = sum(1 for seg in path.split("/") if seg and "{" not in seg)

    literals = tuple(
        (name, value if "=" in part else None)
        for part in literal_query.split("&")
        if part
        for name, _, value in [part.partition("=")]
    )
    required = set(shape.required_members) if shape is not None else set()
    required_query, required_headers, known_query, known_headers = set(), set(), set(), set()
    for name, member in members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "querystring" and member.type_name != "map":
            known_query.add(wire)
            if name in required:
                required_query.add(wire)
        elif location == "header":
            known_headers.add(wire.lower())
            if name in required:
                required_headers.add(wire.lower())
    return Route(
        operation=operation,
        method=operation.http.get("method", "POST").upper(),
        template=uri,
        pattern=re.compile("".join(regex)),
        labels=tuple(labels),
        query_literals=literals,
        required_query=frozenset(required_query),
        required_headers=frozenset(required_headers),
        known_query=frozenset(known_query),
        known_headers=frozenset(known_headers),
        literal_segments=literal_segments,
        greedy=greedy,
    )


class RouteTable:
    """All operations of a service, indexed by method and sorted most specific first.

    Matching first narrows the routes of the method to those whose template
    has as many path parts as the request (``could_match``: literal parts equal,
    greedy labels last), so a request tries one or two patterns instead of every
    route of its method; the order — and so the result — is that of the full list.
    """

    def __init__(self, service_model: ServiceModel) -> None:
        self.routes: dict[str, Route] = {}
        by_method: dict[str, list[Route]] = {}
        for name in service_model.operation_names:
            route = compile_route(service_model.operation_model(name))
            self.routes[name] = route
            by_method.setdefault(route.method, []).append(route)
        self._by_method = {
            method: sorted(routes, key=lambda r: (r.rank, not r.operation.deprecated), reverse=True)
            for method, routes in by_method.items()
        }
        #: (method, number of path parts) -> the routes that may match such a path, split by one part.
        self._by_shape: dict[tuple[str, int], _Bucket] = {}
        #: method -> the routes with a greedy label, for paths longer than any indexed shape.
        self._greedy: dict[str, tuple[Route, ...]] = {
            method: tuple(r for r in routes if r.greedy) for method, routes in self._by_method.items()
        }
        self._greedy_plain = {method: _without_query(routes) for method, routes in self._greedy.items()}
        for method, routes in self._by_method.items():
            longest = max((r.path_parts for r in routes), default=0)
            for count in range(1, longest + 1):
                shaped = [r for r in routes if r.path_parts == count or (r.greedy and count > r.path_parts)]
                self._by_shape[(method, count)] = _Bucket.build(shaped, count)

    def candidates(self, method: str, parts: list[str], *, has_query: bool = True) -> tuple[Route, ...]:
        """The routes of ``method`` that may match a path split into ``parts``, most specific first.

        Without ``has_query`` the routes that need a query parameter are left out
        (``?tagging``, ``?uploadId=``): most requests have none, and most routes need one.
        """
        bucket = self._by_shape.get((method, len(parts)))
        if bucket is None:
            routes = self._greedy.get(method, ())
            return routes if has_query else self._greedy_plain.get(method, ())
        if has_query:
            return bucket.by_text.get(parts[bucket.position], bucket.others)
        return bucket.plain_by_text.get(parts[bucket.position], bucket.plain_others)

    def match(
        self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> RouteMatch | None:
        best: list[tuple[Route, re.Match[str]]] = []
        parts = path.split("/")
        # Routes left out by ``candidates`` or ``could_match`` would not match anyway, so
        # skipping them changes neither the first match nor the set of equally specific ones.
        for route in self.candidates(method.upper(), parts, has_query=bool(query)):
            if best and route.rank != best[0][0].rank:
                break
            if not route.could_match(parts):
                continue
            found = route.accepts(path, query, headers)
            if found is not None:
                best.append((route, found))
        if not best:
            return None
        if len(best) > 1:
            best.sort(key=lambda rm: _tie_break(rm[0], query, headers))
        route, found = best[0]
        return RouteMatch(route, dict(zip(route.labels, found.groups(), strict=True)), dict(query))

    def labels_for(self, operation: OperationModel, path: str) -> dict[str, str] | None:
        """Label values of ``path`` read with ``operation``'s own template (no routing)."""
        route = self.routes[operation.name]
        found = route.pattern.fullmatch(path)
        return None if found is None else dict(zip(route.labels, found.groups(), strict=True))


@dataclass(frozen=True)
class _Bucket:
    """The routes for paths of one method and length, split by the text of one path part.

    ``by_text[t]`` holds the routes whose part at ``position`` is literally ``t``
    plus those with a label there; ``others`` only the latter.  Both keep the
    order of the routes given.
    """

    position: int
    by_text: dict[str, tuple[Route, ...]]
    others: tuple[Route, ...]
    #: ``by_text`` and ``others`` without the routes that need a query parameter.
    plain_by_text: dict[str, tuple[Route, ...]] = field(default_factory=dict)
    plain_others: tuple[Route, ...] = ()

    @classmethod
    def of(cls, position: int, by_text: dict[str, tuple[Route, ...]], others: tuple[Route, ...]) -> _Bucket:
        plain = {text: _without_query(routes) for text, routes in by_text.items()}
        return cls(position, by_text, others, plain, _without_query(others))

    @classmethod
    def build(cls, routes: list[Route], count: int) -> _Bucket:
        best: _Bucket | None = None
        best_cost: tuple[int, int] = (len(routes) + 1, 0)
        for position in range(count):
            literal = [dict(r.literal_parts).get(position) for r in routes]
            texts = {text for text in literal if text is not None}
            by_text = {
                text: tuple(r for r, lit in zip(routes, literal, strict=True) if lit in (text, None))
                for text in texts
            }
            others = tuple(r for r, lit in zip(routes, literal, strict=True) if lit is None)
            sizes = [len(group) for group in by_text.values()] + [len(others)]
            cost = (max(sizes), sum(sizes))
            if cost < best_cost:
                best, best_cost = cls.of(position, by_text, others), cost
        return best if best is not None else cls.of(0, {}, tuple(routes))


def _without_query(routes: Iterable[Route]) -> tuple[Route, ...]:
    """The routes a request without a query string can match (no literal or required query parameter)."""
    return tuple(r for r in routes if not r.query_literals and not r.required_query)


def _tie_break(route: Route, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> tuple[Any, ...]:
    recognised = len(route.known_query & query.keys()) + len(route.known_headers & headers.keys())
    return (route.operation.deprecated, -recognised, route.operation.name)


class _Plan(NamedTuple):
    """The HTTP-bound input members of one operation, indexed by where they are found on the wire."""

    #: (member name, shape) of each member bound to a URI label.
    labels: tuple[tuple[str, Shape], ...]
    #: Query parameter name -> the (member name, shape) bound to it (maps excluded).
    query: dict[str, tuple[tuple[str, Shape], ...]]
    #: Members that collect the query parameters nothing else claims (``map`` shapes).
    query_maps: tuple[tuple[str, Shape], ...]
    #: Query names bound to a member or fixed by the template: not for ``query_maps``.
    claimed: frozenset[str]
    #: Lower-case header name -> the (member name, shape) bound to it.
    headers: dict[str, tuple[tuple[str, Shape], ...]]
    #: (member name, lower-case prefix) of maps of prefixed headers (``x-amz-meta-``).
    prefixes: tuple[tuple[str, str], ...]


class _OutputPlan(NamedTuple):
    """The members of an output or error shape by where they go on the wire."""

    #: Member name -> (location, wire name, shape, is a plain string) for HTTP-bound members.
    bound: dict[str, tuple[str, str, Shape, bool]]
    #: Members written in the body document.
    body: frozenset[str]


def query_dict(query_string: str) -> dict[str, list[str]]:
    """Decoded query parameters; a bare ``?uploads`` is present with an empty value."""
    out: dict[str, list[str]] = {}
    if not query_string:
        return out
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


# -- the protocol base ---------------------------------------------------------


class RestProtocol(Protocol):
    """Routing and HTTP bindings; subclasses say how bodies and error documents look."""

    #: Header carrying the request id on every response.
    request_id_header = "x-amzn-RequestId"
    #: Default timestamp format for body members.
    body_timestamp_format = "iso8601"
    #: Content type of a non-payload body.
    content_type = "application/json"
    #: Content type of a raw blob payload when no member sets one.
    blob_content_type = "application/octet-stream"

    def __init__(self, service_model: ServiceModel) -> None:
        super().__init__(service_model)
        self.routes = RouteTable(service_model)
        #: operation name -> where its input members are bound on the wire.
        self._plans: dict[str, _Plan] = {}
        #: output or error shape name -> where its members go on the wire.
        self._outputs: dict[str, _OutputPlan] = {}
        self.error_shapes: dict[str, Shape] = {}
        for shape in service_model.error_shapes:
            code = shape.metadata.get("error", {}).get("code", shape.name)
            self.error_shapes[code] = shape

    # -- request side ---------------------------------------------------------

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """Hook: rewrite a request before routing (S3 virtual-hosted addressing)."""
        return request

    def parse(self, request: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        request = self.prepare(request)
        query = query_dict(request.query_string)
        path = request.path.split("?", 1)[0] or "/"
        match = self.routes.match(request.method, path, query, request.headers)
        if match is None:
            raise self.unknown_operation(request)
        operation = match.route.operation
        return operation, self._parse_bound(operation, request, match.labels, query)

    def parse_operation(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        """Parse ``request`` as ``operation`` without routing (tests and fixed endpoints)."""
        request = self.prepare(request)
        labels = self.routes.labels_for(operation, request.path.split("?", 1)[0] or "/")
        if labels is None:
            raise self.unknown_operation(request)
        return self._parse_bound(operation, request, labels, query_dict(request.query_string))

    def unknown_operation(self, request: HttpRequest) -> ServiceError:
        return ServiceError(
            f"Unknown operation: {request.method} {request.path}",
            code="UnknownOperationException",
            status=404,
        )

    def _parse_bound(
        self,
        operation: OperationModel,
        request: HttpRequest,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
    ) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            params = self._bound_members(operation, shape, request, labels, query)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.bad_request(f"Invalid parameter value: {exc}") from exc
        params.update(self._parse_body(operation, shape, request))
        self.validate(shape, params)
        return params

    def validate(self, shape: Shape, params: dict[str, Any]) -> None:
        from cloudlet.protocols.validate import validate_params

        validate_params(self.service_model, shape, params)

    def bad_request(self, message: str) -> ServiceError:
        """The error for a value that does not parse; services may use their own code."""
        return ValidationError(message)

    def _plan(self, operation: OperationModel, shape: Shape) -> _Plan:
        """Where ``operation``'s input members are bound on the wire (built once per operation)."""
        plan = self._plans.get(operation.name)
        if plan is not None:
            return plan
        labels: list[tuple[str, Shape]] = []
        query: dict[str, tuple[tuple[str, Shape], ...]] = {}
        query_maps: list[tuple[str, Shape]] = []
        headers: dict[str, tuple[tuple[str, Shape], ...]] = {}
        prefixes: list[tuple[str, str]] = []
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri":
                labels.append((name, member))
            elif location == "querystring":
                if member.type_name == "map":
                    query_maps.append((name, member))
                else:
                    query[wire] = (*query.get(wire, ()), (name, member))
            elif location == "header":
                headers[wire.lower()] = (*headers.get(wire.lower(), ()), (name, member))
            elif location == "headers":
                prefixes.append((name, wire.lower()))
        literal = {name for name, _ in self.routes.routes[operation.name].query_literals}
        plan = self._plans[operation.name] = _Plan(
            tuple(labels), query, tuple(query_maps), frozenset(literal | query.keys()), headers, tuple(prefixes)
        )
        return plan

    def _bound_members(
        self,
        operation: OperationModel,
        shape: Shape,
        request: HttpRequest,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
    ) -> dict[str, Any]:
        # Walks what the request carries (a few headers, parameters) rather than
        # every member the model binds (dozens for S3's object operations).
        params: dict[str, Any] = {}
        plan = self._plan(operation, shape)
        for name, member in plan.labels:
            if name in labels:
                params[name] = text_to_value(member, unquote(labels[name]))
        if query:
            for wire, values in query.items():
                for name, member in plan.query.get(wire, ()):
                    if member.type_name == "list":
                        params[name] = [text_to_value(member.member, v) for v in values]
                    else:
                        params[name] = text_to_value(member, values[0])
            if plan.query_maps:
                rest = {k: v for k, v in query.items() if k not in plan.claimed}
                if rest:
                    for name, member in plan.query_maps:
                        many = member.value.type_name == "list"
                        params[name] = {k: (list(v) if many else v[0]) for k, v in rest.items()}
        bound_headers = plan.headers
        for key, text in request.headers.items():
            for name, member in bound_headers.get(key, ()):
                params[name] = self._header_value(member, text)
        for name, prefix in plan.prefixes:
            found = {k[len(prefix) :]: v for k, v in request.headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
        return params

    def _header_value(self, member: Shape, text: str) -> Any:
        if member.type_name == "list":
            items = split_header_list(text)
            return [text_to_value(member.member, item) for item in items]
        if member.type_name == "string" and not member.serialization.get("jsonvalue"):
            return text
        return text_to_value(member, text.strip())

    def _parse_body(self, operation: OperationModel, shape: Shape, request: HttpRequest) -> dict[str, Any]:
        payload = shape.serialization.get("payload")
        if payload is None:
            if not any("location" not in m.serialization for m in shape.members.values()):
                return {}
            return self.parse_body_members(shape, request.body)
        member = shape.members[payload]
        if member.type_name == "blob":
            return {payload: request.body if request.stream is None else request.stream}
        if member.type_name == "string":
            return {payload: request.body.decode("utf-8")}
        value = self.parse_payload_structure(member, request.body)
        return {} if value is None else {payload: value}

    # Body hooks for subclasses.
    def parse_body_members(self, shape: Shape, body: bytes) -> dict[str, Any]:
        raise NotImplementedError

    def parse_payload_structure(self, member: Shape, body: bytes) -> Any:
        raise NotImplementedError

    # -- response side --------------------------------------------------------

    def serialize(self, operation: OperationModel, result: Mapping[str, Any], request_id: str) -> HttpResponse:
        status = int(operation.http.get("responseCode", 200))
        response = HttpResponse(status=status)
        shape = operation.output_shape
        if shape is not None:
            status_override = self.write_bound(shape, result, response.headers)
            if status_override is not None:
                response.status = status_override
            self._write_body(operation, shape, result, response)
        response.headers.extend(self.request_id_headers(request_id))
        return response

    def request_id_headers(self, request_id: str) -> list[tuple[str, str]]:
        return [(self.request_id_header, request_id)]

    def _output_plan(self, shape: Shape) -> _OutputPlan:
        """Where the members of an output (or error) shape go on the wire (built once per shape)."""
        plan = self._outputs.get(shape.name)
        if plan is None:
            bound: dict[str, tuple[str, str, Shape, bool]] = {}
            body: set[str] = set()
            for name, member in shape.members.items():
                location = member.serialization.get("location")
                if location is None:
                    body.add(name)
                    continue
                plain = member.type_name == "string" and not member.serialization.get("jsonvalue")
                bound[name] = (location, member.serialization.get("name", name), member, plain)
            plan = self._outputs[shape.name] = _OutputPlan(bound, frozenset(body))
        return plan

    def write_bound(self, shape: Shape, values: Mapping[str, Any], headers: list[tuple[str, str]]) -> int | None:
        """Append the header-bound members of ``values``; return a ``statusCode`` member if any."""
        status: int | None = None
        bound = self._output_plan(shape).bound
        for name, value in values.items():
            found = bound.get(name)
            if found is None or value is None:
                continue
            location, wire, member, plain = found
            if location == "header":
                if plain and isinstance(value, str):
                    text = value
                elif member.type_name == "list":
                    if not value:
                        continue
                    text = _join_header_list(value_to_text(member.member, v, "rfc822") for v in value)
                else:
                    text = value_to_text(member, value, "rfc822")
                headers.append((wire, _header_safe(text)))
            elif location == "statusCode":
                status = int(value)
            elif location == "headers":
                headers.extend((wire + key, _header_safe(str(v))) for key, v in value.items())
        return status

    def _write_body(
        self, operation: OperationModel, shape: Shape, result: Mapping[str, Any], response: HttpResponse
    ) -> None:
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            value = result.get(payload)
            if member.type_name in ("blob", "string"):
                if value is None:
                    return
                if isinstance(value, str):
                    response.body = value.encode()
                elif isinstance(value, bytes | bytearray | memoryview):
                    response.body = bytes(value)
                else:  # a streamed body (e.g. S3's BlobBody): sized chunks the edge sends as read
                    response.stream = value
                if not any(k.lower() == "content-type" for k, _ in response.headers):
                    kind = self.blob_content_type if member.type_name == "blob" else "text/plain"
                    response.headers.append(("Content-Type", kind))
                return
            if value is None:
                return
            response.body = self.serialize_payload_structure(payload, member, value)
        else:
            names = self._output_plan(shape).body
            body_members = {k: v for k, v in result.items() if k in names and v is not None}
            if not body_members and not self.always_write_body(shape):
                return
            response.body = self.serialize_body_members(operation, shape, body_members)
        response.headers.append(("Content-Type", self.content_type))

    def always_write_body(self, shape: Shape) -> bool:
        """Whether an output with no body members present still gets a (empty) document."""
        return bool(self._output_plan(shape).body)

    def serialize_body_members(self, operation: OperationModel, shape: Shape, values: Mapping[str, Any]) -> bytes:
        raise NotImplementedError

    def serialize_payload_structure(self, name: str, member: Shape, value: Any) -> bytes:
        raise NotImplementedError

    # -- errors ---------------------------------------------------------------

    def serialize_error(
        self, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = self.error_shapes.get(error.code)
        response = HttpResponse(status=error.status)
        fields: dict[str, Any] = dict(error.fields)
        if shape is not None:
            # Header-bound members of the error shape (e.g. Lambda's Retry-After).
            self.write_bound(shape, fields, response.headers)
            fields = {
                k: v
                for k, v in fields.items()
                if k not in shape.members or shape.members[k].serialization.get("location") not in _BOUND
            }
        response.headers.extend(error.headers.items())
        response.headers.extend(self.request_id_headers(request_id))
        self.write_error_body(operation, error, shape, fields, request_id, response)
        return response

    def write_error_body(
        self,
        operation: OperationModel | None,
        error: ServiceError,
        shape: Shape | None,
        fields: Mapping[str, Any],
        request_id: str,
        response: HttpResponse,
    ) -> None:
        raise NotImplementedError
