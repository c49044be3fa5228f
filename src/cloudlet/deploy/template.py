"""Loading an AWS SAM / CloudFormation template into plain data.

YAML short forms (``!Ref X``, ``!GetAtt A.B``, ``!Sub …`` and every other
``!Fn``) become their long JSON forms (``{"Ref": "X"}``,
``{"Fn::GetAtt": ["A", "B"]}``, ``{"Fn::Sub": …}``), so the rest of the
deployer sees one shape.  Dates stay strings (``Version: 2012-10-17``).

The SAM parts done here, before any resource is created: ``Globals`` merged
into each serverless resource (maps merged, lists concatenated, scalars
overridden — SAM's rules), implicit APIs added for ``Api`` / ``HttpApi``
events without an ``ApiId``, parameters bound (defaults, overrides,
``AllowedValues``), conditions evaluated and resources whose condition is
false removed.  :func:`deployment_order` sorts the rest by their references.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cloudlet.deploy.intrinsics import Resolver, TemplateError, references

SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"
IMPLICIT_HTTP_API = "ServerlessHttpApi"
IMPLICIT_REST_API = "ServerlessRestApi"
#: Cloudlet-internal type of the implicit REST API: served as an HTTP API with payload 1.0.
REST_AS_HTTP_API = "Cloudlet::Serverless::RestApiAsHttpApi"
GLOBALS_SECTIONS = {
    "Function": "AWS::Serverless::Function",
    "HttpApi": "AWS::Serverless::HttpApi",
    "Api": "AWS::Serverless::Api",
    "SimpleTable": "AWS::Serverless::SimpleTable",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that knows CloudFormation's ``!`` tags."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        name, _, attr = value.partition(".")
        value = [name, attr]
    return {f"Fn::{suffix}": value}


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_multi_constructor("!", _construct_tag)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def parse_yaml(text: str) -> dict[str, Any]:
    """Template text (YAML or JSON) → dict with intrinsics in long form."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"invalid template: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("a template is a mapping with a Resources section")
    if not isinstance(data.get("Resources"), dict) or not data["Resources"]:
        raise TemplateError("the template has no Resources")
    return data


@dataclass
class Template:
    """A parsed template, with SAM's template-level expansions applied."""

    path: Path
    body: dict[str, Any]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mappings: dict[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def load_template(
    path: Path,
    overrides: Mapping[str, str] | None = None,
    pseudo: Mapping[str, Any] | None = None,
) -> Template:
    """Read, expand and bind a template (see the module docstring)."""
    body = parse_yaml(path.read_text())
    return prepare(body, path, overrides or {}, pseudo or {})


def prepare(
    body: dict[str, Any], path: Path, overrides: Mapping[str, str], pseudo: Mapping[str, Any]
) -> Template:
    resources = copy.deepcopy(body["Resources"])
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"resource {logical_id} has no Type")
        resource.setdefault("Properties", {})
    apply_globals(resources, body.get("Globals") or {})
    add_implicit_apis(resources)
    template = Template(
        path=path,
        body=body,
        resources=resources,
        parameters=bind_parameters(body.get("Parameters") or {}, overrides),
        outputs=dict(body.get("Outputs") or {}),
        mappings=dict(body.get("Mappings") or {}),
    )
    template.conditions = evaluate_conditions(
        body.get("Conditions") or {}, template.parameters, pseudo, template.mappings
    )
    for logical_id in list(resources):
        condition = resources[logical_id].get("Condition")
        if condition is not None and not template.conditions.get(condition, False):
            del resources[logical_id]
    return template


# -- Globals ----------------------------------------------------------------------------------


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's merge: maps merged key by key, lists concatenated, otherwise the local value wins."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def apply_globals(resources: dict[str, dict[str, Any]], globals_: Mapping[str, Any]) -> None:
    for section, values in globals_.items():
        resource_type = GLOBALS_SECTIONS.get(section)
        if resource_type is None:
            raise TemplateError(f"Globals section {section!r} is not supported")
        for resource in resources.values():
            if resource["Type"] == resource_type:
                resource["Properties"] = merge_globals(copy.deepcopy(values), resource["Properties"])


