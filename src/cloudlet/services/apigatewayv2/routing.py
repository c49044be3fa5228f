"""Route keys and route selection for HTTP APIs.

A route key is ``METHOD /path`` (``GET /items/{id}``, ``ANY /{proxy+}``) or
``$default``.  Routes are compiled once per API configuration into
``RoutePattern`` objects and sorted by AWS's precedence, so matching a request
is a walk down a short list:

1. more literal segments beat path variables, which beat a greedy ``{x+}``
   (compared segment by segment from the left);
2. an explicit method beats ``ANY``;
3. ``$default`` matches last, when nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

DEFAULT_ROUTE = "$default"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})

_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2


class RouteKeyError(ValueError):
    """A route key that AWS would refuse."""


@dataclass(frozen=True)
class Segment:
    kind: int
    text: str  # the literal, or the variable name (without braces and ``+``)


@dataclass(frozen=True)
class RoutePattern:
    """One compiled route: what it matches and the value it stands for."""

    route_key: str
    method: str  # "ANY" for any method, "" for $default
    segments: tuple[Segment, ...]
    value: Any = field(compare=False, default=None)

    @property
    def is_default(self) -> bool:
        return self.route_key == DEFAULT_ROUTE

    @property
    def path(self) -> str:
        return self.route_key.split(" ", 1)[1] if " " in self.route_key else ""

    def sort_key(self) -> tuple[int, tuple[int, ...], int, int]:
        kinds = (*(s.kind for s in self.segments), 3)
        return (1 if self.is_default else 0, kinds, -len(self.segments), 1 if self.method == "ANY" else 0)

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """Path parameters when this route matches, else None."""
        if self.is_default:
            return {}
        if self.method != "ANY" and self.method != method:
            return None
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.kind == _GREEDY:
                rest = segments[index:]
                if not rest or rest == [""]:
                    return None
                params[segment.text] = unquote("/".join(rest))
                return params
            if index >= len(segments):
                return None
            part = segments[index]
            if segment.kind == _LITERAL:
                if part != segment.text:
                    return None
            elif part == "":
                return None
            else:
                params[segment.text] = unquote(part)
        if len(segments) != len(self.segments):
            return None
        return params


def parse_route_key(route_key: str) -> tuple[str, tuple[Segment, ...]]:
    """``(method, segments)`` of a route key; raises ``RouteKeyError`` when malformed."""
    if route_key == DEFAULT_ROUTE:
        return "", ()
    method, sep, path = route_key.partition(" ")
    if not sep or method not in METHODS or not path.startswith("/"):
        raise RouteKeyError(f"Invalid route key: {route_key}")
    if path == "/":
        return method, ()
    parts = path[1:].split("/")
    segments: list[Segment] = []
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+"):
                if index != len(parts) - 1:
                    raise RouteKeyError(f"Greedy path variable must be last: {route_key}")
                segments.append(Segment(_GREEDY, name[:-1]))
            else:
                segments.append(Segment(_VARIABLE, name))
        elif not part and index != len(parts) - 1:
            raise RouteKeyError(f"Invalid route key: {route_key}")
        else:
            segments.append(Segment(_LITERAL, part))
    return method, tuple(segments)


def compile_routes(routes: Iterable[tuple[str, Any]]) -> list[RoutePattern]:
    """Route patterns for ``(route key, value)`` pairs, most specific first."""
    patterns = []
    for route_key, value in routes:
        try:
            method, segments = parse_route_key(route_key)
        except RouteKeyError:
            continue
        patterns.append(RoutePattern(route_key, method, segments, value))
    patterns.sort(key=RoutePattern.sort_key)
    return patterns


def split_path(path: str) -> list[str]:
    """``/a/b`` → ``["a", "b"]``; ``/`` → ``[]``."""
    stripped = path[1:] if path.startswith("/") else path
    return stripped.split("/") if stripped else []


def select_route(patterns: list[RoutePattern], method: str, path: str) -> tuple[RoutePattern, dict[str, str]] | None:
    """The first route (in precedence order) that matches, with its path parameters."""
    segments = split_path(path)
    for pattern in patterns:
        params = pattern.match(method, segments)
        if params is not None:
            return pattern, params
    return None
