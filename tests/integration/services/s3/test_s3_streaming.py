"""Uploads stream to disk: big bodies are never held in memory, and a body that proves bad leaves nothing.

These tests run their own server so that its peak RSS (``VmHWM``) measures
only what the test did.  Memory bounds are about memory, not speed: an
upload buffered whole would grow the server by the object's size, many times
the bounds used here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.servers import REGION, ServerProcess

from cloudlet.bench.common import status_mb

MiB = 1024 * 1024


@pytest.fixture
def own_server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


@pytest.fixture
def s3(own_server: ServerProcess) -> Any:
    return own_server.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket="streams")
    return "streams"


def peak_rss_mb(server: ServerProcess) -> float:
    assert server.proc is not None
    return status_mb(server.proc.pid, "VmHWM")


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            digest.update(block)
            f.write(block)
            left -= len(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def leftovers(server: ServerProcess) -> list[Path]:
    """Files under the S3 temp folder (a failed upload must leave none)."""
    return list((server.data_dir / "s3" / "tmp").iterdir())


def wait_for_no_leftovers(server: ServerProcess) -> None:
    deadline = time.monotonic() + 10
    while leftovers(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(server) == []


def absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return error.response["Error"]["Code"] == "404"
    return False


# -- hand-made signed requests -----------------------------------------------------


class ClaimedPayloadAuth(S3SigV4Auth):
    """SigV4 over S3 with ``x-amz-content-sha256`` set by the caller (a streaming mode or a digest)."""

    def __init__(self, payload: str) -> None:
        super().__init__(Credentials("test", "test"), "s3", REGION)
        self._payload = payload

    def payload(self, request: Any) -> str:
        return self._payload


def signed_headers(url: str, payload: str, headers: dict[str, str]) -> dict[str, str]:
    request = AWSRequest(method="PUT", url=url, headers={"X-Amz-Content-SHA256": payload, **headers})
    ClaimedPayloadAuth(payload).add_auth(request)
    return dict(request.headers.items())


def put_raw(endpoint: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """PUT over a plain socket (so the body goes out as given, in one stream)."""
    host = endpoint.removeprefix("http://")
    head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() != "host")
    with socket.create_connection(tuple(host.split(":")), timeout=60) as sock:  # type: ignore[arg-type]
        sock.sendall(head.encode() + b"\r\n" + body)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def signing_key(date: str) -> bytes:
    key = ("AWS4" + "test").encode()
    for part in (date, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signed_chunked_body(headers: dict[str, str], chunks: list[bytes]) -> bytes:
    """``chunks`` framed as ``aws-chunked`` with chained chunk signatures (the SigV4 streaming spec)."""
    timestamp = headers["X-Amz-Date"]
    scope = f"{timestamp[:8]}/{REGION}/s3/aws4_request"
    previous = headers["Authorization"].rsplit("Signature=", 1)[1]
    key = signing_key(timestamp[:8])
    empty = hashlib.sha256(b"").hexdigest()
    out = b""
    for chunk in [*chunks, b""]:
        to_sign = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, empty,
                             hashlib.sha256(chunk).hexdigest()))  # fmt: skip
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + b"\r\n"
    return out


def chunked_upload(endpoint: str, bucket: str, key: str, data: bytes,
                   damage: Callable[[bytes], bytes] | None = None) -> tuple[int, bytes]:  # fmt: skip
    chunks = [data[i : i + 64 * 1024] for i in range(0, len(data), 64 * 1024)]
    framed_size = sum(len(f"{len(c):x};chunk-signature=") + 64 + 4 + len(c) for c in [*chunks, b""])
    path = f"/{bucket}/{key}"
    headers = signed_headers(f"{endpoint}{path}", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Decoded-Content-Length": str(len(data)),
        "Content-Length": str(framed_size),
    })
    body = signed_chunked_body(headers, chunks)
    assert len(body) == framed_size
    return put_raw(endpoint, path, headers, damage(body) if damage else body)


@contextlib.contextmanager
def half_upload(server: ServerProcess, path: str, sent: int) -> Iterator[None]:
    """A 64 MiB PUT of which only ``sent`` bytes go out; yields once they reach the server's temp folder."""
    headers = signed_headers(f"{server.endpoint}{path}", "UNSIGNED-PAYLOAD", {"Content-Length": str(64 * MiB)})
    head = f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() != "host"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + os.urandom(sent))
        deadline = time.monotonic() + 10
        while not leftovers(server) and time.monotonic() < deadline:
            time.sleep(0.02)  # the upload is being written to a temp file
        assert leftovers(server), "the upload never reached the disk"
        yield


# -- the tests -----------------------------------------------------------------------


