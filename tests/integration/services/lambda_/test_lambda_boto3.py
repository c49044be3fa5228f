"""Lambda through boto3 against a real ``cloudlet up`` server with real workers."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.servers import ServerProcess

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

ECHO = """
import json
def handler(event, context):
    print("event:", json.dumps(event))
    if isinstance(event, dict) and event.get("touch"):
        with open(event["touch"], "a") as f:
            f.write(context.aws_request_id + "\\n")
    return {"event": event, "version": context.function_version,
            "arn": context.invoked_function_arn}
"""

RAISE = """
class PaymentDeclined(Exception):
    pass

def handler(event, context):
    raise PaymentDeclined("card expired")
"""

LIST_FUNCTIONS = """
import boto3
def handler(event, context):
    client = boto3.client("lambda")
    names = []
    for page in client.get_paginator("list_functions").paginate():
        names.extend(f["FunctionName"] for f in page["Functions"])
    return {"names": names}
"""


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(client: Any, name: str, code: str = ECHO, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(code)},
        **extra,
    )
    return response


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    response: dict[str, Any] = info.value.response
    return response


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_create_and_invoke(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    name = unique("echo")
    created = create(client, name)
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert created["State"] == "Active"
    client.get_waiter("function_active_v2").wait(FunctionName=name)

    result = client.invoke(
        FunctionName=name, Payload=json.dumps({"hello": "world"}), LogType="Tail"
    )
    assert result["StatusCode"] == 200
    assert result["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in result
    body = json.loads(result["Payload"].read())
    assert body["event"] == {"hello": "world"}
    assert body["arn"] == created["FunctionArn"]
    tail = base64.b64decode(result["LogResult"]).decode()
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail
    assert 'event: {"hello": "world"}' in tail

    got = client.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as response:
        downloaded = response.read()
    assert zipfile.ZipFile(io.BytesIO(downloaded)).read("app.py").decode() == ECHO


def test_function_error(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    name = unique("raise")
    create(client, name, RAISE)
    result = client.invoke(FunctionName=name, Payload=b"{}")
    assert result["StatusCode"] == 200
    assert result["FunctionError"] == "Unhandled"
    error = json.loads(result["Payload"].read())
    assert error["errorType"] == "PaymentDeclined"
    assert error["errorMessage"] == "card expired"
    assert isinstance(error["stackTrace"], list)


def test_handler_uses_boto3_against_cloudlet(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    name = unique("lister")
    create(client, name, LIST_FUNCTIONS, Timeout=30)
    result = client.invoke(FunctionName=name)
    assert "FunctionError" not in result, result["Payload"].read()
    assert name in json.loads(result["Payload"].read())["names"]


def test_versions_and_aliases(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    name = unique("versions")
    create(client, name)
    v1 = client.publish_version(FunctionName=name)
    assert v1["Version"] == "1"
    client.update_function_configuration(FunctionName=name, Description="second")
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    v2 = client.publish_version(FunctionName=name)
    assert v2["Version"] == "2"
    versions = client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]

    alias = client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"].endswith(f":function:{name}:live")
    result = client.invoke(FunctionName=f"{name}:live")
    assert result["ExecutedVersion"] == "1"
    body = json.loads(result["Payload"].read())
    assert body["version"] == "1"
    assert body["arn"].endswith(f":function:{name}:live")

    client.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
    )
    seen = {
        client.invoke(FunctionName=name, Qualifier="live")["ExecutedVersion"] for _ in range(30)
    }
    assert seen == {"1", "2"}

    listed = client.list_aliases(FunctionName=name)["Aliases"]
    assert [a["Name"] for a in listed] == ["live"]
    client.delete_alias(FunctionName=name, Name="live")
    assert client.list_aliases(FunctionName=name)["Aliases"] == []


def test_errors(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    missing = unique("missing")
    response = error_of(lambda: client.get_function(FunctionName=missing))
    assert response["Error"]["Code"] == "ResourceNotFoundException"
    assert response["Error"]["Message"] == (
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{missing}"
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    response = error_of(lambda: client.invoke(FunctionName=missing))
    assert response["Error"]["Code"] == "ResourceNotFoundException"

    name = unique("dup")
    create(client, name)
    response = error_of(lambda: create(client, name))
    assert response["Error"]["Code"] == "ResourceConflictException"
    assert response["Error"]["Message"] == f"Function already exist: {name}"

    response = error_of(
        lambda: client.create_function(
            FunctionName=unique("rt"),
            Runtime="nodejs20.x",
            Role=ROLE,
            Handler="index.handler",
            Code={"ZipFile": make_zip(ECHO)},
        )
    )
    assert response["Error"]["Code"] == "InvalidParameterValueException"

    response = error_of(
        lambda: client.create_function(
            FunctionName=unique("zip"),
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": b"not a zip file"},
        )
    )
    assert response["Error"]["Code"] == "InvalidParameterValueException"
    assert response["Error"]["Message"] == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )

    response = error_of(lambda: client.invoke(FunctionName=name, Payload=b"{oops"))
    assert response["Error"]["Code"] == "InvalidRequestContentException"

    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    response = error_of(lambda: client.invoke(FunctionName=name))
    assert response["Error"]["Code"] == "TooManyRequestsException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_event_invoke_runs(aws_client: Callable[..., Any], tmp_path: Path) -> None:
    client = aws_client("lambda")
    name = unique("async")
    create(client, name)
    marker = tmp_path / "ran.txt"
    accepted = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"touch": str(marker)})
    )
    assert accepted["StatusCode"] == 202
    wait_until(marker.exists)
    assert accepted["ResponseMetadata"]["RequestId"] in marker.read_text()

    logs = aws_client("logs")

    def logged() -> bool:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        return any(str(marker) in e["message"] for e in events)

    wait_until(logged)


def test_event_survives_kill9(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    """An accepted Event that could not run yet (reserved concurrency 0) is delivered after kill -9."""
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    client = server.client("lambda")
    create(client, "held")
    client.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
    marker = tmp_path / "held.txt"
    accepted = client.invoke(
        FunctionName="held", InvocationType="Event", Payload=json.dumps({"touch": str(marker)})
    )
    assert accepted["StatusCode"] == 202
    server.kill9()
    assert not marker.exists()

    restarted = start_server(data_dir)
    client = restarted.client("lambda")
    client.delete_function_concurrency(FunctionName="held")
    wait_until(marker.exists, timeout=60)
    assert accepted["ResponseMetadata"]["RequestId"] in marker.read_text()


def test_settings_policy_and_event_invoke_config(aws_client: Callable[..., Any]) -> None:
    client = aws_client("lambda")
    name = unique("cfg")
    created = create(client, name, Tags={"team": "core"})
    settings = client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] >= 1

    put = client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60
    )
    assert put["FunctionArn"] == f"{created['FunctionArn']}:$LATEST"
    assert put["LastModified"].year >= 2024
    got = client.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 60)

    added = client.add_permission(
        FunctionName=name,
        StatementId="allow-sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
        SourceArn="arn:aws:sns:us-east-1:000000000000:topic",
    )
    assert json.loads(added["Statement"])["Principal"] == {"Service": "sns.amazonaws.com"}
    policy = json.loads(client.get_policy(FunctionName=name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["allow-sns"]
    assert client.list_tags(Resource=created["FunctionArn"])["Tags"] == {"team": "core"}

    client.delete_function(FunctionName=name)
    response = error_of(lambda: client.get_policy(FunctionName=name))
    assert response["Error"]["Code"] == "ResourceNotFoundException"


def test_warm_invokes_see_every_change_at_once(aws_client: Callable[..., Any]) -> None:
    """Invoke caches the function's resolution between writes; every write must show immediately."""
    lam = aws_client("lambda")
    name = unique("fresh")
    create(lam, name, code="def handler(e, c):\n    return 1\n")
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})

    def result(**kwargs: Any) -> Any:
        return json.load(lam.invoke(FunctionName=name, **kwargs)["Payload"])

    assert result() == 1 and result() == 1  # the second call may be served from the cache
    for n in (2, 3):
        lam.update_function_code(FunctionName=name, ZipFile=make_zip(f"def handler(e, c):\n    return {n}\n"))
        assert result() == n
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert result(Qualifier="live") == 3
    lam.update_function_code(FunctionName=name, ZipFile=make_zip("def handler(e, c):\n    return 4\n"))
    assert result(Qualifier="live") == 3 and result() == 4
    lam.delete_function(FunctionName=name)
    assert error_of(lambda: lam.invoke(FunctionName=name))["Error"]["Code"] == "ResourceNotFoundException"
