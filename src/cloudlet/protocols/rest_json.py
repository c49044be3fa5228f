"""The ``rest-json`` protocol (Lambda, API Gateway, Scheduler …).

Routing, labels, query strings, headers and the status code come from
:mod:`cloudlet.protocols.rest`; this module only knows the body:

* members with no HTTP binding travel as one JSON object, named by their
  ``locationName``; blobs are base64 text, timestamps epoch seconds unless the
  member says ``iso8601``/``rfc822``;
* a ``payload`` member replaces that object: a blob or string payload is the raw
  body (Lambda ``Invoke``'s ``Payload``), a structure payload is the JSON of
  that one member;
* errors carry the code in ``x-amzn-ErrorType`` and a body
  ``{"Type": "User"|"Service", "message": ...}`` plus the error's modelled
  fields.  Lambda's error shapes spell the message member ``message`` or
  ``Message``; the member name of the modelled shape is used, so botocore's
  generic parser (which reads either) and its modelled parser both find it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, Shape

from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpResponse
from cloudlet.protocols.rest import RestProtocol, format_timestamp, parse_timestamp

__all__ = ["RestJsonProtocol", "json_to_value", "value_to_json"]

_INTEGERS = ("integer", "long", "short", "byte")
_FLOATS = ("float", "double")
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Malformed(ValueError):
    pass


def json_to_value(shape: Shape, value: Any) -> Any:
    """Turn decoded JSON into the Python value ``shape`` describes (bytes, datetimes …)."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            raise _Malformed(f"expected an object for {shape.name}")
        return _json_structure(shape, value, top_level=False)
    if kind == "list":
        if not isinstance(value, list):
            raise _Malformed(f"expected an array for {shape.name}")
        return [json_to_value(shape.member, item) for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise _Malformed(f"expected an object for {shape.name}")
        return {k: json_to_value(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        if not isinstance(value, str):
            raise _Malformed(f"expected base64 text for {shape.name}")
        return base64.b64decode(value, validate=True)
    if kind == "timestamp":
        return parse_timestamp(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _Malformed(f"expected a boolean for {shape.name}")
        return value
    if kind in _INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Malformed(f"expected an integer for {shape.name}")
        return value
    if kind in _FLOATS:
        if isinstance(value, str) and value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Malformed(f"expected a number for {shape.name}")
        return value
    if kind == "string" and not isinstance(value, str):
        raise _Malformed(f"expected a string for {shape.name}")
    return value


def _json_structure(shape: Shape, value: Mapping[str, Any], *, top_level: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        if top_level and "location" in member.serialization:
            continue
        raw = value.get(member.serialization.get("name", name))
        if raw is not None:
            out[name] = json_to_value(member, raw)
    return out


def value_to_json(shape: Shape, value: Any) -> Any:
    """The JSON-ready form of ``value`` (the inverse of :func:`json_to_value`)."""
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        return {
            member.serialization.get("name", name): value_to_json(member, v)
            for name, v in value.items()
            if v is not None and (member := shape.members.get(name)) is not None
        }
    if kind == "list":
        return [value_to_json(shape.member, item) for item in value]
    if kind == "map":
        return {k: value_to_json(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "unixtimestamp"))
    if kind in _FLOATS:
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return value
    return value


def _dumps(value: Any, *, lenient: bool = False) -> bytes:
    # ``lenient``: unmodelled error fields may hold anything; write their text.
    return json.dumps(value, separators=(",", ":"), default=str if lenient else None).encode()


class RestJsonProtocol(RestProtocol):
    name = "rest-json"
    content_type = "application/json"
    body_timestamp_format = "unixtimestamp"

    # -- request bodies -------------------------------------------------------

    def _load(self, body: bytes) -> Any:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.malformed_body(f"Could not parse request body into json: {exc}") from exc

    def malformed_body(self, message: str) -> ServiceError:
        return ServiceError(message, code="SerializationException", status=400)

    def parse_body_members(self, shape: Shape, body: bytes) -> dict[str, Any]:
        document = self._load(body)
        if document is None:
            return {}
        if not isinstance(document, dict):
            raise self.malformed_body("The request body must be a JSON object")
        try:
            return _json_structure(shape, document, top_level=True)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.malformed_body(str(exc)) from exc

    def parse_payload_structure(self, member: Shape, body: bytes) -> Any:
        document = self._load(body)
        try:
            value = json_to_value(member, document)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.malformed_body(str(exc)) from exc
        # botocore sends ``{}`` for an absent structure payload; treat it as absent.
        return value or None

    # -- response bodies ------------------------------------------------------

    def serialize_body_members(self, operation: OperationModel, shape: Shape, values: Mapping[str, Any]) -> bytes:
        return _dumps(value_to_json(shape, values))

    def serialize_payload_structure(self, name: str, member: Shape, value: Any) -> bytes:
        return _dumps(value_to_json(member, value))

    # -- errors ---------------------------------------------------------------

    def write_error_body(
        self,
        operation: OperationModel | None,
        error: ServiceError,
        shape: Shape | None,
        fields: Mapping[str, Any],
        request_id: str,
        response: HttpResponse,
    ) -> None:
        message_key = "message"
        document: dict[str, Any] = {"Type": "User" if error.sender_fault else "Service"}
        if shape is not None:
            if "Message" in shape.members and "message" not in shape.members:
                message_key = "Message"
            modelled = {k: v for k, v in fields.items() if k in shape.members}
            document.update(value_to_json(shape, modelled))
        document.update({k: v for k, v in fields.items() if shape is None or k not in shape.members})
        document[message_key] = error.message
        response.headers.append(("x-amzn-ErrorType", error.code))
        response.headers.append(("Content-Type", self.content_type))
        response.body = _dumps(document, lenient=True)