def test_a_signed_chunked_upload_streams_through(own_server: ServerProcess, s3: Any, bucket: str) -> None:
    data = os.urandom(3 * MiB + 12345)
    status, body = chunked_upload(own_server.endpoint, bucket, "signed.bin", data)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="signed.bin")["Body"].read() == data


def test_a_bad_chunk_signature_late_in_the_body_leaves_nothing(
    own_server: ServerProcess, s3: Any, bucket: str
) -> None:
    data = os.urandom(3 * MiB)

    def damage(body: bytes) -> bytes:  # the last data chunk's signature, 3 MiB in
        at = body.rindex(b";chunk-signature=", 0, len(body) - 100) + len(b";chunk-signature=")
        return body[:at] + b"0" * 64 + body[at + 64 :]

    status, body = chunked_upload(own_server.endpoint, bucket, "bad-signature.bin", data, damage)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    assert absent(s3, bucket, "bad-signature.bin")
    wait_for_no_leftovers(own_server)


def test_a_trailing_checksum_of_a_streamed_body_is_verified(own_server: ServerProcess, s3: Any, bucket: str) -> None:
    data = os.urandom(2 * MiB + 7)
    good = zlib.crc32(data).to_bytes(4, "big")
    for name, crc in (("good.bin", good), ("wrong.bin", bytes(4))):
        checksum = base64.b64encode(crc).decode()
        chunks = [data[i : i + 256 * 1024] for i in range(0, len(data), 256 * 1024)]
        framed = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
        framed += b"0\r\n" + f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
        path = f"/{bucket}/{name}"
        headers = signed_headers(f"{own_server.endpoint}{path}", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", {
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": str(len(data)),
            "Content-Length": str(len(framed)),
        })
        status, body = put_raw(own_server.endpoint, path, headers, framed)
        if crc == good:
            assert status == 200, body
            got = s3.get_object(Bucket=bucket, Key=name, ChecksumMode="ENABLED")
            assert got["ChecksumCRC32"] == checksum
            assert got["Body"].read() == data
        else:
            assert status == 400 and b"<Code>BadDigest</Code>" in body, body
            assert absent(s3, bucket, name)
    wait_for_no_leftovers(own_server)


def test_a_streamed_body_that_does_not_match_its_sha256_is_refused(
    own_server: ServerProcess, s3: Any, bucket: str
) -> None:
    data = os.urandom(4 * MiB)
    claimed = hashlib.sha256(data[:-1] + b"!").hexdigest()
    path = f"/{bucket}/mismatch.bin"
    headers = signed_headers(f"{own_server.endpoint}{path}", claimed, {"Content-Length": str(len(data))})
    status, body = put_raw(own_server.endpoint, path, headers, data)
    assert status == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    assert f"<ClientComputedContentSHA256>{claimed}</ClientComputedContentSHA256>".encode() in body
    assert absent(s3, bucket, "mismatch.bin")
    wait_for_no_leftovers(own_server)


def test_a_client_that_goes_away_mid_upload_leaves_no_object_and_no_garbage(
    own_server: ServerProcess, s3: Any, bucket: str
) -> None:
    with half_upload(own_server, f"/{bucket}/half.bin", sent=5 * MiB):
        pass  # the client goes away
    wait_for_no_leftovers(own_server)
    assert absent(s3, bucket, "half.bin")
    s3.put_object(Bucket=bucket, Key="after.txt", Body=b"the server is fine")
    assert s3.get_object(Bucket=bucket, Key="after.txt")["Body"].read() == b"the server is fine"


