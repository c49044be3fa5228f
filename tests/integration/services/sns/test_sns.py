"""SNS through boto3: topics, subscriptions, filter policies, fan-out to SQS, Lambda and HTTP, DLQs."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.servers import ServerProcess

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
RECORDER = """
import json, os

def handler(event, context):
    with open(os.environ["EVENT_FILE"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    return {"ok": True}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def make_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def drain(sqs: Any, url: str, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        for message in got.get("Messages", []):
            messages.append(message)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


@pytest.fixture
def sns(aws_client: Callable[..., Any]) -> Any:
    return aws_client("sns")


@pytest.fixture
def sqs(aws_client: Callable[..., Any]) -> Any:
    return aws_client("sqs")


def test_topic_lifecycle(sns: Any) -> None:
    name = unique("topic")
    arn = sns.create_topic(Name=name, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == f"arn:aws:sns:us-east-1:000000000000:{name}"
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["TopicArn"] == arn and attributes["Owner"] == "000000000000"
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Shown")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Shown"
    assert error_of(lambda: sns.create_topic(Name=name, Attributes={"DisplayName": "Other"}))[
        "Code"
    ] == ("InvalidParameter")
    assert (
        error_of(
            lambda: sns.set_topic_attributes(
                TopicArn=arn, AttributeName="Bogus", AttributeValue="1"
            )
        )["Code"]
        == "InvalidParameter"
    )
    assert error_of(lambda: sns.create_topic(Name="bad name"))["Code"] == "InvalidParameter"

    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]

    prefix = unique("page")
    arns = {sns.create_topic(Name=f"{prefix}-{i:03d}")["TopicArn"] for i in range(101)}
    listed: set[str] = set()
    pages = 0
    for page in sns.get_paginator("list_topics").paginate():
        pages += 1
        listed |= {t["TopicArn"] for t in page["Topics"]}
    assert arns | {arn} <= listed and pages >= 2

    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # deleting a missing topic is not an error
    err = error_of(lambda: sns.publish(TopicArn=arn, Message="x"))
    assert err["Code"] == "NotFound" and err["Message"] == "Topic does not exist"
    assert error_of(lambda: sns.get_topic_attributes(TopicArn=arn))["Code"] == "NotFound"


def test_fan_out_to_sqs_with_filter_policies(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("fan"))["TopicArn"]
    red_url, red_arn = make_queue(sqs, unique("red"))
    body_url, body_arn = make_queue(sqs, unique("body"))
    raw_url, raw_arn = make_queue(sqs, unique("raw"))
    red = sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=red_arn,
        Attributes={
            "FilterPolicy": json.dumps({"color": ["red"], "size": [{"numeric": [">", 2]}]})
        },
    )["SubscriptionArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=body_arn,
        Attributes={
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": json.dumps({"order": {"total": [{"numeric": [">=", 100]}]}}),
        },
    )
    raw = sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
    )["SubscriptionArn"]
    assert (
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=raw_arn,
            Attributes={"RawMessageDelivery": "true"},
        )["SubscriptionArn"]
        == raw
    )
    sub_attributes = sns.get_subscription_attributes(SubscriptionArn=red)["Attributes"]
    assert sub_attributes["FilterPolicyScope"] == "MessageAttributes"
    assert sub_attributes["Protocol"] == "sqs" and sub_attributes["PendingConfirmation"] == "false"
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert {s["Endpoint"] for s in listed} == {red_arn, body_arn, raw_arn}
    bad = json.dumps({"color": [{"numeric": [">", "x"]}]})
    err = error_of(
        lambda: sns.set_subscription_attributes(
            SubscriptionArn=red, AttributeName="FilterPolicy", AttributeValue=bad
        )
    )
    assert err["Code"] == "InvalidParameter" and err["Message"].startswith(
        "Invalid parameter: FilterPolicy:"
    )

    def attrs(color: str, size: str) -> dict[str, Any]:
        return {
            "color": {"DataType": "String", "StringValue": color},
            "size": {"DataType": "Number", "StringValue": size},
        }

    hit = sns.publish(
        TopicArn=topic, Message="red big", Subject="Hello", MessageAttributes=attrs("red", "5")
    )
    sns.publish(TopicArn=topic, Message="red small", MessageAttributes=attrs("red", "1"))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"total": 150}}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"total": 10}}))

    red_messages = drain(sqs, red_url, 1)
    assert len(red_messages) == 1
    envelope = json.loads(red_messages[0]["Body"])
    assert red_messages[0]["Body"].startswith('{\n  "Type" : "Notification",\n  "MessageId" : ')
    assert list(envelope) == [
        "Type",
        "MessageId",
        "TopicArn",
        "Subject",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
        "UnsubscribeURL",
        "MessageAttributes",
    ]
    assert envelope["MessageId"] == hit["MessageId"]
    assert (
        envelope["TopicArn"] == topic
        and envelope["Subject"] == "Hello"
        and envelope["Message"] == "red big"
    )
    assert envelope["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "red"},
        "size": {"Type": "Number", "Value": "5"},
    }
    assert envelope["Timestamp"].endswith("Z") and envelope["SignatureVersion"] == "1"
    assert envelope["UnsubscribeURL"].endswith(f"Action=Unsubscribe&SubscriptionArn={red}")

    body_messages = drain(sqs, body_url, 1)
    assert [json.loads(json.loads(m["Body"])["Message"]) for m in body_messages] == [
        {"order": {"total": 150}}
    ]
    assert "Subject" not in json.loads(body_messages[0]["Body"])

    raw_messages = drain(sqs, raw_url, 4)
    assert sorted(m["Body"] for m in raw_messages) == sorted(
        [
            "red big",
            "red small",
            json.dumps({"order": {"total": 150}}),
            json.dumps({"order": {"total": 10}}),
        ]
    )
    big = next(m for m in raw_messages if m["Body"] == "red big")
    assert big["MessageAttributes"]["color"] == {"StringValue": "red", "DataType": "String"}
    assert big["MessageAttributes"]["size"] == {"StringValue": "5", "DataType": "Number"}

    time.sleep(0.3)
    assert drain(sqs, red_url, 1, timeout=0.5) == []
    sns.unsubscribe(SubscriptionArn=red)
    assert red not in {s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]}


