"""SQS beyond boto3's JSON: the legacy query protocol, the AWS CLI, and durability across kill -9."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from tests.servers import ServerProcess

from cloudlet.protocols.sqs import legacy_query_model

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


def signed(url: str, data: bytes) -> urllib.request.Request:
    request = AWSRequest(
        method="POST",
        url=url,
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials("test", "test"), "sqs", "us-east-1").add_auth(request)
    return urllib.request.Request(
        request.url, data=data, headers=dict(request.headers.items()), method="POST"
    )


def query_body(operation: str, params: dict[str, Any]) -> bytes:
    """The form body botocore's query serializer writes for the legacy (2012-11-05) SQS model."""
    model = legacy_query_model()
    serializer = create_serializer("query", include_validation=False)
    serialized = serializer.serialize_to_request(params, model.operation_model(operation))
    return urlencode(serialized["body"]).encode()


def query_call(
    endpoint: str, operation: str, params: dict[str, Any], url: str | None = None
) -> tuple[int, ET.Element, dict[str, str]]:
    """A signed legacy-query request, as SDKs before the JSON protocol send it."""
    request = signed(url or endpoint + "/", query_body(operation, params))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, ET.fromstring(response.read()), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, ET.fromstring(error.read()), dict(error.headers.items())


def test_legacy_query_protocol(server: ServerProcess) -> None:
    name = f"legacy-{uuid.uuid4().hex[:8]}"
    status, root, _ = query_call(
        server.endpoint,
        "CreateQueue",
        {"QueueName": name, "Attributes": {"VisibilityTimeout": "5"}},
    )
    assert status == 200
    url = root.findtext(f"{NS}CreateQueueResult/{NS}QueueUrl")
    assert url == f"{server.endpoint}/000000000000/{name}"

    status, root, _ = query_call(
        server.endpoint,
        "SendMessage",
        {
            "QueueUrl": url,
            "MessageBody": "hi",
            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
        },
    )
    assert status == 200
    assert (
        root.findtext(f"{NS}SendMessageResult/{NS}MD5OfMessageBody")
        == "49f68a5c8493ec2c0bf489821c21fc3b"
    )

    # Older clients POST to the queue URL itself and leave QueueUrl out.
    status, root, _ = query_call(
        server.endpoint,
        "ReceiveMessage",
        {"AttributeNames": ["All"], "MessageAttributeNames": ["All"]},
        url=url,
    )
    assert status == 200
    message = root.find(f"{NS}ReceiveMessageResult/{NS}Message")
    assert message is not None
    assert message.findtext(f"{NS}Body") == "hi"
    attributes = {
        a.findtext(f"{NS}Name"): a.findtext(f"{NS}Value") for a in message.findall(f"{NS}Attribute")
    }
    assert attributes["ApproximateReceiveCount"] == "1"
    user = message.find(f"{NS}MessageAttribute")
    assert user is not None and user.findtext(f"{NS}Name") == "k"
    assert user.findtext(f"{NS}Value/{NS}StringValue") == "v"

    status, root, _ = query_call(server.endpoint, "GetQueueUrl", {"QueueName": name + "-missing"})
    assert status == 400
    assert root.findtext(f"{NS}Error/{NS}Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"


def test_query_response_parses_with_botocore(server: ServerProcess) -> None:
    """botocore's own query parser reads our legacy responses (what old SDKs do)."""
    name = f"legacyp-{uuid.uuid4().hex[:8]}"
    operation = legacy_query_model().operation_model("CreateQueue")
    with urllib.request.urlopen(
        signed(server.endpoint + "/", query_body("CreateQueue", {"QueueName": name})), timeout=30
    ) as response:
        raw = {
            "status_code": response.status,
            "headers": dict(response.headers.items()),
            "body": response.read(),
        }
    parsed = create_parser("query").parse(raw, operation.output_shape)
    assert parsed["QueueUrl"].endswith(f"/000000000000/{name}")


@pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")
def test_aws_cli(server: ServerProcess, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    env.pop("AWS_ENDPOINT_URL", None)

    def aws(*args: str) -> Any:
        done = subprocess.run(
            ["aws", "--endpoint-url", server.endpoint, "--output", "json", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    name = f"cli-{uuid.uuid4().hex[:8]}"
    url = aws("sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    sent = aws("sqs", "send-message", "--queue-url", url, "--message-body", "from the cli")
    assert sent["MD5OfMessageBody"]
    got = aws("sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1")
    assert got["Messages"][0]["Body"] == "from the cli"
    assert url in aws("sqs", "list-queues", "--queue-name-prefix", name)["QueueUrls"]


def test_acknowledged_send_survives_kill9(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName="durable")["QueueUrl"]
    ids = {sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(20)}
    in_flight = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    server.kill9()

    restarted = start_server(data_dir)
    sqs = restarted.client("sqs")
    url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
    received: set[str] = set()
    for _ in range(10):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
        for message in batch.get("Messages", []):
            received.add(message["MessageId"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if received == ids:
            break
    assert received == ids
    assert in_flight["MessageId"] in received
