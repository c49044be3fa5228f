"""Browser form uploads (POST Object): boto3's generate_presigned_post, sent as multipart/form-data."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

Fields = list[tuple[str, str]]


def encode_form(fields: Fields, file: bytes, filename: str | None = "upload.bin") -> tuple[bytes, str]:
    """A multipart/form-data body as browsers send it: the fields in order, then ``file``."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    disposition = 'form-data; name="file"' + (f'; filename="{filename}"' if filename is not None else "")
    out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
    out += file + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def post(url: str, fields: Fields | dict[str, str], file: bytes, *, filename: str | None = "upload.bin",
         headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers — case-insensitive — and body) of a form POST; redirects are not followed."""
    items = list(fields.items()) if isinstance(fields, dict) else fields
    body, content_type = encode_form(items, file, filename)
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **(headers or {})})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def error_of(body: bytes) -> tuple[str, str]:
    root = ET.fromstring(body)
    return root.findtext("Code") or "", root.findtext("Message") or ""


@pytest.fixture
def s3v4(aws_client: Callable[..., Any]) -> Any:
    """A client that signs forms with SigV4 (botocore's default presigner for S3 is still SigV2)."""
    return aws_client("s3", signature_version="s3v4")


def test_presigned_post_uploads_with_fields_kept(s3: Any, s3v4: Any, bucket: str) -> None:
    form = s3v4.generate_presigned_post(
        bucket, "forms/a.txt",
        Fields={"Content-Type": "text/plain", "x-amz-meta-Owner": "Ann"},
        Conditions=[{"Content-Type": "text/plain"}, ["starts-with", "$x-amz-meta-owner", ""]],
        ExpiresIn=300)
    assert form["url"].endswith(f"/{bucket}")
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    status, headers, body = post(form["url"], form["fields"], b"hello form")
    assert status == 204, body
    assert headers["ETag"] == f'"{hashlib.md5(b"hello form").hexdigest()}"'
    assert "x-amz-checksum-crc64nvme" not in headers  # no default checksum (docs/differences.md)
    head = s3.head_object(Bucket=bucket, Key="forms/a.txt", ChecksumMode="ENABLED")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"owner": "Ann"}
    assert "ChecksumCRC64NVME" not in head
    assert s3.get_object(Bucket=bucket, Key="forms/a.txt")["Body"].read() == b"hello form"


def test_sigv2_post_and_filename_variable(aws_client: Callable[..., Any], bucket: str) -> None:
    s3v2 = aws_client("s3", signature_version="s3")  # what botocore's default config generates too
    form = s3v2.generate_presigned_post(bucket, "up/${filename}", ExpiresIn=300)
    assert "AWSAccessKeyId" in form["fields"] and "signature" in form["fields"]
    status, _, body = post(form["url"], form["fields"], b"v2 body", filename=r"C:\dir\photo.jpg")
    assert status == 204, body
    assert s3v2.get_object(Bucket=bucket, Key="up/photo.jpg")["Body"].read() == b"v2 body"


def test_status_201_returns_post_response(s3: Any, bucket: str) -> None:
    form = s3.generate_presigned_post(bucket, "dir/x y.txt", Fields={"success_action_status": "201"},
                                      Conditions=[{"success_action_status": "201"}])
    status, headers, body = post(form["url"], form["fields"], b"created")
    assert status == 201
    root = ET.fromstring(body)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == bucket
    assert root.findtext("Key") == "dir/x y.txt"
    assert root.findtext("ETag") == headers["ETag"]
    assert root.findtext("Location", "").endswith(f"/{bucket}/dir%2Fx%20y.txt")


def test_redirect_gets_bucket_key_and_etag(s3: Any, bucket: str) -> None:
    target = "http://app.example/done?from=form"
    form = s3.generate_presigned_post(bucket, "r.txt", Fields={"success_action_redirect": target},
                                      Conditions=[["starts-with", "$success_action_redirect", "http://app.example/"]])
    status, headers, _ = post(form["url"], form["fields"], b"r")
    assert status == 303
    assert headers["Location"].startswith(target + "&bucket=" + bucket + "&key=r.txt&etag=%22")


@pytest.mark.parametrize(
    ("conditions", "fields", "size", "code", "message"),
    [
        ([["starts-with", "$key", "allowed/"]], {}, 3, "AccessDenied",
         'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "allowed/"]'),
        ([["content-length-range", 5, 10]], {}, 12, "EntityTooLarge",
         "Your proposed upload exceeds the maximum allowed size"),
        ([["content-length-range", 5, 10]], {}, 1, "EntityTooSmall",
         "Your proposed upload is smaller than the minimum allowed size"),
        ([], {"x-custom": "1"}, 3, "AccessDenied", "Invalid according to Policy: Extra input fields: x-custom"),
        ([{"Content-Type": "image/png"}], {"Content-Type": "text/html"}, 3, "AccessDenied",
         'Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]'),
    ],
)
def test_policy_violations(s3: Any, s3v4: Any, bucket: str, conditions: list[Any], fields: dict[str, str], size: int,
                           code: str, message: str) -> None:
    form = s3v4.generate_presigned_post(bucket, "k.txt", Conditions=conditions)
    status, _, body = post(form["url"], {**form["fields"], **fields}, b"x" * size)
    assert status == (403 if code == "AccessDenied" else 400)
    assert error_of(body) == (code, message)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k.txt")


