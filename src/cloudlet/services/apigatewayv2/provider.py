"""API Gateway HTTP APIs (apigatewayv2) control plane: APIs, routes, integrations, stages,
deployments and authorizers, as documents in ``DocStore``.

The data plane (``dataplane.HttpApiPlane``) reads the same documents from
memory; a stage with ``AutoDeploy`` serves the live configuration, any other
stage the snapshot its deployment took.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cloudlet.context import RequestContext
from cloudlet.services.apigatewayv2.docstore import Doc, DocStore, new_id
from cloudlet.services.apigatewayv2.errors import BadRequest, Conflict, NotFound
from cloudlet.services.apigatewayv2.routing import RouteKeyError, parse_route_key

if TYPE_CHECKING:
    from cloudlet.services.apigatewayv2.dataplane import HttpApiPlane

API, ROUTE, INTEGRATION, STAGE, DEPLOYMENT, AUTHORIZER = "api", "route", "integration", "stage", "deployment", "authorizer"

_API_FIELDS = ("ApiKeySelectionExpression", "CorsConfiguration", "Description", "DisableSchemaValidation",
               "DisableExecuteApiEndpoint", "IpAddressType", "Name", "RouteSelectionExpression", "Version")
_ROUTE_FIELDS = ("ApiKeyRequired", "AuthorizationScopes", "AuthorizationType", "AuthorizerId",
                 "ModelSelectionExpression", "OperationName", "RequestModels", "RequestParameters", "RouteKey",
                 "RouteResponseSelectionExpression", "Target")
_INTEGRATION_FIELDS = ("ConnectionId", "ConnectionType", "ContentHandlingStrategy", "CredentialsArn", "Description",
                       "IntegrationMethod", "IntegrationSubtype", "IntegrationType", "IntegrationUri",
                       "PassthroughBehavior", "PayloadFormatVersion", "RequestParameters", "RequestTemplates",
                       "ResponseParameters", "TemplateSelectionExpression", "TimeoutInMillis", "TlsConfig")
_STAGE_FIELDS = ("AccessLogSettings", "AutoDeploy", "ClientCertificateId", "DefaultRouteSettings", "DeploymentId",
                 "Description", "RouteSettings", "StageVariables")
_AUTHORIZER_FIELDS = ("AuthorizerCredentialsArn", "AuthorizerPayloadFormatVersion", "AuthorizerResultTtlInSeconds",
                      "AuthorizerType", "AuthorizerUri", "EnableSimpleResponses", "IdentitySource",
                      "IdentityValidationExpression", "JwtConfiguration", "Name")


def _pick(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: params[n] for n in names if params.get(n) is not None}


def _page(items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    start = int(params.get("NextToken") or 0)
    size = int(params.get("MaxResults") or 100)
    out: dict[str, Any] = {"Items": items[start : start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return out


def endpoint_port(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return str(parts.port or 80)


class HttpApiProvider:
    """The apigatewayv2 provider (HTTP APIs)."""

    service_name = "apigatewayv2"

    def __init__(self, docs: DocStore, plane: HttpApiPlane | None = None) -> None:
        self.docs = docs
        self.plane = plane

    async def start(self) -> None:
        await self.docs.load()

    async def stop(self) -> None:
        return None

    # -- helpers ------------------------------------------------------------------------

    def _api(self, ctx: RequestContext, api_id: str) -> Doc:
        doc = self.docs.get(API, api_id)
        if doc is None or doc.region != ctx.region or doc.account != ctx.account_id:
            raise NotFound(f"Invalid API identifier specified {ctx.account_id}:{api_id}")
        return doc

    def _child(self, ctx: RequestContext, kind: str, api_id: str, child_id: str, label: str) -> Doc:
        self._api(ctx, api_id)
        doc = self.docs.get(kind, child_id)
        if doc is None or doc.parent != api_id:
            raise NotFound(f"Invalid {label} identifier specified {ctx.account_id}:{api_id}:{child_id}")
        return doc

    async def _save(self, ctx: RequestContext, kind: str, doc_id: str, parent: str, body: dict[str, Any]) -> Doc:
        doc = Doc(kind, doc_id, parent, ctx.region, ctx.account_id, body)
        return await self.docs.put(doc)

    @staticmethod
    def _api_view(doc: Doc, ctx: RequestContext) -> dict[str, Any]:
        body = dict(doc.body)
        body["ApiId"] = doc.id
        body["ApiEndpoint"] = f"http://{doc.id}.execute-api.localhost:{endpoint_port(ctx.endpoint)}"
        return body

    def _new_id(self, length: int = 10) -> str:
        while True:
            candidate = new_id(length)
            if not self.docs.exists(candidate) and (self.plane is None or not self.plane.id_taken(candidate)):
                return candidate

    async def _touch_auto_deploy(self, ctx: RequestContext, api_id: str) -> None:
        """AutoDeploy stages get a fresh deployment record on every change (their traffic reads live config)."""
        for stage in self.docs.children(api_id, STAGE):
            if stage.body.get("AutoDeploy"):
                deployment = await self._deploy(ctx, api_id, None, auto=True)
                stage.body["DeploymentId"] = deployment["DeploymentId"]
                stage.body["LastUpdatedDate"] = time.time()
                await self.docs.put(stage)

    # -- APIs ---------------------------------------------------------------------------

    async def CreateApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        protocol = params.get("ProtocolType")
        if protocol not in ("HTTP", "WEBSOCKET"):
            raise BadRequest(f"Invalid protocol type: {protocol}")
        api_id = self._new_id()
        body = _pick(params, _API_FIELDS)
        body.update(
            ProtocolType=protocol,
            CreatedDate=time.time(),
            ApiKeySelectionExpression=params.get("ApiKeySelectionExpression") or "$request.header.x-api-key",
            RouteSelectionExpression=params.get("RouteSelectionExpression") or "${request.method} ${request.path}",
            DisableExecuteApiEndpoint=bool(params.get("DisableExecuteApiEndpoint", False)),
            Tags=params.get("Tags") or {},
        )
        doc = await self._save(ctx, API, api_id, "", body)
        if params.get("Target"):
            await self._quick_create(ctx, api_id, params["Target"], params.get("RouteKey") or "$default")
        return self._api_view(doc, ctx)

    async def _quick_create(self, ctx: RequestContext, api_id: str, target: str, route_key: str) -> None:
        try:
            parse_route_key(route_key)
        except RouteKeyError as exc:
            raise BadRequest(str(exc)) from exc
        integration: dict[str, Any]
        if target.startswith("arn:"):
            integration = {"IntegrationType": "AWS_PROXY", "IntegrationMethod": "POST", "PayloadFormatVersion": "2.0"}
        else:
            integration = {"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "ANY", "PayloadFormatVersion": "1.0"}
        integration.update(IntegrationUri=target, ConnectionType="INTERNET", TimeoutInMillis=30000)
        integration["ApiGatewayManaged"] = True
        integration_id = self._new_id(7)
        await self._save(ctx, INTEGRATION, integration_id, api_id, integration)
        route = {"RouteKey": route_key, "Target": f"integrations/{integration_id}", "AuthorizationType": "NONE",
                 "ApiKeyRequired": False, "ApiGatewayManaged": True}
        await self._save(ctx, ROUTE, self._new_id(7), api_id, route)
        await self._save(ctx, STAGE, f"{api_id}/$default", api_id,
                         {"StageName": "$default", "AutoDeploy": True, "ApiGatewayManaged": True,
                          "CreatedDate": time.time(), "LastUpdatedDate": time.time(),
                          "DefaultRouteSettings": {"DetailedMetricsEnabled": False}, "RouteSettings": {},
                          "StageVariables": {}, "Tags": {}})
        await self._touch_auto_deploy(ctx, api_id)

    async def GetApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._api_view(self._api(ctx, params["ApiId"]), ctx)

    async def GetApis(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = sorted(self.docs.all(API, ctx.region, ctx.account_id), key=lambda d: d.body.get("CreatedDate", 0))
        return _page([self._api_view(d, ctx) for d in docs], params)

    async def UpdateApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._api(ctx, params["ApiId"])
        doc.body.update(_pick(params, _API_FIELDS))
        await self.docs.put(doc)
        if params.get("Target"):
            await self._quick_create(ctx, doc.id, params["Target"], params.get("RouteKey") or "$default")
        return self._api_view(doc, ctx)

    async def DeleteApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._api(ctx, params["ApiId"])
        await self.docs.delete(API, doc.id)
        return {}

    async def DeleteCorsConfiguration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._api(ctx, params["ApiId"])
        doc.body.pop("CorsConfiguration", None)
        await self.docs.put(doc)
        return {}

    # -- routes -------------------------------------------------------------------------

    def _check_route(self, api_id: str, body: dict[str, Any], route_id: str | None) -> None:
        try:
            parse_route_key(body.get("RouteKey", ""))
        except RouteKeyError as exc:
            raise BadRequest(str(exc)) from exc
        for other in self.docs.children(api_id, ROUTE):
            if other.id != route_id and other.body.get("RouteKey") == body["RouteKey"]:
                raise Conflict(f"Route with key {body['RouteKey']} already exists for this API")
        target = body.get("Target")
        if target and not (target.startswith("integrations/") and self.docs.get(INTEGRATION, target.split("/", 1)[1])):
            raise BadRequest(f"Invalid integration target specified: {target}")
        authorizer_id = body.get("AuthorizerId")
        if authorizer_id and self.docs.get(AUTHORIZER, authorizer_id) is None:
            raise BadRequest(f"Invalid authorizer identifier specified: {authorizer_id}")

    @staticmethod
    def _route_view(doc: Doc) -> dict[str, Any]:
        return {**doc.body, "RouteId": doc.id}

    async def CreateRoute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["ApiId"]).id
        body = _pick(params, _ROUTE_FIELDS)
        body.setdefault("AuthorizationType", "NONE")
        body.setdefault("ApiKeyRequired", False)
        self._check_route(api_id, body, None)
        doc = await self._save(ctx, ROUTE, self._new_id(7), api_id, body)
        await self._touch_auto_deploy(ctx, api_id)
        return self._route_view(doc)

    async def GetRoute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._route_view(self._child(ctx, ROUTE, params["ApiId"], params["RouteId"], "Route"))

    async def GetRoutes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["ApiId"])
        return _page([self._route_view(d) for d in self.docs.children(params["ApiId"], ROUTE)], params)

    async def UpdateRoute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, ROUTE, params["ApiId"], params["RouteId"], "Route")
        body = {**doc.body, **_pick(params, _ROUTE_FIELDS)}
        self._check_route(doc.parent, body, doc.id)
        doc.body = body
        await self.docs.put(doc)
        await self._touch_auto_deploy(ctx, doc.parent)
        return self._route_view(doc)

    async def DeleteRoute(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, ROUTE, params["ApiId"], params["RouteId"], "Route")
        await self.docs.delete(ROUTE, doc.id)
        await self._touch_auto_deploy(ctx, doc.parent)
        return {}

    # -- integrations -------------------------------------------------------------------

    @staticmethod
    def _check_integration(body: dict[str, Any]) -> None:
        kind = body.get("IntegrationType")
        if kind not in ("AWS_PROXY", "HTTP_PROXY", "AWS", "HTTP", "MOCK"):
            raise BadRequest(f"Invalid integration type: {kind}")
        if kind == "AWS_PROXY" and body.get("PayloadFormatVersion") not in ("1.0", "2.0"):
            raise BadRequest("PayloadFormatVersion is required for AWS_PROXY integrations and must be 1.0 or 2.0")
        if kind in ("AWS_PROXY", "HTTP_PROXY") and not body.get("IntegrationUri"):
            raise BadRequest("IntegrationUri is required")
        if kind == "HTTP_PROXY" and body.get("PayloadFormatVersion", "1.0") != "1.0":
            raise BadRequest("HTTP_PROXY integrations support payload format version 1.0 only")

    @staticmethod
    def _integration_view(doc: Doc) -> dict[str, Any]:
        return {**doc.body, "IntegrationId": doc.id}

    async def CreateIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["ApiId"]).id
        body = _pick(params, _INTEGRATION_FIELDS)
        if body.get("IntegrationType") == "HTTP_PROXY":
            body.setdefault("PayloadFormatVersion", "1.0")
            body.setdefault("IntegrationMethod", "ANY")
        if body.get("IntegrationType") == "AWS_PROXY":
            body.setdefault("IntegrationMethod", "POST")
        body.setdefault("ConnectionType", "INTERNET")
        body.setdefault("TimeoutInMillis", 30000)
        self._check_integration(body)
        doc = await self._save(ctx, INTEGRATION, self._new_id(7), api_id, body)
        await self._touch_auto_deploy(ctx, api_id)
        return self._integration_view(doc)

    async def GetIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._integration_view(
            self._child(ctx, INTEGRATION, params["ApiId"], params["IntegrationId"], "Integration"))

    async def GetIntegrations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["ApiId"])
        docs = self.docs.children(params["ApiId"], INTEGRATION)
        return _page([self._integration_view(d) for d in docs], params)

    async def UpdateIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, INTEGRATION, params["ApiId"], params["IntegrationId"], "Integration")
        body = {**doc.body, **_pick(params, _INTEGRATION_FIELDS)}
        self._check_integration(body)
        doc.body = body
        await self.docs.put(doc)
        await self._touch_auto_deploy(ctx, doc.parent)
        return self._integration_view(doc)

    async def DeleteIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, INTEGRATION, params["ApiId"], params["IntegrationId"], "Integration")
        await self.docs.delete(INTEGRATION, doc.id)
        await self._touch_auto_deploy(ctx, doc.parent)
        return {}

    # -- authorizers ----------------------------------------------------------------------

    @staticmethod
    def _check_authorizer(body: dict[str, Any]) -> None:
        kind = body.get("AuthorizerType")
        if kind == "JWT":
            jwt = body.get("JwtConfiguration") or {}
            if not jwt.get("Issuer"):
                raise BadRequest("JwtConfiguration.Issuer is required for JWT authorizers")
        elif kind == "REQUEST":
            if not body.get("AuthorizerUri"):
                raise BadRequest("AuthorizerUri is required for REQUEST authorizers")
            version = body.get("AuthorizerPayloadFormatVersion")
            if version not in ("1.0", "2.0"):
                raise BadRequest("AuthorizerPayloadFormatVersion must be 1.0 or 2.0")
            if body.get("EnableSimpleResponses") and version != "2.0":
                raise BadRequest("Simple responses are supported only with payload format version 2.0")
        else:
            raise BadRequest(f"Invalid authorizer type: {kind}")

    @staticmethod
    def _authorizer_view(doc: Doc) -> dict[str, Any]:
        return {**doc.body, "AuthorizerId": doc.id}

    async def CreateAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["ApiId"]).id
        body = _pick(params, _AUTHORIZER_FIELDS)
        self._check_authorizer(body)
        if body["AuthorizerType"] == "REQUEST":
            body.setdefault("AuthorizerResultTtlInSeconds", 0)
        doc = await self._save(ctx, AUTHORIZER, self._new_id(6), api_id, body)
        await self._touch_auto_deploy(ctx, api_id)
        return self._authorizer_view(doc)

    async def GetAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._authorizer_view(
            self._child(ctx, AUTHORIZER, params["ApiId"], params["AuthorizerId"], "Authorizer"))

    async def GetAuthorizers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["ApiId"])
        docs = self.docs.children(params["ApiId"], AUTHORIZER)
        return _page([self._authorizer_view(d) for d in docs], params)

    async def UpdateAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, AUTHORIZER, params["ApiId"], params["AuthorizerId"], "Authorizer")
        body = {**doc.body, **_pick(params, _AUTHORIZER_FIELDS)}
        self._check_authorizer(body)
        doc.body = body
        await self.docs.put(doc)
        await self._touch_auto_deploy(ctx, doc.parent)
        return self._authorizer_view(doc)

    async def DeleteAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, AUTHORIZER, params["ApiId"], params["AuthorizerId"], "Authorizer")
        await self.docs.delete(AUTHORIZER, doc.id)
        await self._touch_auto_deploy(ctx, doc.parent)
        return {}

    # -- deployments --------------------------------------------------------------------

    def snapshot(self, api_id: str) -> dict[str, Any]:
        """The routes, integrations and authorizers a deployment freezes."""
        return {
            kind: {d.id: d.body for d in self.docs.children(api_id, kind)}
            for kind in (ROUTE, INTEGRATION, AUTHORIZER)
        }

    async def _deploy(self, ctx: RequestContext, api_id: str, description: str | None, *, auto: bool) -> dict[str, Any]:
        deployment_id = self._new_id(6)
        body: dict[str, Any] = {"CreatedDate": time.time(), "DeploymentStatus": "DEPLOYED", "AutoDeployed": auto}
        if description:
            body["Description"] = description
        if not auto:
            body["_snapshot"] = self.snapshot(api_id)
        await self._save(ctx, DEPLOYMENT, deployment_id, api_id, body)
        return self._deployment_view(Doc(DEPLOYMENT, deployment_id, api_id, ctx.region, ctx.account_id, body))

    @staticmethod
    def _deployment_view(doc: Doc) -> dict[str, Any]:
        return {k: v for k, v in doc.body.items() if not k.startswith("_")} | {"DeploymentId": doc.id}

    async def CreateDeployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["ApiId"]).id
        stage = None
        if params.get("StageName"):
            stage = self.docs.get(STAGE, f"{api_id}/{params['StageName']}")
            if stage is None:
                raise NotFound(f"Invalid stage identifier specified {ctx.account_id}:{api_id}:{params['StageName']}")
            if stage.body.get("AutoDeploy"):
                raise BadRequest("Cannot create a deployment for a stage with AutoDeploy enabled")
        result = await self._deploy(ctx, api_id, params.get("Description"), auto=False)
        if stage is not None:
            stage.body["DeploymentId"] = result["DeploymentId"]
            stage.body["LastUpdatedDate"] = time.time()
            await self.docs.put(stage)
        return result

    async def GetDeployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._deployment_view(
            self._child(ctx, DEPLOYMENT, params["ApiId"], params["DeploymentId"], "Deployment"))

    async def GetDeployments(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["ApiId"])
        docs = sorted(self.docs.children(params["ApiId"], DEPLOYMENT), key=lambda d: d.body.get("CreatedDate", 0))
        return _page([self._deployment_view(d) for d in docs], params)

    async def DeleteDeployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._child(ctx, DEPLOYMENT, params["ApiId"], params["DeploymentId"], "Deployment")
        await self.docs.delete(DEPLOYMENT, doc.id)
        return {}

    # -- stages ---------------------------------------------------------------------------

    @staticmethod
    def _stage_view(doc: Doc) -> dict[str, Any]:
        return dict(doc.body)

    def _stage(self, ctx: RequestContext, api_id: str, name: str) -> Doc:
        self._api(ctx, api_id)
        doc = self.docs.get(STAGE, f"{api_id}/{name}")
        if doc is None:
            raise NotFound(f"Invalid stage identifier specified {ctx.account_id}:{api_id}:{name}")
        return doc

    async def CreateStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["ApiId"]).id
        name = params["StageName"]
        if self.docs.get(STAGE, f"{api_id}/{name}") is not None:
            raise Conflict(f"Stage already exists: {name}")
        deployment_id = params.get("DeploymentId")
        if deployment_id and self.docs.get(DEPLOYMENT, deployment_id) is None:
            raise BadRequest(f"Invalid deployment identifier specified: {deployment_id}")
        body = _pick(params, _STAGE_FIELDS)
        now = time.time()
        body.update(StageName=name, CreatedDate=now, LastUpdatedDate=now, Tags=params.get("Tags") or {})
        body.setdefault("AutoDeploy", False)
        body.setdefault("DefaultRouteSettings", {"DetailedMetricsEnabled": False})
        body.setdefault("RouteSettings", {})
        body.setdefault("StageVariables", {})
        doc = await self._save(ctx, STAGE, f"{api_id}/{name}", api_id, body)
        if body["AutoDeploy"]:
            await self._touch_auto_deploy(ctx, api_id)
        return self._stage_view(doc)

    async def GetStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._stage_view(self._stage(ctx, params["ApiId"], params["StageName"]))

    async def GetStages(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["ApiId"])
        return _page([self._stage_view(d) for d in self.docs.children(params["ApiId"], STAGE)], params)

    async def UpdateStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._stage(ctx, params["ApiId"], params["StageName"])
        updates = _pick(params, _STAGE_FIELDS)
        deployment_id = updates.get("DeploymentId")
        if deployment_id and self.docs.get(DEPLOYMENT, deployment_id) is None:
            raise BadRequest(f"Invalid deployment identifier specified: {deployment_id}")
        doc.body.update(updates)
        doc.body["LastUpdatedDate"] = time.time()
        await self.docs.put(doc)
        if updates.get("AutoDeploy"):
            await self._touch_auto_deploy(ctx, doc.parent)
        return self._stage_view(doc)

    async def DeleteStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._stage(ctx, params["ApiId"], params["StageName"])
        await self.docs.delete(STAGE, doc.id)
        return {}

    # -- tags -------------------------------------------------------------------------------

    async def GetTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self._tagged(ctx, params["ResourceArn"]).body.get("Tags", {})}

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._tagged(ctx, params["ResourceArn"])
        doc.body.setdefault("Tags", {}).update(params.get("Tags") or {})
        await self.docs.put(doc)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._tagged(ctx, params["ResourceArn"])
        for key in params.get("TagKeys") or []:
            doc.body.get("Tags", {}).pop(key, None)
        await self.docs.put(doc)
        return {}

    def _tagged(self, ctx: RequestContext, arn: str) -> Doc:
        # arn:aws:apigateway:{region}::/apis/{id}[/stages/{name}]
        path = arn.split("::", 1)[-1].strip("/").split("/")
        if len(path) >= 2 and path[0] == "apis":
            if len(path) >= 4 and path[2] == "stages":
                return self._stage(ctx, path[1], path[3])
            return self._api(ctx, path[1])
        raise NotFound(f"Invalid resource ARN: {arn}")
