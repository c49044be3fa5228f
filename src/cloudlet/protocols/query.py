"""The ``query`` protocol (SNS, STS, IAM; SQS's legacy wire).

Request: form fields, in a ``POST`` body (``application/x-www-form-urlencoded``)
or the query string of a ``GET`` (both are read; the body wins).  ``Action``
names the operation, ``Version`` the API version.  Members are flattened
into dotted keys, the inverse of ``botocore.serialize.QuerySerializer``:

* a structure member is ``<Prefix>.<locationName or member name>``;
* a list is ``<Prefix>.member.N`` (the list member's ``locationName``
  replaces ``member``) counted from 1; a *flattened* list is ``<Prefix>.N``,
  its last name segment replaced by the member's ``locationName`` if it has
  one; an empty list is the bare key with an empty value;
* a map is ``<Prefix>.entry.N.key`` / ``.value`` (``<Prefix>.N.key`` when
  flattened; ``key``/``value`` renamed by their ``locationName``);
* scalars are text: ``true``/``false``, numbers, ISO 8601 timestamps, base64 blobs.

Lists and maps are read from index 1 up to the first missing index.  The
parsed params are validated against the model (``validate_params``).

Response: ``text/xml``::

    <{Op}Response xmlns="{xmlNamespace}">
      <{resultWrapper}>…output members…</{resultWrapper}>
      <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
    </{Op}Response>

(members directly under the root when the output has no ``resultWrapper``,
as botocore reads them).  Errors::

    <ErrorResponse xmlns="…"><Error><Type>Sender|Receiver</Type><Code>…</Code>
      <Message>…</Message>…modelled fields…</Error><RequestId>…</RequestId></ErrorResponse>

The code written is the one a query client expects: a provider may raise
with the error *shape* name (``NotFoundException``); it is written as the
shape's modelled ``error.code`` (``NotFound``), or as
:attr:`QueryProtocol.query_error_codes` says for services whose model lost
those codes (SQS, :mod:`cloudlet.protocols.sqs`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse, Protocol
from cloudlet.protocols.rest import parse_timestamp
from cloudlet.protocols.validate import validate_params, validation_error_code
from cloudlet.protocols.xmlwriter import escape_text, write_members

__all__ = ["Form", "QueryProtocol"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_INTEGERS = ("integer", "long", "short", "byte")


class Form:
    """Decoded form fields with O(1) "is anything under this prefix?" look-ups."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        self.prefixes: set[str] = set()
        for key, value in items:
            self.values.setdefault(key, value)
            end = key.find(".")
            while end >= 0:
                self.prefixes.add(key[:end])
                end = key.find(".", end + 1)
            self.prefixes.add(key)

    def has(self, prefix: str) -> bool:
        return prefix in self.prefixes


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Absent:
    pass


ABSENT: Any = _Absent()


def read_value(form: Form, shape: Shape, prefix: str) -> Any:
    """The value of ``shape`` stored under ``prefix``, or ``ABSENT``."""
    kind = shape.type_name
    if kind == "list":
        # A flattened list may be keyed by its member's name, not ``prefix``.
        return _read_list(form, shape, prefix)
    if not form.has(prefix):
        return ABSENT
    if kind == "structure":
        return read_structure(form, shape, prefix) or ABSENT
    if kind == "map":
        return _read_map(form, shape, prefix)
    text = form.values.get(prefix)
    if text is None:
        return ABSENT
    return _scalar(shape, text)


