"""API Gateway REST APIs (v1) with a Lambda proxy integration, stages and API keys, against a real server."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.integration.services.apigatewayv2.apigw_helpers import create_function, request, unique
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def echo_arn(server: ServerProcess) -> str:
    return create_function(server.client("lambda"))


def lambda_uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def build_api(client: Any, echo_arn: str, **create: Any) -> tuple[str, dict[str, str]]:
    api = client.create_rest_api(name=unique("rest"), **create)
    api_id = api["id"]
    resources = {r["path"]: r["id"] for r in client.get_resources(restApiId=api_id)["items"]}
    assert list(resources) == ["/"] and resources["/"] == api["rootResourceId"]
    proxy = client.create_resource(restApiId=api_id, parentId=resources["/"], pathPart="{proxy+}")
    items = client.create_resource(restApiId=api_id, parentId=resources["/"], pathPart="items")
    item = client.create_resource(restApiId=api_id, parentId=items["id"], pathPart="{id}")
    assert item["path"] == "/items/{id}"
    for resource_id, method, key_required in ((proxy["id"], "ANY", False), (item["id"], "GET", True)):
        client.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method, authorizationType="NONE",
                          apiKeyRequired=key_required)
        client.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method, type="AWS_PROXY",
                               integrationHttpMethod="POST", uri=lambda_uri(echo_arn))
    return api_id, {"proxy": proxy["id"], "item": item["id"]}


def test_rest_api_proxy_and_api_keys(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigateway")
    api_id, ids = build_api(client, echo_arn)
    method = client.get_method(restApiId=api_id, resourceId=ids["item"], httpMethod="GET")
    assert method["apiKeyRequired"] is True and method["methodIntegration"]["type"] == "AWS_PROXY"
    base = f"/_aws/execute-api/{api_id}"
    assert request(server.endpoint, "GET", f"{base}/dev/hello").json() == {"message": "Missing Authentication Token"}

    deployment = client.create_deployment(restApiId=api_id, stageName="dev", variables={"color": "blue"})
    stage = client.get_stage(restApiId=api_id, stageName="dev")
    assert stage["deploymentId"] == deployment["id"] and stage["variables"] == {"color": "blue"}

    response = request(server.endpoint, "POST", f"{base}/dev/hello/world?n=1&n=2", body=b'{"a":1}',
                       headers={"Content-Type": "application/json"})
    assert response.status == 201
    assert response.all("x-multi") == ["p", "q"]
    event = response.json()
    assert event["resource"] == "/{proxy+}" and event["path"] == "/hello/world" and event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"proxy": "hello/world"}
    assert event["queryStringParameters"] == {"n": "2"}
    assert event["multiValueQueryStringParameters"] == {"n": ["1", "2"]}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["body"] == '{"a":1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["path"] == "/dev/hello/world" and context["resourcePath"] == "/{proxy+}"
    assert context["stage"] == "dev" and context["resourceId"] == ids["proxy"] and context["apiId"] == api_id

    host_form = request(server.endpoint, "GET", "/dev/x/boom", host=f"{api_id}.execute-api.localhost:{server.port}")
    assert (host_form.status, host_form.json()) == (502, {"message": "Internal server error"})

    item_path = f"{base}/dev/items/9"
    assert request(server.endpoint, "GET", item_path).json() == {"message": "Forbidden"}
    key = client.create_api_key(name=unique("key"), enabled=True)
    assert len(key["value"]) >= 20
    assert request(server.endpoint, "GET", item_path, headers={"x-api-key": key["value"]}).status == 403
    plan = client.create_usage_plan(name=unique("plan"), apiStages=[{"apiId": api_id, "stage": "dev"}])
    client.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    ok = request(server.endpoint, "GET", item_path, headers={"x-api-key": key["value"]})
    assert ok.status == 201
    assert ok.json()["pathParameters"] == {"id": "9"}
    assert ok.json()["requestContext"]["identity"]["apiKey"] == key["value"]
    assert key["id"] in [k["id"] for k in client.get_api_keys()["items"]]


def test_rest_api_control_plane(server: ServerProcess) -> None:
    client = server.client("apigateway")
    api_id = client.create_rest_api(name=unique("cp"), description="d")["id"]
    assert client.get_rest_api(restApiId=api_id)["description"] == "d"
    assert api_id in [a["id"] for a in client.get_rest_apis()["items"]]
    with pytest.raises(ClientError) as empty:
        client.create_deployment(restApiId=api_id, stageName="x")
    assert empty.value.response["Error"]["Code"] == "BadRequestException"
    root = client.get_resources(restApiId=api_id)["items"][0]["id"]
    child = client.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    with pytest.raises(ClientError) as dup:
        client.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    assert dup.value.response["Error"]["Code"] == "ConflictException"
    client.delete_resource(restApiId=api_id, resourceId=child["id"])
    assert [r["path"] for r in client.get_resources(restApiId=api_id)["items"]] == ["/"]
    client.delete_rest_api(restApiId=api_id)
    with pytest.raises(ClientError) as gone:
        client.get_rest_api(restApiId=api_id)
    assert gone.value.response["Error"]["Code"] == "NotFoundException"


def test_mock_cors_options_and_usage_plan_throttle(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigateway")
    api_id, ids = build_api(client, echo_arn)
    # What SAM generates for ``Cors``: an OPTIONS method with a MOCK integration and literal header mappings.
    client.put_method(restApiId=api_id, resourceId=ids["item"], httpMethod="OPTIONS", authorizationType="NONE")
    client.put_integration(restApiId=api_id, resourceId=ids["item"], httpMethod="OPTIONS", type="MOCK",
                           requestTemplates={"application/json": '{"statusCode": 200}'})
    client.put_method_response(restApiId=api_id, resourceId=ids["item"], httpMethod="OPTIONS", statusCode="200",
                               responseParameters={"method.response.header.Access-Control-Allow-Origin": False})
    client.put_integration_response(
        restApiId=api_id, resourceId=ids["item"], httpMethod="OPTIONS", statusCode="200",
        responseParameters={"method.response.header.Access-Control-Allow-Origin": "'*'",
                            "method.response.header.Access-Control-Allow-Methods": "'GET,OPTIONS'"},
        responseTemplates={"application/json": ""},
    )
    client.create_deployment(restApiId=api_id, stageName="v1")
    options = request(server.endpoint, "OPTIONS", f"/_aws/execute-api/{api_id}/v1/items/3",
                      headers={"Origin": "http://page.localhost", "Access-Control-Request-Method": "GET"})
    assert options.status == 200
    assert options.header("Access-Control-Allow-Origin") == "*"
    assert options.header("Access-Control-Allow-Methods") == "GET,OPTIONS"

    key = client.create_api_key(name=unique("key"), enabled=True, value="k" * 24 + unique("v"))
    plan = client.create_usage_plan(name=unique("plan"), apiStages=[{"apiId": api_id, "stage": "v1"}],
                                    throttle={"burstLimit": 1, "rateLimit": 0.01})
    client.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    path = f"/_aws/execute-api/{api_id}/v1/items/3"
    statuses = [request(server.endpoint, "GET", path, headers={"x-api-key": key["value"]}).status for _ in range(2)]
    assert statuses == [201, 429]


def test_binary_media_types(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigateway")
    plain_id, _ = build_api(client, echo_arn)
    binary_id, _ = build_api(client, echo_arn, binaryMediaTypes=["application/octet-stream", "image/*"])
    for api_id in (plain_id, binary_id):
        client.create_deployment(restApiId=api_id, stageName="s")
    expected = bytes(range(256))
    plain = request(server.endpoint, "GET", f"/_aws/execute-api/{plain_id}/s/x/binary")
    assert base64.b64decode(plain.body) == expected  # no binary media types: the base64 text as is
    binary = request(server.endpoint, "GET", f"/_aws/execute-api/{binary_id}/s/x/binary",
                     headers={"Accept": "application/octet-stream"})
    assert binary.body == expected
    upload = request(server.endpoint, "POST", f"/_aws/execute-api/{binary_id}/s/up", body=b"\x89PNG\xff",
                     headers={"Content-Type": "image/png"}).json()
    assert upload["isBase64Encoded"] is True and base64.b64decode(upload["body"]) == b"\x89PNG\xff"
    text = request(server.endpoint, "POST", f"/_aws/execute-api/{binary_id}/s/up", body=b"hello",
                   headers={"Content-Type": "text/plain"}).json()
    assert (text["isBase64Encoded"], text["body"]) == (False, "hello")


TOKEN_AUTHORIZER = '''
def handler(event, context):
    assert event["type"] == "TOKEN"
    if event["authorizationToken"] == "crash":
        raise RuntimeError("authorizer failed")
    effect = "Allow" if event["authorizationToken"] == "Bearer good" else "Deny"
    return {"principalId": "user-7", "context": {"plan": "pro"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
'''


def test_token_authorizer(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigateway")
    api = client.create_rest_api(name=unique("authz"))
    api_id = api["id"]
    authorizer_arn = create_function(server.client("lambda"), TOKEN_AUTHORIZER)
    authorizer = client.create_authorizer(restApiId=api_id, name="tok", type="TOKEN",
                                          authorizerUri=lambda_uri(authorizer_arn),
                                          identitySource="method.request.header.Authorization",
                                          authorizerResultTtlInSeconds=0)
    assert client.get_authorizers(restApiId=api_id)["items"][0]["id"] == authorizer["id"]
    secure = client.create_resource(restApiId=api_id, parentId=api["rootResourceId"], pathPart="secure")
    client.put_method(restApiId=api_id, resourceId=secure["id"], httpMethod="GET", authorizationType="CUSTOM",
                      authorizerId=authorizer["id"])
    client.put_integration(restApiId=api_id, resourceId=secure["id"], httpMethod="GET", type="AWS_PROXY",
                           integrationHttpMethod="POST", uri=lambda_uri(echo_arn))
    client.create_deployment(restApiId=api_id, stageName="prod")
    path = f"/_aws/execute-api/{api_id}/prod/secure"
    assert request(server.endpoint, "GET", path).json() == {"message": "Unauthorized"}
    denied = request(server.endpoint, "GET", path, headers={"Authorization": "Bearer bad"})
    assert (denied.status, denied.json()) == (
        403, {"Message": "User is not authorized to access this resource with an explicit deny"})
    assert request(server.endpoint, "GET", path, headers={"Authorization": "crash"}).status == 500
    ok = request(server.endpoint, "GET", path, headers={"Authorization": "Bearer good"})
    assert ok.status == 201
    assert ok.json()["requestContext"]["authorizer"] == {"principalId": "user-7", "plan": "pro"}
