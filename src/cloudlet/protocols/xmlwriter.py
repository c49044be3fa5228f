"""Writing shape-described values as XML, the way botocore's XML parsers read them.

Used by the ``query`` protocol (and usable by any XML protocol).  The layout
rules mirror ``botocore.parsers.BaseXMLResponseParser``:

* a structure member is an element named by its ``locationName`` (else the
  member name); a *flattened* list whose member has a ``locationName`` uses
  that name instead;
* a list is ``<Name><member>…</member>…</Name>`` (the inner name is the list
  member's ``locationName``, default ``member``); flattened, it is the
  repeated ``<Name>…</Name>`` elements themselves;
* a map is ``<Name><entry><key>…</key><value>…</value></entry>…</Name>``
  (key/value names from their ``locationName``); flattened, each entry is a
  ``<Name>`` element holding the key and value;
* scalars are text: booleans ``true``/``false``, floats ``NaN``/``Infinity``,
  timestamps ISO 8601 (unless the member says otherwise), blobs base64.

Speed: for each structure shape the members to write, their element names and
a writer per member (scalars: one append of tag + text + tag) are worked out
once, on first use, so writing a response walks a short tuple instead of
the model.

Text escaping: ``&``, ``<`` and ``>`` are escaped; ``\\r`` is written as
``&#13;`` so an XML parser does not normalise it to ``\\n``.  Characters XML
1.0 cannot carry at all (C0 controls other than tab/newline/CR, surrogates,
U+FFFE/U+FFFF) are not accepted by botocore's parser (expat) even as character
references, so they are replaced with U+FFFD: the document stays readable
instead of failing the client.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import Shape

from cloudlet.protocols.rest import format_timestamp

__all__ = ["escape_text", "member_tag", "scalar_text", "write_members", "write_value"]

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape_text(text: str) -> str:
    """``text`` safe for an XML 1.0 element (see the module docstring)."""
    if _INVALID_XML.search(text):
        text = _INVALID_XML.sub("\ufffd", text)
    # Chained replace beats str.translate with a dict (per-character look-ups) on the short
    # texts responses are made of; "&" goes first so the entities added later stay intact.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def member_tag(member: Shape, member_name: str) -> str:
    """The element name of a structure member (botocore's ``_member_key_name``)."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        inner = member.member.serialization.get("name")
        if inner:
            return str(inner)
    return str(member.serialization.get("name", member_name))


def scalar_text(shape: Shape, value: Any) -> str:
    """The element text of a scalar value."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return repr(number)
    if kind in ("integer", "long", "short", "byte"):
        return str(int(value))
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", "iso8601")))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    return escape_text(str(value))


#: Writes one member value into ``out`` (the member's shape and element name are bound in).
_Writer = Callable[[list[str], Any], None]
#: Per structure shape, built on first use: its body members in model order, with their writers.
#: Shapes live as long as their (cached) service model; the cap only guards against models
#: loaded again and again (tests), whose old shapes would otherwise be kept alive here.
_PLANS: dict[Shape, tuple[tuple[str, _Writer], ...]] = {}
_MAX_PLANS = 4096


def _member_writer(member: Shape, tag: str) -> _Writer:
    """The fastest writer that appends what ``write_value(out, tag, member, value)`` appends."""
    kind = member.type_name
    head, tail = f"<{tag}>", f"</{tag}>"
    if kind == "string":
        return lambda out, value: out.append(head + escape_text(str(value)) + tail)
    if kind == "boolean":
        true, false = f"{head}true{tail}", f"{head}false{tail}"
        return lambda out, value: out.append(true if value else false)
    if kind in ("integer", "long", "short", "byte"):
        return lambda out, value: out.append(f"{head}{int(value)}{tail}")
    if kind == "structure":

        def structure(out: list[str], value: Any) -> None:
            out.append(head)
            write_members(out, member, value)
            out.append(tail)

        return structure
    return lambda out, value: write_value(out, tag, member, value)


def _plan(shape: Shape) -> tuple[tuple[str, _Writer], ...]:
    plan = _PLANS.get(shape)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = _PLANS[shape] = tuple(
            (name, _member_writer(member, member_tag(member, name)))
            for name, member in shape.members.items()
            if not member.serialization.get("location")
        )
    return plan


def write_members(out: list[str], shape: Shape, values: Mapping[str, Any]) -> None:
    """Append the members of structure ``shape`` present in ``values`` (model order)."""
    for name, write in _plan(shape):
        value = values.get(name)
        if value is not None:
            write(out, value)


def write_value(out: list[str], tag: str, shape: Shape, value: Any) -> None:
    """Append ``value`` as the element(s) named ``tag``."""
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{tag}>")
        write_members(out, shape, value)
        out.append(f"</{tag}>")
    elif kind == "list":
        member: Shape = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                write_value(out, tag, member, item)
        else:
            inner = member.serialization.get("name", "member")
            out.append(f"<{tag}>")
            for item in value:
                write_value(out, inner, member, item)
            out.append(f"</{tag}>")
    elif kind == "map":
        key_shape: Shape = shape.key
        value_shape: Shape = shape.value
        key_tag = key_shape.serialization.get("name") or "key"
        value_tag = value_shape.serialization.get("name") or "value"
        flattened = bool(shape.serialization.get("flattened"))
        if not flattened:
            out.append(f"<{tag}>")
        entry_tag = tag if flattened else "entry"
        for key, item in value.items():
            out.append(f"<{entry_tag}>")
            write_value(out, key_tag, key_shape, key)
            if item is not None:
                write_value(out, value_tag, value_shape, item)
            out.append(f"</{entry_tag}>")
        if not flattened:
            out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{scalar_text(shape, value)}</{tag}>")