def read_structure(form: Form, shape: Shape, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = read_value(form, member, _join(prefix, member.serialization.get("name", name)))
        if value is not ABSENT:
            out[name] = value
    return out


def _read_list(form: Form, shape: Shape, prefix: str) -> Any:
    member: Shape = shape.member
    if shape.serialization.get("flattened"):
        list_prefix = prefix
        if member.serialization.get("name"):
            list_prefix = _join(prefix.rpartition(".")[0], member.serialization["name"])
    else:
        list_prefix = f"{prefix}.{member.serialization.get('name', 'member')}"
    items: list[Any] = []
    index = 1
    while form.has(key := f"{list_prefix}.{index}"):
        value = read_value(form, member, key)
        items.append(None if value is ABSENT else value)
        index += 1
    if not items and form.values.get(prefix) != "":
        return ABSENT
    return items


def _read_map(form: Form, shape: Shape, prefix: str) -> Any:
    key_shape: Shape = shape.key
    value_shape: Shape = shape.value
    entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
    key_name = key_shape.serialization.get("name", "key")
    value_name = value_shape.serialization.get("name", "value")
    out: dict[Any, Any] = {}
    index = 1
    while form.has(entry := f"{entries}.{index}"):
        key = read_value(form, key_shape, f"{entry}.{key_name}")
        value = read_value(form, value_shape, f"{entry}.{value_name}")
        if key is not ABSENT:
            out[key] = None if value is ABSENT else value
        index += 1
    return out if out else ABSENT


def _scalar(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    if kind in _INTEGERS:
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
    return text


class QueryProtocol(Protocol):
    name = "query"

    #: Query-era error code per error shape name, where the model does not say it.
    query_error_codes: Mapping[str, str] = {}

    def __init__(self, service_model: ServiceModel) -> None:
        super().__init__(service_model)
        metadata = service_model.metadata
        self.api_version: str = metadata.get("apiVersion", "")
        self.namespace: str = metadata.get("xmlNamespace", "")
        self.operations: dict[str, OperationModel] = {
            name: service_model.operation_model(name) for name in service_model.operation_names
        }
        # Error shapes by the code written on the wire and by shape name.
        self.error_shapes: dict[str, Shape] = {}
        self.wire_codes: dict[str, str] = {}
        for shape in service_model.error_shapes:
            code = self.query_error_codes.get(shape.name) or shape.metadata.get("error", {}).get("code") or shape.name
            self.error_shapes[code] = shape
            self.error_shapes.setdefault(shape.name, shape)
            self.wire_codes[shape.name] = code

    # -- request side ---------------------------------------------------------

    def form(self, request: HttpRequest) -> Form:
        items = request.query_items()
        content_type = request.headers.get("content-type", "")
        if request.body and (not content_type or content_type.startswith(FORM_CONTENT_TYPE)):
            try:
                body = request.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ServiceError("The request body is not UTF-8", code="MalformedQueryString") from exc
            # Body fields come first so they win over the query string.
            items = parse_qsl(body, keep_blank_values=True) + items
        return Form(items)

    def parse(self, request: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        form = self.form(request)
        action = form.values.get("Action")
        if not action:
            raise ServiceError("Missing Action", code="MissingAction", status=400)
        operation = self.operations.get(action)
        if operation is None:
            raise ServiceError(
                f"The action {action} is not valid for this endpoint.", code="InvalidAction", status=400
            )
        return operation, self.parse_form(operation, form, request)

    def parse_form(self, operation: OperationModel, form: Form, request: HttpRequest) -> dict[str, Any]:
        """The params of ``operation`` read from ``form`` (hook for service quirks)."""
        shape = operation.input_shape
        if shape is None:
            return {}
        try:
            params = read_structure(form, shape, "")
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ServiceError(
                f"Invalid parameter value: {exc}", code=validation_error_code(self.service_model), status=400
            ) from exc
        validate_params(self.service_model, shape, params)
        return params

    # -- response side --------------------------------------------------------

    def _root_open(self, tag: str) -> str:
        return f'<{tag} xmlns="{escape_text(self.namespace)}">' if self.namespace else f"<{tag}>"

    def serialize(self, operation: OperationModel, result: Mapping[str, Any], request_id: str) -> HttpResponse:
        root = f"{operation.name}Response"
        out = ['<?xml version="1.0" encoding="UTF-8"?>', self._root_open(root)]
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            if wrapper:
                out.append(f"<{wrapper}>")
            write_members(out, shape, result)
            if wrapper:
                out.append(f"</{wrapper}>")
        out.append(f"<ResponseMetadata><RequestId>{escape_text(request_id)}</RequestId></ResponseMetadata>")
        out.append(f"</{root}>")
        return self._response(200, out, request_id)

    def _response(self, status: int, out: list[str], request_id: str) -> HttpResponse:
        return HttpResponse(
            status=status,
            headers=[("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
            body="".join(out).encode("utf-8"),
        )

    def wire_code(self, error: ServiceError) -> str:
        return self.wire_codes.get(error.code, error.code)

    def serialize_error(
        self, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = self.error_shapes.get(error.code)
        fault = "Sender" if error.sender_fault else "Receiver"
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            self._root_open("ErrorResponse"),
            f"<Error><Type>{fault}</Type><Code>{escape_text(self.wire_code(error))}</Code>",
            f"<Message>{escape_text(error.message)}</Message>",
        ]
        fields = {k: v for k, v in error.fields.items() if k.lower() != "message" and v is not None}
        if shape is not None:
            members = shape.members
            write_members(out, shape, {k: v for k, v in fields.items() if k in members})
            fields = {k: v for k, v in fields.items() if k not in members}
        for key, value in fields.items():
            if not key.isidentifier():
                continue  # not a usable element name
            out.append(f"<{key}>{escape_text(str(value))}</{key}>")
        out.append(f"</Error><RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>")
        response = self._response(error.status, out, request_id)
        response.headers.extend(error.headers.items())
        return response
