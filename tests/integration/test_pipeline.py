"""The seed's pipeline, driven only through boto3: S3 → SNS → SQS → event source mapping → Lambda."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROLE = "arn:aws:iam::000000000000:role/lambda"
HANDLER = '''
import json, os

def handler(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps(event) + "\\n")
    failed = [r["messageId"] for r in event["Records"] if "fail-me" in r["body"]]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
'''


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def _events(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_upload_reaches_the_function_through_sns_and_sqs(aws_client: Callable[..., Any], tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    s3, sns, sqs, lam = (aws_client(s) for s in ("s3", "sns", "sqs", "lambda"))
    out = tmp_path / "events.jsonl"

    dlq_url = sqs.create_queue(QueueName=f"pipe-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"pipe-{suffix}",
        Attributes={
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic_arn = sns.create_topic(Name=f"pipe-{suffix}")["TopicArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    bucket = f"pipe-{suffix}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"TopicConfigurations": [{"TopicArn": topic_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    fn = f"pipe-{suffix}"
    lam.create_function(
        FunctionName=fn, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": _zip(HANDLER)}, Environment={"Variables": {"OUT": str(out)}},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 1})
    lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=fn, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"]
    )

    s3.put_object(Bucket=bucket, Key="photos/my cat é.jpg", Body=b"\xff\xd8 not really a jpeg")
    s3.put_object(Bucket=bucket, Key="photos/fail-me.jpg", Body=b"x")

    def s3_records() -> list[dict[str, Any]]:
        found = []
        for event in _events(out):
            for record in event["Records"]:
                envelope = json.loads(record["body"])
                for inner in json.loads(envelope["Message"]).get("Records", []):
                    found.append({"sqs": record, "sns": envelope, "s3": inner})
        return found

    _wait(lambda: any("my+cat" in r["s3"]["s3"]["object"]["key"] for r in s3_records()))
    record = next(r for r in s3_records() if "my+cat" in r["s3"]["s3"]["object"]["key"])
    # SQS record as Lambda receives it.
    sqs_record = record["sqs"]
    assert sqs_record["eventSource"] == "aws:sqs"
    assert sqs_record["eventSourceARN"] == queue_arn
    assert sqs_record["awsRegion"] == "us-east-1"
    assert set(sqs_record) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"}
    assert sqs_record["attributes"]["ApproximateReceiveCount"] == "1"
    # SNS envelope inside the SQS body.
    envelope = record["sns"]
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == topic_arn
    assert set(envelope) >= {"MessageId", "Message", "Timestamp", "SignatureVersion", "Signature", "UnsubscribeURL"}
    # S3 event inside the SNS message: key URL-encoded with '+' for spaces, as AWS sends it.
    s3_event = record["s3"]
    assert s3_event["eventSource"] == "aws:s3"
    assert s3_event["eventName"] == "ObjectCreated:Put"
    assert s3_event["s3"]["bucket"]["name"] == bucket
    assert s3_event["s3"]["object"]["key"] == "photos/my+cat+%C3%A9.jpg"
    assert s3_event["s3"]["object"]["size"] == len(b"\xff\xd8 not really a jpeg")

    # The record the handler reported as failed is retried, then lands in the DLQ; the other is not retried.
    def dead_letters() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return got

    moved: list[dict[str, Any]] = []
    _wait(lambda: bool(moved.extend(dead_letters()) or moved), timeout=40)
    assert len(moved) == 1 and "fail-me" in moved[0]["Body"]
    keys = [r["s3"]["s3"]["object"]["key"] for r in s3_records()]
    assert keys.count("photos/my+cat+%C3%A9.jpg") == 1
    assert keys.count("photos/fail-me.jpg") == 2  # maxReceiveCount deliveries, then the DLQ
