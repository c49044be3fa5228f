"""REST API (v1) traffic: ``/{stage}/{resource path}`` of a deployed API.

The apigatewayv2 ``execute-api`` plane hands REST API ids here.  A request is
matched against the resources frozen in the stage's deployment (literal path
parts before ``{param}`` before ``{proxy+}``, explicit methods before
``ANY``), checked for an API key when the method requires one, and sent to a
Lambda proxy integration with the payload format 1.0 REST event.

Errors are REST API's own: an unknown stage, resource or method is
403 ``Missing Authentication Token``; a missing or unknown API key is 403
``Forbidden``; a failed or malformed Lambda result is 502 ``Internal server error``.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote

from cloudlet.edge.auth import authenticate
from cloudlet.edge.credentials import CredentialStore
from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.apigatewayv2 import authorizers, events
from cloudlet.services.apigatewayv2.dataplane import (
    HOP_BY_HOP,
    Call,
    forward,
    lambda_function_arn,
    region_of,
    substitute_stage_variables,
)
from cloudlet.services.apigatewayv2.docstore import Doc, DocStore
from cloudlet.services.apigatewayv2.routing import RoutePattern, compile_routes, select_route
from cloudlet.services.apigatewayv2.throttle import Throttler


def message(status: int, text: str, *, key: str = "message") -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json")], json.dumps({key: text}).encode())


def unauthorized_error() -> HttpResponse:
    """What REST APIs answer when a Lambda authorizer fails or returns garbage."""
    return HttpResponse(500, [("content-type", "application/json"), ("x-amzn-errortype", "AuthorizerConfigurationException")],
                        json.dumps({"message": None}).encode())


def missing_token() -> HttpResponse:
    return message(403, "Missing Authentication Token")


def mock_response(integration: dict[str, Any]) -> HttpResponse:
    """A MOCK integration (what SAM generates for CORS ``OPTIONS`` methods): the default
    integration response's status, its literal ``'value'`` header mappings and its template as body."""
    responses: dict[str, dict[str, Any]] = integration.get("integrationResponses") or {}
    chosen = next((r for r in responses.values() if not r.get("selectionPattern")), None)
    if chosen is None:
        return HttpResponse(200, [("content-type", "application/json")], b"")
    headers: list[tuple[str, str]] = [("content-type", "application/json")]
    for target, source in (chosen.get("responseParameters") or {}).items():
        prefix = "method.response.header."
        text = str(source)
        if target.startswith(prefix) and len(text) >= 2 and text[0] == text[-1] == "'":
            headers.append((target[len(prefix) :], text[1:-1]))
    templates = chosen.get("responseTemplates") or {}
    body = str(templates.get("application/json") or "")
    return HttpResponse(int(chosen.get("statusCode", 200)), headers, body.encode())


