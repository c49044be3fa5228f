"""HTTP API authorizers end to end: JWT against a loopback JWKS, Lambda REQUEST authorizers, AWS_IAM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.integration.services.apigatewayv2.apigw_helpers import (
    create_function,
    local_http_server,
    request,
    unique,
)
from tests.servers import ServerProcess
from tests.unit.services.apigatewayv2.jwt_test_key import claims, jwks, sign

SIMPLE_AUTHORIZER = '''
def handler(event, context):
    token = event["headers"].get("authorization")
    return {"isAuthorized": token == "open-sesame", "context": {"user": "ali", "route": event["routeKey"]}}
'''

POLICY_AUTHORIZER = '''
def handler(event, context):
    effect = "Allow" if event["authorizationToken"] == "allow" else "Deny"
    if event["authorizationToken"] == "crash":
        raise RuntimeError("authorizer failed")
    return {"principalId": "user-9", "context": {"tier": "gold"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
'''


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    def serve(handler: Any) -> tuple[int, dict[str, str], bytes]:
        host = handler.headers["Host"]
        if handler.path.endswith("/.well-known/openid-configuration"):
            body = {"issuer": f"http://{host}/idp", "jwks_uri": f"http://{host}/idp/keys"}
        elif handler.path == "/idp/keys":
            body = jwks()
        else:
            return 404, {}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    with local_http_server(serve) as base:
        yield base + "/idp"


@pytest.fixture(scope="module")
def echo_arn(server: ServerProcess) -> str:
    return create_function(server.client("lambda"))


def make_api(server: ServerProcess, echo_arn: str, payload_version: str = "2.0") -> tuple[Any, str, str]:
    client = server.client("apigatewayv2")
    api_id = client.create_api(Name=unique("auth"), ProtocolType="HTTP")["ApiId"]
    integration = client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo_arn,
                                            PayloadFormatVersion=payload_version)
    client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return client, api_id, f"integrations/{integration['IntegrationId']}"


def test_jwt_authorizer(server: ServerProcess, echo_arn: str, issuer: str) -> None:
    client, api_id, target = make_api(server, echo_arn)
    authorizer = client.create_authorizer(
        ApiId=api_id, Name="jwt", AuthorizerType="JWT", IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": issuer, "Audience": ["my-app"]},
    )
    client.create_route(ApiId=api_id, RouteKey="GET /secure", Target=target, AuthorizationType="JWT",
                        AuthorizerId=authorizer["AuthorizerId"])
    client.create_route(ApiId=api_id, RouteKey="GET /admin", Target=target, AuthorizationType="JWT",
                        AuthorizerId=authorizer["AuthorizerId"], AuthorizationScopes=["admin"])
    path = f"/_aws/execute-api/{api_id}/secure"

    missing = request(server.endpoint, "GET", path)
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})
    bad = request(server.endpoint, "GET", path, headers={"Authorization": "Bearer " + sign(claims(issuer, "other-app"))})
    assert bad.status == 401
    forged = sign(claims(issuer, "my-app"))[:-8] + "AAAAAAAA"
    assert request(server.endpoint, "GET", path, headers={"Authorization": f"Bearer {forged}"}).status == 401

    good = sign(claims(issuer, "my-app", scope="read", email="a@b.c"))
    ok = request(server.endpoint, "GET", path, headers={"Authorization": f"Bearer {good}"})
    assert ok.status == 201
    jwt_context = ok.json()["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["email"] == "a@b.c" and jwt_context["claims"]["iss"] == issuer
    assert jwt_context["scopes"] == ["read"]
    forbidden = request(server.endpoint, "GET", f"/_aws/execute-api/{api_id}/admin", headers={"Authorization": good})
    assert (forbidden.status, forbidden.json()) == (403, {"message": "Forbidden"})


def test_lambda_authorizer_simple_responses(server: ServerProcess, echo_arn: str) -> None:
    client, api_id, target = make_api(server, echo_arn)
    authorizer_arn = create_function(server.client("lambda"), SIMPLE_AUTHORIZER)
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{authorizer_arn}/invocations"
    authorizer = client.create_authorizer(
        ApiId=api_id, Name="simple", AuthorizerType="REQUEST", AuthorizerUri=uri,
        IdentitySource=["$request.header.Authorization"], AuthorizerPayloadFormatVersion="2.0",
        EnableSimpleResponses=True,
    )
    client.create_route(ApiId=api_id, RouteKey="ANY /guarded", Target=target, AuthorizationType="CUSTOM",
                        AuthorizerId=authorizer["AuthorizerId"])
    path = f"/_aws/execute-api/{api_id}/guarded"
    assert request(server.endpoint, "GET", path).status == 401
    denied = request(server.endpoint, "GET", path, headers={"Authorization": "wrong"})
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})
    ok = request(server.endpoint, "GET", path, headers={"Authorization": "open-sesame"})
    assert ok.status == 201
    assert ok.json()["requestContext"]["authorizer"] == {"lambda": {"user": "ali", "route": "ANY /guarded"}}


def test_lambda_authorizer_iam_policy_payload_v1(server: ServerProcess, echo_arn: str) -> None:
    client, api_id, target = make_api(server, echo_arn, payload_version="1.0")
    authorizer_arn = create_function(server.client("lambda"), POLICY_AUTHORIZER)
    authorizer = client.create_authorizer(
        ApiId=api_id, Name="policy", AuthorizerType="REQUEST", AuthorizerUri=authorizer_arn,
        IdentitySource=["$request.header.Authorization"], AuthorizerPayloadFormatVersion="1.0",
    )
    client.create_route(ApiId=api_id, RouteKey="GET /orders/{id}", Target=target, AuthorizationType="CUSTOM",
                        AuthorizerId=authorizer["AuthorizerId"])
    path = f"/_aws/execute-api/{api_id}/orders/5"
    assert request(server.endpoint, "GET", path, headers={"Authorization": "deny"}).status == 403
    assert request(server.endpoint, "GET", path, headers={"Authorization": "crash"}).status == 500
    ok = request(server.endpoint, "GET", path, headers={"Authorization": "allow"})
    assert ok.status == 201
    assert ok.json()["requestContext"]["authorizer"] == {"lambda": {"tier": "gold", "principalId": "user-9"}}


def test_aws_iam_route(server: ServerProcess, echo_arn: str) -> None:
    client, api_id, target = make_api(server, echo_arn)
    client.create_route(ApiId=api_id, RouteKey="GET /iam", Target=target, AuthorizationType="AWS_IAM")
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/iam"
    assert request(server.endpoint, "GET", f"/_aws/execute-api/{api_id}/iam").status == 403
    aws_request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("test", "test"), "execute-api", "us-east-1").add_auth(aws_request)
    signed = request(server.endpoint, "GET", f"/_aws/execute-api/{api_id}/iam", headers=dict(aws_request.headers))
    assert signed.status == 201
    assert signed.json()["requestContext"]["authorizer"]["iam"]["accessKey"] == "test"
