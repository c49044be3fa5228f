"""Lambda function URLs: control plane through boto3, traffic over plain HTTP (host and path form)."""

from __future__ import annotations

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.integration.services.apigatewayv2.apigw_helpers import create_function, request
from tests.servers import ServerProcess

from cloudlet.services.lambda_ import LambdaProvider

pytestmark = pytest.mark.skipif(
    not hasattr(LambdaProvider, "CreateFunctionUrlConfig"),
    reason="FunctionUrlOperations is not mixed into LambdaProvider yet (lambda_/urls.py)",
)


def test_function_url_lifecycle_and_traffic(server: ServerProcess) -> None:
    lam = server.client("lambda")
    arn = create_function(lam)
    name = arn.rsplit(":", 1)[1]
    config = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": ["http://page.localhost"], "AllowMethods": ["GET"], "MaxAge": 30},
    )
    url = config["FunctionUrl"]
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    assert url == f"http://{url_id}.lambda-url.us-east-1.localhost:{server.port}/"
    assert config["FunctionArn"] == arn and config["AuthType"] == "NONE" and config["InvokeMode"] == "BUFFERED"
    with pytest.raises(ClientError) as conflict:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert conflict.value.response["Error"]["Code"] == "ResourceConflictException"
    assert lam.get_function_url_config(FunctionName=name)["FunctionUrl"] == url
    assert [c["FunctionUrl"] for c in lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == [url]

    host = f"{url_id}.lambda-url.us-east-1.localhost:{server.port}"
    by_host = request(server.endpoint, "POST", "/orders/1?x=y", host=host, body=b"hi",
                      headers={"Content-Type": "text/plain", "Cookie": "sid=1"})
    assert by_host.status == 201 and by_host.all("set-cookie") == ["a=1", "b=2"]
    event = by_host.json()
    assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/orders/1"
    assert event["rawQueryString"] == "x=y" and event["cookies"] == ["sid=1"] and event["body"] == "hi"
    context = event["requestContext"]
    assert context["apiId"] == url_id and context["stage"] == "$default"
    assert context["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert "authorizer" not in context

    by_path = request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/x/bare")
    assert (by_path.status, by_path.json()) == (200, {"hello": "world"})
    assert request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/x/boom").status == 502

    preflight = request(server.endpoint, "OPTIONS", "/", host=host,
                        headers={"Origin": "http://page.localhost", "Access-Control-Request-Method": "GET"})
    assert preflight.header("access-control-allow-origin") == "http://page.localhost"
    actual = request(server.endpoint, "GET", "/", host=host, headers={"Origin": "http://page.localhost"})
    assert actual.header("access-control-allow-origin") == "http://page.localhost"

    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and "LastModifiedTime" in updated
    unsigned = request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/iam")
    assert unsigned.status == 403
    aws_request = AWSRequest(method="GET", url=f"{server.endpoint}/_aws/lambda-url/{url_id}/iam")
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(aws_request)
    signed = request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/iam", headers=dict(aws_request.headers))
    assert signed.status == 201
    assert signed.json()["requestContext"]["authorizer"]["iam"]["accessKey"] == "test"

    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(ClientError) as missing:
        lam.get_function_url_config(FunctionName=name)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/").status == 404


def test_function_url_on_alias(server: ServerProcess) -> None:
    lam = server.client("lambda")
    arn = create_function(lam)
    name = arn.rsplit(":", 1)[1]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    config = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert config["FunctionArn"] == f"{arn}:live"
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=name)  # no URL on $LATEST
    url_id = config["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    assert request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/x").status == 201
    lam.delete_alias(FunctionName=name, Name="live")  # an alias's URL goes with it
    assert request(server.endpoint, "GET", f"/_aws/lambda-url/{url_id}/x").status == 404

    latest = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    lam.delete_function(FunctionName=name)  # and a function's URLs with the function
    create_function(lam, name=name)
    with pytest.raises(ClientError):
        lam.get_function_url_config(FunctionName=name)
    latest_id = latest["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    assert request(server.endpoint, "GET", f"/_aws/lambda-url/{latest_id}/x").status == 404
