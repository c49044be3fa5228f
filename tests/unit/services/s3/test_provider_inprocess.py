"""The provider in-process (no sockets): CORS answers the edge will route, lifecycle with a fake clock."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.s3 import MIGRATIONS, S3Provider
from cloudlet.storage import Database


def ctx(operation: str) -> RequestContext:
    return RequestContext(request_id="r-1", service="s3", operation=operation, region="us-east-1",
                          account_id="000000000000", access_key_id="test", endpoint="http://localhost")


async def _with_provider(tmp_path: Path, body: Any) -> None:
    db = Database(tmp_path / "s3.db", MIGRATIONS)
    await db.open()
    provider = S3Provider(db, tmp_path / "s3", lifecycle_interval_s=3600)
    await provider.start()
    try:
        await body(provider)
    finally:
        await provider.stop()
        await db.close()


def test_cors_preflight_and_actual(tmp_path: Path) -> None:
    async def body(p: S3Provider) -> None:
        await p.CreateBucket(ctx("CreateBucket"), {"Bucket": "web-bucket"})
        status, _, payload = await p.cors_preflight(
            "web-bucket", {"origin": "https://a.test", "access-control-request-method": "GET"}, "rid")
        assert status == 403 and b"CORS is not enabled" in payload
        await p.PutBucketCors(ctx("PutBucketCors"), {"Bucket": "web-bucket", "CORSConfiguration": {
            "CORSRules": [{"AllowedOrigins": ["https://a.test"], "AllowedMethods": ["GET", "PUT"],
                           "AllowedHeaders": ["*"]}]}})
        status, headers, payload = await p.cors_preflight(
            "web-bucket", {"origin": "https://a.test", "access-control-request-method": "PUT",
                           "access-control-request-headers": "content-type"}, "rid")
        assert status == 200 and payload == b""
        assert ("Access-Control-Allow-Origin", "https://a.test") in headers
        assert await p.cors_headers("web-bucket", "GET", {"origin": "https://b.test"}) == []
        assert (await p.cors_headers("web-bucket", "GET", {"origin": "https://a.test"}))[0][1] == "https://a.test"
        status, _, payload = await p.cors_preflight("missing-bucket", {"origin": "x"}, "rid")
        assert status == 404 and b"NoSuchBucket" in payload

    asyncio.run(_with_provider(tmp_path, body))


def test_lifecycle_pass(tmp_path: Path) -> None:
    async def body(p: S3Provider) -> None:
        await p.CreateBucket(ctx("CreateBucket"), {"Bucket": "life-bucket"})
        await p.PutBucketVersioning(ctx("PutBucketVersioning"), {
            "Bucket": "life-bucket", "VersioningConfiguration": {"Status": "Enabled"}})
        for key in ("logs/a", "logs/b", "keep/c"):
            await p.PutObject(ctx("PutObject"), {"Bucket": "life-bucket", "Key": key, "Body": b"x"})
        await p.PutObject(ctx("PutObject"), {"Bucket": "life-bucket", "Key": "logs/a", "Body": b"y"})
        up = await p.CreateMultipartUpload(ctx("CreateMultipartUpload"), {"Bucket": "life-bucket", "Key": "m"})
        await p.PutBucketLifecycleConfiguration(ctx("PutBucketLifecycleConfiguration"), {
            "Bucket": "life-bucket", "LifecycleConfiguration": {"Rules": [
                {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 3},
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
                {"ID": "mpu", "Status": "Enabled", "Filter": {},
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]}})
        assert await p.apply_lifecycle(now=time.time() + 3600) == 0
        # Two days on: the superseded version of logs/a and the stale upload go.
        assert await p.apply_lifecycle(now=time.time() + 2.5 * 86400) == 2
        uploads = await p.ListMultipartUploads(ctx("ListMultipartUploads"), {"Bucket": "life-bucket"})
        assert not uploads.get("Uploads")
        assert up["UploadId"]
        # Four days on: current versions under logs/ get delete markers; keep/ stays.
        await p.apply_lifecycle(now=time.time() + 4 * 86400)
        listed = await p.ListObjectsV2(ctx("ListObjectsV2"), {"Bucket": "life-bucket"})
        assert [o["Key"] for o in listed["Contents"]] == ["keep/c"]
        versions = await p.ListObjectVersions(ctx("ListObjectVersions"), {"Bucket": "life-bucket"})
        assert len(versions["DeleteMarkers"]) == 2

    asyncio.run(_with_provider(tmp_path, body))


def test_streaming_bodies_in_and_out(tmp_path: Path) -> None:
    from cloudlet.services.s3.files import BlobBody

    async def body(p: S3Provider) -> None:
        await p.CreateBucket(ctx("CreateBucket"), {"Bucket": "stream-bucket"})
        data = b"s" * 300_000

        async def chunks() -> Any:
            for i in range(0, len(data), 65536):
                yield data[i:i + 65536]

        put = await p.PutObject(ctx("PutObject"), {"Bucket": "stream-bucket", "Key": "k", "Body": chunks()})
        assert put["ETag"].strip('"') == hashlib.md5(data).hexdigest()
        p.stream_responses = True
        got = await p.GetObject(ctx("GetObject"), {"Bucket": "stream-bucket", "Key": "k", "Range": "bytes=10-"})
        assert isinstance(got["Body"], BlobBody)
        assert b"".join(got["Body"]) == data[10:]
        small = await p.GetObject(ctx("GetObject"), {"Bucket": "stream-bucket", "Key": "k", "Range": "bytes=0-9"})
        assert small["Body"] == data[:10]

    asyncio.run(_with_provider(tmp_path, body))
