"""API Gateway HTTP APIs through boto3 and raw HTTP against a real server with real Lambda workers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.integration.services.apigatewayv2.apigw_helpers import (
    create_function,
    local_http_server,
    request,
    unique,
)
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def echo_arn(server: ServerProcess) -> str:
    return create_function(server.client("lambda"))


def path_form(api_id: str, path: str) -> str:
    return f"/_aws/execute-api/{api_id}{path}"


def test_quick_create_host_and_path_form(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigatewayv2")
    api = client.create_api(Name=unique("quick"), ProtocolType="HTTP", Target=echo_arn)
    api_id = api["ApiId"]
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.localhost:{server.port}"
    assert [r["RouteKey"] for r in client.get_routes(ApiId=api_id)["Items"]] == ["$default"]
    stage = client.get_stage(ApiId=api_id, StageName="$default")
    assert stage["AutoDeploy"] is True

    by_host = request(server.endpoint, "GET", "/hello/world?x=1&x=2", host=f"{api_id}.execute-api.localhost:{server.port}",
                      headers={"Cookie": "s=1; t=2", "User-Agent": "test-agent"})
    assert by_host.status == 201
    assert by_host.header("x-echo") == "1"
    assert by_host.all("set-cookie") == ["a=1", "b=2"]
    event = by_host.json()
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/hello/world" and event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["s=1", "t=2"]
    context = event["requestContext"]
    assert context["apiId"] == api_id and context["stage"] == "$default"
    assert context["http"]["method"] == "GET" and context["http"]["userAgent"] == "test-agent"
    assert context["domainName"] == f"{api_id}.execute-api.localhost"
    assert isinstance(context["timeEpoch"], int)

    by_path = request(server.endpoint, "POST", path_form(api_id, "/items"), body=b'{"a": 1}',
                      headers={"Content-Type": "application/json"})
    assert by_path.status == 201
    assert by_path.json()["body"] == '{"a": 1}' and by_path.json()["isBase64Encoded"] is False
    assert request(server.endpoint, "GET", path_form("nosuchapi0", "/x")).json() == {"message": "Not Found"}


def test_routes_precedence_and_response_mapping(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigatewayv2")
    api_id = client.create_api(Name=unique("routes"), ProtocolType="HTTP")["ApiId"]
    integration = client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo_arn,
                                            PayloadFormatVersion="2.0")
    target = f"integrations/{integration['IntegrationId']}"
    for key in ("GET /items/{id}", "GET /items/special", "ANY /{proxy+}"):
        client.create_route(ApiId=api_id, RouteKey=key, Target=target)
    with pytest.raises(ClientError) as conflict:
        client.create_route(ApiId=api_id, RouteKey="GET /items/special", Target=target)
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    def call(method: str, path: str, **kwargs: Any) -> Any:
        return request(server.endpoint, method, path_form(api_id, path), **kwargs)

    assert call("GET", "/items/special").json()["routeKey"] == "GET /items/special"
    item = call("GET", "/items/42").json()
    assert item["routeKey"] == "GET /items/{id}" and item["pathParameters"] == {"id": "42"}
    proxy = call("DELETE", "/items/42").json()
    assert proxy["routeKey"] == "ANY /{proxy+}" and proxy["pathParameters"] == {"proxy": "items/42"}
    assert call("GET", "/").json() == {"message": "Not Found"}  # no $default route

    bare = call("GET", "/x/bare")
    assert (bare.status, bare.header("content-type"), bare.json()) == (200, "application/json", {"hello": "world"})
    boom = call("GET", "/x/boom")
    assert (boom.status, boom.json()) == (500, {"message": "Internal Server Error"})
    assert call("GET", "/x/malformed").status == 500
    binary = call("GET", "/x/binary")
    assert binary.status == 200 and binary.body == bytes(range(256))
    upload = call("PUT", "/x/upload", body=b"\xff\xfe\x00", headers={"Content-Type": "application/octet-stream"}).json()
    assert upload["isBase64Encoded"] is True and base64.b64decode(upload["body"]) == b"\xff\xfe\x00"

    # A new route with AutoDeploy takes effect at once; deleting it too.
    default_route = client.create_route(ApiId=api_id, RouteKey="$default", Target=target)
    assert call("GET", "/").json()["routeKey"] == "$default"
    client.delete_route(ApiId=api_id, RouteId=default_route["RouteId"])
    assert call("GET", "/").status == 404


def test_named_stage_deployments_variables_and_payload_v1(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigatewayv2")
    api_id = client.create_api(Name=unique("stages"), ProtocolType="HTTP")["ApiId"]
    integration = client.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo_arn,
                                            PayloadFormatVersion="1.0")
    client.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{integration['IntegrationId']}")
    client.create_stage(ApiId=api_id, StageName="prod", StageVariables={"env": "production"})
    assert request(server.endpoint, "GET", path_form(api_id, "/prod/items/7")).status == 404  # not deployed yet
    deployment = client.create_deployment(ApiId=api_id, StageName="prod")
    assert client.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == deployment["DeploymentId"]

    response = request(server.endpoint, "GET", path_form(api_id, "/prod/items/7?q=a&q=b"))
    assert response.status == 201
    assert response.all("x-multi") == ["p", "q"]
    event = response.json()
    assert event["version"] == "1.0"
    assert event["resource"] == "/items/{id}" and event["path"] == "/prod/items/7" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "7"} and event["stageVariables"] == {"env": "production"}
    assert event["multiValueQueryStringParameters"] == {"q": ["a", "b"]}
    assert event["requestContext"]["stage"] == "prod"

    # Routes added after the deployment are not live until the next deployment.
    client.create_route(ApiId=api_id, RouteKey="GET /new", Target=f"integrations/{integration['IntegrationId']}")
    assert request(server.endpoint, "GET", path_form(api_id, "/prod/new")).status == 404
    client.create_deployment(ApiId=api_id, StageName="prod")
    assert request(server.endpoint, "GET", path_form(api_id, "/prod/new")).status == 201


def test_cors_and_throttling(server: ServerProcess, echo_arn: str) -> None:
    client = server.client("apigatewayv2")
    api_id = client.create_api(
        Name=unique("cors"), ProtocolType="HTTP", Target=echo_arn,
        CorsConfiguration={"AllowOrigins": ["http://app.localhost"], "AllowMethods": ["GET", "POST"],
                           "AllowHeaders": ["content-type"], "ExposeHeaders": ["x-echo"], "MaxAge": 60},
    )["ApiId"]
    preflight = request(server.endpoint, "OPTIONS", path_form(api_id, "/things"),
                        headers={"Origin": "http://app.localhost", "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "http://app.localhost"
    assert preflight.header("access-control-allow-methods") == "GET,POST"
    actual = request(server.endpoint, "GET", path_form(api_id, "/things"), headers={"Origin": "http://app.localhost"})
    assert actual.status == 201
    assert actual.header("access-control-allow-origin") == "http://app.localhost"
    assert actual.header("access-control-expose-headers") == "x-echo"
    other = request(server.endpoint, "GET", path_form(api_id, "/things"), headers={"Origin": "http://evil.localhost"})
    assert other.header("access-control-allow-origin") is None

    client.update_stage(ApiId=api_id, StageName="$default",
                        DefaultRouteSettings={"ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 0.01})
    statuses = [request(server.endpoint, "GET", path_form(api_id, "/t")).status for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert request(server.endpoint, "GET", path_form(api_id, "/t")).json() == {"message": "Too Many Requests"}


def test_http_proxy_integration(server: ServerProcess) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def backend(handler: Any) -> tuple[int, dict[str, str], bytes]:
        seen.append((handler.command, handler.path, dict(handler.headers)))
        return 202, {"Content-Type": "text/plain", "X-Backend": "yes"}, b"from backend"

    client = server.client("apigatewayv2")
    with local_http_server(backend) as base:
        api_id = client.create_api(Name=unique("proxy"), ProtocolType="HTTP")["ApiId"]
        integration = client.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                                IntegrationUri=base + "/up/{proxy}", PayloadFormatVersion="1.0")
        client.create_route(ApiId=api_id, RouteKey="ANY /svc/{proxy+}", Target=f"integrations/{integration['IntegrationId']}")
        client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        response = request(server.endpoint, "POST", path_form(api_id, "/svc/a/b?k=v"), body=b"payload")
    assert (response.status, response.body, response.header("x-backend")) == (202, b"from backend", "yes")
    assert seen[0][0] == "POST" and seen[0][1] == "/up/a/b?k=v"


def test_control_plane_errors_and_listing(server: ServerProcess, aws_client: Callable[..., Any]) -> None:
    client = aws_client("apigatewayv2")
    with pytest.raises(ClientError) as missing:
        client.get_api(ApiId="doesnotexist")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    api_id = client.create_api(Name=unique("list"), ProtocolType="HTTP")["ApiId"]
    assert api_id in [a["ApiId"] for a in client.get_apis()["Items"]]
    updated = client.update_api(ApiId=api_id, Description="d")
    assert updated["Description"] == "d"
    with pytest.raises(ClientError) as bad:
        client.create_route(ApiId=api_id, RouteKey="GET nopath")
    assert bad.value.response["Error"]["Code"] == "BadRequestException"
    client.delete_api(ApiId=api_id)
    with pytest.raises(ClientError):
        client.get_api(ApiId=api_id)
    assert json.loads(request(server.endpoint, "GET", path_form(api_id, "/")).body) == {"message": "Not Found"}


def test_apis_survive_restart(start_server: Callable[..., ServerProcess]) -> None:
    first = start_server()
    arn = create_function(first.client("lambda"))
    api_id = first.client("apigatewayv2").create_api(Name=unique("durable"), ProtocolType="HTTP", Target=arn)["ApiId"]
    rest = first.client("apigateway").create_rest_api(name=unique("durable"))["id"]
    first.stop()
    second = start_server(first.data_dir)
    assert second.client("apigatewayv2").get_api(ApiId=api_id)["ApiId"] == api_id
    assert second.client("apigateway").get_rest_api(restApiId=rest)["id"] == rest
    assert request(second.endpoint, "GET", path_form(api_id, "/after/restart")).json()["rawPath"] == "/after/restart"
