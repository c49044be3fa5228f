"""Presigned URLs (SigV4 and SigV2) from boto3, used with plain HTTP; aws-chunked uploads."""

from __future__ import annotations

import base64
import shutil
import subprocess
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@pytest.mark.parametrize("signature", ["s3v4", "s3"])
def test_presigned_get_and_put(aws_client: Callable[..., Any], bucket: str, signature: str) -> None:
    signer = aws_client("s3", signature_version=signature)
    put_url = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p/up load.txt"},
                                            ExpiresIn=300)
    if signature == "s3":
        assert "AWSAccessKeyId=" in put_url and "Signature=" in put_url
    else:
        assert "X-Amz-Signature=" in put_url
    # urllib would add a form Content-Type, which SigV2 signs; send none, like curl -T.
    request = urllib.request.Request(put_url, data=b"via presigned put", method="PUT", headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["ETag"]
    get_url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/up load.txt"},
                                            ExpiresIn=300)
    with urllib.request.urlopen(get_url, timeout=10) as response:
        assert response.read() == b"via presigned put"
    tampered = get_url.replace("p/up%20load.txt", "p/other.txt")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(tampered, timeout=10)
    assert exc.value.code == 403


def test_expired_presigned_url(aws_client: Callable[..., Any], bucket: str) -> None:
    s3 = aws_client("s3", signature_version="s3")
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "old"}, ExpiresIn=-10)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=10)
    assert exc.value.code == 403
    assert b"expired" in exc.value.read()


class TrailerAuth(S3SigV4Auth):
    """Signs the request as an unsigned-payload-with-trailer stream, as the SDKs do over HTTPS."""

    def payload(self, request: Any) -> str:
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def test_aws_chunked_upload_with_trailing_checksum(s3: Any, bucket: str) -> None:
    data = b"chunked payload " * 5000
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    body += b"0\r\n" + f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
    url = f"{s3.meta.endpoint_url}/{bucket}/chunked.bin"
    request = AWSRequest(method="PUT", url=url, data=body, headers={
        "Content-Encoding": "aws-chunked",
        "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "X-Amz-Trailer": "x-amz-checksum-crc32",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "Content-Length": str(len(body)),
    })
    TrailerAuth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, data=body, method="PUT", headers=dict(request.headers.items()))
    with urllib.request.urlopen(prepared, timeout=10) as response:
        assert response.status == 200
        assert response.headers["x-amz-checksum-crc32"] == checksum, dict(response.headers)
    got = s3.get_object(Bucket=bucket, Key="chunked.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == checksum
    assert "ContentEncoding" not in got


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_presigned_urls_from_curl(aws_client: Callable[..., Any], bucket: str, tmp_path: Any) -> None:
    signer = aws_client("s3", signature_version="s3v4")
    source = tmp_path / "upload.bin"
    source.write_bytes(b"curl body " * 10000)
    put = signer.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "by curl"}, ExpiresIn=60)
    status = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(source), put],
                            capture_output=True, text=True, timeout=30).stdout
    assert status == "200"
    get = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "by curl"}, ExpiresIn=60)
    out = subprocess.run(["curl", "-s", "-r", "0-9", get], capture_output=True, timeout=30).stdout
    assert out == b"curl body "
