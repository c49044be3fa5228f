"""The image-thumbnail example, end to end: deploy with the CLI, upload, fetch over HTTP.

upload (boto3 and the AWS CLI) → S3 notification → SNS → SQS → Lambda (ESM) with
Pillow → ``thumbnails/<name>`` in S3 → ``GET /thumbnails/{key+}`` on the HTTP API.
A corrupt file fails in the function and, after maxReceiveCount receives, ends
in the dead-letter queue.  A re-deploy changes nothing that was there.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.servers import ServerProcess

Image = pytest.importorskip("PIL.Image")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "thumbnails"
SIZE = 128
OVERRIDES = f"ThumbnailSize={SIZE} FunctionTimeout=3 VisibilityTimeout=3 MaxReceiveCount=2"


def cloudlet(server: ServerProcess, cwd: Path, *args: str) -> str:
    env = {**os.environ, "CLOUDLET_ENDPOINT": server.endpoint}
    out = subprocess.run(
        [sys.executable, "-m", "cloudlet", "--endpoint", server.endpoint, *args],
        capture_output=True, text=True, timeout=180, env=env, cwd=cwd,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def outputs(text: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\w+) = (\S+)$", text, flags=re.MULTILINE))


def image_bytes(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    image = Image.new(mode, size)
    # some structure, so encoders do real work and thumbnails are not trivially blank
    for x in range(0, size[0], max(1, size[0] // 16)):
        for y in range(0, size[1], max(1, size[1] // 16)):
            image.putpixel((x, y), (x % 256, y % 256, 128) if mode == "RGB" else 3)
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def expected_size(size: tuple[int, int]) -> tuple[int, int]:
    image = Image.new("RGB", size)
    image.thumbnail((SIZE, SIZE))
    return image.size


def fetch(url: str, deadline: float) -> tuple[int, str, bytes]:
    """GET url, retrying 404s (the thumbnail is made asynchronously) until the deadline."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.headers["content-type"], response.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                return exc.code, exc.headers.get("content-type", ""), exc.read()
        time.sleep(0.25)


IMAGES = [
    # key under uploads/, format, size, Pillow mode
    ("tiny.png", "PNG", (1, 1), "RGB"),
    ("photo.jpg", "JPEG", (2000, 1500), "RGB"),
    ("anim.gif", "GIF", (300, 200), "P"),
    ("wide.webp", "WEBP", (1200, 300), "RGB"),
    ("tall.png", "PNG", (90, 900), "RGBA"),
    ("exact.jpeg", "JPEG", (128, 128), "RGB"),
    ("nested/dir/small.webp", "WEBP", (40, 30), "RGB"),
]


def test_thumbnails_end_to_end(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server()
    app_dir = tmp_path / "thumbnails"
    shutil.copytree(EXAMPLE, app_dir, ignore=shutil.ignore_patterns(".cloudlet-stack-*", "__pycache__"))

    deployed = cloudlet(server, app_dir, "deploy", "template.yaml", "--parameter-overrides", OVERRIDES)
    out = outputs(deployed)
    assert out["ApiEndpoint"].startswith("http://") and ".execute-api." in out["ApiEndpoint"]
    assert (app_dir / ".cloudlet-stack-thumbnails.json").exists()
    api_id = urllib.parse.urlsplit(out["ApiEndpoint"]).hostname.split(".")[0]  # type: ignore[union-attr]
    base = f"{server.endpoint}/_aws/execute-api/{api_id}/thumbnails/"
    bucket = out["BucketName"]
    s3, sqs = server.client("s3"), server.client("sqs")

    for name, fmt, size, mode in IMAGES:
        s3.put_object(Bucket=bucket, Key=f"uploads/{name}", Body=image_bytes(fmt, size, mode))
    s3.put_object(Bucket=bucket, Key="uploads/broken.png", Body=b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 64)

    # A key with spaces, uploaded with the AWS CLI as the README does (S3 events encode it as "+").
    spaced = tmp_path / "holiday.jpg"
    spaced.write_bytes(image_bytes("JPEG", (640, 480)))
    cli_env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_DEFAULT_REGION": "us-east-1"}
    cli_env.pop("AWS_ENDPOINT_URL", None)
    aws = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint, "s3", "cp", str(spaced),
         f"s3://{bucket}/uploads/my holiday photo.jpg"],
        capture_output=True, text=True, timeout=120, env=cli_env,
    )
    assert aws.returncode == 0, aws.stdout + aws.stderr

    deadline = time.monotonic() + 90
    expected = [(n, f, s) for n, f, s, _ in IMAGES] + [("my holiday photo.jpg", "JPEG", (640, 480))]
    for name, fmt, size in expected:
        status, content_type, body = fetch(base + urllib.parse.quote(name), deadline)
        assert status == 200, (name, status, body[:300], server.log()[-3000:])
        assert content_type == f"image/{fmt.lower()}", name
        with Image.open(io.BytesIO(body)) as thumb:
            assert thumb.format == fmt, name
            assert thumb.size == expected_size(size), (name, thumb.size)
        head = s3.head_object(Bucket=bucket, Key=f"thumbnails/{name}")
        assert head["ContentLength"] == len(body)

    # The corrupt upload: retried, then moved to the dead-letter queue; no thumbnail.
    dlq = out["DeadLetterQueueUrl"]
    bodies: list[str] = []
    dlq_deadline = time.monotonic() + 120
    while time.monotonic() < dlq_deadline and not any("broken.png" in b for b in bodies):
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  AttributeNames=["All"])
        bodies += [m["Body"] for m in got.get("Messages", [])]
    assert any("broken.png" in b for b in bodies), bodies
    assert not any("tiny.png" in b for b in bodies), "a good image went to the DLQ"
    status, _, _ = fetch(base + "broken.png", time.monotonic())
    assert status == 404

    # Unknown thumbnail → 404 JSON from the function; a presigned URL works too.
    assert fetch(base + "nope.png", time.monotonic())[0] == 404
    status, _, presigned = fetch(base + "tiny.png?presign=1", time.monotonic())
    assert status == 200
    with urllib.request.urlopen(json.loads(presigned)["url"], timeout=10) as response:
        assert Image.open(io.BytesIO(response.read())).size == (1, 1)

    # Re-deploy: same API, bucket kept with its objects, function updated in place.
    again = outputs(cloudlet(server, app_dir, "deploy", "template.yaml", "--parameter-overrides", OVERRIDES))
    assert again == out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "thumbnails/photo.jpg" in keys and "uploads/photo.jpg" in keys
