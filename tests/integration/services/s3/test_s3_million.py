"""A bucket of 1,000,000 keys lists page by page, through index seeks, without the server's memory growing.

How the keys get there.  A million PutObjects through boto3 would take
minutes (about 1,500 a second on this machine), and what is under test is
listing, not writing.  So the server writes one real object with boto3 (a
template row exactly as PutObject stores it), is stopped, and one
``INSERT … SELECT`` in the S3 database (the schema the server's own
migrations created) copies that row a million times with only the key and the
version order changed; then the template is removed and the server started
again on the same data directory.  A body small enough to live in the row
(an inline BLOB) is copied with it; a blob *file* is not shared (the copies'
``blob`` is NULL): listing never reads object bytes, and once no row names
the template's file the server's start-up sweep removes it like any orphan.

What is checked, all through the real server with boto3:

* the ``list_objects_v2`` paginator (1,000 keys a page, continuation tokens)
  returns the keys in order, each exactly once, from the first key on;
* the server's resident memory (``VmRSS``) grows by less than 64 MB while
  paging: nothing loads the bucket;
* a page in the middle (``StartAfter``), the last pages (paginator from
  ``StartAfter`` to the end), ``Prefix`` + ``Delimiter`` (1,000 common
  prefixes over the million keys in one page: one seek each), ListObjects
  (v1) with ``Marker`` and ListObjectVersions with ``KeyMarker``.

How much is paged.  boto3 spends about 25 ms parsing each 1,000-key page
(five times that when it parses every ``LastModified`` with dateutil, which is
why the paging client keeps timestamps as text, the way the AWS CLI does) and
the server about as long writing it, so all 1,000 pages take well over a
minute on a small machine.  By default the paginator walks the first
``PAGED_KEYS`` keys from the start and the last ones to the end of the
listing; ``CLOUDLET_TEST_S3_LIST_ALL=1`` pages through all 1,000,000.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from tests.servers import REGION, ServerProcess

from cloudlet.bench.common import status_mb

pytestmark = pytest.mark.slow

TOTAL = 1_000_000
FOLDERS = 1_000  # keys are "FFFF/KKK": 1,000 folders of 1,000 keys
PAGED_KEYS = TOTAL if os.environ.get("CLOUDLET_TEST_S3_LIST_ALL") == "1" else 150_000
TAIL_KEYS = 10_000
RSS_LIMIT_MB = 64
BUCKET = "million"


def key(index: int) -> str:
    return f"{index // 1000:04d}/{index % 1000:03d}"


def _populate(db_path: Path, bucket: str, template_key: str) -> None:
    """Copy the template row to keys 0…TOTAL-1 (seq after every existing one), then drop the template."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (base,) = conn.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO objects (bucket, key, version_id, seq, is_latest, delete_marker, size, etag,"
            " last_modified, blob, meta, tags) "
            "SELECT t.bucket, printf('%04d/%03d', n.i / 1000, n.i % 1000), t.version_id, ? + 1 + n.i, 1, 0,"
            " t.size, t.etag, t.last_modified, CASE WHEN typeof(t.blob) = 'blob' THEN t.blob END, t.meta, t.tags "
            "FROM n, (SELECT * FROM objects WHERE bucket = ? AND key = ?) AS t",
            (TOTAL, base, bucket, template_key),
        )
        conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, template_key))
        conn.execute("UPDATE counters SET value = ? WHERE name = 'seq'", (base + TOTAL,))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _client(endpoint: str, *, text_timestamps: bool = False) -> Any:
    session = botocore.session.get_session()
    if text_timestamps:
        # What the AWS CLI does: leave timestamps as the server's text instead of parsing each one.
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    return boto3.Session(botocore_session=session).client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=120))


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("million") / "data"
    server = ServerProcess(data_dir).start()
    try:
        s3 = _client(server.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="template", Body=b"")
    finally:
        server.stop()
    _populate(data_dir / "s3.db", BUCKET, "template")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_paginator_walks_the_keys_in_order_without_memory_growth(million: ServerProcess) -> None:
    assert million.proc is not None
    pid = million.proc.pid
    s3 = _client(million.endpoint, text_timestamps=True)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 1000})
    seen = 0
    baseline = peak = 0.0
    for number, page in enumerate(pages):
        keys = [o["Key"] for o in page["Contents"]]
        # In order and each once: exactly the next slice of the sorted key space.
        assert keys == [key(i) for i in range(seen, seen + len(keys))]
        assert page["KeyCount"] == len(keys) == 1000
        seen += len(keys)
        rss = status_mb(pid)
        if number == 0:
            baseline = rss  # after the first page: caches and buffers of a listing exist
        peak = max(peak, rss)
        if seen >= PAGED_KEYS:
            break
    assert seen == PAGED_KEYS
    if PAGED_KEYS == TOTAL:
        assert page["IsTruncated"] is False
    assert peak - baseline < RSS_LIMIT_MB, f"VmRSS grew {peak - baseline:.1f} MB ({baseline:.0f} -> {peak:.0f})"


