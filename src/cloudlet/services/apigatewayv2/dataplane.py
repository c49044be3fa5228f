"""The ``execute-api`` data plane: HTTP requests to HTTP APIs (and, by delegation, REST APIs).

Reached at ``http://{apiId}.execute-api.localhost:{port}/{stage}/…`` (host
form) or ``http://127.0.0.1:{port}/_aws/execute-api/{apiId}/{stage}/…``
(path form).  The ``$default`` stage is served at the root.  Steps, in order:

1. find the API (an id the REST API provider owns goes to it) and the stage;
2. CORS preflight, answered by the gateway when the API has a CORS configuration;
3. route selection (``routing``), then throttling (route settings, else the stage's defaults);
4. authorization (``authorizers``: JWT, Lambda REQUEST, AWS_IAM);
5. the integration: Lambda proxy (payload 2.0 or 1.0) or HTTP proxy;
6. CORS headers on the response.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import quote

from cloudlet.edge.auth import authenticate
from cloudlet.edge.credentials import CredentialStore
from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.apigatewayv2 import authorizers, cors, events
from cloudlet.services.apigatewayv2.docstore import DocStore
from cloudlet.services.apigatewayv2.jwt import JwksCache
from cloudlet.services.apigatewayv2.routing import RoutePattern, compile_routes, select_route
from cloudlet.services.apigatewayv2.throttle import Throttler

PLANE = "execute-api"
PATH_PREFIX = f"/_aws/{PLANE}/"
_STAGE_VAR = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_LAMBDA_IN_URI = re.compile(r"(arn:aws[a-z-]*:lambda:[^/]+:function:[^/]+?)(?:/invocations)?$")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "content-length", "host"})

#: ``call(service, operation, params, region=, account_id=)`` — the hub's in-process client.
Call = Callable[..., Awaitable[dict[str, Any]]]


class RestApiHandler(Protocol):
    """What the REST API (v1) provider exposes to this plane."""

    def owns_api(self, api_id: str) -> bool: ...

    async def handle_execute_api(self, api_id: str, path: str, request: HttpRequest) -> HttpResponse: ...


def json_response(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("content-type", "application/json"), *(headers or [])], body)


MESSAGES = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 503: "Service Unavailable", 504: "Endpoint request timed out"}


def error_response(status: int, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return json_response(status, MESSAGES.get(status, "Error"), headers)


def split_target(request: HttpRequest, plane: str) -> tuple[str, str, str] | None:
    """``(id, path after the id, domain name)`` of a data-plane request in host or path form."""
    prefix = f"/_aws/{plane}/"
    if request.path.startswith(prefix):
        rest = request.path[len(prefix) :]
        target_id, _, path = rest.partition("/")
        return target_id, "/" + path, f"{target_id}.{plane}.localhost"
    host = request.headers.get("host", "").split(":", 1)[0]
    labels = host.split(".")
    if len(labels) >= 3 and labels[1] == plane:
        return labels[0], request.path or "/", host
    return None


def lambda_function_arn(uri: str) -> str:
    """The function a Lambda proxy ``IntegrationUri`` names (plain ARN or the ``…/invocations`` form)."""
    match = _LAMBDA_IN_URI.search(uri)
    return match.group(1) if match else uri


def substitute_stage_variables(text: str, variables: dict[str, str]) -> str:
    return _STAGE_VAR.sub(lambda m: variables.get(m.group(1), ""), text)


def region_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else default


class HttpApiPlane:
    """Serves HTTP API traffic from the documents of ``HttpApiProvider``."""

    def __init__(
        self,
        docs: DocStore,
        call: Call,
        credentials: CredentialStore,
        *,
        rest_api: Callable[[], RestApiHandler | None] = lambda: None,
        jwks: JwksCache | None = None,
        throttler: Throttler | None = None,
    ) -> None:
        self.docs = docs
        self.call = call
        self.credentials = credentials
        self.rest_api = rest_api
        self.jwks = jwks or JwksCache()
        self.throttler = throttler or Throttler()
        self.authorizer_cache = authorizers.LambdaAuthorizerCache()
        self._compiled: dict[tuple[str, str], tuple[int, list[RoutePattern]]] = {}

    def id_taken(self, api_id: str) -> bool:
        rest = self.rest_api()
        return rest is not None and rest.owns_api(api_id)

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        target = split_target(request, PLANE)
        if target is None:
            return error_response(404)
        api_id, path, domain = target
        api = self.docs.get("api", api_id)
        if api is None:
            rest = self.rest_api()
            if rest is not None and rest.owns_api(api_id):
                return await rest.handle_execute_api(api_id, path, request)
            return error_response(404)
        return await self._serve(api_id, api.body, api.region, api.account, path, domain, request)

    # -- stage and configuration ------------------------------------------------------------

    def _stage(self, api_id: str, path: str) -> tuple[dict[str, Any], str, str] | None:
        """``(stage document, stage name, path inside the stage)``."""
        first, _, rest = path[1:].partition("/")
        if first and first != "$default":
            named = self.docs.get("stage", f"{api_id}/{first}")
            if named is not None:
                return named.body, first, "/" + rest
        default = self.docs.get("stage", f"{api_id}/$default")
        if default is not None:
            return default.body, "$default", path
        return None

    def _config(self, api_id: str, stage: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]] | None:
        if stage.get("AutoDeploy"):
            return {kind: {d.id: d.body for d in self.docs.children(api_id, kind)}
                    for kind in ("route", "integration", "authorizer")}
        deployment_id = stage.get("DeploymentId")
        deployment = self.docs.get("deployment", deployment_id) if deployment_id else None
        if deployment is None:
            return None
        snapshot: dict[str, dict[str, dict[str, Any]]] | None = deployment.body.get("_snapshot")
        return snapshot

    def _routes(self, api_id: str, stage_name: str, config: dict[str, dict[str, dict[str, Any]]]) -> list[RoutePattern]:
        key = (api_id, stage_name)
        cached = self._compiled.get(key)
        if cached is not None and cached[0] == self.docs.version:
            return cached[1]
        patterns = compile_routes((body["RouteKey"], (route_id, body)) for route_id, body in config["route"].items())
        self._compiled[key] = (self.docs.version, patterns)
        return patterns

    # -- one request ------------------------------------------------------------------------

    async def _serve(
        self, api_id: str, api: dict[str, Any], region: str, account: str, path: str, domain: str,
        request: HttpRequest,
    ) -> HttpResponse:
        found = self._stage(api_id, path)
        if found is None:
            return error_response(404)
        stage, stage_name, route_path = found
        config = self._config(api_id, stage)
        if config is None:
            return error_response(404)
        cors_config = api.get("CorsConfiguration")
        if cors_config and cors.is_preflight(request.method, request.headers):
            return HttpResponse(204, cors.preflight_headers(cors_config, request.headers), b"")
        gateway_request = events.GatewayRequest.from_http(
            request, raw_path=path, api_id=api_id, account_id=account, domain_name=domain, stage=stage_name
        )
        response = await self._route(api_id, region, account, stage, stage_name, route_path, config, gateway_request,
                                     request)
        response.headers.append(("apigw-requestid", gateway_request.request_id))
        if cors_config:
            response.headers = cors.apply_cors(cors_config, request.headers, response.headers)
        return response

    async def _route(
        self, api_id: str, region: str, account: str, stage: dict[str, Any], stage_name: str, route_path: str,
        config: dict[str, dict[str, dict[str, Any]]], gateway_request: events.GatewayRequest, request: HttpRequest,
    ) -> HttpResponse:
        selected = select_route(self._routes(api_id, stage_name, config), request.method, route_path)
        if selected is None:
            return error_response(404)
        pattern, path_parameters = selected
        route_id: str = pattern.value[0]
        route: dict[str, Any] = pattern.value[1]
        route_key = pattern.route_key
        settings = (stage.get("RouteSettings") or {}).get(route_key) or stage.get("DefaultRouteSettings") or {}
        if not self.throttler.allow((api_id, stage_name, route_key), settings.get("ThrottlingRateLimit"),
                                    settings.get("ThrottlingBurstLimit")):
            return error_response(429)
        stage_variables: dict[str, str] = dict(stage.get("StageVariables") or {})
        method_path = route_path.lstrip("/")
        route_arn = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage_name}/{request.method}/{method_path}"
        outcome = await self._authorize(route, config, gateway_request, request, region, account,
                                        route_key=route_key, route_arn=route_arn, resource_path=pattern.path,
                                        path_parameters=path_parameters, stage_variables=stage_variables)
        if outcome.status is not None:
            return error_response(outcome.status, outcome.headers)
        target = str(route.get("Target") or "")
        integration = config["integration"].get(target.split("/", 1)[1]) if target.startswith("integrations/") else None
        if integration is None:
            return error_response(404)
        if integration.get("IntegrationType") == "HTTP_PROXY":
            return await self._http_proxy(integration, gateway_request, path_parameters, stage_variables)
        if integration.get("IntegrationType") != "AWS_PROXY":
            return error_response(500)
        if integration.get("PayloadFormatVersion") == "1.0":
            event = events.event_v1(gateway_request, resource=pattern.path or "$default", path=gateway_request.raw_path,
                                    resource_id=route_id, path_parameters=path_parameters,
                                    stage_variables=stage_variables, authorizer=outcome.context,
                                    extra_context={"routeKey": route_key})
        else:
            event = events.event_v2(gateway_request, route_key=route_key, path_parameters=path_parameters,
                                    stage_variables=stage_variables, authorizer=outcome.context)
        uri = substitute_stage_variables(str(integration.get("IntegrationUri", "")), stage_variables)
        try:
            payload, error = await self.invoke(lambda_function_arn(uri), json.dumps(event).encode(), region, account)
        except Exception:
            return error_response(500)
        if error:
            return error_response(500)
        mapper = events.response_v1 if integration.get("PayloadFormatVersion") == "1.0" else events.response_v2
        try:
            status, headers, body = mapper(payload)
        except events.BadGatewayResult:
            return error_response(500)
        return HttpResponse(status, headers, body)

    async def invoke(self, function: str, payload: bytes, region: str, account: str) -> tuple[bytes, str | None]:
        result = await self.call(
            "lambda", "Invoke", {"FunctionName": function, "Payload": payload},
            region=region_of(function, region), account_id=account,
        )
        data = result.get("Payload") or b""
        return (data if isinstance(data, bytes) else bytes(data)), result.get("FunctionError")

    async def _authorize(
        self, route: dict[str, Any], config: dict[str, dict[str, dict[str, Any]]],
        gateway_request: events.GatewayRequest, request: HttpRequest, region: str, account: str, *,
        route_key: str, route_arn: str, resource_path: str, path_parameters: dict[str, str],
        stage_variables: dict[str, str],
    ) -> authorizers.AuthOutcome:
        kind = route.get("AuthorizationType") or "NONE"
        if kind == "NONE":
            return authorizers.AuthOutcome()
        if kind == "AWS_IAM":
            return self._iam(request)
        authorizer_id = str(route.get("AuthorizerId") or "")
        authorizer = config["authorizer"].get(authorizer_id)
        if authorizer is None:
            return authorizers.AuthOutcome(status=500)
        if kind == "JWT":
            return await authorizers.check_jwt(authorizer, route, gateway_request, self.jwks, stage_variables)

        async def invoke(uri: str, payload: bytes) -> tuple[bytes, str | None]:
            return await self.invoke(lambda_function_arn(uri), payload, region, account)

        outcome = await authorizers.check_lambda(
            authorizer_id, authorizer, gateway_request, invoke, self.authorizer_cache, route_key=route_key,
            route_arn=route_arn, resource_path=resource_path, path_parameters=path_parameters,
            stage_variables=stage_variables,
        )
        if outcome.context is not None:
            outcome.context = {"lambda": outcome.context}
        return outcome

    def _iam(self, request: HttpRequest) -> authorizers.AuthOutcome:
        try:
            principal = authenticate(request, self.credentials, service=PLANE, allow_anonymous=False)
        except ServiceError:
            return authorizers.AuthOutcome(status=403)
        return authorizers.AuthOutcome(context={"iam": iam_context(principal.access_key_id, principal.account_id)})

    # -- HTTP proxy -------------------------------------------------------------------------------

    async def _http_proxy(
        self, integration: dict[str, Any], gateway_request: events.GatewayRequest, path_parameters: dict[str, str],
        stage_variables: dict[str, str],
    ) -> HttpResponse:
        url = substitute_stage_variables(str(integration.get("IntegrationUri", "")), stage_variables)
        for name, value in path_parameters.items():
            url = url.replace("{" + name + "+}", quote(value, safe="/")).replace("{" + name + "}", quote(value, safe="/"))
        if gateway_request.query_string:
            url += ("&" if "?" in url else "?") + gateway_request.query_string
        method = str(integration.get("IntegrationMethod") or "ANY")
        method = gateway_request.method if method == "ANY" else method
        headers = {k: v for k, v in events.forwarded_headers(gateway_request).items() if k not in HOP_BY_HOP}
        timeout = float(integration.get("TimeoutInMillis") or 30000) / 1000
        try:
            return await asyncio.to_thread(forward, url, method, headers, gateway_request.body, timeout)
        except TimeoutError:
            return error_response(504)
        except (OSError, ValueError):
            return error_response(503)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def forward(url: str, method: str, headers: dict[str, str], body: bytes, timeout: float) -> HttpResponse:
    request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, response_headers, data = response.status, response.headers.items(), response.read()
    except urllib.error.HTTPError as error:
        status, response_headers, data = error.code, error.headers.items(), error.read()
    kept = [(k.lower(), v) for k, v in response_headers if k.lower() not in HOP_BY_HOP]
    return HttpResponse(status, kept, data)


def iam_context(access_key_id: str | None, account_id: str) -> dict[str, Any]:
    return {
        "accessKey": access_key_id,
        "accountId": account_id,
        "callerId": access_key_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{account_id}:root",
        "userId": account_id,
    }
