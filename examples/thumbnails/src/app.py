"""Image thumbnails: two Lambda handlers.

``resize_handler`` is triggered by the SQS queue that the bucket's upload
notifications reach through SNS.  Each message carries an S3 event; each image
under ``uploads/`` is read, shrunk with Pillow to fit THUMBNAIL_SIZE x THUMBNAIL_SIZE
and written to ``thumbnails/<name>``.  A message that fails (a corrupt image) is
reported in ``batchItemFailures`` so only it is retried; after the queue's
maxReceiveCount it moves to the dead-letter queue.

``serve_handler`` answers ``GET /thumbnails/{key+}`` on the HTTP API with the
thumbnail's bytes (or, with ``?presign=1``, a presigned URL to it).
"""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any
from urllib.parse import unquote, unquote_plus

import boto3
from botocore.exceptions import ClientError
from PIL import Image, ImageOps

UPLOAD_PREFIX = "uploads/"
THUMBNAIL_PREFIX = "thumbnails/"
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}

s3 = boto3.client("s3")


def thumbnail_key(key: str) -> str:
    """``uploads/cats/tom.png`` → ``thumbnails/cats/tom.png``."""
    name = key[len(UPLOAD_PREFIX):] if key.startswith(UPLOAD_PREFIX) else key
    return THUMBNAIL_PREFIX + name


def s3_records(body: str) -> list[dict[str, Any]]:
    """S3 event records in an SQS message body: raw S3 event, or wrapped in an SNS envelope."""
    message = json.loads(body)
    if message.get("Type") == "Notification" and "Message" in message:
        message = json.loads(message["Message"])
    # S3 sends an s3:TestEvent (no Records) when the notification is configured.
    return list(message.get("Records") or [])


def make_thumbnail(data: bytes, size: int) -> tuple[bytes, str]:
    """Shrink an image to fit size x size, keeping its format when web-friendly."""
    with Image.open(io.BytesIO(data)) as original:
        original.load()  # decode now: a corrupt file fails here
        fmt = original.format if original.format in FORMATS else "PNG"
        image = ImageOps.exif_transpose(original) or original
        image.thumbnail((size, size))
        if fmt == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, format=fmt)
    return out.getvalue(), FORMATS[fmt]


def resize_record(record: dict[str, Any], size: int) -> str | None:
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])  # keys arrive form-encoded: space → "+"
    if not key.startswith(UPLOAD_PREFIX):
        return None
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    thumbnail, content_type = make_thumbnail(data, size)
    target = thumbnail_key(key)
    s3.put_object(Bucket=bucket, Key=target, Body=thumbnail, ContentType=content_type,
                  Metadata={"source-key": key.encode("ascii", "replace").decode()})
    return target


def resize_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    size = int(os.environ.get("THUMBNAIL_SIZE", "128"))
    failures = []
    for message in event.get("Records", []):
        try:
            for record in s3_records(message["body"]):
                target = resize_record(record, size)
                if target:
                    print(f"wrote {target}")
        except Exception as exc:  # report this message, keep the others
            print(f"failed message {message['messageId']}: {type(exc).__name__}: {exc}")
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}


def _response(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}


def serve_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    bucket = os.environ["BUCKET"]
    name = (event.get("pathParameters") or {}).get("key", "")
    query = event.get("queryStringParameters") or {}
    for candidate in dict.fromkeys([name, unquote(name)]):
        key = THUMBNAIL_PREFIX + candidate
        if query.get("presign"):
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except ClientError:
                continue
            url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                            ExpiresIn=300)
            return _response(200, {"url": url})
        try:
            obj = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
                continue
            raise
        return {
            "statusCode": 200,
            "headers": {"content-type": obj.get("ContentType", "application/octet-stream"),
                        "cache-control": "max-age=60"},
            "body": base64.b64encode(obj["Body"].read()).decode(),
            "isBase64Encoded": True,
        }
    return _response(404, {"message": f"no thumbnail for {name!r} yet"})
