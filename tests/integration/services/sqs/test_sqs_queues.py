"""SQS through boto3 (JSON protocol): queues, messages, visibility, long polling, batches, FIFO, DLQs."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def unique(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]


@pytest.fixture
def sqs(aws_client: Callable[..., Any]) -> Any:
    return aws_client("sqs")


def counts(sqs: Any, url: str) -> tuple[int, int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


def test_queue_lifecycle(sqs: Any, server: Any) -> None:
    name = unique()
    url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "7"}, tags={"team": "a"}
    )["QueueUrl"]
    assert url == f"{server.endpoint}/000000000000/{name}"
    assert (
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    )
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    err = error_of(lambda: sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "8"}))
    assert err["Code"] == "QueueAlreadyExists"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"
    assert attributes["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["MaximumMessageSize"] == "1048576"
    assert "FifoQueue" not in attributes
    only = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]
    assert only == {"DelaySeconds": "0"}

    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"DelaySeconds": "2", "ReceiveMessageWaitTimeSeconds": "1"}
    )
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"][
            "DelaySeconds"
        ]
        == "2"
    )
    assert (
        error_of(
            lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "901"})
        )["Code"]
        == "InvalidAttributeValue"
    )
    # An unknown name fails the model's enum check in the protocol layer (InvalidParameterValue) or ours.
    assert error_of(lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"Nope": "1"}))[
        "Code"
    ] in (
        "InvalidAttributeName",
        "InvalidParameterValue",
    )

    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}

    sqs.delete_queue(QueueUrl=url)
    err = error_of(lambda: sqs.get_queue_url(QueueName=name))
    assert err["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert err["QueryErrorCode"] == "QueueDoesNotExist"
    assert error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x"))["Code"] == (
        "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_bad_names(sqs: Any) -> None:
    assert (
        error_of(lambda: sqs.create_queue(QueueName="bad name"))["Code"] == "InvalidParameterValue"
    )
    assert error_of(lambda: sqs.create_queue(QueueName="x" * 81))["Code"] == "InvalidParameterValue"
    assert (
        error_of(lambda: sqs.create_queue(QueueName="nofifo", Attributes={"FifoQueue": "true"}))[
            "Code"
        ]
        == "InvalidParameterValue"
    )


def test_list_queues_prefix_and_pages(sqs: Any) -> None:
    prefix = unique("list")
    urls = sorted(sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5))
    assert sorted(sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == urls
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"QueueNamePrefix": prefix, "MaxResults": 2}
        if token:
            kwargs["NextToken"] = token
        page = sqs.list_queues(**kwargs)
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == urls
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=unique("none"))
    paginated = [
        u
        for p in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=prefix, MaxResults=3)
        for u in p.get("QueueUrls", [])
    ]
    assert paginated == urls


def test_send_receive_delete_with_attributes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique())["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="hello",
        MessageAttributes={
            "a.one": {"DataType": "String", "StringValue": "v"},
            "a.two": {"DataType": "Number", "StringValue": "12"},
            "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}
        },
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest()
    assert len(sent["MD5OfMessageAttributes"]) == 32
    assert len(sent["MD5OfMessageSystemAttributes"]) == 32

    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["a.*"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "hello"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert set(message["MessageAttributes"]) == {"a.one", "a.two"}
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["Attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert int(message["Attributes"]["SentTimestamp"]) <= int(
        message["Attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert counts(sqs, url) == (0, 1, 0)

    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert counts(sqs, url) == (0, 0, 0)
    assert error_of(lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage"))["Code"] == (
        "ReceiptHandleIsInvalid"
    )

    seller = {"SellerName": {"DataType": "String", "StringValue": "Example Store"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=seller)
    assert (
        sent["MD5OfMessageAttributes"] == "cd28f3b68aeee4b2eac9c66f2f694b58"
    )  # what the AWS SDKs compute
    again = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"][0]
    assert again["MessageAttributes"] == {
        "SellerName": {"StringValue": "Example Store", "DataType": "String"}
    }
    assert again["MD5OfMessageAttributes"] == "cd28f3b68aeee4b2eac9c66f2f694b58"
    assert "Attributes" not in again


def test_message_validation(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique(), Attributes={"MaximumMessageSize": "1024"})[
        "QueueUrl"
    ]
    assert (
        error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * 1025))["Code"]
        == "InvalidParameterValue"
    )
    assert (
        error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="bad\x01"))["Code"]
        == "InvalidMessageContents"
    )
    assert error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901))[
        "Code"
    ] == ("InvalidParameterValue")
    assert error_of(lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11))["Code"] == (
        "InvalidParameterValue"
    )


def test_long_poll_returns_as_soon_as_a_message_arrives(
    sqs: Any, aws_client: Callable[..., Any]
) -> None:
    url = sqs.create_queue(QueueName=unique())["QueueUrl"]
    sender = aws_client("sqs")
    timer = threading.Timer(0.5, lambda: sender.send_message(QueueUrl=url, MessageBody="late"))
    start = time.monotonic()
    timer.start()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    elapsed = time.monotonic() - start
    timer.join()
    assert got["Messages"][0]["Body"] == "late"
    assert 0.4 < elapsed < 3.0

    start = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - start >= 0.9


def test_visibility_timeout_and_delays(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique())["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    start = time.monotonic()
    second = sqs.receive_message(
        QueueUrl=url, WaitTimeSeconds=5, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )
    assert time.monotonic() - start < 3
    message = second["Messages"][0]
    assert message["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receipt handle is stale: deleting with it succeeds but keeps the message.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert counts(sqs, url) == (0, 1, 0)
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=43000
    )
    assert (
        error_of(
            lambda: sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=43200
            )
        )["Code"]
        == "InvalidParameterValue"
    )
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert counts(sqs, url) == (1, 0, 0)
    assert (
        error_of(
            lambda: sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=5
            )
        )["Code"]
        == "AWS.SimpleQueueService.MessageNotInflight"
    )

    delayed = sqs.create_queue(QueueName=unique(), Attributes={"DelaySeconds": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=delayed, MessageBody="later")
    sqs.send_message(QueueUrl=delayed, MessageBody="now", DelaySeconds=0)
    assert counts(sqs, delayed) == (1, 0, 1)
    assert [
        m["Body"] for m in sqs.receive_message(QueueUrl=delayed, MaxNumberOfMessages=10)["Messages"]
    ] == ["now"]
    got = sqs.receive_message(QueueUrl=delayed, WaitTimeSeconds=5)
    assert got["Messages"][0]["Body"] == "later"


def test_batches(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique())["QueueUrl"]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "two", "DelaySeconds": 0},
            {"Id": "c", "MessageBody": "bad\x00"},
        ],
    )
    assert sorted(e["Id"] for e in result["Successful"]) == ["a", "b"]
    assert result["Failed"] == [
        {
            "Id": "c",
            "SenderFault": True,
            "Code": "InvalidMessageContents",
            "Message": result["Failed"][0]["Message"],
        }
    ]
    assert (
        error_of(
            lambda: sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": "x", "MessageBody": "1"}, {"Id": "x", "MessageBody": "2"}],
            )
        )["Code"]
        == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    )
    assert (
        error_of(
            lambda: sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "1"} for i in range(11)]
            )
        )["Code"]
        == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    )
    assert (
        error_of(
            lambda: sqs.send_message_batch(
                QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": "1"}]
            )
        )["Code"]
        == "AWS.SimpleQueueService.InvalidBatchEntryId"
    )

    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in messages) == ["one", "two"]
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "m0", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 60},
            {"Id": "bad", "ReceiptHandle": "nope", "VisibilityTimeout": 60},
        ],
    )
    assert [e["Id"] for e in changed["Successful"]] == ["m0"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ],
    )
    assert len(deleted["Successful"]) == 2 and deleted["Failed"] == []
    assert counts(sqs, url) == (0, 0, 0)


def test_purge(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique())["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(5)]
    )
    sqs.purge_queue(QueueUrl=url)
    assert counts(sqs, url) == (0, 0, 0)
    assert (
        error_of(lambda: sqs.purge_queue(QueueUrl=url))["Code"]
        == "AWS.SimpleQueueService.PurgeQueueInProgress"
    )


def test_fifo_order_groups_and_deduplication(sqs: Any) -> None:
    name = unique("f") + ".fifo"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true" and attributes["ContentBasedDeduplication"] == "false"
    assert error_of(
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    )["Code"] == ("MissingParameter")
    assert error_of(lambda: sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g"))[
        "Code"
    ] == ("InvalidParameterValue")
    sequence = []
    for i in range(3):
        for group in ("a", "b"):
            r = sqs.send_message(
                QueueUrl=url,
                MessageBody=f"{group}{i}",
                MessageGroupId=group,
                MessageDeduplicationId=f"{group}{i}",
            )
            sequence.append(int(r["SequenceNumber"]))
    assert sequence == sorted(sequence)
    dup = sqs.send_message(
        QueueUrl=url, MessageBody="a0", MessageGroupId="a", MessageDeduplicationId="a0"
    )
    assert counts(sqs, url)[0] == 6
    assert dup["SequenceNumber"] == str(sequence[0])

    first = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=2, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in first] == ["a0", "b0"]
    assert first[0]["Attributes"]["MessageGroupId"] == "a"
    assert first[0]["Attributes"]["SequenceNumber"] == str(sequence[0])
    # Both groups have a message in flight: nothing else is receivable.
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    rest_a = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest_a] == ["a1", "a2"]

    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"])
    retried = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, ReceiveRequestAttemptId="try-1"
    )["Messages"]
    assert [m["Body"] for m in retried] == ["b1"]
    again = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, ReceiveRequestAttemptId="try-1"
    )["Messages"]
    assert again == retried

    content = sqs.create_queue(
        QueueName=unique("c") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    one = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=content, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    got = sqs.receive_message(
        QueueUrl=content,
        MaxNumberOfMessages=10,
        MessageSystemAttributeNames=["MessageDeduplicationId"],
    )
    assert len(got["Messages"]) == 1
    assert (
        got["Messages"][0]["Attributes"]["MessageDeduplicationId"]
        == hashlib.sha256(b"same").hexdigest()
    )


def test_dead_letter_queue_and_redrive(sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName=unique("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
    src = sqs.create_queue(
        QueueName=unique("src"), Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    stored = json.loads(
        sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert stored == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]

    sent = sqs.send_message(
        QueueUrl=src,
        MessageBody="poison",
        MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
    )
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
    assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
    assert "Messages" not in sqs.receive_message(QueueUrl=src)
    moved = sqs.receive_message(
        QueueUrl=dlq, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"][0]
    assert moved["MessageId"] == sent["MessageId"]
    assert moved["Body"] == "poison"
    assert moved["MessageAttributes"]["k"]["StringValue"] == "v"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    assert moved["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.change_message_visibility(
        QueueUrl=dlq, ReceiptHandle=moved["ReceiptHandle"], VisibilityTimeout=0
    )

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["Status"] == "COMPLETED" and tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    back = sqs.receive_message(QueueUrl=src)["Messages"][0]
    assert back["MessageId"] == sent["MessageId"]

    missing = json.dumps({"deadLetterTargetArn": dlq_arn + "-nope", "maxReceiveCount": 2})
    assert error_of(
        lambda: sqs.create_queue(QueueName=unique(), Attributes={"RedrivePolicy": missing})
    )["Code"] == ("InvalidParameterValue")
    deny = sqs.create_queue(
        QueueName=unique("deny"),
        Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})},
    )["QueueUrl"]
    deny_arn = sqs.get_queue_attributes(QueueUrl=deny, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    denied = json.dumps({"deadLetterTargetArn": deny_arn, "maxReceiveCount": 1})
    assert error_of(
        lambda: sqs.create_queue(QueueName=unique(), Attributes={"RedrivePolicy": denied})
    )["Code"] == ("InvalidParameterValue")


def test_permissions_edit_the_queue_policy(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=unique("perm"))["QueueUrl"]
    sqs.add_permission(
        QueueUrl=url, Label="send", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
    )
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Sid"] == "send" and statement["Action"] == "SQS:SendMessage"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert (
        error_of(
            lambda: sqs.add_permission(
                QueueUrl=url, Label="send", AWSAccountIds=["1"], Actions=["SendMessage"]
            )
        )["Code"]
        == "InvalidParameterValue"
    )
    sqs.remove_permission(QueueUrl=url, Label="send")
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    assert (
        error_of(lambda: sqs.remove_permission(QueueUrl=url, Label="send"))["Code"]
        == "InvalidParameterValue"
    )
