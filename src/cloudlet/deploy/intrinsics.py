"""CloudFormation intrinsic functions, evaluated client-side against deployed values.

A :class:`Resolver` turns a template fragment into plain data.  It knows the
parameter values, the pseudo parameters, the mappings and the conditions, and
asks two callbacks for what only a deployment knows: the ``Ref`` value and the
``Fn::GetAtt`` attributes of resources already created.  ``AWS::NoValue``
removes the property or list item it stands for.

:func:`references` is the static side: the logical ids a fragment depends on
(through ``Ref``, ``Fn::GetAtt`` and ``${…}`` in ``Fn::Sub``), which is what
the deployment order is built from.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


class TemplateError(Exception):
    """The template is invalid or uses something this deployer cannot evaluate."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


#: What ``{"Ref": "AWS::NoValue"}`` evaluates to before it is dropped from its container.
NO_VALUE: Any = _NoValue()

PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::NoValue",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")

RefLookup = Callable[[str], Any]
AttLookup = Callable[[str, str], Any]


def split_get_att(value: Any) -> tuple[str, str]:
    """``Fn::GetAtt`` argument (``[Name, Attr]`` or ``"Name.Attr"``) → ``(Name, Attr)``."""
    if isinstance(value, str):
        name, dot, attr = value.partition(".")
        if not dot:
            raise TemplateError(f"Fn::GetAtt needs Resource.Attribute, got {value!r}")
        return name, attr
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        return value[0], value[1]
    raise TemplateError(f"Fn::GetAtt needs [Resource, Attribute], got {value!r}")


def sub_variables(text: str) -> Iterator[str]:
    """The ``${Name}`` / ``${Name.Attr}`` placeholders of a ``Fn::Sub`` string (not ``${!Literal}``)."""
    for match in _SUB_VAR.finditer(text):
        name = match.group(1).strip()
        if name and not name.startswith("!"):
            yield name


def _intrinsic(value: Any) -> tuple[str, Any] | None:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key == "Ref" or key.startswith("Fn::") or key == "Condition":
            return key, value[key]
    return None


def references(value: Any) -> set[str]:
    """Names a fragment refers to via Ref, Fn::GetAtt and Fn::Sub (pseudo parameters excluded)."""
    found: set[str] = set()
    _collect(value, found)
    return {name for name in found if name not in PSEUDO_PARAMETERS}


def _collect(value: Any, found: set[str]) -> None:
    fn = _intrinsic(value)
    if fn is not None:
        key, arg = fn
        if key == "Ref" and isinstance(arg, str):
            found.add(arg)
            return
        if key == "Fn::GetAtt":
            name, attr = split_get_att(arg)
            found.add(name)
            if isinstance(attr, dict | list):
                _collect(attr, found)
            return
        if key == "Fn::Sub":
            text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for name in sub_variables(text):
                if name not in local:
                    found.add(name.split(".", 1)[0])
            _collect(local, found)
            return
        if key == "Condition":
            return
    if isinstance(value, dict):
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)


@dataclass
class Resolver:
    """Evaluates intrinsic functions; see the module docstring."""

    parameters: Mapping[str, Any]
    pseudo: Mapping[str, Any]
    ref: RefLookup
    get_att: AttLookup
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, bool] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        fn = _intrinsic(value)
        if fn is not None:
            return self._call(*fn)
        if isinstance(value, dict):
            out = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        return value

    def resolve_ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.ref(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self.conditions[name]

    # -- the functions ------------------------------------------------------------------------

    def _call(self, key: str, arg: Any) -> Any:
        handler = self._FUNCTIONS.get(key)
        if handler is None:
            raise TemplateError(f"intrinsic function {key} is not supported")
        return handler(self, arg)

    def _ref(self, arg: Any) -> Any:
        if not isinstance(arg, str):
            raise TemplateError(f"Ref needs a name, got {arg!r}")
        return self.resolve_ref(arg)

    def _get_att(self, arg: Any) -> Any:
        name, attr = split_get_att(arg)
        return self.get_att(name, str(self.resolve(attr)))

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, local = arg, {}
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            text, local = arg[0], self.resolve(arg[1])
        else:
            raise TemplateError(f"Fn::Sub needs a string or [string, {{vars}}], got {arg!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                value = local[name]
            elif "." in name and name not in self.parameters and name not in self.pseudo:
                resource, attr = name.split(".", 1)
                value = self.get_att(resource, attr)
            else:
                value = self.resolve_ref(name)
            return _text(value)

        return _SUB_VAR.sub(replace, text)

    def _join(self, arg: Any) -> str:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Join needs [delimiter, [values]], got {arg!r}")
        delimiter, items = self.resolve(arg[0]), self.resolve(arg[1])
        if not isinstance(items, list):
            raise TemplateError("Fn::Join needs a list of values")
        return str(delimiter).join(_text(i) for i in items)

    def _select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Select needs [index, [values]], got {arg!r}")
        index, items = int(self.resolve(arg[0])), self.resolve(arg[1])
        if not isinstance(items, list) or not 0 <= index < len(items):
            raise TemplateError(f"Fn::Select index {index} out of range")
        return items[index]

    def _split(self, arg: Any) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Split needs [delimiter, string], got {arg!r}")
        return str(self.resolve(arg[1])).split(str(self.resolve(arg[0])))

    def _if(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(f"Fn::If needs [condition, then, else], got {arg!r}")
        return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _equals(self, arg: Any) -> bool:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"Fn::Equals needs two values, got {arg!r}")
        left, right = (self.resolve(v) for v in arg)
        return _text(left) == _text(right) if not isinstance(left, list) else bool(left == right)

    def _truth(self, item: Any) -> bool:
        cond = _intrinsic(item)
        if cond is not None and cond[0] == "Condition":
            return self.condition(cond[1])
        return bool(self.resolve(item))

    def _and(self, arg: Any) -> bool:
        return all(self._truth(i) for i in arg)

    def _or(self, arg: Any) -> bool:
        return any(self._truth(i) for i in arg)

    def _not(self, arg: Any) -> bool:
        return not self._truth(arg[0] if isinstance(arg, list) else arg)

    def _condition(self, arg: Any) -> bool:
        return self.condition(str(arg))

    def _find_in_map(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) >= 3):
            raise TemplateError(f"Fn::FindInMap needs [map, key, key], got {arg!r}")
        name, top, second = (self.resolve(v) for v in arg[:3])
        try:
            return self.mappings[name][top][second]
        except (KeyError, TypeError):
            if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                return self.resolve(arg[3]["DefaultValue"])
            raise TemplateError(f"Fn::FindInMap: no {name}/{top}/{second}") from None

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(_text(self.resolve(arg)).encode()).decode()

    def _get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.pseudo.get("AWS::Region", "us-east-1")
        return [f"{region}{suffix}" for suffix in "abc"]

    def _to_json_string(self, arg: Any) -> str:
        return json.dumps(self.resolve(arg), separators=(",", ":"))

    def _length(self, arg: Any) -> int:
        value = self.resolve(arg)
        if not isinstance(value, list):
            raise TemplateError("Fn::Length needs a list")
        return len(value)

    _FUNCTIONS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::And": _and,
        "Fn::Or": _or,
        "Fn::Not": _not,
        "Condition": _condition,
        "Fn::FindInMap": _find_in_map,
        "Fn::Base64": _base64,
        "Fn::GetAZs": _get_azs,
        "Fn::ToJsonString": _to_json_string,
        "Fn::Length": _length,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)