def test_a_single_256_mib_put_and_get_keep_memory_flat(
    own_server: ServerProcess, s3: Any, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    digest = random_file(source, 256 * MiB)
    before = peak_rss_mb(own_server)
    with open(source, "rb") as f:
        s3.put_object(Bucket=bucket, Key="big.bin", Body=f)
    got = s3.get_object(Bucket=bucket, Key="big.bin")
    received = hashlib.sha256()
    for block in got["Body"].iter_chunks(MiB):
        received.update(block)
    assert received.hexdigest() == digest
    growth = peak_rss_mb(own_server) - before
    assert growth < 48, f"the server grew by {growth:.0f} MB for a 256 MiB object"


def test_boto3_managed_transfers_round_trip_100_mib(
    own_server: ServerProcess, s3: Any, bucket: str, tmp_path: Path
) -> None:
    source, back = tmp_path / "random.bin", tmp_path / "back.bin"
    digest = random_file(source, 100 * MiB)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=10,
                            use_threads=True)  # fmt: skip
    s3.upload_file(str(source), bucket, "random.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="random.bin")
    assert head["ContentLength"] == 100 * MiB
    assert head["ETag"].endswith('-13"')  # 13 parts of 8 MiB (the last one 4 MiB)
    s3.download_file(bucket, "random.bin", str(back), Config=config)
    assert file_sha256(back) == digest


@pytest.fixture
def gib_file(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    path = tmp_path / "one-gib.bin"
    digest = random_file(path, 1024 * MiB)
    yield path, digest
    path.unlink()


def test_aws_cli_copies_a_1_gib_file_both_ways(
    own_server: ServerProcess, bucket: str, gib_file: tuple[Path, str], tmp_path: Path
) -> None:
    source, digest = gib_file
    back = tmp_path / "back.bin"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    aws = [str(Path(sys.executable).with_name("aws")), "--endpoint-url", own_server.endpoint]
    before = peak_rss_mb(own_server)
    for args in (["s3", "cp", str(source), f"s3://{bucket}/big/one-gib.bin"],
                 ["s3", "cp", f"s3://{bucket}/big/one-gib.bin", str(back)]):  # fmt: skip
        done = subprocess.run([*aws, *args, "--only-show-errors"], env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
    listed = subprocess.run([*aws, "s3", "ls", f"s3://{bucket}/big/"], env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert str(1024 * MiB) in listed.stdout
    assert file_sha256(back) == digest
    growth = peak_rss_mb(own_server) - before
    assert growth < 128, f"the server grew by {growth:.0f} MB copying 1 GiB"
    back.unlink()


def post_form_streamed(server: ServerProcess, form: dict[str, Any], size: int) -> tuple[int, bytes, str]:
    """POST a form whose file is ``size`` random bytes, generated while sending; (status, body, file sha256)."""
    boundary = "----streamedform1234"
    head = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                    for name, value in form["fields"].items())  # fmt: skip
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    path = "/" + form["url"].split("/", 3)[3]
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n").encode()  # fmt: skip
    digest = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(request + head)
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            digest.update(block)
            sock.sendall(block)
            left -= len(block)
        sock.sendall(tail)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2], digest.hexdigest()


def test_a_browser_form_upload_streams_too(own_server: ServerProcess, s3: Any, bucket: str) -> None:
    signer = own_server.client("s3", signature_version="s3v4")
    form = signer.generate_presigned_post(bucket, "posted/${filename}", ExpiresIn=300)
    before = peak_rss_mb(own_server)
    status, body, digest = post_form_streamed(own_server, form, 192 * MiB)
    assert status == 204, body
    received = hashlib.sha256()
    for block in s3.get_object(Bucket=bucket, Key="posted/big.bin")["Body"].iter_chunks(MiB):
        received.update(block)
    assert received.hexdigest() == digest
    growth = peak_rss_mb(own_server) - before
    assert growth < 48, f"the server grew by {growth:.0f} MB for a 192 MiB form upload"
    # a size the policy forbids is found out once streamed: no object, no temp file
    limited = signer.generate_presigned_post(bucket, "limited.bin", Conditions=[["content-length-range", 0, MiB]],
                                             ExpiresIn=300)  # fmt: skip
    status, body, _ = post_form_streamed(own_server, limited, 3 * MiB)
    assert status == 400 and b"<Code>EntityTooLarge</Code>" in body, body
    assert absent(s3, bucket, "limited.bin")
    wait_for_no_leftovers(own_server)


def test_kill_9_during_a_streamed_put_leaves_no_object_and_no_garbage_after_restart(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    data_dir = tmp_path / "killed"
    server = start_server(data_dir)
    s3 = server.client("s3")
    s3.create_bucket(Bucket="interrupted")
    s3.put_object(Bucket="interrupted", Key="kept.txt", Body=b"acknowledged before the kill")
    with half_upload(server, "/interrupted/half.bin", sent=8 * MiB):
        server.kill9()
    restarted = start_server(data_dir)
    assert leftovers(restarted) == []
    s3 = restarted.client("s3")
    assert absent(s3, "interrupted", "half.bin")
    assert s3.get_object(Bucket="interrupted", Key="kept.txt")["Body"].read() == b"acknowledged before the kill"
    blobs = [p for p in (data_dir / "s3" / "data").rglob("*") if p.is_file()]
    assert blobs == []  # the one object is small enough to live in its row


def test_ctrl_c_stops_the_server_while_an_upload_stalls(start_server: Callable[..., ServerProcess],
                                                       tmp_path: Path) -> None:  # fmt: skip
    server = start_server(tmp_path / "stalled")
    server.client("s3").create_bucket(Bucket="stalled")
    with half_upload(server, "/stalled/never-finished.bin", sent=3 * MiB):
        started = time.monotonic()
        assert server.stop(timeout=12) == 0  # SIGINT; graceful shutdown gives in-flight requests 5 s
        assert time.monotonic() - started < 12
    assert leftovers(server) == []  # the cancelled upload removed its temp file
