"""Route authorization for HTTP APIs: JWT, Lambda ``REQUEST`` authorizers and IAM.

Each check returns an ``AuthOutcome``: either the ``requestContext.authorizer``
value to pass to the integration, or the status the gateway answers with
(401 ``Unauthorized``, 403 ``Forbidden``, 500 ``Internal Server Error``).
The Lambda call itself is injected (``invoke``) so this module stays free of
the hub and is testable without a server.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cloudlet.services.apigatewayv2 import events
from cloudlet.services.apigatewayv2.jwt import (
    JwksCache,
    JwtError,
    stringify_claims,
    token_scopes,
    verify_token,
)

#: ``invoke(function reference, payload) -> (payload, function_error)``; raises on a failed call.
Invoke = Callable[[str, bytes], Awaitable[tuple[bytes, str | None]]]


@dataclass
class AuthOutcome:
    #: ``requestContext.authorizer`` for the integration (None: no authorizer data).
    context: dict[str, Any] | None = None
    #: When set, the gateway answers with this status instead of calling the integration.
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


UNAUTHORIZED = 401
FORBIDDEN = 403
INTERNAL = 500


_SOURCE_PREFIXES = (
    ("$request.header.", "header"), ("method.request.header.", "header"),
    ("$request.querystring.", "query"), ("method.request.querystring.", "query"),
    ("$stagevariables.", "stage"), ("stagevariables.", "stage"),
    ("$context.", "context"), ("context.", "context"),
)


def identity_values(
    sources: list[str], request: events.GatewayRequest, stage_variables: dict[str, str], context: dict[str, Any]
) -> list[str] | None:
    """Values of the identity sources, HTTP API style (``$request.header.X``,
    ``$request.querystring.x``, ``$stageVariables.x``, ``$context.x``) or REST API style
    (``method.request.header.X``, ``method.request.querystring.x``, ``stageVariables.x``,
    ``context.x``); None when one is missing or empty."""
    query = events.query_multi(request.query_string)
    values: list[str] = []
    for source in sources:
        for part in source.split(","):
            part = part.strip()
            value: Any = None
            lower = part.lower()
            for prefix, kind in _SOURCE_PREFIXES:
                if lower.startswith(prefix):
                    name = part[len(prefix) :]
                    if kind == "header":
                        value = request.headers.get(name.lower())
                    elif kind == "query":
                        found = query.get(name)
                        value = ",".join(found) if found else None
                    elif kind == "stage":
                        value = stage_variables.get(name)
                    else:
                        value = context.get(name)
                    break
            if value is None or value == "":
                return None
            values.append(str(value))
    return values


def bearer_token(value: str) -> str:
    return value[7:].strip() if value[:7].lower() == "bearer " else value.strip()


def _www_authenticate(description: str) -> list[tuple[str, str]]:
    return [("www-authenticate", f'Bearer scope="" error="invalid_token" error_description="{description}"')]


async def check_jwt(
    authorizer: dict[str, Any],
    route: dict[str, Any],
    request: events.GatewayRequest,
    jwks: JwksCache,
    stage_variables: dict[str, str],
) -> AuthOutcome:
    sources = authorizer.get("IdentitySource") or ["$request.header.Authorization"]
    values = identity_values(sources, request, stage_variables, {})
    if not values:
        return AuthOutcome(status=UNAUTHORIZED)
    token = bearer_token(values[0])
    config = authorizer.get("JwtConfiguration") or {}
    issuer = str(config.get("Issuer", ""))
    try:
        key_set = await jwks.get(issuer)
    except Exception:
        return AuthOutcome(status=UNAUTHORIZED, headers=_www_authenticate("unable to fetch JWKS"))
    try:
        claims = verify_token(token, key_set, issuer=issuer, audiences=list(config.get("Audience") or []))
    except JwtError as exc:
        if str(exc) == "no matching key":  # the issuer may have rotated its keys
            jwks.forget(issuer)
        return AuthOutcome(status=UNAUTHORIZED, headers=_www_authenticate(str(exc)))
    scopes = token_scopes(claims)
    required = route.get("AuthorizationScopes") or []
    if required and not set(required) & set(scopes):
        return AuthOutcome(status=FORBIDDEN)
    return AuthOutcome(context={"jwt": {"claims": stringify_claims(claims), "scopes": scopes or None}})


def policy_decision(policy: Any, resource_arn: str) -> str:
    """``"allow"``, ``"deny"`` (an explicit Deny matches) or ``"none"`` for ``execute-api:Invoke`` on the ARN."""
    if not isinstance(policy, dict):
        return "none"
    statements = policy.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    decision = "none"
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        action_ok = any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions)
        resource_ok = any(fnmatch.fnmatchcase(resource_arn, str(r)) for r in resources)
        if not (action_ok and resource_ok):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return "deny"
        if effect == "allow":
            decision = "allow"
    return decision


def policy_allows(policy: Any, resource_arn: str) -> bool:
    """True when an Allow statement for ``execute-api:Invoke`` matches and no Deny does."""
    return policy_decision(policy, resource_arn) == "allow"


class LambdaAuthorizerCache:
    """Authorizer results by (authorizer id, identity values) for ``AuthorizerResultTtlInSeconds``."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}

    def get(self, key: tuple[str, tuple[str, ...]]) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[str, tuple[str, ...]], ttl: float, result: dict[str, Any]) -> None:
        if ttl > 0:
            if len(self._entries) > 10000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + ttl, result)


