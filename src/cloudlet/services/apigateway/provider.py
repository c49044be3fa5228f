"""API Gateway REST APIs (v1), the subset SAM and serverless apps use.

Rest APIs, resources, methods, Lambda proxy integrations, deployments,
stages, API keys and usage plans, as documents in a ``DocStore``
(``apigateway.db``).  A deployment freezes the API's resources (with their
methods and integrations); a stage serves its deployment's snapshot.

The ``execute-api`` data plane belongs to the apigatewayv2 package; it hands
REST API ids to ``handle_execute_api`` (see ``dataplane.py``).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.apigateway.dataplane import RestApiPlane
from cloudlet.services.apigatewayv2.docstore import Doc, DocStore, new_id
from cloudlet.services.apigatewayv2.errors import BadRequest, Conflict, NotFound

RESTAPI, RESOURCE, DEPLOYMENT, STAGE = "restapi", "resource", "deployment", "stage"
APIKEY, USAGEPLAN, USAGEPLANKEY, AUTHORIZER = "apikey", "usageplan", "usageplankey", "authorizer"
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})

_METHOD_FIELDS = ("authorizationType", "authorizerId", "apiKeyRequired", "operationName", "requestParameters",
                  "requestModels", "requestValidatorId", "authorizationScopes")
_INTEGRATION_FIELDS = ("type", "uri", "connectionType", "connectionId", "credentials", "requestParameters",
                       "requestTemplates", "passthroughBehavior", "cacheNamespace", "cacheKeyParameters",
                       "contentHandling", "timeoutInMillis", "tlsConfig")


def _pick(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: params[n] for n in names if params.get(n) is not None}


def _page(items: list[dict[str, Any]], params: dict[str, Any], key: str = "items") -> dict[str, Any]:
    start = int(params.get("position") or 0)
    size = int(params.get("limit") or 500)
    out: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        out["position"] = str(start + size)
    return out


class RestApiProvider:
    """The apigateway (v1) provider."""

    service_name = "apigateway"

    def __init__(self, docs: DocStore, plane: RestApiPlane, id_taken: Any = None) -> None:
        self.docs = docs
        self.plane = plane
        self._id_taken = id_taken

    async def start(self) -> None:
        await self.docs.load()

    async def stop(self) -> None:
        return None

    # -- the execute-api plane's entry points ---------------------------------------------

    def owns_api(self, api_id: str) -> bool:
        return self.docs.get(RESTAPI, api_id) is not None

    async def handle_execute_api(self, api_id: str, path: str, request: HttpRequest) -> HttpResponse:
        return await self.plane.handle(api_id, path, request)

    # -- helpers -----------------------------------------------------------------------------

    def _new_id(self, length: int = 10) -> str:
        while True:
            candidate = new_id(length)
            if not self.docs.exists(candidate) and not (self._id_taken and self._id_taken(candidate)):
                return candidate

    def _api(self, ctx: RequestContext, api_id: str) -> Doc:
        doc = self.docs.get(RESTAPI, api_id)
        if doc is None or doc.region != ctx.region or doc.account != ctx.account_id:
            raise NotFound("Invalid API identifier specified")
        return doc

    def _resource(self, ctx: RequestContext, api_id: str, resource_id: str) -> Doc:
        self._api(ctx, api_id)
        doc = self.docs.get(RESOURCE, resource_id)
        if doc is None or doc.parent != api_id:
            raise NotFound("Invalid Resource identifier specified")
        return doc

    def _method(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[Doc, dict[str, Any]]:
        resource = self._resource(ctx, params["restApiId"], params["resourceId"])
        method = (resource.body.get("resourceMethods") or {}).get(params["httpMethod"])
        if method is None:
            raise NotFound("Invalid Method identifier specified")
        return resource, method

    async def _save(self, ctx: RequestContext, kind: str, doc_id: str, parent: str, body: dict[str, Any]) -> Doc:
        return await self.docs.put(Doc(kind, doc_id, parent, ctx.region, ctx.account_id, body))

    @staticmethod
    def _view(doc: Doc) -> dict[str, Any]:
        return {k: v for k, v in doc.body.items() if not k.startswith("_")} | {"id": doc.id}

    # -- REST APIs --------------------------------------------------------------------------

    async def CreateRestApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._new_id()
        root_id = self._new_id()
        body = _pick(params, ("name", "description", "version", "binaryMediaTypes", "minimumCompressionSize",
                              "policy", "disableExecuteApiEndpoint"))
        body.update(createdDate=time.time(), rootResourceId=root_id, tags=params.get("tags") or {},
                    apiKeySource=params.get("apiKeySource") or "HEADER",
                    endpointConfiguration=params.get("endpointConfiguration") or {"types": ["EDGE"]})
        body.setdefault("disableExecuteApiEndpoint", False)
        doc = await self._save(ctx, RESTAPI, api_id, "", body)
        await self._save(ctx, RESOURCE, root_id, api_id, {"path": "/", "resourceMethods": {}})
        return self._view(doc)

    async def GetRestApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(self._api(ctx, params["restApiId"]))

    async def GetRestApis(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = sorted(self.docs.all(RESTAPI, ctx.region, ctx.account_id), key=lambda d: d.body.get("createdDate", 0))
        return _page([self._view(d) for d in docs], params)

    async def DeleteRestApi(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._api(ctx, params["restApiId"])
        await self.docs.delete(RESTAPI, doc.id)
        return {}

    # -- resources ---------------------------------------------------------------------------

    async def GetResources(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["restApiId"])
        docs = sorted(self.docs.children(params["restApiId"], RESOURCE), key=lambda d: d.body["path"])
        return _page([self._resource_view(d) for d in docs], params)

    @staticmethod
    def _resource_view(doc: Doc) -> dict[str, Any]:
        view = {k: v for k, v in doc.body.items() if v is not None}
        if not view.get("resourceMethods"):
            view.pop("resourceMethods", None)
        return view | {"id": doc.id}

    async def GetResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._resource_view(self._resource(ctx, params["restApiId"], params["resourceId"]))

    async def CreateResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        parent = self._resource(ctx, params["restApiId"], params["parentId"])
        part = params["pathPart"]
        if not part or "/" in part:
            raise BadRequest("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end.")
        if parent.body["path"].endswith("+}"):
            raise BadRequest("A greedy path variable must be the last path part")
        path = parent.body["path"].rstrip("/") + "/" + part
        for sibling in self.docs.children(parent.parent, RESOURCE):
            if sibling.body["path"] == path:
                raise Conflict(f"Another resource with the same parent already has this name: {part}")
        doc = await self._save(ctx, RESOURCE, self._new_id(6), parent.parent,
                               {"parentId": parent.id, "pathPart": part, "path": path, "resourceMethods": {}})
        return self._resource_view(doc)

    async def DeleteResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._resource(ctx, params["restApiId"], params["resourceId"])
        if doc.body.get("parentId") is None:
            raise BadRequest("Cannot delete the root resource")
        doomed = [d for d in self.docs.children(doc.parent, RESOURCE)
                  if d.body["path"] == doc.body["path"] or d.body["path"].startswith(doc.body["path"] + "/")]
        for d in doomed:
            await self.docs.delete(RESOURCE, d.id)
        return {}

    # -- methods and integrations ---------------------------------------------------------------

    async def PutMethod(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(ctx, params["restApiId"], params["resourceId"])
        http_method = params["httpMethod"].upper()
        if http_method not in HTTP_METHODS:
            raise BadRequest("Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY")
        method = _pick(params, _METHOD_FIELDS)
        if method.get("authorizationType") == "CUSTOM":
            authorizer_id = method.get("authorizerId")
            if not authorizer_id or self.docs.get(AUTHORIZER, authorizer_id) is None:
                raise BadRequest("Invalid authorizer ID specified. Setting the authorization type to CUSTOM "
                                 "or COGNITO_USER_POOLS requires a valid authorizer.")
        method["httpMethod"] = http_method
        method.setdefault("apiKeyRequired", False)
        resource.body.setdefault("resourceMethods", {})[http_method] = method
        await self.docs.put(resource)
        return method

    async def GetMethod(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._method(ctx, params)[1]

    async def DeleteMethod(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, _ = self._method(ctx, params)
        resource.body["resourceMethods"].pop(params["httpMethod"], None)
        await self.docs.put(resource)
        return {}

    async def UpdateMethod(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, method = self._method(ctx, params)
        for op in params.get("patchOperations") or []:
            field = str(op.get("path", "")).strip("/")
            if op.get("op") == "replace" and field in _METHOD_FIELDS:
                value: Any = op.get("value")
                if field == "apiKeyRequired":
                    value = str(value).lower() == "true"
                method[field] = value
        await self.docs.put(resource)
        return method

    async def PutIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, method = self._method(ctx, params)
        integration = _pick(params, _INTEGRATION_FIELDS)
        kind = integration.get("type")
        if kind not in ("AWS_PROXY", "AWS", "HTTP", "HTTP_PROXY", "MOCK"):
            raise BadRequest(f"Invalid integration type: {kind}")
        if kind in ("AWS_PROXY", "AWS", "HTTP", "HTTP_PROXY") and not integration.get("uri"):
            raise BadRequest("Enumeration value for Integration uri must be specified")
        if params.get("integrationHttpMethod"):
            integration["httpMethod"] = params["integrationHttpMethod"]
        integration.setdefault("passthroughBehavior", "WHEN_NO_MATCH")
        integration.setdefault("timeoutInMillis", 29000)
        integration.setdefault("cacheNamespace", resource.id)
        integration.setdefault("cacheKeyParameters", [])
        integration.setdefault("connectionType", "INTERNET")
        method["methodIntegration"] = integration
        await self.docs.put(resource)
        return integration

    async def GetIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, method = self._method(ctx, params)
        integration = method.get("methodIntegration")
        if integration is None:
            raise NotFound("Invalid Integration identifier specified")
        result: dict[str, Any] = integration
        return result

    async def DeleteIntegration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, method = self._method(ctx, params)
        method.pop("methodIntegration", None)
        await self.docs.put(resource)
        return {}

    async def PutMethodResponse(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, method = self._method(ctx, params)
        response = _pick(params, ("statusCode", "responseParameters", "responseModels"))
        method.setdefault("methodResponses", {})[params["statusCode"]] = response
        await self.docs.put(resource)
        return response

    async def PutIntegrationResponse(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource, method = self._method(ctx, params)
        integration = method.get("methodIntegration")
        if integration is None:
            raise NotFound("Invalid Integration identifier specified")
        response = _pick(params, ("statusCode", "selectionPattern", "responseParameters", "responseTemplates",
                                  "contentHandling"))
        integration.setdefault("integrationResponses", {})[params["statusCode"]] = response
        await self.docs.put(resource)
        return response

    # -- Lambda authorizers ---------------------------------------------------------------------

    async def CreateAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["restApiId"]).id
        kind = params.get("type")
        if kind not in ("TOKEN", "REQUEST", "COGNITO_USER_POOLS"):
            raise BadRequest(f"Invalid authorizer type: {kind}")
        if kind in ("TOKEN", "REQUEST") and not params.get("authorizerUri"):
            raise BadRequest("Authorizer URI is required for TOKEN and REQUEST authorizers")
        body = _pick(params, ("name", "type", "providerARNs", "authType", "authorizerUri", "authorizerCredentials",
                              "identitySource", "identityValidationExpression", "authorizerResultTtlInSeconds"))
        if kind == "TOKEN":
            body.setdefault("identitySource", "method.request.header.Authorization")
        body.setdefault("authorizerResultTtlInSeconds", 300)
        return self._view(await self._save(ctx, AUTHORIZER, self._new_id(6), api_id, body))

    def _authorizer(self, ctx: RequestContext, api_id: str, authorizer_id: str) -> Doc:
        self._api(ctx, api_id)
        doc = self.docs.get(AUTHORIZER, authorizer_id)
        if doc is None or doc.parent != api_id:
            raise NotFound("Invalid Authorizer identifier specified")
        return doc

    async def GetAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(self._authorizer(ctx, params["restApiId"], params["authorizerId"]))

    async def GetAuthorizers(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["restApiId"])
        return _page([self._view(d) for d in self.docs.children(params["restApiId"], AUTHORIZER)], params)

    async def DeleteAuthorizer(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._authorizer(ctx, params["restApiId"], params["authorizerId"])
        await self.docs.delete(AUTHORIZER, doc.id)
        return {}

    # -- deployments and stages ---------------------------------------------------------------

    async def CreateDeployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["restApiId"]).id
        resources = {d.id: d.body for d in self.docs.children(api_id, RESOURCE)}
        if not any(r.get("resourceMethods") for r in resources.values()):
            raise BadRequest("The REST API doesn't contain any methods")
        authorizers = {d.id: d.body for d in self.docs.children(api_id, AUTHORIZER)}
        body: dict[str, Any] = {"createdDate": time.time(), "_snapshot": resources, "_authorizers": authorizers}
        if params.get("description"):
            body["description"] = params["description"]
        doc = await self._save(ctx, DEPLOYMENT, self._new_id(6), api_id, body)
        stage_name = params.get("stageName")
        if stage_name:
            stage = self.docs.get(STAGE, f"{api_id}/{stage_name}")
            if stage is None:
                await self._create_stage(ctx, api_id, stage_name, doc.id, params.get("stageDescription"),
                                         params.get("variables") or {}, {})
            else:
                stage.body.update(deploymentId=doc.id, lastUpdatedDate=time.time())
                if params.get("variables"):
                    stage.body.setdefault("variables", {}).update(params["variables"])
                await self.docs.put(stage)
        return self._view(doc)

    async def GetDeployment(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["restApiId"])
        doc = self.docs.get(DEPLOYMENT, params["deploymentId"])
        if doc is None or doc.parent != params["restApiId"]:
            raise NotFound("Invalid Deployment identifier specified")
        return self._view(doc)

    async def GetDeployments(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["restApiId"])
        docs = sorted(self.docs.children(params["restApiId"], DEPLOYMENT), key=lambda d: d.body["createdDate"])
        return _page([self._view(d) for d in docs], params)

    async def _create_stage(
        self, ctx: RequestContext, api_id: str, name: str, deployment_id: str, description: str | None,
        variables: dict[str, str], tags: dict[str, str],
    ) -> Doc:
        now = time.time()
        body: dict[str, Any] = {"stageName": name, "deploymentId": deployment_id, "variables": variables,
                                "tags": tags, "createdDate": now, "lastUpdatedDate": now, "methodSettings": {},
                                "cacheClusterEnabled": False, "cacheClusterStatus": "NOT_AVAILABLE",
                                "tracingEnabled": False}
        if description:
            body["description"] = description
        return await self._save(ctx, STAGE, f"{api_id}/{name}", api_id, body)

    def _stage(self, ctx: RequestContext, api_id: str, name: str) -> Doc:
        self._api(ctx, api_id)
        doc = self.docs.get(STAGE, f"{api_id}/{name}")
        if doc is None:
            raise NotFound("Invalid Stage identifier specified")
        return doc

    async def CreateStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = self._api(ctx, params["restApiId"]).id
        if self.docs.get(STAGE, f"{api_id}/{params['stageName']}") is not None:
            raise Conflict("Stage already exists")
        deployment = self.docs.get(DEPLOYMENT, params["deploymentId"])
        if deployment is None or deployment.parent != api_id:
            raise BadRequest("Invalid deployment identifier specified")
        doc = await self._create_stage(ctx, api_id, params["stageName"], deployment.id, params.get("description"),
                                       params.get("variables") or {}, params.get("tags") or {})
        return dict(doc.body)

    async def GetStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self._stage(ctx, params["restApiId"], params["stageName"]).body)

    async def GetStages(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._api(ctx, params["restApiId"])
        docs = self.docs.children(params["restApiId"], STAGE)
        if params.get("deploymentId"):
            docs = [d for d in docs if d.body.get("deploymentId") == params["deploymentId"]]
        return {"item": [dict(d.body) for d in docs]}

    async def UpdateStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._stage(ctx, params["restApiId"], params["stageName"])
        for op in params.get("patchOperations") or []:
            path = str(op.get("path", ""))
            kind = op.get("op")
            if path.startswith("/variables/"):
                name = path[len("/variables/") :]
                if kind == "remove":
                    doc.body.setdefault("variables", {}).pop(name, None)
                else:
                    doc.body.setdefault("variables", {})[name] = op.get("value")
            elif path in ("/description", "/deploymentId") and kind == "replace":
                doc.body[path[1:]] = op.get("value")
        doc.body["lastUpdatedDate"] = time.time()
        await self.docs.put(doc)
        return dict(doc.body)

    async def DeleteStage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._stage(ctx, params["restApiId"], params["stageName"])
        await self.docs.delete(STAGE, doc.id)
        return {}

    # -- API keys and usage plans -------------------------------------------------------------

    def _key_view(self, doc: Doc, include_value: bool) -> dict[str, Any]:
        view = self._view(doc)
        if not include_value:
            view.pop("value", None)
        return view

    async def CreateApiKey(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        value = params.get("value") or secrets.token_urlsafe(30)[:40]
        if len(value) < 20:
            raise BadRequest("API Key value should be at least 20 characters")
        for other in self.docs.all(APIKEY, ctx.region, ctx.account_id):
            if other.body.get("value") == value:
                raise Conflict("API Key already exists")
        now = time.time()
        body = _pick(params, ("name", "description", "customerId"))
        body.update(value=value, enabled=bool(params.get("enabled", False)), createdDate=now, lastUpdatedDate=now,
                    stageKeys=[f"{k['restApiId']}/{k['stageName']}" for k in params.get("stageKeys") or []],
                    tags=params.get("tags") or {})
        doc = await self._save(ctx, APIKEY, self._new_id(), "", body)
        return self._key_view(doc, True)

    async def GetApiKey(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.docs.get(APIKEY, params["apiKey"])
        if doc is None or doc.region != ctx.region or doc.account != ctx.account_id:
            raise NotFound("Invalid API Key identifier specified")
        return self._key_view(doc, bool(params.get("includeValue")))

    async def GetApiKeys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = sorted(self.docs.all(APIKEY, ctx.region, ctx.account_id), key=lambda d: d.body["createdDate"])
        if params.get("nameQuery"):
            docs = [d for d in docs if str(d.body.get("name", "")).startswith(params["nameQuery"])]
        if params.get("customerId"):
            docs = [d for d in docs if d.body.get("customerId") == params["customerId"]]
        return _page([self._key_view(d, bool(params.get("includeValues"))) for d in docs], params)

    async def DeleteApiKey(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.docs.get(APIKEY, params["apiKey"])
        if doc is None or doc.account != ctx.account_id:
            raise NotFound("Invalid API Key identifier specified")
        await self.docs.delete(APIKEY, doc.id)
        for plan_key in [d for d in self.docs.of_kind(USAGEPLANKEY) if d.body["keyId"] == doc.id]:
            await self.docs.delete(USAGEPLANKEY, plan_key.id)
        return {}

    async def CreateUsagePlan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        for stage in params.get("apiStages") or []:
            if self.docs.get(STAGE, f"{stage.get('apiId')}/{stage.get('stage')}") is None:
                raise BadRequest(f"Invalid stage identifier specified: {stage.get('apiId')}/{stage.get('stage')}")
        body = _pick(params, ("name", "description", "apiStages", "throttle", "quota"))
        body.setdefault("apiStages", [])
        body["tags"] = params.get("tags") or {}
        doc = await self._save(ctx, USAGEPLAN, self._new_id(6), "", body)
        return self._view(doc)

    def _plan(self, ctx: RequestContext, plan_id: str) -> Doc:
        doc = self.docs.get(USAGEPLAN, plan_id)
        if doc is None or doc.region != ctx.region or doc.account != ctx.account_id:
            raise NotFound("Invalid Usage Plan ID specified")
        return doc

    async def GetUsagePlan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(self._plan(ctx, params["usagePlanId"]))

    async def GetUsagePlans(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.docs.all(USAGEPLAN, ctx.region, ctx.account_id)
        if params.get("keyId"):
            docs = [d for d in docs if self.docs.get(USAGEPLANKEY, f"{d.id}/{params['keyId']}") is not None]
        return _page([self._view(d) for d in docs], params)

    async def DeleteUsagePlan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._plan(ctx, params["usagePlanId"])
        await self.docs.delete(USAGEPLAN, doc.id)
        return {}

    async def CreateUsagePlanKey(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = self._plan(ctx, params["usagePlanId"])
        if params.get("keyType") != "API_KEY":
            raise BadRequest("Invalid key type specified")
        key = self.docs.get(APIKEY, params["keyId"])
        if key is None or key.account != ctx.account_id:
            raise NotFound("Invalid API Key identifier specified")
        if self.docs.get(USAGEPLANKEY, f"{plan.id}/{key.id}") is not None:
            raise Conflict("Usage Plan already contains this API Key")
        await self._save(ctx, USAGEPLANKEY, f"{plan.id}/{key.id}", plan.id, {"keyId": key.id, "type": "API_KEY"})
        return {"id": key.id, "type": "API_KEY", "value": key.body["value"], "name": key.body.get("name")}

    async def GetUsagePlanKeys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = self._plan(ctx, params["usagePlanId"])
        items = []
        for link in self.docs.children(plan.id, USAGEPLANKEY):
            key = self.docs.get(APIKEY, link.body["keyId"])
            if key is not None:
                items.append({"id": key.id, "type": "API_KEY", "value": key.body["value"], "name": key.body.get("name")})
        return _page(items, params)

    async def DeleteUsagePlanKey(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan = self._plan(ctx, params["usagePlanId"])
        if self.docs.get(USAGEPLANKEY, f"{plan.id}/{params['keyId']}") is None:
            raise NotFound("Invalid API Key identifier specified")
        await self.docs.delete(USAGEPLANKEY, f"{plan.id}/{params['keyId']}")
        return {}