def test_message_structure_and_batch(sns: Any, sqs: Any) -> None:
    topic = sns.create_topic(Name=unique("struct"))["TopicArn"]
    url, arn = make_queue(sqs, unique("struct"))
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "d", "sqs": "for sqs"}),
    )
    sns.publish(
        TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "only default"})
    )
    assert (
        error_of(
            lambda: sns.publish(
                TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "x"})
            )
        )["Code"]
        == "InvalidParameter"
    )
    assert error_of(lambda: sns.publish(TopicArn=topic, Message=""))["Code"] == "InvalidParameter"
    assert (
        error_of(lambda: sns.publish(TopicArn=topic, Message="x", Subject="a\nb"))["Code"]
        == "InvalidParameter"
    )
    too_many = {f"k{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x", MessageAttributes=too_many))[
        "Code"
    ] == ("ParameterValueInvalid")
    fifo_queue = make_queue(sqs, unique("fq") + ".fifo", FifoQueue="true")[1]
    assert error_of(lambda: sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fifo_queue))[
        "Code"
    ] == ("InvalidParameter")
    result = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "b1"},
            {"Id": "two", "Message": "b2"},
            {"Id": "bad", "Message": ""},
        ],
    )
    assert sorted(e["Id"] for e in result["Successful"]) == ["one", "two"]
    assert result["Failed"][0]["Id"] == "bad" and result["Failed"][0]["Code"] == "InvalidParameter"
    assert (
        error_of(
            lambda: sns.publish_batch(
                TopicArn=topic,
                PublishBatchRequestEntries=[
                    {"Id": "x", "Message": "1"},
                    {"Id": "x", "Message": "2"},
                ],
            )
        )["Code"]
        == "BatchEntryIdsNotDistinct"
    )
    bodies = sorted(m["Body"] for m in drain(sqs, url, 4))
    assert bodies == ["b1", "b2", "for sqs", "only default"]