def test_the_last_pages_end_the_listing(million: ServerProcess) -> None:
    s3 = _client(million.endpoint, text_timestamps=True)
    first = TOTAL - TAIL_KEYS
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, StartAfter=key(first - 1)))
    keys = [o["Key"] for p in pages for o in p["Contents"]]
    assert keys == [key(i) for i in range(first, TOTAL)]
    assert len(pages) == TAIL_KEYS // 1000
    assert pages[-1]["IsTruncated"] is False and "NextContinuationToken" not in pages[-1]


def test_a_page_in_the_middle(million: ServerProcess) -> None:
    s3 = _client(million.endpoint)
    page = s3.list_objects_v2(Bucket=BUCKET, StartAfter=key(499_999))
    assert [o["Key"] for o in page["Contents"]] == [key(i) for i in range(500_000, 501_000)]
    assert page["IsTruncated"] is True and page["StartAfter"] == key(499_999)
    entry = page["Contents"][0]
    assert entry["Size"] == 0 and entry["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert entry["LastModified"].year >= 2024
    following = s3.list_objects_v2(Bucket=BUCKET, ContinuationToken=page["NextContinuationToken"], MaxKeys=5)
    assert [o["Key"] for o in following["Contents"]] == [key(i) for i in range(501_000, 501_005)]


def test_prefix_and_delimiter_seek_past_each_folder(million: ServerProcess) -> None:
    s3 = _client(million.endpoint)
    top = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == [f"{f:04d}/" for f in range(FOLDERS)]
    assert "Contents" not in top and top["IsTruncated"] is False and top["KeyCount"] == FOLDERS
    # Prefixes page like keys do: the paginator resumes after the last prefix returned.
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Delimiter="/", StartAfter="0300/", PaginationConfig={"PageSize": 100})
    paged = [[p["Prefix"] for p in page["CommonPrefixes"]] for page, _ in zip(pages, range(3), strict=False)]
    assert paged == [[f"{f:04d}/" for f in range(start, start + 100)] for start in (301, 401, 501)]
    inside = s3.list_objects_v2(Bucket=BUCKET, Prefix="0777/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == [key(i) for i in range(777_000, 778_000)]
    assert "CommonPrefixes" not in inside and inside["IsTruncated"] is False


def test_v1_marker_and_versions_key_marker(million: ServerProcess) -> None:
    s3 = _client(million.endpoint)
    v1 = s3.list_objects(Bucket=BUCKET, Marker=key(250_499), MaxKeys=1000)
    assert [o["Key"] for o in v1["Contents"]] == [key(i) for i in range(250_500, 251_500)]
    assert v1["IsTruncated"] is True
    versions = s3.list_object_versions(Bucket=BUCKET, KeyMarker=key(900_000), MaxKeys=3)
    assert [(v["Key"], v["IsLatest"]) for v in versions["Versions"]] == [(key(i), True) for i in (900_001, 900_002,
                                                                                                   900_003)]
    assert versions["NextKeyMarker"] == key(900_003)
