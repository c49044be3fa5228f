"""The ``json`` protocol (awsJson1.0 / awsJson1.1: DynamoDB, SQS, Logs, Step Functions …).

Request: ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>`` and a JSON
object body whose keys are the input members (``locationName`` if set);
blobs are base64 text, timestamps epoch seconds.  An empty body is ``{}``.

Response: ``200`` with ``Content-Type: application/x-amz-json-<jsonVersion>``,
``x-amzn-RequestId`` and the output as one JSON object (``{}`` when empty).

Errors: the error's status and a body ``{"__type": "<namespace>#<Code>",
"message": ...}`` plus the modelled fields of the error shape.  botocore
takes the code from ``__type`` (text after the last ``#``) and the message
from ``message`` (or ``Message``; a shape whose member is spelled
``Message`` gets that key).

``awsQueryCompatible`` services (SQS) moved from the query protocol to JSON and
kept their query-era codes: ``__type`` names the error *shape*
(``com.amazonaws.sqs#QueueDoesNotExist``) while the header
``x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender`` carries
the code botocore reports as ``Error.Code`` (the shape name survives as
``Error.QueryErrorCode`` and picks the exception class).  Providers raise with
the query-era code; the shape-name spelling is accepted too.  The query-era
code of a shape is its modelled ``error.code``, or :attr:`JsonProtocol.query_error_codes`
for services whose model lost it (the SQS quirk in :mod:`cloudlet.protocols.sqs`).
"""

from __future__ import annotations

import binascii
import json
import zlib
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse, Protocol
from cloudlet.protocols.rest_json import json_to_value, value_to_json
from cloudlet.protocols.validate import validate_params

__all__ = ["DynamoDbJsonProtocol", "JsonProtocol"]

_VALIDATE_TYPE = "com.amazon.coral.validate#ValidationException"
_CORAL_SERVICE = "com.amazon.coral.service#"


def _dumps(value: Any, *, lenient: bool = False) -> bytes:
    # ``lenient``: unmodelled error fields may hold anything; write their text.
    return json.dumps(value, separators=(",", ":"), default=str if lenient else None).encode()


class JsonProtocol(Protocol):
    name = "json"

    #: Namespace written before ``#`` in ``__type`` of modelled errors ("" = bare code).
    type_namespace: str = ""
    #: Whether responses carry ``x-amz-crc32`` (DynamoDB does; botocore verifies it).
    send_crc32: bool = False
    #: Query-era error code per error shape name, where the model does not say it.
    query_error_codes: Mapping[str, str] = {}

    def __init__(self, service_model: ServiceModel) -> None:
        super().__init__(service_model)
        metadata = service_model.metadata
        self.target_prefix: str = metadata.get("targetPrefix", "")
        self.content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        self.query_compatible = "awsQueryCompatible" in metadata
        self.operations: dict[str, OperationModel] = {
            name: service_model.operation_model(name) for name in service_model.operation_names
        }
        # Error shapes by every code a provider may raise them with.
        self.error_shapes: dict[str, Shape] = {}
        self.legacy_codes: dict[str, str] = {}
        for shape in service_model.error_shapes:
            modelled_code = shape.metadata.get("error", {}).get("code")
            if not self.query_compatible:
                self.error_shapes[modelled_code or shape.name] = shape
                continue
            self.error_shapes[shape.name] = shape
            legacy = self.query_error_codes.get(shape.name) or modelled_code
            if legacy:
                self.legacy_codes[shape.name] = legacy
                self.error_shapes.setdefault(legacy, shape)

    # -- request side ---------------------------------------------------------

    def operation_for(self, request: HttpRequest) -> OperationModel:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.rpartition(".")
        operation = self.operations.get(name) if prefix == self.target_prefix else None
        if operation is None:
            raise ServiceError(
                f"Unknown operation: {target or '(no X-Amz-Target)'}",
                code="UnknownOperationException",
                status=400,
            )
        return operation

    def parse(self, request: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        operation = self.operation_for(request)
        return operation, self.parse_operation(operation, request)

    def parse_operation(self, operation: OperationModel, request: HttpRequest) -> dict[str, Any]:
        """The params of ``request`` read as ``operation`` (already known from the target)."""
        shape = operation.input_shape
        document = self._load(request.body)
        if shape is None:
            return {}
        try:
            params: dict[str, Any] = json_to_value(shape, document) or {}
        except (ValueError, TypeError, binascii.Error) as exc:
            raise self.malformed(f"Could not parse request body: {exc}") from exc
        validate_params(self.service_model, shape, params)
        return params

    def _load(self, body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.malformed(f"Could not parse request body into json: {exc}") from exc
        if not isinstance(document, dict):
            raise self.malformed("Request body must be a JSON object")
        return document

    def malformed(self, message: str) -> ServiceError:
        return ServiceError(message, code="SerializationException", status=400)

    # -- response side --------------------------------------------------------

    def serialize(self, operation: OperationModel, result: Mapping[str, Any], request_id: str) -> HttpResponse:
        shape = operation.output_shape
        document = value_to_json(shape, result) if shape is not None else {}
        return self._response(200, _dumps(document), request_id)

    def _response(self, status: int, body: bytes, request_id: str) -> HttpResponse:
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", request_id)]
        if self.send_crc32:
            headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
        return HttpResponse(status=status, headers=headers, body=body)

    def serialize_error(
        self, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> HttpResponse:
        shape = self.error_shapes.get(error.code)
        document: dict[str, Any] = {"__type": self.error_type(error, shape)}
        message_key = "message"
        fields = dict(error.fields)
        if shape is not None:
            members = shape.members
            if "Message" in members and "message" not in members:
                message_key = "Message"
            modelled = {k: v for k, v in fields.items() if k in members and k.lower() != "message"}
            document.update(value_to_json(shape, modelled))
            fields = {k: v for k, v in fields.items() if k not in members}
        document.update(fields)
        document[message_key] = error.message
        response = self._response(error.status, _dumps(document, lenient=True), request_id)
        if self.query_compatible:
            code = self.legacy_codes.get(shape.name, shape.name) if shape is not None else error.code
            fault = "Sender" if error.sender_fault else "Receiver"
            response.headers.append(("x-amzn-query-error", f"{code};{fault}"))
        response.headers.extend(error.headers.items())
        return response

    def error_type(self, error: ServiceError, shape: Shape | None) -> str:
        """The ``__type`` of an error: the namespaced code (shape name if query-compatible)."""
        if shape is not None:
            return self.type_namespace + (shape.name if self.query_compatible else error.code)
        if error.code == "ValidationException" and self.type_namespace:
            return _VALIDATE_TYPE
        return (_CORAL_SERVICE if self.type_namespace else "") + error.code


class DynamoDbJsonProtocol(JsonProtocol):
    """DynamoDB: namespaced ``__type`` and a CRC32 of every response body."""

    type_namespace = "com.amazonaws.dynamodb.v20120810#"
    send_crc32 = True