def test_fifo_topic_to_fifo_queue(sns: Any, sqs: Any) -> None:
    name = unique("ft") + ".fifo"
    topic = sns.create_topic(Name=name, Attributes={"FifoTopic": "true"})["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["FifoTopic"] == "true"
    assert error_of(
        lambda: sns.create_topic(Name=unique("nofifo"), Attributes={"FifoTopic": "true"})
    )["Code"] == ("InvalidParameter")
    url, arn = make_queue(sqs, unique("fq") + ".fifo", FifoQueue="true")
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    assert (
        error_of(
            lambda: sns.subscribe(
                TopicArn=topic,
                Protocol="lambda",
                Endpoint="arn:aws:lambda:us-east-1:000000000000:function:f",
            )
        )["Code"]
        == "InvalidParameter"
    )
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x", MessageDeduplicationId="d"))[
        "Code"
    ] == ("InvalidParameter")
    first = sns.publish(
        TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="1"
    )
    again = sns.publish(
        TopicArn=topic, Message="one", MessageGroupId="g", MessageDeduplicationId="1"
    )
    second = sns.publish(
        TopicArn=topic, Message="two", MessageGroupId="g", MessageDeduplicationId="2"
    )
    assert (
        again["MessageId"] == first["MessageId"]
        and again["SequenceNumber"] == first["SequenceNumber"]
    )
    assert int(second["SequenceNumber"]) > int(first["SequenceNumber"])
    for i in range(8):
        sns.publish(
            TopicArn=topic, Message=f"n{i}", MessageGroupId="g", MessageDeduplicationId=f"n{i}"
        )
    messages = drain(sqs, url, 10)
    assert [m["Body"] for m in messages] == ["one", "two"] + [f"n{i}" for i in range(8)]
    assert messages[0]["Attributes"]["MessageGroupId"] == "g"
    assert drain(sqs, url, 1, timeout=0.5) == []


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def test_lambda_subscriber_gets_the_sns_event(
    sns: Any, aws_client: Callable[..., Any], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    function = aws_client("lambda").create_function(
        FunctionName=unique("snsfn"),
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip(RECORDER)},
        Environment={"Variables": {"EVENT_FILE": str(events)}},
    )
    topic = sns.create_topic(Name=unique("lt"))["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function["FunctionArn"])[
        "SubscriptionArn"
    ]
    published = sns.publish(
        TopicArn=topic,
        Message="Hello from SNS!",
        MessageAttributes={"Test": {"DataType": "String", "StringValue": "TestString"}},
    )
    wait_until(lambda: events.exists() and events.read_text().strip() != "", timeout=30)
    event = json.loads(events.read_text().splitlines()[0])
    (record,) = event["Records"]
    assert list(record) == ["EventSource", "EventVersion", "EventSubscriptionArn", "Sns"]
    assert record["EventSource"] == "aws:sns" and record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == sub
    message = record["Sns"]
    assert message["Type"] == "Notification" and message["MessageId"] == published["MessageId"]
    assert (
        message["TopicArn"] == topic
        and message["Subject"] is None
        and message["Message"] == "Hello from SNS!"
    )
    assert message["MessageAttributes"] == {"Test": {"Type": "String", "Value": "TestString"}}
    assert (
        message["SignatureVersion"] == "1"
        and "SigningCertUrl" in message
        and "UnsubscribeUrl" in message
    )
    assert message["Timestamp"].endswith("Z")


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Recorder.received.append((dict(self.headers.items()), self.rfile.read(length).decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    Recorder.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


def test_http_subscription_handshake_and_delivery(sns: Any, http_endpoint: str) -> None:
    topic = sns.create_topic(Name=unique("ht"))["TopicArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=http_endpoint)[
        "SubscriptionArn"
    ] == ("pending confirmation")
    wait_until(lambda: len(Recorder.received) == 1)
    headers, body = Recorder.received[0]
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    confirmation = json.loads(body)
    assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic
    assert "Action=ConfirmSubscription" in confirmation["SubscribeURL"]
    pending = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"][0]
    assert pending["SubscriptionArn"] == "PendingConfirmation"
    sns.publish(
        TopicArn=topic, Message="before confirmation"
    )  # not delivered to a pending subscription

    arn = sns.confirm_subscription(TopicArn=topic, Token=confirmation["Token"])["SubscriptionArn"]
    assert arn.startswith(topic + ":")
    assert (
        error_of(lambda: sns.confirm_subscription(TopicArn=topic, Token="nope"))["Code"]
        == "InvalidParameter"
    )
    sns.publish(TopicArn=topic, Message="after", Subject="S")
    wait_until(lambda: len(Recorder.received) == 2)
    headers, body = Recorder.received[1]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-subscription-arn"] == arn and headers["x-amz-sns-topic-arn"] == topic
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    notification = json.loads(body)
    assert notification["Message"] == "after" and notification["Subject"] == "S"

    email = sns.subscribe(
        TopicArn=topic, Protocol="email", Endpoint="someone@example.com", ReturnSubscriptionArn=True
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=email["SubscriptionArn"])[
        "Attributes"
    ]
    assert attributes["PendingConfirmation"] == "true"


def test_failed_deliveries_go_to_the_subscription_dlq(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "data", env={"CLOUDLET_SNS_RETRY_DELAYS": "0.05,0.05"})
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="dlq-topic")["TopicArn"]
    dlq_url, dlq_arn = make_queue(sqs, "sub-dlq")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:000000000000:never-created",
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
            "RawMessageDelivery": "true",
        },
    )
    sns.publish(TopicArn=topic, Message="undeliverable")
    (message,) = drain(sqs, dlq_url, 1, timeout=15)
    assert message["Body"] == "undeliverable"


@pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")
def test_aws_cli_sns(server: ServerProcess, tmp_path: Path) -> None:
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

    topic = aws("sns", "create-topic", "--name", unique("cli"))["TopicArn"]
    assert aws("sns", "publish", "--topic-arn", topic, "--message", "hi")["MessageId"]
    assert topic in {t["TopicArn"] for t in aws("sns", "list-topics")["Topics"]}


def test_acknowledged_publish_is_delivered_after_kill9(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """The delivery of an acknowledged publish is in the outbox: a kill -9 does not lose it."""
    data_dir = tmp_path / "data"
    env = {"CLOUDLET_SNS_RETRY_DELAYS": ",".join(["0.5"] * 40)}
    server = start_server(data_dir, env=env)
    sns = server.client("sns")
    topic = sns.create_topic(Name="durable")["TopicArn"]
    # The queue does not exist yet, so the delivery keeps failing and stays in the outbox.
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint="arn:aws:sqs:us-east-1:000000000000:created-later",
        Attributes={"RawMessageDelivery": "true"},
    )
    published = sns.publish(TopicArn=topic, Message="survives")
    assert published["MessageId"]
    server.kill9()

    restarted = start_server(data_dir, env=env)
    sqs = restarted.client("sqs")
    url = sqs.create_queue(QueueName="created-later")["QueueUrl"]
    (message,) = drain(sqs, url, 1, timeout=15)
    assert message["Body"] == "survives"
