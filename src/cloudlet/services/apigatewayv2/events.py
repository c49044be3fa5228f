"""Request → Lambda event, and Lambda result → HTTP response (AWS_FACTS.md §2.6, §2.7).

Pure functions shared by HTTP APIs (payload 2.0 and 1.0), REST APIs (1.0,
``apigateway`` package) and Lambda function URLs (2.0 shape):

* ``event_v2`` / ``event_v1`` build the event a proxy integration receives;
* ``response_v2`` / ``response_v1`` turn the function's result into
  ``(status, headers, body)`` or raise ``BadGatewayResult`` when the result
  is malformed (the caller answers with its service's own error).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cloudlet.protocols.base import HttpRequest

#: Content types whose bodies reach the function as text; anything else is base64.
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
               "application/x-www-form-urlencoded", "application/yaml", "application/x-yaml",
               "application/xhtml", "application/ld+json", "application/graphql")


class BadGatewayResult(ValueError):
    """The function answered with something the gateway cannot turn into a response."""


@dataclass
class GatewayRequest:
    """What a proxy integration sees of one HTTP request."""

    method: str
    #: The path the client requested, percent-encoded, without any ``/_aws/…`` prefix (incl. the stage).
    raw_path: str
    query_string: str
    #: Lower-case names, duplicates comma-joined (as the edge reads them).
    headers: dict[str, str]
    body: bytes
    api_id: str
    account_id: str
    domain_name: str
    stage: str = "$default"
    source_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time_epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    @classmethod
    def from_http(
        cls, request: HttpRequest, *, raw_path: str, api_id: str, account_id: str, domain_name: str,
        stage: str = "$default",
    ) -> GatewayRequest:
        """The request as the edge received it; the caller is the first ``X-Forwarded-For`` address."""
        return cls(
            method=request.method, raw_path=raw_path, query_string=request.query_string,
            headers=dict(request.headers), body=request.body, api_id=api_id, account_id=account_id,
            domain_name=domain_name, stage=stage,
            source_ip=request.headers.get("x-forwarded-for", "127.0.0.1").split(",")[0].strip(),
        )  # fmt: skip

    @property
    def domain_prefix(self) -> str:
        return self.domain_name.split(".", 1)[0]

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")

    @property
    def request_time(self) -> str:
        return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.time_epoch_ms / 1000))


# -- request pieces ------------------------------------------------------------------


def split_cookies(headers: dict[str, str]) -> list[str]:
    raw = headers.get("cookie", "")
    return [c.strip() for c in raw.replace(",", ";").split(";") if c.strip()] if raw else []


def query_multi(query_string: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    return params


def is_text(headers: dict[str, str], body: bytes) -> bool:
    content_type = headers.get("content-type", "").lower()
    if not content_type:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return any(content_type.startswith(t) for t in _TEXT_TYPES) or "+json" in content_type or "+xml" in content_type


def media_type_matches(content_type: str, patterns: list[str]) -> bool:
    """Whether ``content_type`` matches one of ``patterns`` (``image/png``, ``image/*``, ``*/*``)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return False
    kind = media.split("/", 1)[0]
    for pattern in patterns:
        wanted = pattern.strip().lower().replace("~1", "/")
        if wanted in (media, "*/*") or wanted == f"{kind}/*":
            return True
    return False


def encode_body(headers: dict[str, str], body: bytes) -> tuple[str, bool]:
    """``(body text, isBase64Encoded)`` as the gateway hands a request body to a function."""
    if is_text(headers, body):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def forwarded_headers(request: GatewayRequest) -> dict[str, str]:
    """The client's headers plus the ``x-forwarded-*`` ones the gateway adds."""
    headers = dict(request.headers)
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    host = request.headers.get("host", "")
    headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[1] if ":" in host else "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{request.time_epoch_ms // 1000:08x}-{uuid.uuid4().hex[:24]}")
    return headers


# -- payload 2.0 -----------------------------------------------------------------------


