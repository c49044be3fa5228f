"""JWT verification (RS256 with pow) and authorizer decisions."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from tests.unit.services.apigatewayv2.jwt_test_key import D, E, N, claims, jwks, sign

from cloudlet.services.apigatewayv2 import authorizers, events
from cloudlet.services.apigatewayv2.jwt import (
    JwksCache,
    JwtError,
    rsa_pkcs1_sha256_verify,
    stringify_claims,
    verify_token,
)

ISSUER = "http://127.0.0.1:9/issuer"


def test_valid_token() -> None:
    token = sign(claims(ISSUER, "client-a", scope="read write"))
    result = verify_token(token, jwks(), issuer=ISSUER, audiences=["client-a", "client-b"])
    assert result["sub"] == "user-1"


@pytest.mark.parametrize(
    ("token_claims", "audiences", "issuer"),
    [
        (claims(ISSUER, "client-a", exp=int(time.time()) - 5), ["client-a"], ISSUER),
        (claims(ISSUER, "client-x"), ["client-a"], ISSUER),
        (claims("http://other", "client-a"), ["client-a"], ISSUER),
        (claims(ISSUER, "client-a", nbf=int(time.time()) + 600), ["client-a"], ISSUER),
    ],
)
def test_rejected_claims(token_claims: dict[str, Any], audiences: list[str], issuer: str) -> None:
    with pytest.raises(JwtError):
        verify_token(sign(token_claims), jwks(), issuer=issuer, audiences=audiences)


def test_bad_signature_and_tampering() -> None:
    token = sign(claims(ISSUER, "a"))
    header, _, signature = token.split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims(ISSUER, "a", sub="admin")).encode())
    forged = f"{header}.{forged_payload.decode().rstrip('=')}.{signature}"
    with pytest.raises(JwtError, match="bad signature"):
        verify_token(forged, jwks(), issuer=ISSUER, audiences=["a"])
    with pytest.raises(JwtError, match="bad signature"):
        verify_token(sign(claims(ISSUER, "a"), d=D - 2), jwks(), issuer=ISSUER, audiences=["a"])
    with pytest.raises(JwtError, match="no matching key"):
        verify_token(sign(claims(ISSUER, "a"), kid="other"), jwks(), issuer=ISSUER, audiences=["a"])
    with pytest.raises(JwtError):
        verify_token("not.a.jwt", jwks(), issuer=ISSUER, audiences=["a"])


def test_raw_rsa_verify() -> None:
    assert not rsa_pkcs1_sha256_verify(N, E, b"m", b"\x00" * 256)
    assert not rsa_pkcs1_sha256_verify(N, E, b"m", b"\x01")


def test_claims_are_strings() -> None:
    assert stringify_claims({"exp": 5, "groups": ["a", "b"], "ok": True}) == {"exp": "5", "groups": "[a b]", "ok": "true"}


def request(headers: dict[str, str], query: str = "") -> events.GatewayRequest:
    return events.GatewayRequest(method="GET", raw_path="/x", query_string=query, headers=headers, body=b"",
                                 api_id="api", account_id="000000000000", domain_name="api.execute-api.localhost")


def test_check_jwt_outcomes() -> None:
    cache = JwksCache(fetch=lambda url: {"jwks_uri": "http://jwks"} if "openid" in url else jwks())
    authorizer = {"AuthorizerType": "JWT", "IdentitySource": ["$request.header.Authorization"],
                  "JwtConfiguration": {"Issuer": ISSUER, "Audience": ["aud"]}}
    good = sign(claims(ISSUER, "aud", scope="read"))

    def run(headers: dict[str, str], route: dict[str, Any] | None = None) -> authorizers.AuthOutcome:
        return asyncio.run(authorizers.check_jwt(authorizer, route or {}, request(headers), cache, {}))

    assert run({}).status == 401
    assert run({"authorization": "Bearer garbage"}).status == 401
    ok = run({"authorization": f"Bearer {good}"})
    assert ok.status is None and ok.context is not None
    assert ok.context["jwt"]["claims"]["sub"] == "user-1" and ok.context["jwt"]["scopes"] == ["read"]
    assert run({"authorization": good}, {"AuthorizationScopes": ["admin"]}).status == 403
    assert run({"authorization": good}, {"AuthorizationScopes": ["read"]}).status is None


def test_policy_evaluation() -> None:
    arn = "arn:aws:execute-api:us-east-1:000000000000:api/prod/GET/items/1"
    allow = {"Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                            "Resource": "arn:aws:execute-api:us-east-1:000000000000:api/*/GET/*"}]}
    assert authorizers.policy_allows(allow, arn)
    deny = {"Statement": [*allow["Statement"], {"Effect": "Deny", "Action": "*", "Resource": arn}]}
    assert not authorizers.policy_allows(deny, arn)
    assert not authorizers.policy_allows({"Statement": []}, arn)


def test_lambda_authorizer_simple_and_cache() -> None:
    calls: list[dict[str, Any]] = []

    async def invoke(uri: str, payload: bytes) -> tuple[bytes, str | None]:
        event = json.loads(payload)
        calls.append(event)
        allowed = event["headers"].get("authorization") == "letmein"
        return json.dumps({"isAuthorized": allowed, "context": {"user": "u1"}}).encode(), None

    authorizer = {"AuthorizerType": "REQUEST", "AuthorizerPayloadFormatVersion": "2.0",
                  "EnableSimpleResponses": True, "IdentitySource": ["$request.header.Authorization"],
                  "AuthorizerResultTtlInSeconds": 60, "AuthorizerUri": "fn"}
    cache = authorizers.LambdaAuthorizerCache()

    def run(headers: dict[str, str]) -> authorizers.AuthOutcome:
        return asyncio.run(authorizers.check_lambda(
            "auth1", authorizer, request(headers), invoke, cache, route_key="GET /x", route_arn="arn",
            resource_path="/x", path_parameters={}, stage_variables={}))

    assert run({}).status == 401 and not calls
    assert run({"authorization": "nope"}).status == 403
    ok = run({"authorization": "letmein"})
    assert ok.status is None and ok.context == {"user": "u1"}
    assert calls[-1]["type"] == "REQUEST" and calls[-1]["identitySource"] == ["letmein"]
    assert calls[-1]["routeArn"] == "arn" and calls[-1]["version"] == "2.0"
    run({"authorization": "letmein"})
    assert len(calls) == 2  # the second allow came from the cache


def test_lambda_authorizer_v1_policy_and_errors() -> None:
    async def invoke(uri: str, payload: bytes) -> tuple[bytes, str | None]:
        event = json.loads(payload)
        assert event["version"] == "1.0" and event["authorizationToken"] == "t"
        assert event["methodArn"] == "arn:x"
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                           "Resource": "arn:x"}]}
        return json.dumps({"principalId": "p1", "policyDocument": policy, "context": {"k": 1}}).encode(), None

    async def failing(uri: str, payload: bytes) -> tuple[bytes, str | None]:
        return b'{"errorMessage": "boom"}', "Unhandled"

    authorizer = {"AuthorizerType": "REQUEST", "AuthorizerPayloadFormatVersion": "1.0",
                  "IdentitySource": ["$request.header.Authorization"], "AuthorizerUri": "fn"}
    kwargs: dict[str, Any] = {"route_key": "GET /x", "route_arn": "arn:x", "resource_path": "/x",
                              "path_parameters": {}, "stage_variables": {}}
    cache = authorizers.LambdaAuthorizerCache()
    ok = asyncio.run(authorizers.check_lambda("a", authorizer, request({"authorization": "t"}), invoke, cache, **kwargs))
    assert ok.context == {"k": 1, "principalId": "p1"}
    bad = asyncio.run(authorizers.check_lambda("a", authorizer, request({"authorization": "t"}), failing, cache, **kwargs))
    assert bad.status == 500