def test_expired_policy(s3: Any, s3v4: Any, bucket: str) -> None:
    for client in (s3, s3v4):
        form = client.generate_presigned_post(bucket, "late.txt", ExpiresIn=-5)
        status, _, body = post(form["url"], form["fields"], b"late")
        assert status == 403
        assert error_of(body) == ("AccessDenied", "Invalid according to Policy: Policy expired.")


def test_bad_signature_and_missing_fields(s3v4: Any, bucket: str) -> None:
    form = s3v4.generate_presigned_post(bucket, "sig.txt")
    fields = dict(form["fields"])
    fields["x-amz-signature"] = "0" * 64
    status, _, body = post(form["url"], fields, b"s")
    assert (status, error_of(body)[0]) == (403, "SignatureDoesNotMatch")
    del fields["x-amz-signature"]
    status, _, body = post(form["url"], fields, b"s")
    assert status == 400
    assert error_of(body) == ("InvalidArgument", "Bucket POST must contain a field named 'X-Amz-Signature'.  "
                                                 "If it is specified, please check the order of the fields.")
    status, _, body = post(form["url"], {"key": "anon.txt"}, b"s")
    assert (status, error_of(body)[0]) == (403, "AccessDenied")
    status, _, body = post(form["url"], {k: v for k, v in form["fields"].items() if k != "key"}, b"s")
    assert (status, error_of(body)[0]) == (400, "InvalidArgument")


def test_post_fires_object_created_post(s3: Any, s3v4: Any, aws_client: Callable[..., Any], bucket: str) -> None:
    sqs = aws_client("sqs")
    queue_url = sqs.create_queue(QueueName=f"post-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:Post"]}]})
    form = s3v4.generate_presigned_post(bucket, "ev.txt")
    assert post(form["url"], form["fields"], b"event")[0] == 204
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not records:
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            records += json.loads(message["Body"]).get("Records", [])
    assert [r["eventName"] for r in records] == ["ObjectCreated:Post"]
    assert records[0]["s3"]["object"]["key"] == "ev.txt"


def test_cors_headers_on_post(s3: Any, bucket: str) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["http://app.example"], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag"]}]})
    form = s3.generate_presigned_post(bucket, "c.txt")
    status, headers, _ = post(form["url"], form["fields"], b"c", headers={"Origin": "http://app.example"})
    assert status == 204
    assert headers.get("Access-Control-Allow-Origin") == "http://app.example"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_form_upload(s3: Any, bucket: str, tmp_path: Any) -> None:
    form = s3.generate_presigned_post(bucket, "curl/${filename}")
    path = tmp_path / "from-curl.txt"
    path.write_bytes(b"sent by curl -F")
    args = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", form["url"]]
    for name, value in form["fields"].items():
        args += ["-F", f"{name}={value}"]
    args += ["-F", f"file=@{path}"]
    assert subprocess.run(args, capture_output=True, text=True, timeout=30).stdout == "204"
    assert s3.get_object(Bucket=bucket, Key="curl/from-curl.txt")["Body"].read() == b"sent by curl -F"


def test_sigv4_post_signature_matches_botocores_offline_vector() -> None:
    # botocore's generate_presigned_post for "sigv4examplebucket"/"user/user1/photo.jpg" with AWS's example
    # key pair and the clock at 2015-12-29T00:00:00Z signs this policy with this signature.
    from cloudlet.edge.credentials import Credential, CredentialStore
    from cloudlet.services.s3.post import Form, check_signature

    credential = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"
    policy = json.dumps({"expiration": "2015-12-29T01:00:00Z", "conditions": [
        {"bucket": "sigv4examplebucket"}, {"key": "user/user1/photo.jpg"},
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential},
        {"x-amz-date": "20151229T000000Z"}]})
    fields = {"key": "user/user1/photo.jpg", "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential,
              "x-amz-date": "20151229T000000Z", "policy": base64.b64encode(policy.encode()).decode(),
              "x-amz-signature": "3364624b39010d9b06f5d9b8c9a18a6e478d261c048159c92f2fd6fa885f14e6"}
    keys = CredentialStore([Credential("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                       "123456789012")])
    signer = check_signature(Form({k: (k, v) for k, v in fields.items()}), keys)
    assert signer.credential is not None and signer.region == "us-east-1"
