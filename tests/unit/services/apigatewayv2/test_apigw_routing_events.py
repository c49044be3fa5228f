"""HTTP API route selection, event building and response mapping (pure functions)."""

from __future__ import annotations

import base64
import json

import pytest

from cloudlet.services.apigatewayv2 import cors, events
from cloudlet.services.apigatewayv2.routing import (
    RouteKeyError,
    compile_routes,
    parse_route_key,
    select_route,
)
from cloudlet.services.apigatewayv2.throttle import Throttler

ROUTES = ["$default", "ANY /{proxy+}", "GET /items/{id}", "GET /items/special", "ANY /items/{id}",
          "GET /items/{id}/parts/{part}", "POST /items", "GET /", "GET /files/{path+}"]


def route_for(method: str, path: str) -> tuple[str, dict[str, str]]:
    patterns = compile_routes((key, key) for key in ROUTES)
    found = select_route(patterns, method, path)
    assert found is not None
    return found[0].route_key, found[1]


@pytest.mark.parametrize(
    ("method", "path", "route", "params"),
    [
        ("GET", "/items/special", "GET /items/special", {}),
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
        ("PUT", "/items/42", "ANY /items/{id}", {"id": "42"}),
        ("GET", "/items/4/parts/x", "GET /items/{id}/parts/{part}", {"id": "4", "part": "x"}),
        ("POST", "/items", "POST /items", {}),
        ("GET", "/items", "ANY /{proxy+}", {"proxy": "items"}),
        ("DELETE", "/a/b/c", "ANY /{proxy+}", {"proxy": "a/b/c"}),
        ("GET", "/files/a/b%20c.txt", "GET /files/{path+}", {"path": "a/b c.txt"}),
        ("GET", "/", "GET /", {}),
        ("POST", "/", "$default", {}),
    ],
)
def test_route_precedence(method: str, path: str, route: str, params: dict[str, str]) -> None:
    assert route_for(method, path) == (route, params)


def test_no_match_without_default() -> None:
    patterns = compile_routes([("GET /items/{id}", None)])
    assert select_route(patterns, "GET", "/items") is None
    assert select_route(patterns, "GET", "/items/1/2") is None
    assert select_route(patterns, "POST", "/items/1") is None


@pytest.mark.parametrize("key", ["GET items", "FETCH /x", "GET /{proxy+}/x", "GET"])
def test_bad_route_keys(key: str) -> None:
    with pytest.raises(RouteKeyError):
        parse_route_key(key)


def make_request(**overrides: object) -> events.GatewayRequest:
    values: dict[str, object] = {
        "method": "POST",
        "raw_path": "/prod/items/42",
        "query_string": "a=1&a=2&b=x%20y",
        "headers": {"host": "abc.execute-api.localhost:4566", "user-agent": "curl/8", "cookie": "c1=v1; c2=v2",
                    "content-type": "application/json", "x-multi": "p,q"},
        "body": b'{"k": 1}',
        "api_id": "abc",
        "account_id": "000000000000",
        "domain_name": "abc.execute-api.localhost",
        "stage": "prod",
        "request_id": "rid",
        "time_epoch_ms": 1583348638390,
    }
    values.update(overrides)
    return events.GatewayRequest(**values)  # type: ignore[arg-type]


def test_event_v2_shape() -> None:
    event = events.event_v2(make_request(), route_key="POST /items/{id}", path_parameters={"id": "42"},
                            stage_variables={"env": "test"}, authorizer={"lambda": {"user": "u"}})
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/prod/items/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "p,q"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"env": "test"}
    context = event["requestContext"]
    assert context["http"] == {"method": "POST", "path": "/prod/items/42", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "curl/8"}
    assert context["routeKey"] == "POST /items/{id}" and context["stage"] == "prod"
    assert context["time"] == "04/Mar/2020:19:03:58 +0000" and context["timeEpoch"] == 1583348638390
    assert context["domainPrefix"] == "abc" and context["requestId"] == "rid"
    assert context["authorizer"] == {"lambda": {"user": "u"}}
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False