def authorizer_event(
    authorizer: dict[str, Any],
    request: events.GatewayRequest,
    *,
    route_key: str,
    route_arn: str,
    identity: list[str],
    resource_path: str,
    path_parameters: dict[str, str],
    stage_variables: dict[str, str],
) -> dict[str, Any]:
    """The event a Lambda REQUEST authorizer receives (payload format 2.0 or 1.0)."""
    if authorizer.get("AuthorizerPayloadFormatVersion") == "2.0":
        event = events.event_v2(request, route_key=route_key, path_parameters=path_parameters,
                                stage_variables=stage_variables)
        event.pop("body", None)
        event.pop("isBase64Encoded", None)
        return {"version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": identity, **{
            k: v for k, v in event.items() if k != "version"}}
    event = events.event_v1(request, resource=resource_path, path=request.raw_path, resource_id=route_key,
                            path_parameters=path_parameters, stage_variables=stage_variables)
    for key in ("body", "isBase64Encoded", "version"):
        event.pop(key, None)
    joined = ",".join(identity)
    return {"version": "1.0", "type": "REQUEST", "methodArn": route_arn, "identitySource": joined,
            "authorizationToken": joined, **event}


async def check_lambda(
    authorizer_id: str,
    authorizer: dict[str, Any],
    request: events.GatewayRequest,
    invoke: Invoke,
    cache: LambdaAuthorizerCache,
    *,
    route_key: str,
    route_arn: str,
    resource_path: str,
    path_parameters: dict[str, str],
    stage_variables: dict[str, str],
) -> AuthOutcome:
    sources = authorizer.get("IdentitySource") or []
    identity: list[str] = []
    if sources:
        found = identity_values(list(sources), request, stage_variables, {})
        if found is None:
            return AuthOutcome(status=UNAUTHORIZED)
        identity = found
    ttl = float(authorizer.get("AuthorizerResultTtlInSeconds") or 0) if sources else 0.0
    cache_key = (authorizer_id, tuple(identity))
    result = cache.get(cache_key) if ttl > 0 else None
    if result is None:
        event = authorizer_event(authorizer, request, route_key=route_key, route_arn=route_arn, identity=identity,
                                 resource_path=resource_path, path_parameters=path_parameters,
                                 stage_variables=stage_variables)
        try:
            payload, error = await invoke(str(authorizer.get("AuthorizerUri", "")), json.dumps(event).encode())
            parsed = json.loads(payload) if not error else None
        except Exception:
            return AuthOutcome(status=INTERNAL)
        if not isinstance(parsed, dict):
            return AuthOutcome(status=INTERNAL)
        result = parsed
        cache.put(cache_key, ttl, result)
    return lambda_outcome(authorizer, result, route_arn)


def lambda_outcome(authorizer: dict[str, Any], result: dict[str, Any], route_arn: str) -> AuthOutcome:
    context = result.get("context")
    context = dict(context) if isinstance(context, dict) else {}
    simple = bool(authorizer.get("EnableSimpleResponses")) and "isAuthorized" in result
    if simple:
        if result.get("isAuthorized") is not True:
            return AuthOutcome(status=FORBIDDEN)
    elif "policyDocument" in result:
        if not policy_allows(result.get("policyDocument"), route_arn):
            return AuthOutcome(status=FORBIDDEN)
        if result.get("principalId") is not None:
            context.setdefault("principalId", result["principalId"])
    else:
        return AuthOutcome(status=INTERNAL)
    return AuthOutcome(context=context)