class RestApiPlane:
    """Serves REST API stages from the documents of ``RestApiProvider``."""

    def __init__(
        self, docs: DocStore, call: Call, credentials: CredentialStore | None = None, throttler: Throttler | None = None
    ) -> None:
        self.docs = docs
        self.call = call
        self.credentials = credentials or CredentialStore()
        self.throttler = throttler or Throttler()
        self.authorizer_cache = authorizers.LambdaAuthorizerCache()
        self._compiled: dict[str, tuple[int, list[RoutePattern]]] = {}

    def _routes(self, deployment_id: str, resources: dict[str, dict[str, Any]]) -> list[RoutePattern]:
        cached = self._compiled.get(deployment_id)
        if cached is not None:
            return cached[1]
        pairs = []
        for resource_id, resource in resources.items():
            for method, spec in (resource.get("resourceMethods") or {}).items():
                pairs.append((f"{method} {resource['path']}", (resource_id, resource, spec)))
        patterns = compile_routes(pairs)
        if len(self._compiled) > 1000:
            self._compiled.clear()
        self._compiled[deployment_id] = (self.docs.version, patterns)
        return patterns

    def usage_plan_for(self, api_id: str, stage: str, value: str | None) -> Doc | None:
        """The usage plan through which an enabled API key with ``value`` may call the stage."""
        if not value:
            return None
        for key in self.docs.of_kind("apikey"):
            if key.body.get("value") != value or not key.body.get("enabled"):
                continue
            for link in self.docs.of_kind("usageplankey"):
                if link.body.get("keyId") != key.id:
                    continue
                plan = self.docs.get("usageplan", link.parent)
                if plan is None:
                    continue
                if any(s.get("apiId") == api_id and s.get("stage") == stage for s in plan.body.get("apiStages") or []):
                    return plan
        return None

    @staticmethod
    def _gateway_request(
        api_id: str, account: str, stage_name: str, resource_path: str, request: HttpRequest
    ) -> events.GatewayRequest:
        host = request.headers.get("host", "").split(":", 1)[0]
        domain = host if ".execute-api." in host else f"{api_id}.execute-api.localhost"
        return events.GatewayRequest.from_http(
            request, raw_path=resource_path, api_id=api_id, account_id=account, domain_name=domain, stage=stage_name
        )

    async def _authorize(
        self, method: dict[str, Any], authorizer_docs: dict[str, dict[str, Any]],
        gateway_request: events.GatewayRequest, request: HttpRequest, method_arn: str, *, resource: str,
        resource_id: str, path_parameters: dict[str, str], variables: dict[str, str], region: str, account: str,
    ) -> tuple[dict[str, Any] | None, HttpResponse | None]:
        """``(requestContext.authorizer, None)`` or ``(None, the refusal)`` for the method's authorization."""
        kind = method.get("authorizationType") or "NONE"
        if kind == "NONE":
            return None, None
        if kind == "AWS_IAM":
            try:
                authenticate(request, self.credentials, service="execute-api", allow_anonymous=False)
            except ServiceError as error:
                if "authorization" not in request.headers and "X-Amz-Signature" not in request.query_string:
                    return None, missing_token()
                return None, message(403, error.message)
            return None, None
        authorizer_id = str(method.get("authorizerId") or "")
        authorizer = authorizer_docs.get(authorizer_id)
        if kind != "CUSTOM" or authorizer is None or authorizer.get("type") not in ("TOKEN", "REQUEST"):
            return None, message(500, "Internal server error")
        sources = [s for s in str(authorizer.get("identitySource") or "").split(",") if s.strip()]
        identity = authorizers.identity_values(sources, gateway_request, variables, {}) if sources else []
        if identity is None:
            return None, message(401, "Unauthorized")
        if authorizer["type"] == "TOKEN":
            pattern = authorizer.get("identityValidationExpression")
            if not identity or (pattern and re.fullmatch(str(pattern), identity[0]) is None):
                return None, message(401, "Unauthorized")
            event: dict[str, Any] = {"type": "TOKEN", "methodArn": method_arn, "authorizationToken": identity[0]}
        else:
            full = events.event_v1(gateway_request, resource=resource, path=gateway_request.raw_path,
                                   resource_id=resource_id, path_parameters=path_parameters,
                                   stage_variables=variables)
            for key in ("version", "body", "isBase64Encoded"):
                full.pop(key, None)
            event = {"type": "REQUEST", "methodArn": method_arn, **full}
        ttl = float(authorizer.get("authorizerResultTtlInSeconds") or 0) if identity else 0.0
        cache_key = (authorizer_id, tuple(identity))
        result = self.authorizer_cache.get(cache_key) if ttl > 0 else None
        if result is None:
            function = lambda_function_arn(str(authorizer.get("authorizerUri", "")))
            try:
                answer = await self.call("lambda", "Invoke",
                                         {"FunctionName": function, "Payload": json.dumps(event).encode()},
                                         region=region_of(function, region), account_id=account)
                parsed = None if answer.get("FunctionError") else json.loads(answer.get("Payload") or b"null")
            except Exception:
                parsed = None
            if not isinstance(parsed, dict):
                return None, unauthorized_error()
            result = parsed
            self.authorizer_cache.put(cache_key, ttl, result)
        decision = authorizers.policy_decision(result.get("policyDocument"), method_arn)
        if decision == "deny":
            return None, message(403, "User is not authorized to access this resource with an explicit deny",
                                 key="Message")
        if decision != "allow":
            return None, message(403, "User is not authorized to access this resource", key="Message")
        context = result.get("context") if isinstance(result.get("context"), dict) else {}
        return {"principalId": result.get("principalId"), **(context or {})}, None

    @staticmethod
    def _binary_response(api: dict[str, Any], request: HttpRequest, result: dict[str, Any]) -> bool:
        """REST APIs decode a base64 body when the client's first ``Accept`` type or the
        response's content type is a binary media type of the API."""
        types = list(api.get("binaryMediaTypes") or [])
        if not types:
            return False
        accept = request.headers.get("accept", "").split(",", 1)[0]
        if events.media_type_matches(accept, types) and accept.strip() != "*/*":
            return True
        try:
            headers = json.loads(result.get("Payload") or b"{}").get("headers") or {}
        except (ValueError, AttributeError):
            return False
        content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
        return events.media_type_matches(content_type, types)

    async def _http_proxy(
        self, integration: dict[str, Any], request: HttpRequest, path_parameters: dict[str, str],
        variables: dict[str, str],
    ) -> HttpResponse:
        url = substitute_stage_variables(str(integration.get("uri", "")), variables)
        for name, value in path_parameters.items():
            url = url.replace("{" + name + "+}", quote(value, safe="/")).replace("{" + name + "}", quote(value, safe="/"))
        if request.query_string:
            url += ("&" if "?" in url else "?") + request.query_string
        method = str(integration.get("httpMethod") or "ANY")
        method = request.method if method == "ANY" else method
        headers = {k: v for k, v in request.headers.items() if k not in HOP_BY_HOP}
        timeout = float(integration.get("timeoutInMillis") or 29000) / 1000
        try:
            return await asyncio.to_thread(forward, url, method, headers, request.body, timeout)
        except TimeoutError:
            return message(504, "Endpoint request timed out")
        except (OSError, ValueError):
            return message(502, "Internal server error")

    async def handle(self, api_id: str, path: str, request: HttpRequest) -> HttpResponse:
        api = self.docs.get("restapi", api_id)
        if api is None:
            return message(404, "Not Found")
        stage_name, _, rest = path[1:].partition("/")
        stage = self.docs.get("stage", f"{api_id}/{stage_name}") if stage_name else None
        if stage is None:
            return missing_token()
        deployment = self.docs.get("deployment", str(stage.body.get("deploymentId")))
        if deployment is None:
            return missing_token()
        resources: dict[str, dict[str, Any]] = deployment.body.get("_snapshot") or {}
        resource_path = "/" + rest
        selected = select_route(self._routes(deployment.id, resources), request.method, resource_path)
        if selected is None or selected[0].is_default:
            return missing_token()
        pattern, path_parameters = selected
        resource_id, resource, method = pattern.value
        variables: dict[str, str] = dict(stage.body.get("variables") or {})
        gateway_request = self._gateway_request(api_id, api.account, stage_name, resource_path, request)
        method_arn = (f"arn:aws:execute-api:{api.region}:{api.account}:{api_id}/{stage_name}/"
                      f"{request.method}{resource_path}")
        authorizer_context, refusal = await self._authorize(
            method, deployment.body.get("_authorizers") or {}, gateway_request, request, method_arn,
            resource=str(resource["path"]), resource_id=str(resource_id), path_parameters=path_parameters,
            variables=variables, region=api.region, account=api.account,
        )
        if refusal is not None:
            return refusal
        api_key = request.headers.get("x-api-key")
        if method.get("apiKeyRequired"):
            plan = self.usage_plan_for(api_id, stage_name, api_key)
            if plan is None:
                return message(403, "Forbidden")
            throttle = plan.body.get("throttle") or {}
            if not self.throttler.allow(("plan", plan.id, str(api_key)), throttle.get("rateLimit"),
                                        throttle.get("burstLimit")):
                return message(429, "Too Many Requests")
        integration = method.get("methodIntegration") or {}
        kind = integration.get("type")
        if kind == "MOCK":
            return mock_response(integration)
        if kind == "HTTP_PROXY":
            return await self._http_proxy(integration, request, path_parameters, variables)
        if kind != "AWS_PROXY":
            return message(500, "Internal server error")
        event = events.event_v1(
            gateway_request, resource=str(resource["path"]), path=resource_path, resource_id=str(resource_id),
            path_parameters=path_parameters, stage_variables=variables, api_key=api_key if api_key else None,
            authorizer=authorizer_context,
            extra_context={"path": f"/{stage_name}{resource_path}", "resourcePath": str(resource["path"])},
            binary_media_types=list(api.body.get("binaryMediaTypes") or []),
        )
        event.pop("version", None)
        function = lambda_function_arn(substitute_stage_variables(str(integration.get("uri", "")), variables))
        try:
            result = await self.call("lambda", "Invoke", {"FunctionName": function, "Payload": json.dumps(event).encode()},
                                     region=region_of(function, api.region), account_id=api.account)
        except Exception:
            return message(502, "Internal server error")
        if result.get("FunctionError"):
            return message(502, "Internal server error")
        try:
            status, headers, body = events.response_v1(
                result.get("Payload") or b"", decode_base64=self._binary_response(api.body, request, result)
            )
        except events.BadGatewayResult:
            return message(502, "Internal server error")
        headers.append(("x-amzn-requestid", gateway_request.request_id))
        return HttpResponse(status, headers, body)
