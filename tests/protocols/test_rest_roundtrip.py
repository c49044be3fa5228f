"""Round trips between botocore and our REST protocols, over every operation.

For Lambda (``rest-json``) and S3 (``rest-xml``):

* request: botocore's serializer → the HTTP request botocore would send (path
  style, rendered by ``prepare_request_dict`` + ``AWSRequest``) → our
  ``parse`` gives back the operation and the params;
* response: our ``serialize(result)`` → botocore's parser gives back the result;
* errors: our ``serialize_error`` → botocore's parser (plus the modelled-error
  pass botocore's endpoint does) gives the code, message and modelled fields.

Where the wire cannot carry a value exactly, the expected value is normalised,
each time with the reason.  Event-stream members (S3 ``SelectObjectContent``,
Lambda ``InvokeWithResponseStream``) are never generated: their frames are not
part of these protocols; the rest of those operations is still checked.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cloudlet.errors import ServiceError, ValidationError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.protocols.rest import RestProtocol, query_dict
from cloudlet.protocols.rest_json import RestJsonProtocol
from cloudlet.protocols.s3 import S3Protocol
from cloudlet.protocols.validate import validate_params
from tests.protocols.strategies import BODY_ALPHABET, input_params, output_result, params_for

ENDPOINT = "http://localhost:4566"
REQUEST_ID = "4442587FB7D0A2F9"

# A private session: a botocore client created elsewhere in the process would
# rewrite S3's cached request URIs (virtual-host handler) in its own loader.
_SESSION = botocore.session.get_session()
MODELS: dict[str, ServiceModel] = {
    name: _SESSION.get_service_model(name) for name in ("lambda", "s3")
}
PROTOCOLS: dict[str, RestProtocol] = {
    "lambda": RestJsonProtocol(MODELS["lambda"]),
    "s3": S3Protocol(MODELS["s3"]),
}
CASES = [(service, op) for service, model in MODELS.items() for op in model.operation_names]

# The quick suite runs a few fixed (derandomised) examples per operation; set
# CLOUDLET_ROUNDTRIP_EXAMPLES=200 for a deep, randomised run.
_DEEP = os.environ.get("CLOUDLET_ROUNDTRIP_EXAMPLES")
EXAMPLES = settings(
    max_examples=int(_DEEP or 4),
    deadline=None,
    derandomize=_DEEP is None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _wire(service: str) -> str:
    return str(MODELS[service].metadata["protocol"])


def _is_event_stream(shape: Shape) -> bool:
    return bool(shape.serialization.get("eventstream"))


# -- botocore's side of the wire ----------------------------------------------


def botocore_request(
    service: str, operation: OperationModel, params: Mapping[str, Any]
) -> HttpRequest:
    """The request botocore sends for ``params`` (path-style addressing, no signing)."""
    serializer = create_serializer(_wire(service), include_validation=False)
    request_dict = serializer.serialize_to_request(dict(params), operation)
    # S3's only host prefix (WriteGetObjectResponse's RequestRoute) is also a header.
    request_dict.pop("host_prefix", None)
    request_dict.setdefault("context", {})
    prepare_request_dict(request_dict, ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): v for k, v in prepared.headers.items()}
    headers["host"] = url.netloc
    return HttpRequest(prepared.method, url.path, url.query, headers, body)


def botocore_parse(
    service: str, operation: OperationModel, response: HttpResponse, shape: Shape | None = None
) -> Any:
    """What botocore's endpoint + parser make of ``response``."""
    headers = HeadersDict()
    for name, value in response.headers:
        headers[name] = value
    streaming = operation.has_streaming_output and response.status < 300
    body: Any = (
        StreamingBody(io.BytesIO(response.body), len(response.body)) if streaming else response.body
    )
    raw = {
        "status_code": response.status,
        "headers": headers,
        "body": body,
        "context": {"operation_name": operation.name},
    }
    parser = create_parser(_wire(service))
    parsed = parser.parse(raw, shape if shape is not None else operation.output_shape)
    if shape is None and response.status >= 300:
        # botocore.endpoint._add_modeled_error_fields
        code = parsed.get("Error", {}).get("Code")
        error_shape = MODELS[service].shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(raw, error_shape))
    if service == "s3" and operation.name == "GetBucketLocation" and response.status < 300:
        # botocore's after-call handler re-reads this document by hand.
        parse_get_bucket_location(parsed, SimpleNamespace(raw=True, content=response.body))
    return parsed


# -- what survives the wire ----------------------------------------------------


