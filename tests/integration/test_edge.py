"""The edge as a user meets it: health, authentication, routing and 501s."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.servers import ServerProcess, make_client


def test_health_answers(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.endpoint}/_cloudlet/health", timeout=5) as r:
        body = json.load(r)
    assert r.status == 200
    assert body["status"] == "running"
    assert body["services"]["lambda"] == "available"


@pytest.mark.parametrize(
    ("service", "call", "kwargs", "operation"),
    [
        # Operations Cloudlet does not implement (and has no plan to soon).
        ("s3", "get_bucket_analytics_configuration", {"Bucket": "b", "Id": "i"}, "GetBucketAnalyticsConfiguration"),
        ("sns", "list_phone_numbers_opted_out", {}, "ListPhoneNumbersOptedOut"),
        ("dynamodb", "list_backups", {}, "ListBackups"),
        ("lambda", "list_code_signing_configs", {}, "ListCodeSigningConfigs"),
        ("apigatewayv2", "get_vpc_links", {}, "GetVpcLinks"),
    ],
)
def test_unimplemented_operation_is_501_naming_it(
    server: ServerProcess, service: str, call: str, kwargs: dict[str, Any], operation: str
) -> None:
    client = make_client(server.endpoint, service)
    with pytest.raises(ClientError) as info:
        getattr(client, call)(**kwargs)
    err = info.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert operation in err["Error"]["Message"]
    assert service in err["Error"]["Message"]


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("lambda", "list_functions", "InvalidSignatureException", 403),
        # JSON services behind AWS's "coral" front end answer 400 (observed for Logs, DynamoDB).
        ("logs", "describe_log_groups", "InvalidSignatureException", 400),
        ("sns", "list_topics", "SignatureDoesNotMatch", 403),
        ("s3", "list_buckets", "SignatureDoesNotMatch", 403),
    ],
)
def test_wrong_secret_is_refused_with_the_services_code(
    server: ServerProcess, service: str, call: str, code: str, status: int
) -> None:
    client = make_client(server.endpoint, service, secret="not-the-secret")
    with pytest.raises(ClientError) as info:
        getattr(client, call)()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert info.value.response["Error"]["Code"] == code


def test_unknown_access_key_is_refused(server: ServerProcess) -> None:
    client = make_client(server.endpoint, "lambda", key="AKIDUNKNOWN")
    with pytest.raises(ClientError) as info:
        client.list_functions()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_unsigned_request_never_reaches_lambda(server: ServerProcess) -> None:
    request = urllib.request.Request(f"{server.endpoint}/2015-03-31/functions/", method="GET")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 403
    assert b"Functions" not in info.value.read()
    assert info.value.headers.get("x-amzn-ErrorType", "").startswith("MissingAuthenticationToken")


def test_ctrl_c_stops_cleanly(start_server: Any) -> None:
    proc = start_server()
    assert proc.stop(timeout=15) == 0
    assert "Traceback" not in proc.log()


def test_sns_confirmation_links_work_unsigned_but_other_actions_do_not(server: ServerProcess) -> None:
    topic = make_client(server.endpoint, "sns").create_topic(Name="unsigned-links")["TopicArn"]
    query = urllib.parse.urlencode({"Action": "ConfirmSubscription", "TopicArn": topic, "Token": "not-a-token"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.endpoint}/?{query}", timeout=5)
    body = info.value.read().decode()
    assert info.value.code in (400, 404)  # SNS's own answer to a bad token, not an auth error
    assert "MissingAuthenticationToken" not in body
    query = urllib.parse.urlencode({"Action": "ListTopics"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.endpoint}/?{query}", timeout=5)
    assert info.value.code == 403
    assert "MissingAuthenticationToken" in info.value.read().decode()


def test_a_service_without_a_provider_answers_501_naming_the_operation(server: ServerProcess) -> None:
    client = make_client(server.endpoint, "stepfunctions")
    with pytest.raises(ClientError) as info:
        client.list_state_machines()
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert "ListStateMachines" in info.value.response["Error"]["Message"]


def test_engine_statistics_are_served(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.endpoint}/_cloudlet/engine", timeout=5) as r:
        stats = json.load(r)
    assert stats["zygote_pid"] > 0
    assert stats["workers"] == stats["busy"] + stats["idle"] + stats["starting"]
    assert isinstance(stats["pools"], list)


def test_a_huge_body_for_an_operation_that_does_not_stream_is_413_before_it_is_read(server: ServerProcess) -> None:
    import socket

    head = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"{" + b" " * (1024 * 1024 + 100))  # just past the point where bodies stream
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 413 ")
    assert b"RequestEntityTooLargeException" in response
    # the server is fine afterwards
    with urllib.request.urlopen(f"{server.endpoint}/_cloudlet/health", timeout=10) as ok:
        assert ok.status == 200
