"""Bucket configurations: tagging, CORS, policy (with enforcement), lifecycle (background expiry)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_bucket_tagging(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code_of(exc) == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "dev"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "dev"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_cors_configuration(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert code_of(exc) == "NoSuchCORSConfiguration"
    rules = [{"AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["https://*.example.com"],
              "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 300}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]})
    assert code_of(exc) == "InvalidRequest"
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_public_read_policy_and_explicit_deny(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public/page.html", Body=b"<h1>hi</h1>", ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="private/secret", Body=b"no")
    url = f"{s3.meta.endpoint_url}/{bucket}/public/page.html"
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(url, timeout=10)
    assert http.value.code == 403
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert code_of(exc) == "NoSuchBucketPolicy"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/public/*"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:DeleteObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]}
    text = json.dumps(policy)
    s3.put_bucket_policy(Bucket=bucket, Policy=text)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == policy
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"<h1>hi</h1>"
        assert response.headers["Content-Type"] == "text/html"
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(f"{s3.meta.endpoint_url}/{bucket}/private/secret", timeout=10)
    assert http.value.code == 403
    put = urllib.request.Request(f"{s3.meta.endpoint_url}/{bucket}/public/new", data=b"x", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(put, timeout=10)
    assert http.value.code == 403
    # The owner is still bound by the explicit Deny.
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="private/secret")
    assert code_of(exc) == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="private/secret")["Body"].read() == b"no"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert code_of(exc) == "MalformedPolicy"
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="private/secret")


def test_lifecycle_configuration_roundtrip(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code_of(exc) == "NoSuchLifecycleConfiguration"
    rules = [{"ID": "old-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 7}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_lifecycle_expiry_runs_in_background(start_server: Callable[..., Any]) -> None:
    server = start_server(env={"CLOUDLET_S3_LIFECYCLE_INTERVAL": "0.2", "CLOUDLET_S3_DAY_SECONDS": "1",
                               "CLOUDLET_CREDENTIALS": "other:othersecret:111111111111"})
    s3 = server.client("s3")
    s3.create_bucket(Bucket="lifecycle-bucket")
    s3.put_object(Bucket="lifecycle-bucket", Key="tmp/a", Body=b"x")
    s3.put_object(Bucket="lifecycle-bucket", Key="keep/b", Body=b"x")
    s3.create_bucket(Bucket="dated-bucket")
    s3.put_object(Bucket="dated-bucket", Key="any", Body=b"x")
    s3.put_bucket_lifecycle_configuration(Bucket="lifecycle-bucket", LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]})
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    s3.put_bucket_lifecycle_configuration(Bucket="dated-bucket", LifecycleConfiguration={"Rules": [
        {"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": midnight}}]})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [o["Key"] for o in s3.list_objects_v2(Bucket="lifecycle-bucket").get("Contents", [])]
        dated = s3.list_objects_v2(Bucket="dated-bucket").get("KeyCount")
        if left == ["keep/b"] and dated == 0:
            break
        time.sleep(0.2)
    assert left == ["keep/b"]
    assert dated == 0

    # A second account: the bucket name is taken, and its objects are not readable without a policy.
    from tests.servers import make_client

    other = make_client(server.endpoint, "s3", key="other", secret="othersecret")
    with pytest.raises(ClientError) as exc:
        other.create_bucket(Bucket="lifecycle-bucket")
    assert code_of(exc) == "BucketAlreadyExists"
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket="lifecycle-bucket", Key="keep/b")
    assert code_of(exc) == "AccessDenied"
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == []


def test_settings_tools_read(s3: Any, bucket: str) -> None:
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert code_of(exc) == "NoSuchPublicAccessBlockConfiguration"
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": False}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == block
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"abc")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    attributes = s3.get_object_attributes(Bucket=bucket, Key="mp",
                                          ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "StorageClass"])
    assert attributes["ObjectSize"] == 3
    assert attributes["ETag"].endswith("-1")
    assert attributes["ObjectParts"]["TotalPartsCount"] == 1
    assert attributes["StorageClass"] == "STANDARD"


def test_cors_preflight_and_actual_request_headers(s3: Any, bucket: str) -> None:
    endpoint = s3.meta.endpoint_url
    s3.put_object(Bucket=bucket, Key="page.txt", Body=b"hi")
    origin = "http://app.example"

    def preflight(method: str) -> tuple[int, Any]:
        req = urllib.request.Request(
            f"{endpoint}/{bucket}/page.txt",
            method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": method},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers

    status, _ = preflight("GET")
    assert status == 403  # no CORS configuration yet: S3 refuses the preflight
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": [origin], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60}]},
    )
    status, headers = preflight("GET")
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == origin
    assert "GET" in headers["Access-Control-Allow-Methods"]
    assert preflight("DELETE")[0] == 403  # a method the rule does not allow
    # An actual (signed) cross-origin GET carries the rule's headers.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "page.txt"})
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Origin": origin}), timeout=5) as r:
        assert r.read() == b"hi"
        assert r.headers["Access-Control-Allow-Origin"] == origin
