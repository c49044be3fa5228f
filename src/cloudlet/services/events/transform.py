"""What a target receives: the event, ``Input``, ``InputPath`` or ``InputTransformer`` (pure).

``InputTransformer`` substitutes ``<name>`` placeholders of ``InputTemplate``
with values picked from the event by ``InputPathsMap`` (JSONPath), following
AWS's quoting rule: a placeholder *inside* a JSON string of the template is
replaced by the value's text (strings as they are, JSON-escaped; other values
as JSON), a placeholder *outside* quotes by the value's JSON (so strings gain
quotes).  A path that selects nothing gives ``null`` outside quotes and an
empty string inside.  Predefined variables: ``<aws.events.rule-arn>``,
``<aws.events.rule-name>``, ``<aws.events.event.ingestion-time>``,
``<aws.events.event>`` and ``<aws.events.event.json>`` (the whole event).
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING = object()
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class TransformError(ValueError):
    """An invalid JSONPath or template."""


def check_path(path: str) -> None:
    if not path.startswith("$"):
        raise TransformError(f"invalid JSONPath {path!r}")
    rest = path[1:]
    position = 0
    for m in _SEGMENT.finditer(rest):
        if m.start() != position:
            raise TransformError(f"invalid JSONPath {path!r}")
        position = m.end()
    if position != len(rest):
        raise TransformError(f"invalid JSONPath {path!r}")


def select(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$``, ``$.a.b``, ``$.a[0]``, ``$['a b']``); ``_MISSING`` if none."""
    check_path(path)
    value = document
    for m in _SEGMENT.finditer(path[1:]):
        key, index, quoted, dquoted = m.groups()
        name = key if key is not None else (quoted if quoted is not None else dquoted)
        if index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                return _MISSING
            value = value[int(index)]
        else:
            if not isinstance(value, dict) or name not in value:
                return _MISSING
            value = value[name]
    return value


def input_path(event: dict[str, Any], path: str) -> str:
    value = select(event, path)
    return "null" if value is _MISSING else json.dumps(value, ensure_ascii=False)


def transform(
    event: dict[str, Any],
    paths: dict[str, str],
    template: str,
    *,
    rule_arn: str = "",
    rule_name: str = "",
    ingestion_time: str = "",
) -> str:
    """The text of ``template`` with its placeholders replaced (AWS's quoting rule)."""
    values: dict[str, Any] = {name: select(event, path) for name, path in paths.items()}
    values.setdefault("aws.events.rule-arn", rule_arn)
    values.setdefault("aws.events.rule-name", rule_name)
    values.setdefault("aws.events.event.ingestion-time", ingestion_time or event.get("time", ""))
    values.setdefault("aws.events.event", event)
    values.setdefault("aws.events.event.json", event)
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if char == "\\" and in_string and i + 1 < len(template):
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
            out.append(char)
            i += 1
            continue
        m = _PLACEHOLDER.match(template, i) if char == "<" else None
        if m and m.group(1) in values:
            out.append(_render(values[m.group(1)], in_string))
            i = m.end()
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _render(value: Any, in_string: bool) -> str:
    if in_string:
        if value is _MISSING or value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return json.dumps(text, ensure_ascii=False)[1:-1]
    if value is _MISSING:
        return "null"
    return json.dumps(value, ensure_ascii=False)


def target_input(
    event: dict[str, Any], target: dict[str, Any], *, rule_arn: str = "", rule_name: str = ""
) -> str:
    """The payload text a target receives for ``event``."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return input_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        return transform(
            event,
            transformer.get("InputPathsMap") or {},
            transformer["InputTemplate"],
            rule_arn=rule_arn,
            rule_name=rule_name,
        )
    return json.dumps(event, ensure_ascii=False)
