"""Function names, ARNs and qualifiers.

A caller may name a function four ways (AWS_FACTS §1.3): ``my-fn``,
``my-fn:qualifier``, ``arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]``
and the partial ``<account>:function:my-fn[:qualifier]``.  ``parse_function_name``
reduces all of them to ``(name, qualifier)``; a qualifier given both in the name
and in the ``Qualifier`` parameter must agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudlet.context import RequestContext
from cloudlet.errors import ValidationError
from cloudlet.services.lambda_.errors import InvalidParameterValue

LATEST = "$LATEST"

NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
QUALIFIER_RE = re.compile(r"\$LATEST|[a-zA-Z0-9_-]{1,128}")
ALIAS_RE = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
VERSION_RE = re.compile(r"[0-9]{1,10}")
_ARN_RE = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?"
)
_PARTIAL_RE = re.compile(r"(?P<account>\d{12}):function:(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?")
_PLAIN_RE = re.compile(r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?")


@dataclass(frozen=True)
class FunctionRef:
    """A function named by a caller, reduced to its parts."""

    name: str
    qualifier: str | None


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def ctx_arn(ctx: RequestContext, name: str, qualifier: str | None = None) -> str:
    return function_arn(ctx.region, ctx.account_id, name, qualifier)


def parse_function_name(value: str, qualifier: str | None = None) -> FunctionRef:
    """Reduce any accepted form of ``FunctionName`` (plus ``Qualifier``) to name and qualifier."""
    match = _ARN_RE.fullmatch(value) or _PARTIAL_RE.fullmatch(value) or _PLAIN_RE.fullmatch(value)
    if match is None:
        raise _bad_name(value)
    name = match.group("name")
    derived = match.group("qualifier")
    if not NAME_RE.fullmatch(name):
        raise _bad_name(value)
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    chosen = qualifier if qualifier is not None else derived
    if chosen is not None and not QUALIFIER_RE.fullmatch(chosen):
        raise ValidationError(
            f"1 validation error detected: Value '{chosen}' at 'qualifier' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
        )
    return FunctionRef(name, chosen)


def parse_resource_arn(value: str) -> FunctionRef:
    """The function a tagging call names; it must be a full function ARN."""
    match = _ARN_RE.fullmatch(value)
    if match is None:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'resource' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
            r"function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    return FunctionRef(match.group("name"), match.group("qualifier"))


def _bad_name(value: str) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?"
        r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
    )
