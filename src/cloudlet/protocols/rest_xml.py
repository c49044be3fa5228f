"""The ``rest-xml`` protocol (S3, Route 53, CloudFront).

Routing, labels, query strings, headers and the status code come from
:mod:`cloudlet.protocols.rest`; this module only knows the XML bodies.

Reading (the inverse of botocore's ``RestXMLSerializer``):

* a structure payload (S3 ``CreateBucketConfiguration``, ``Tagging`` …) is one
  document whose root element is that member; an input without a payload keeps
  its unbound members as children of one root element; a blob or string
  payload is the raw body (handled by :class:`~cloudlet.protocols.rest.RestProtocol`);
* elements are named by ``locationName``; namespaces are ignored (every
  element and attribute is addressed by its local name);
* a list is an element holding one child per item (named by the item's
  ``locationName``, else ``member``) or, when ``flattened``, the items repeated
  in place under the list's own name; maps hold ``<entry><key/><value/></entry>``
  (flattened: the entries repeated in place); key and value element names come
  from their ``locationName``;
* ``xmlAttribute`` members are attributes of their structure's element (S3's
  ``<Grantee xsi:type="CanonicalUser">``);
* scalars are text: booleans ``true``/``false``, blobs base64, timestamps ISO
  8601 unless the member says otherwise.

Documents are parsed with expat directly and refuse any DOCTYPE or entity
declaration, so neither entity expansion bombs nor external entities can reach
us; anything that is not well-formed is the service's "malformed body" error.

Writing (the inverse of botocore's ``RestXMLParser``) is a small string writer
with the same rules.  Output documents get a root element named after the
operation (services may override names, see ``output_root_name``), the
service's XML namespace, and an XML declaration.  Errors are::

    <ErrorResponse xmlns="..."><Error><Type>Sender</Type><Code>..</Code>
      <Message>..</Message>..modelled fields..</Error><RequestId>..</RequestId></ErrorResponse>
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree import ElementTree as ET
from xml.parsers import expat

from botocore.model import OperationModel, Shape

from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpResponse
from cloudlet.protocols.rest import RestProtocol, format_timestamp, parse_timestamp

__all__ = ["MalformedXml", "RestXmlProtocol", "element_to_value", "escape_text", "parse_xml"]

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
_INTEGERS = ("integer", "long", "short", "byte")
_FLOATS = ("float", "double")


class MalformedXml(ValueError):
    """The body is not a well-formed, DTD-free XML document of the expected shape."""


# -- reading -------------------------------------------------------------------


def _local(name: str) -> str:
    # expat with namespace processing reports "uri<sep>local"; keep the local part.
    return name.rsplit(" ", 1)[-1]


def _refuse(*_args: Any) -> None:
    raise MalformedXml("DOCTYPE and entity declarations are not allowed")


def _refuse_external(
    context: str, base: str | None, system_id: str | None, public_id: str | None
) -> int:
    raise MalformedXml("external entities are not allowed")


def parse_xml(body: bytes) -> ET.Element:
    """Parse ``body`` into an element tree with namespace-free tag and attribute names.

    DOCTYPE and entity declarations raise :class:`MalformedXml`; so does
    anything that is not well-formed.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = lambda name, attrs: builder.start(
        _local(name), {_local(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_local(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise MalformedXml(str(exc)) from exc
    except AssertionError as exc:  # TreeBuilder: no root element
        raise MalformedXml("the document has no root element") from exc


def _text_value(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    if kind == "boolean":
        lowered = text.strip()
        if lowered not in ("true", "false"):
            raise MalformedXml(f"{text!r} is not a boolean")
        return lowered == "true"
    if kind in _INTEGERS:
        return int(text.strip())
    if kind in _FLOATS:
        return float(text.strip())
    if kind == "timestamp":
        return parse_timestamp(text.strip())
    if kind == "blob":
        return base64.b64decode("".join(text.split()), validate=True)
    return text


def _group(element: ET.Element) -> dict[str, list[ET.Element]]:
    children: dict[str, list[ET.Element]] = {}
    for child in element:
        children.setdefault(child.tag, []).append(child)
    return children


def _map_entries(shape: Shape, entries: list[ET.Element]) -> dict[str, Any]:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    out: dict[str, Any] = {}
    for entry in entries:
        parts = _group(entry)
        keys, values = parts.get(key_name), parts.get(value_name)
        if not keys:
            raise MalformedXml(f"a map entry of {shape.name} has no <{key_name}>")
        key = element_to_value(shape.key, keys[0])
        out[key] = element_to_value(shape.value, values[0]) if values else None
    return out


def structure_from_element(
    shape: Shape, element: ET.Element, *, top_level: bool = False
) -> dict[str, Any]:
    """The members of ``shape`` found in ``element`` (HTTP-bound ones skipped at the top)."""
    children = _group(element)
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        serialization = member.serialization
        if top_level and "location" in serialization:
            continue
        wire = serialization.get("name", name)
        if serialization.get("xmlAttribute"):
            local = wire.split(":")[-1]
            if local in element.attrib:
                out[name] = _text_value(member, element.attrib[local])
            continue
        if serialization.get("flattened") and member.type_name == "list":
            # botocore's serializer repeats the items under the member's name; its
            # parser reads them under the item's name.  Accept either.
            nodes = children.get(wire) or children.get(
                member.member.serialization.get("name", wire)
            )
            if nodes:
                out[name] = [element_to_value(member.member, node) for node in nodes]
        elif serialization.get("flattened") and member.type_name == "map":
            nodes = children.get(wire)
            if nodes:
                out[name] = _map_entries(member, nodes)
        else:
            nodes = children.get(wire)
            if nodes:
                out[name] = element_to_value(member, nodes[0])
    return out


def element_to_value(shape: Shape, element: ET.Element) -> Any:
    """The Python value (``bytes``, ``datetime`` …) ``shape`` describes, read from ``element``."""
    kind = shape.type_name
    if kind == "structure":
        return structure_from_element(shape, element)
    if kind == "list":
        return [element_to_value(shape.member, child) for child in element]
    if kind == "map":
        return _map_entries(shape, list(element))
    return _text_value(shape, element.text or "")


# -- writing -------------------------------------------------------------------


def escape_text(text: str) -> str:
    """Escape character data; ``\\r`` is written as a reference so parsers keep it."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _escape_attribute(text: str) -> str:
    return escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _scalar_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return str(format_timestamp(value, shape.serialization.get("timestampFormat", "iso8601")))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind in _FLOATS:
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return repr(number)
    return str(value)


def namespace_attributes(serialization: Mapping[str, Any]) -> dict[str, str]:
    """``xmlns``/``xmlns:prefix`` attributes for a shape reference's ``xmlNamespace``."""
    namespace = serialization.get("xmlNamespace")
    if namespace is None:
        return {}
    if isinstance(namespace, str):
        return {"xmlns": namespace}
    prefix = namespace.get("prefix")
    return {f"xmlns:{prefix}" if prefix else "xmlns": namespace["uri"]}


#: Writes one member value (the member's shape and element name are bound in).
_MemberWriter = Callable[["XmlWriter", Any], None]
#: Per structure shape: member name -> (bound to an HTTP location?, writer); None for attributes.
_PLANS: dict[Shape, dict[str, tuple[bool, _MemberWriter] | None]] = {}
#: Shapes live as long as their cached service model; the cap only guards against models loaded
#: again and again (tests), whose old shapes would otherwise be kept alive here.
_MAX_PLANS = 4096


def _scalar_writer(shape: Shape, tag: str) -> _MemberWriter | None:
    """A writer for a scalar member without namespace attributes: one append per value."""
    if namespace_attributes(shape.serialization):
        return None
    kind = shape.type_name
    head, tail = f"<{tag}>", f"</{tag}>"
    if kind == "boolean":
        true, false = f"{head}true{tail}", f"{head}false{tail}"
        return lambda writer, value: writer.parts.append(true if value else false)
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "iso8601")
        return lambda writer, value: writer.parts.append(
            head + escape_text(str(format_timestamp(value, fmt))) + tail)
    if kind in ("string", *_INTEGERS):
        return lambda writer, value: writer.parts.append(head + escape_text(str(value)) + tail)
    return None  # floats and blobs: the general path


def _member_writer(member: Shape, tag: str) -> _MemberWriter:
    """The fastest writer that gives the bytes ``XmlWriter.value(member, value, tag)`` gives."""
    scalar = _scalar_writer(member, tag)
    if scalar is not None:
        return scalar
    if member.type_name == "list" and member.serialization.get("flattened"):
        item: Shape = member.member
        item_tag = item.serialization.get("name", tag)
        plain = (item.type_name == "structure" and not namespace_attributes(item.serialization)
                 and not any(m.serialization.get("xmlAttribute") for m in item.members.values()))
        if plain:
            head, tail = f"<{item_tag}>", f"</{item_tag}>"

            def structures(writer: XmlWriter, value: Any) -> None:
                for element in value:
                    writer.parts.append(head)
                    writer.members(item, element)
                    writer.parts.append(tail)

            return structures
        item_scalar = _scalar_writer(item, item_tag)
        if item_scalar is not None:
            write_item = item_scalar

            def scalars(writer: XmlWriter, value: Any) -> None:
                for element in value:
                    write_item(writer, element)

            return scalars
    return lambda writer, value: writer.value(member, value, tag)


def _member_plan(shape: Shape) -> dict[str, tuple[bool, _MemberWriter] | None]:
    """Built once per structure shape (models are loaded once, so this stays small)."""
    plan = _PLANS.get(shape)
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        plan = {}
        for name, member in shape.members.items():
            serialization = member.serialization
            if serialization.get("xmlAttribute"):
                plan[name] = None
            else:
                plan[name] = ("location" in serialization,
                              _member_writer(member, serialization.get("name", name)))
        _PLANS[shape] = plan
    return plan


class XmlWriter:
    """Writes values shaped by botocore models as XML text."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self) -> str:
        return "".join(self.parts)

    def open(self, name: str, attributes: Mapping[str, str] | None = None) -> None:
        attrs = "".join(f' {k}="{_escape_attribute(v)}"' for k, v in (attributes or {}).items())
        self.parts.append(f"<{name}{attrs}>")

    def close(self, name: str) -> None:
        self.parts.append(f"</{name}>")

    def leaf(self, name: str, text: str, attributes: Mapping[str, str] | None = None) -> None:
        self.open(name, attributes)
        self.parts.append(escape_text(text))
        self.close(name)

    def value(
        self, shape: Shape, value: Any, name: str, attributes: Mapping[str, str] | None = None
    ) -> None:
        """Write ``value`` as the element ``name`` (lists/maps may write several when flattened)."""
        attrs = dict(attributes or {})
        attrs.update(namespace_attributes(shape.serialization))
        kind = shape.type_name
        if kind == "structure":
            self.structure(shape, value, name, attrs)
        elif kind == "list":
            self._list(shape, value, name, attrs)
        elif kind == "map":
            self._map(shape, value, name, attrs)
        else:
            self.leaf(name, _scalar_text(shape, value), attrs)

    def structure(
        self, shape: Shape, value: Mapping[str, Any], name: str, attributes: dict[str, str]
    ) -> None:
        self.open_structure(shape, value, name, attributes)
        self.members(shape, value)
        self.close(name)

    def open_structure(
        self, shape: Shape, value: Mapping[str, Any], name: str, attributes: dict[str, str]
    ) -> None:
        for member_name, member_value in value.items():
            member = shape.members.get(member_name)
            if (
                member is None
                or member_value is None
                or not member.serialization.get("xmlAttribute")
            ):
                continue
            wire = member.serialization.get("name", member_name)
            prefix = wire.split(":")[0] if ":" in wire else None
            if prefix == "xsi" and "xmlns:xsi" not in attributes:
                attributes["xmlns:xsi"] = XSI_NAMESPACE
            attributes[wire] = _scalar_text(member, member_value)
        self.open(name, attributes)

    def members(self, shape: Shape, value: Mapping[str, Any], *, skip_bound: bool = False) -> None:
        plan = _member_plan(shape)
        for member_name, member_value in value.items():
            if member_value is None:
                continue
            entry = plan.get(member_name)
            if entry is None or (skip_bound and entry[0]):
                continue
            entry[1](self, member_value)

    def _list(self, shape: Shape, value: Any, name: str, attributes: dict[str, str]) -> None:
        item = shape.member
        if shape.serialization.get("flattened"):
            # botocore's parser finds flattened items under the item's own name when it has one.
            item_name = item.serialization.get("name", name)
            for element in value:
                self.value(item, element, item_name)
            return
        self.open(name, attributes)
        item_name = item.serialization.get("name", "member")
        for element in value:
            self.value(item, element, item_name)
        self.close(name)

    def _map(
        self, shape: Shape, value: Mapping[str, Any], name: str, attributes: dict[str, str]
    ) -> None:
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        flattened = bool(shape.serialization.get("flattened"))
        if not flattened:
            self.open(name, attributes)
        for key, item in value.items():
            entry = name if flattened else "entry"
            self.open(entry)
            self.value(shape.key, key, key_name)
            if item is not None:
                self.value(shape.value, item, value_name)
            self.close(entry)
        if not flattened:
            self.close(name)


# -- the protocol --------------------------------------------------------------


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"
    content_type = "application/xml"
    body_timestamp_format = "iso8601"

    @property
    def xml_namespace(self) -> str | None:
        """The namespace of output and error documents (from the service metadata, if any)."""
        namespace = self.service_model.metadata.get("xmlNamespace")
        if isinstance(namespace, Mapping):
            return str(namespace.get("uri"))
        return namespace if isinstance(namespace, str) else None

    # -- request bodies -------------------------------------------------------

    def malformed_body(self, message: str) -> ServiceError:
        return ServiceError(message, code="MalformedXML", status=400)

    def _document(self, body: bytes) -> ET.Element | None:
        if not body.strip():
            return None
        try:
            return parse_xml(body)
        except MalformedXml as exc:
            raise self.malformed_body(self.malformed_message(str(exc))) from exc

    def malformed_message(self, detail: str) -> str:
        return f"The XML you provided was not well-formed: {detail}"

    def parse_body_members(self, shape: Shape, body: bytes) -> dict[str, Any]:
        root = self._document(body)
        if root is None:
            return {}
        try:
            return structure_from_element(shape, root, top_level=True)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.malformed_body(self.malformed_message(str(exc))) from exc

    def parse_payload_structure(self, member: Shape, body: bytes) -> Any:
        # botocore sends an empty body for an absent payload; ``<Tagging/>`` is an empty one.
        root = self._document(body)
        if root is None:
            return None
        try:
            return element_to_value(member, root)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.malformed_body(self.malformed_message(str(exc))) from exc

    # -- response bodies ------------------------------------------------------

    def output_root_name(self, operation: OperationModel, shape: Shape) -> str:
        """The root element of an output document without a payload member."""
        return str(shape.serialization.get("name") or f"{operation.name}Result")

    def _root_attributes(self, serialization: Mapping[str, Any]) -> dict[str, str]:
        attributes = namespace_attributes(serialization)
        if not any(k == "xmlns" for k in attributes) and self.xml_namespace:
            attributes["xmlns"] = self.xml_namespace
        return attributes

    def serialize_body_members(
        self, operation: OperationModel, shape: Shape, values: Mapping[str, Any]
    ) -> bytes:
        writer = XmlWriter()
        root = self.output_root_name(operation, shape)
        attributes = self._root_attributes(shape.serialization)
        writer.open_structure(shape, values, root, attributes)
        writer.members(shape, values, skip_bound=True)
        writer.close(root)
        return (XML_DECLARATION + writer.text()).encode()

    def serialize_payload_structure(self, name: str, member: Shape, value: Any) -> bytes:
        writer = XmlWriter()
        root = member.serialization.get("name", name)
        writer.value(member, value, root, self._root_attributes(member.serialization))
        return (XML_DECLARATION + writer.text()).encode()

    # -- errors ---------------------------------------------------------------

    def error_fields(
        self, writer: XmlWriter, shape: Shape | None, fields: Mapping[str, Any]
    ) -> None:
        """Write an error's extra fields: modelled ones by their shape, others as text."""
        for key, value in fields.items():
            if value is None or key in ("Code", "Message", "RequestId", "HostId", "Type"):
                continue
            member = shape.members.get(key) if shape is not None else None
            if member is not None:
                writer.value(member, value, member.serialization.get("name", key))
            else:
                writer.leaf(key, str(value))

    def write_error_body(
        self,
        operation: OperationModel | None,
        error: ServiceError,
        shape: Shape | None,
        fields: Mapping[str, Any],
        request_id: str,
        response: HttpResponse,
    ) -> None:
        writer = XmlWriter()
        namespace = self.xml_namespace
        writer.open("ErrorResponse", {"xmlns": namespace} if namespace else None)
        writer.open("Error")
        writer.leaf("Type", "Sender" if error.sender_fault else "Receiver")
        writer.leaf("Code", error.code)
        writer.leaf("Message", error.message)
        self.error_fields(writer, shape, fields)
        writer.close("Error")
        writer.leaf("RequestId", request_id)
        writer.close("ErrorResponse")
        response.headers.append(("Content-Type", self.content_type))
        response.body = (XML_DECLARATION + writer.text()).encode()