def test_event_v2_omits_empty_parts_and_encodes_binary() -> None:
    request = make_request(query_string="", headers={"content-type": "image/png"}, body=b"\x89PNG\x00")
    event = events.event_v2(request, route_key="$default")
    for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables"):
        assert key not in event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert "body" not in events.event_v2(make_request(body=b""), route_key="$default")


def test_event_v1_shape() -> None:
    event = events.event_v1(make_request(), resource="/items/{id}", path="/items/42", resource_id="r1",
                            path_parameters={"id": "42"})
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/42" and event["httpMethod"] == "POST"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert event["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert event["multiValueHeaders"]["x-multi"] == ["p", "q"]
    assert event["stageVariables"] is None
    assert event["requestContext"]["resourcePath"] == "/items/{id}"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["requestTimeEpoch"] == 1583348638390
    empty = events.event_v1(make_request(query_string="", body=b""), resource="/", path="/", resource_id="r")
    assert empty["queryStringParameters"] is None and empty["multiValueQueryStringParameters"] is None
    assert empty["pathParameters"] is None and empty["body"] is None and empty["isBase64Encoded"] is False


def test_response_v2_full() -> None:
    payload = json.dumps({"statusCode": 201, "headers": {"x-a": "1", "content-type": "text/plain"},
                          "cookies": ["a=1; Max-Age=60", "b=2"], "body": "hi"}).encode()
    status, headers, body = events.response_v2(payload)
    assert status == 201 and body == b"hi"
    assert ("x-a", "1") in headers
    assert [v for n, v in headers if n == "set-cookie"] == ["a=1; Max-Age=60", "b=2"]


def test_response_v2_bare_values() -> None:
    assert events.response_v2(b'{"hello": "world"}') == (200, [("content-type", "application/json")],
                                                          b'{"hello": "world"}')
    assert events.response_v2(b'"Hello from Lambda!"')[2] == b"Hello from Lambda!"
    assert events.response_v2(b"[1, 2]")[0] == 200


def test_response_base64_and_errors() -> None:
    payload = json.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(),
                          "isBase64Encoded": True}).encode()
    assert events.response_v2(payload)[2] == b"\x00\x01"
    with pytest.raises(events.BadGatewayResult):
        events.response_v2(json.dumps({"statusCode": "abc"}).encode())
    with pytest.raises(events.BadGatewayResult):
        events.response_v2(json.dumps({"statusCode": 200, "body": {"not": "a string"}}).encode())
    with pytest.raises(events.BadGatewayResult):
        events.response_v1(b'{"hello": "world"}')


def test_response_v1_multi_value_headers() -> None:
    payload = json.dumps({"statusCode": 200, "headers": {"X-One": "1", "Set-Cookie": "z=0"},
                          "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": "ok"}).encode()
    status, headers, body = events.response_v1(payload)
    assert (status, body) == (200, b"ok")
    assert [v for n, v in headers if n == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("X-One", "1") in headers


def test_cors_preflight_and_actual() -> None:
    config = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
              "AllowHeaders": ["authorization", "content-type"], "ExposeHeaders": ["x-total"], "MaxAge": 300}
    request = {"origin": "https://app.example", "access-control-request-method": "POST"}
    assert cors.is_preflight("OPTIONS", request)
    headers = dict(cors.preflight_headers(config, request))
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-max-age"] == "300"
    assert cors.preflight_headers(config, {**request, "origin": "https://evil.example"}) == []
    actual = dict(cors.apply_cors(config, {"origin": "https://app.example"}, [("access-control-allow-origin", "x")]))
    assert actual["access-control-allow-origin"] == "https://app.example"
    assert actual["access-control-expose-headers"] == "x-total"
    star = {"AllowOrigins": ["*"]}
    assert dict(cors.apply_cors(star, {"origin": "http://a"}, []))["access-control-allow-origin"] == "*"


def test_token_bucket() -> None:
    now = [100.0]
    throttler = Throttler(clock=lambda: now[0])
    key = ("api", "stage", "GET /")
    assert [throttler.allow(key, 1.0, 2) for _ in range(3)] == [True, True, False]
    now[0] += 1.0
    assert throttler.allow(key, 1.0, 2) is True
    assert throttler.allow(key, 1.0, 2) is False
    assert throttler.allow(("other",), None, None) is True