def _drop_empty_flattened(shape: Shape, value: Any) -> Any:
    """XML: an empty flattened list or map writes no element at all, so it reads back absent."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not shape.metadata.get("document"):
        out = {}
        for name, item in value.items():
            member = shape.members[name]
            if (
                member.serialization.get("flattened")
                and member.type_name in ("list", "map")
                and not item
            ):
                continue
            out[name] = _drop_empty_flattened(member, item)
        return out
    if kind == "list":
        return [_drop_empty_flattened(shape.member, item) for item in value]
    if kind == "map":
        return {k: _drop_empty_flattened(shape.value, v) for k, v in value.items()}
    return value


def expected_params(
    service: str, operation: OperationModel, params: Mapping[str, Any]
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    out = dict(params)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if name in out and not out[name] and member.type_name in ("list", "map") and location:
            # botocore sends no header / query key for an empty list or map.
            del out[name]
    payload = shape.serialization.get("payload")
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "blob":
            out[payload] = out.get(payload, b"")  # no body and an empty body are one thing
        elif member.type_name == "string":
            out[payload] = out.get(payload, "")
        elif _wire(service) == "rest-json" and out.get(payload) == {}:
            del out[payload]  # botocore sends ``{}`` for an absent JSON payload too
    if _wire(service) == "rest-xml":
        out = _drop_empty_flattened(shape, out)
    return out


def expected_result(
    service: str, operation: OperationModel, result: Mapping[str, Any]
) -> dict[str, Any]:
    shape = operation.output_shape
    if shape is None:
        return {}
    out = dict(result)
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location == "headers":
            out[name] = out.get(name) or {}  # botocore always fills a header map
        elif location == "header" and member.type_name == "list" and name in out and not out[name]:
            del out[name]  # an empty header list is no header
        if _is_event_stream(member):
            out.pop(name, None)
    payload = shape.serialization.get("payload")
    if payload is not None:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            value = out.get(payload, b"")
            if member.type_name == "string" or not operation.has_streaming_output:
                # A non-streaming payload is handed back decoded as text.
                value = value.decode() if isinstance(value, bytes) else value
            out[payload] = value
        elif not _is_event_stream(member):
            out[payload] = out.get(payload) or {}  # an absent structure payload reads as {}
    if service == "s3" and operation.name == "GetBucketLocation":
        # botocore reads the root's text; an empty element (us-east-1) is None.
        out["LocationConstraint"] = out.get("LocationConstraint") or None
    if _wire(service) == "rest-xml":
        out = _drop_empty_flattened(shape, out)
    return out


def _content_length(
    operation: OperationModel, request: HttpRequest, expected: dict[str, Any]
) -> None:
    """``Content-Length`` is set by the HTTP layer, so a member bound to it always arrives."""
    shape = operation.input_shape
    for name, member in shape.members.items() if shape is not None else ():
        if (
            member.serialization.get("name", "").lower() == "content-length"
            and "content-length" in request.headers
        ):
            expected.setdefault(name, int(request.headers["content-length"]))


def _member_bound_to(shape: Shape | None, header: str) -> str | None:
    for name, member in shape.members.items() if shape is not None else ():
        if (
            member.serialization.get("location") == "header"
            and member.serialization.get("name", "").lower() == header
        ):
            return str(name)
    return None


def _readable(parsed: dict[str, Any], operation: OperationModel) -> dict[str, Any]:
    parsed.pop("ResponseMetadata", None)
    shape = operation.output_shape
    if shape is not None:
        for name, member in shape.members.items():
            if _is_event_stream(member):
                parsed.pop(name, None)  # an EventStream object; its frames are out of scope here
            elif isinstance(parsed.get(name), StreamingBody):
                parsed[name] = parsed[name].read()
    return parsed


def _sendable(service: str, operation: OperationModel, expected: dict[str, Any]) -> bool:
    """Whether params still satisfy the model once the wire has dropped what it cannot carry.

    An empty list has no form in a query string, a header or a flattened XML list,
    so a *required* one arrives as missing: that request is invalid on the wire.
    """
    if operation.input_shape is None:
        return True
    try:
        validate_params(MODELS[service], operation.input_shape, expected)
    except ValidationError:
        return False
    return True


#: S3's deprecated notification API: its shapes name a string ``Event`` and a flattened
#: list ``Events`` both ``<Event>``, so neither can round-trip; values holding either
#: are not generated for these two operations (the rest of them still is).
_LEGACY_NOTIFICATION = frozenset({"GetBucketNotification", "PutBucketNotification"})


def _has_event_members(value: Any) -> bool:
    if isinstance(value, dict):
        return (
            "Event" in value
            or "Events" in value
            or any(_has_event_members(v) for v in value.values())
        )
    if isinstance(value, list):
        return any(_has_event_members(v) for v in value)
    return False


# -- the tests -------------------------------------------------------------------


@pytest.mark.parametrize(("service", "name"), CASES)
def test_request_round_trip(service: str, name: str) -> None:
    protocol = PROTOCOLS[service]
    operation = MODELS[service].operation_model(name)

    @EXAMPLES
    @given(params=input_params(operation))
    def check(params: dict[str, Any]) -> None:
        expected = expected_params(service, operation, params)
        assume(_sendable(service, operation, expected))
        assume(not (name in _LEGACY_NOTIFICATION and _has_event_members(params)))
        request = botocore_request(service, operation, params)
        _content_length(operation, request, expected)
        match = protocol.routes.match(
            request.method, request.path, query_dict(request.query_string), request.headers
        )
        assert match is not None, f"{name}: no route for {request.method} {request.path}"
        routed = match.route.operation.name
        if routed == name:
            parsed_operation, parsed = protocol.parse(request)
            assert parsed_operation.name == name
        else:
            # Only operations that are the same on the wire may be confused (S3's deprecated
            # GetBucketLifecycle/PutBucketNotification … and their successors).
            ours, theirs = protocol.routes.routes[name], protocol.routes.routes[routed]
            assert (ours.method, ours.pattern.pattern, ours.query_literals) == (
                theirs.method,
                theirs.pattern.pattern,
                theirs.query_literals,
            ), f"{name} routed to {routed}: {request.method} {request.path}?{request.query_string}"
            parsed = protocol.parse_operation(operation, request)
        assert parsed == expected

    check()


@pytest.mark.parametrize(("service", "name"), CASES)
def test_response_round_trip(service: str, name: str) -> None:
    protocol = PROTOCOLS[service]
    operation = MODELS[service].operation_model(name)

    @EXAMPLES
    @given(result=output_result(operation))
    def check(result: dict[str, Any]) -> None:
        assume(not (name in _LEGACY_NOTIFICATION and _has_event_members(result)))
        response = protocol.serialize(operation, result, REQUEST_ID)
        parsed = _readable(botocore_parse(service, operation, response), operation)
        expected = expected_result(service, operation, result)
        content_type = _member_bound_to(operation.output_shape, "content-type")
        if (
            content_type is not None
            and content_type not in result
            and response.header("Content-Type")
        ):
            # A raw payload always goes out with a Content-Type (the default when none is set).
            expected[content_type] = response.header("Content-Type")
        assert parsed == expected

    check()


@pytest.mark.parametrize(("service", "name"), CASES)
def test_unmodelled_error_reaches_botocore(service: str, name: str) -> None:
    protocol = PROTOCOLS[service]
    operation = MODELS[service].operation_model(name)
    error = ServiceError("The thing & <the other> are missing", code="NoSuchThing", status=404)
    parsed = botocore_parse(
        service, operation, protocol.serialize_error(operation, error, REQUEST_ID)
    )
    if service == "s3" and operation.http["method"] == "HEAD":
        # HEAD responses have no body: botocore can only report the status.
        assert parsed["Error"] == {"Code": "404", "Message": "Not Found"}
    else:
        assert parsed["Error"]["Code"] == "NoSuchThing"
        assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 404


ERROR_CASES = [
    (service, shape.name) for service, model in MODELS.items() for shape in model.error_shapes
]

_MESSAGE_MEMBERS = ("message", "Message")


@pytest.mark.parametrize(("service", "shape_name"), ERROR_CASES)
def test_modelled_error_round_trip(service: str, shape_name: str) -> None:
    protocol = PROTOCOLS[service]
    model = MODELS[service]
    shape = model.shape_for(shape_name)
    code = shape.metadata.get("error", {}).get("code", shape_name)
    status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    # Any operation that is not HEAD carries the error body (see the HEAD test above).
    operation = next(
        model.operation_model(n)
        for n in model.operation_names
        if model.operation_model(n).http["method"] != "HEAD"
    )
    # Members bound to headers get header-safe values: build from the whole shape.
    fields_strategy = params_for(shape).map(
        lambda d: {k: v for k, v in d.items() if k not in _MESSAGE_MEMBERS}
    )

    @EXAMPLES
    @given(
        fields=fields_strategy,
        message=st.text(BODY_ALPHABET | st.sampled_from("\r\n\t"), max_size=40),
    )
    def check(fields: dict[str, Any], message: str) -> None:
        error = ServiceError(message, code=code, status=status, fields=fields)
        parsed = botocore_parse(
            service, operation, protocol.serialize_error(operation, error, REQUEST_ID)
        )
        assert parsed["Error"]["Code"] == code
        # An empty <Message/> has no text: botocore's S3 error parser reads it as None.
        assert (parsed["Error"]["Message"] or "") == message
        for name, value in fields.items():
            member = shape.members[name]
            if (
                member.type_name == "list"
                and member.serialization.get("location") == "header"
                and not value
            ):
                continue  # an empty header list is no header
            if member.serialization.get("flattened") and not value:
                continue  # an empty flattened list writes nothing
            assert parsed[name] == value, name

    check()
