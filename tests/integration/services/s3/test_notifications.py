"""S3 event notifications delivered to a real Lambda function (and SQS when it exists)."""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

RECORDER = """
import json, os
def handler(event, context):
    with open(os.environ["EVENTS_FILE"], "a") as f:
        f.write(json.dumps(event) + "\\n")
"""


def make_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


def recorder(lam: Any, events_file: Path, bucket: str, *, allow: bool = True) -> str:
    name = f"rec-{uuid.uuid4().hex[:8]}"
    arn: str = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                   Code={"ZipFile": make_zip(RECORDER)},
                                   Environment={"Variables": {"EVENTS_FILE": str(events_file)}})["FunctionArn"]
    if allow:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    return arn


def wait_records(path: Path, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if path.exists():
            records = [r for line in path.read_text().splitlines() for r in json.loads(line)["Records"]]
            if len(records) >= count:
                return records
        time.sleep(0.05)
    raise AssertionError(f"expected {count} records, got {records}; {path} exists={path.exists()}")


def test_lambda_notifications(s3: Any, aws_client: Any, bucket: str, tmp_path: Path) -> None:
    lam = aws_client("lambda")
    events = tmp_path / "events.jsonl"
    arn = recorder(lam, events, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            {"Id": "images", "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"},
                                                {"Name": "suffix", "Value": ".jpg"}]}}},
            {"Id": "removals", "LambdaFunctionArn": arn, "Events": ["s3:ObjectRemoved:*"]},
        ]})
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert [c["Id"] for c in config["LambdaFunctionConfigurations"]] == ["images", "removals"]
    assert config["LambdaFunctionConfigurations"][0]["Events"] == ["s3:ObjectCreated:*"]

    key = "uploads/red flower ü.jpg"
    s3.put_object(Bucket=bucket, Key="uploads/skip.png", Body=b"no event")
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg bytes")
    records = wait_records(events, 1)
    record = records[0]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventVersion"] == "2.1"
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["configurationId"] == "images"
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    obj = record["s3"]["object"]
    assert obj["key"] == "uploads/red+flower+%C3%BC.jpg"
    assert unquote_plus(obj["key"]) == key
    assert obj["size"] == len(b"jpeg bytes")
    assert obj["eTag"] == put["ETag"].strip('"')
    assert len(obj["sequencer"]) >= 16
    assert record["eventTime"].endswith("Z")

    s3.delete_object(Bucket=bucket, Key=key)
    records = wait_records(events, 2)
    removed = records[1]
    assert removed["eventName"] == "ObjectRemoved:Delete"
    assert removed["s3"]["configurationId"] == "removals"
    assert "size" not in removed["s3"]["object"]
    assert removed["s3"]["object"]["sequencer"] > obj["sequencer"]


def test_multipart_and_copy_events(s3: Any, aws_client: Any, bucket: str, tmp_path: Path) -> None:
    lam = aws_client("lambda")
    events = tmp_path / "events.jsonl"
    arn = recorder(lam, events, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"abc")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource=f"{bucket}/mp")
    names = sorted(r["eventName"] for r in wait_records(events, 2))
    assert names == ["ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy"]


def test_notification_validation(s3: Any, aws_client: Any, bucket: str, tmp_path: Path) -> None:
    lam = aws_client("lambda")
    arn = recorder(lam, tmp_path / "never.jsonl", bucket, allow=False)
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config,
                                             SkipDestinationValidation=True)
    overlapping = {"LambdaFunctionConfigurations": [
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]},
        {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Put"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}}}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=overlapping,
                                                 SkipDestinationValidation=True)
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket=bucket, SkipDestinationValidation=True,
                                                 NotificationConfiguration={"LambdaFunctionConfigurations": [
                                                     {"LambdaFunctionArn": arn, "Events": ["s3:Nope"]}]})
    assert exc.value.response["Error"]["Code"] in ("InvalidArgument", "MalformedXML")  # enum in the model
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_removed_permission_stops_delivery(s3: Any, aws_client: Any, bucket: str, tmp_path: Path) -> None:
    lam = aws_client("lambda")
    events = tmp_path / "events.jsonl"
    arn = recorder(lam, events, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket=bucket, Key="first", Body=b"1")
    assert [r["s3"]["object"]["key"] for r in wait_records(events, 1)] == ["first"]
    lam.remove_permission(FunctionName=arn.split(":")[-1], StatementId="s3")
    s3.put_object(Bucket=bucket, Key="second", Body=b"2")
    time.sleep(1.0)
    lines = events.read_text().splitlines()
    assert len(lines) == 1  # S3 may no longer invoke the function: the event is not delivered


def test_sqs_and_sns_destinations(s3: Any, aws_client: Any, bucket: str) -> None:
    sqs = aws_client("sqs")
    try:
        queue_url = sqs.create_queue(QueueName=f"s3-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    except ClientError as exc:
        pytest.skip(f"SQS not available: {exc}")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "q", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:Put"]}]})
    s3.put_object(Bucket=bucket, Key="to queue.txt", Body=b"q")
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and len(bodies) < 2:
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1,
                                           MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
    assert any(b.get("Event") == "s3:TestEvent" and b["Bucket"] == bucket for b in bodies)
    records = [r for b in bodies for r in b.get("Records", [])]
    assert len(records) == 1
    assert records[0]["s3"]["object"]["key"] == "to+queue.txt"
    assert records[0]["s3"]["configurationId"] == "q"