def event_v2(
    request: GatewayRequest,
    *,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event (HTTP APIs, function URLs)."""
    headers = forwarded_headers(request)
    cookies = split_cookies(headers)
    headers.pop("cookie", None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = query_multi(request.query_string)
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if stage_variables:
        event["stageVariables"] = dict(stage_variables)
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.api_id,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    context.update(
        {
            "domainName": request.domain_name,
            "domainPrefix": request.domain_prefix,
            "http": {
                "method": request.method,
                "path": request.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.user_agent,
            },
            "requestId": request.request_id,
            "routeKey": route_key,
            "stage": request.stage,
            "time": request.request_time,
            "timeEpoch": request.time_epoch_ms,
        }
    )
    event["requestContext"] = context
    if request.body:
        event["body"], event["isBase64Encoded"] = encode_body(headers, request.body)
    else:
        event["isBase64Encoded"] = False
    return event


# -- payload 1.0 -----------------------------------------------------------------------


def event_v1(
    request: GatewayRequest,
    *,
    resource: str,
    path: str,
    resource_id: str,
    path_parameters: dict[str, str] | None = None,
    stage_variables: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    api_key: str | None = None,
    extra_context: dict[str, Any] | None = None,
    binary_media_types: list[str] | None = None,
) -> dict[str, Any]:
    """The payload format 1.0 event (REST API proxy integrations, HTTP APIs with 1.0).

    ``resource`` is the matched route/resource path (``/items/{id}``), ``path``
    the request path as the function sees it; absent maps are ``null``.
    ``binary_media_types`` (REST APIs): only bodies of those content types are
    base64-encoded, every other body is passed as text, as REST APIs do.
    """
    headers = forwarded_headers(request)
    multi_headers = {name: [v.strip() for v in value.split(",")] if name != "cookie" else [value]
                     for name, value in headers.items()}
    query = query_multi(request.query_string)
    identity = {
        "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
        "sourceIp": request.source_ip, "principalOrgId": None, "accessKey": None,
        "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None, "userArn": None,
        "userAgent": request.user_agent, "user": None, "apiKey": api_key, "apiKeyId": None, "clientCert": None,
    }
    request_path = request.raw_path
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.api_id,
        "domainName": request.domain_name,
        "domainPrefix": request.domain_prefix,
        "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
        "httpMethod": request.method,
        "identity": identity,
        "path": request_path,
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": request.request_time,
        "requestTimeEpoch": request.time_epoch_ms,
        "resourceId": resource_id,
        "resourcePath": resource,
        "stage": request.stage,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    if extra_context:
        context.update(extra_context)
    body: str | None = None
    encoded = False
    if request.body:
        if binary_media_types is None:
            body, encoded = encode_body(headers, request.body)
        elif media_type_matches(headers.get("content-type", ""), binary_media_types):
            body, encoded = base64.b64encode(request.body).decode("ascii"), True
        else:
            body = request.body.decode("utf-8", "replace")
    return {
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": context,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": dict(stage_variables) if stage_variables else None,
        "body": body,
        "isBase64Encoded": encoded,
    }


# -- responses ---------------------------------------------------------------------------

Headers = list[tuple[str, str]]


def _status(value: Any) -> int:
    if isinstance(value, bool):
        raise BadGatewayResult("statusCode must be an integer")
    if isinstance(value, int):
        status = value
    elif isinstance(value, str) and value.strip().isdigit():
        status = int(value)
    else:
        raise BadGatewayResult("statusCode must be an integer")
    if not 100 <= status <= 599:
        raise BadGatewayResult("statusCode out of range")
    return status


def _body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadGatewayResult("body must be a string")
    if result.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=False)
        except ValueError as exc:
            raise BadGatewayResult("body is not valid base64") from exc
    return body.encode("utf-8")


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise BadGatewayResult("header values must be strings")


def _headers_map(result: dict[str, Any]) -> Headers:
    out: Headers = []
    headers = result.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise BadGatewayResult("headers must be an object")
        out.extend((str(k), _header_value(v)) for k, v in headers.items())
    return out


def response_v2(payload: bytes) -> tuple[int, Headers, bytes]:
    """Payload format 2.0 response mapping (HTTP APIs, function URLs)."""
    try:
        result = json.loads(payload) if payload.strip() else None
    except ValueError:
        # Not JSON: AWS passes the text through as an application/json body.
        return 200, [("content-type", "application/json")], payload
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result.encode("utf-8") if isinstance(result, str) else payload
        return 200, [("content-type", "application/json")], body
    status = _status(result["statusCode"])
    headers = _headers_map(result)
    cookies = result.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list):
            raise BadGatewayResult("cookies must be a list")
        headers.extend(("set-cookie", _header_value(c)) for c in cookies)
    return status, headers, _body(result)


def response_v1(payload: bytes, *, decode_base64: bool = True) -> tuple[int, Headers, bytes]:
    """Payload format 1.0 response mapping (REST API proxy, HTTP APIs with 1.0).

    A REST API returns a base64 body decoded only when the media type is one of its
    binary media types (``decode_base64``); otherwise the client gets the base64 text.
    """
    try:
        result = json.loads(payload)
    except ValueError as exc:
        raise BadGatewayResult("result is not JSON") from exc
    if not isinstance(result, dict) or "statusCode" not in result:
        raise BadGatewayResult("statusCode is required")
    status = _status(result["statusCode"])
    headers = _headers_map(result)
    multi = result.get("multiValueHeaders")
    if multi is not None:
        if not isinstance(multi, dict):
            raise BadGatewayResult("multiValueHeaders must be an object")
        single = {name.lower() for name, _ in headers}
        for name, values in multi.items():
            if not isinstance(values, list):
                raise BadGatewayResult("multiValueHeaders values must be lists")
            if name.lower() in single:
                headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
            headers.extend((str(name), _header_value(v)) for v in values)
    if not decode_base64:
        result = {**result, "isBase64Encoded": False}
    return status, headers, _body(result)
