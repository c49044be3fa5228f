"""Every operation botocore sends to our five services routes to its own service and protocol."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer

from cloudlet.edge.routing import Route, ServiceRouter
from cloudlet.protocols import load_service_model
from cloudlet.protocols.base import HttpRequest

SERVICES = ("lambda", "logs", "s3", "sqs", "sns", "dynamodb")
ROUTER = ServiceRouter(SERVICES)
CREDS = Credentials("test", "test")


_SIMPLE = {"string": "x", "integer": 1, "long": 1, "boolean": True, "blob": b"x", "list": [], "map": {}, "structure": {}}


def _body(body: object) -> bytes:
    if isinstance(body, dict):  # the query serializer returns form fields
        return urlencode(body).encode()
    if isinstance(body, str):
        return body.encode()
    return body if isinstance(body, bytes) else b""


def _request(service: str, operation: str, *, sign: bool, protocol: str | None = None) -> HttpRequest:
    model = load_service_model(service)
    op = model.operation_model(operation)
    serializer = create_serializer(protocol or model.metadata["protocol"], include_validation=False)
    required = op.input_shape.required_members if op.input_shape else []
    params = {name: _SIMPLE.get(op.input_shape.members[name].type_name, "x") for name in required}
    req = serializer.serialize_to_request(params, op)
    body = _body(req["body"])
    url = "http://127.0.0.1:4566" + req["url_path"]
    if req["query_string"]:
        url += ("&" if "?" in url else "?") + urlencode(req["query_string"], doseq=True)
    aws = AWSRequest(method=req["method"], url=url, data=body, headers=dict(req["headers"]))
    if sign:
        SigV4Auth(CREDS, model.signing_name, "us-east-1").add_auth(aws)
    prepared = aws.prepare()
    parts = urlsplit(prepared.url)
    headers = {k.lower(): v if isinstance(v, str) else v.decode() for k, v in prepared.headers.items()}
    return HttpRequest(prepared.method, parts.path, parts.query, headers, body)


CASES = [(s, op) for s in SERVICES for op in load_service_model(s).operation_names[:40]]


@pytest.mark.parametrize(("service", "operation"), CASES)
def test_signed_requests_route_to_their_service(service: str, operation: str) -> None:
    request = _request(service, operation, sign=True)
    scope_service = request.headers["authorization"].split("/")[3]
    route = ROUTER.route(request, scope_service)
    assert route == Route(service, load_service_model(service).metadata["protocol"])


@pytest.mark.parametrize(("service", "operation"), [("sqs", "SendMessage"), ("sns", "Publish"), ("dynamodb", "PutItem"), ("logs", "PutLogEvents")])
def test_unsigned_requests_route_by_target_or_action(service: str, operation: str) -> None:
    request = _request(service, operation, sign=False)
    assert ROUTER.route(request, None).service == service


def test_legacy_sqs_query_protocol_is_recognised() -> None:
    request = _request("sqs", "SendMessage", sign=True, protocol="query")
    assert ROUTER.route(request, "sqs") == Route("sqs", "query")


def test_everything_else_falls_back_to_s3() -> None:
    assert ROUTER.route(HttpRequest("GET", "/bucket/key"), None) == Route("s3", "rest-xml")


def test_unsigned_lambda_paths_route_to_lambda_not_s3() -> None:
    request = _request("lambda", "ListFunctions", sign=False)
    assert ROUTER.route(request, None) == Route("lambda", "rest-json")
    assert ROUTER.route(HttpRequest("GET", "/2015-03-31-bucket/key"), None).service == "s3"


def test_api_gateway_v1_and_v2_share_a_signing_name_and_split_by_path() -> None:
    router = ServiceRouter(("apigateway", "apigatewayv2", "s3"))
    for service, operation in (("apigateway", "GetRestApis"), ("apigatewayv2", "GetApis")):
        model = load_service_model(service)
        req = create_serializer("rest-json").serialize_to_request({}, model.operation_model(operation))
        request = HttpRequest(req["method"], req["url_path"], "", {}, b"")
        assert router.route(request, "apigateway") == Route(service, "rest-json")