def add_implicit_apis(resources: dict[str, dict[str, Any]]) -> None:
    """SAM creates ServerlessHttpApi / ServerlessRestApi for API events with no ApiId / RestApiId."""
    needs: dict[str, str] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            kind, props = event.get("Type"), event.get("Properties") or {}
            if kind == "HttpApi" and "ApiId" not in props:
                needs[IMPLICIT_HTTP_API] = "AWS::Serverless::HttpApi"
            elif kind == "Api" and "RestApiId" not in props:
                needs[IMPLICIT_REST_API] = REST_AS_HTTP_API
    for logical_id, resource_type in needs.items():
        resources.setdefault(logical_id, {"Type": resource_type, "Properties": {}})


# -- Parameters and conditions --------------------------------------------------------------


def bind_parameters(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec or {}
        if name in overrides:
            raw: Any = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default and no override")
        values[name] = _typed_parameter(name, spec, raw)
    return values


def _typed_parameter(name: str, spec: Mapping[str, Any], raw: Any) -> Any:
    kind = str(spec.get("Type", "String"))
    if kind == "CommaDelimitedList" or kind.startswith("List<"):
        items = raw if isinstance(raw, list) else [s.strip() for s in str(raw).split(",")]
        return [str(i) for i in items]
    text = "true" if raw is True else "false" if raw is False else str(raw)
    allowed = spec.get("AllowedValues")
    if allowed is not None and text not in [str(a) for a in allowed]:
        raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
    if kind == "Number":
        try:
            number = float(text)
        except ValueError:
            raise TemplateError(f"parameter {name}={text!r} is not a number") from None
        for bound, ok in (("MinValue", number >= float(spec.get("MinValue", number))),
                          ("MaxValue", number <= float(spec.get("MaxValue", number)))):
            if not ok:
                raise TemplateError(f"parameter {name}={text} violates {bound}")
    return text


def evaluate_conditions(
    declared: Mapping[str, Any],
    parameters: Mapping[str, Any],
    pseudo: Mapping[str, Any],
    mappings: Mapping[str, Any],
) -> dict[str, bool]:
    """Evaluate every condition; conditions may refer to each other (cycles are errors)."""
    results: dict[str, bool] = {}
    active: set[str] = set()

    class _Conditions(dict[str, bool]):
        def __contains__(self, key: object) -> bool:
            return key in declared

        def __getitem__(self, key: str) -> bool:
            if key not in results:
                if key in active:
                    raise TemplateError(f"condition {key} refers to itself")
                active.add(key)
                results[key] = bool(resolver.resolve(declared[key]))
                active.discard(key)
            return results[key]

    def no_resources(name: str, *_: str) -> Any:
        raise TemplateError(f"conditions cannot refer to resource {name}")

    resolver = Resolver(parameters, pseudo, no_resources, no_resources, mappings, _Conditions())
    for name in declared:
        resolver.condition(name)
    return results


# -- Ordering ----------------------------------------------------------------------------------


def dependencies(resources: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Logical id → the logical ids of other resources it needs first."""
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        needs = references(resource.get("Properties") or {})
        depends_on = resource.get("DependsOn") or []
        depends_on = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        missing = depends_on - set(resources)
        if missing:
            raise TemplateError(f"{logical_id} DependsOn unknown {', '.join(sorted(missing))}")
        needs |= depends_on
        graph[logical_id] = {n for n in needs if n in resources and n != logical_id}
        for event in _events_api_refs(resource):
            graph[logical_id].add(event)
    return graph


def _events_api_refs(resource: Mapping[str, Any]) -> set[str]:
    if resource.get("Type") != "AWS::Serverless::Function":
        return set()
    found: set[str] = set()
    for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
        props = event.get("Properties") or {}
        if event.get("Type") == "HttpApi" and "ApiId" not in props:
            found.add(IMPLICIT_HTTP_API)
        if event.get("Type") == "Api" and "RestApiId" not in props:
            found.add(IMPLICIT_REST_API)
    return found


def deployment_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Topological order (Kahn); ties broken by template order so the result is stable."""
    graph = dependencies(resources)
    position = {name: i for i, name in enumerate(resources)}
    waiting = {name: len(needs) for name, needs in graph.items()}
    users: dict[str, list[str]] = {name: [] for name in resources}
    for name, needs in graph.items():
        for need in needs:
            users[need].append(name)
    ready = [(position[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user))
    if len(order) != len(resources):
        cycle = sorted(set(resources) - set(order))
        raise TemplateError(f"circular dependency between {', '.join(cycle)}")
    return order
