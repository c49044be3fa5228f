"""ListObjects / ListObjectsV2 through boto3: prefixes, delimiters, paging, encoding."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

KEYS = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "dir2/x", "other/y", "z"]


@pytest.fixture
def filled(s3: Any, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return bucket


def test_v2_delimiter_and_prefix(s3: Any, filled: str) -> None:
    top = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "z"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/", "dir2/", "other/"]
    assert top["KeyCount"] == 5
    inside = s3.list_objects_v2(Bucket=filled, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == ["dir/1", "dir/2"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["dir/sub/"]
    assert s3.list_objects_v2(Bucket=filled, Prefix="nothing")["KeyCount"] == 0


def test_v2_pagination_with_delimiter_visits_everything_once(s3: Any, filled: str) -> None:
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": filled, "Delimiter": "/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] <= 2
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen) == ["a.txt", "dir/", "dir2/", "other/", "z"]


def test_v2_paginator_and_start_after(s3: Any, filled: str) -> None:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=filled, PaginationConfig={"PageSize": 3})
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == KEYS
    after = s3.list_objects_v2(Bucket=filled, StartAfter="dir/2")
    assert [o["Key"] for o in after["Contents"]] == KEYS[3:]
    assert after["StartAfter"] == "dir/2"


def test_v1_markers(s3: Any, filled: str) -> None:
    first = s3.list_objects(Bucket=filled, MaxKeys=3)
    assert [o["Key"] for o in first["Contents"]] == KEYS[:3]
    assert first["IsTruncated"] is True
    assert "NextMarker" not in first  # only with a delimiter
    rest = s3.list_objects(Bucket=filled, Marker="dir/2")
    assert [o["Key"] for o in rest["Contents"]] == KEYS[3:]
    with_delim = s3.list_objects(Bucket=filled, Delimiter="/", MaxKeys=2)
    assert with_delim["NextMarker"] == "dir/"
    following = s3.list_objects(Bucket=filled, Delimiter="/", Marker=with_delim["NextMarker"])
    assert [p["Prefix"] for p in following["CommonPrefixes"]] == ["dir2/", "other/"]
    assert [o["Key"] for o in following["Contents"]] == ["z"]
    everything = [o["Key"] for p in s3.get_paginator("list_objects").paginate(
        Bucket=filled, PaginationConfig={"PageSize": 2}) for o in p.get("Contents", [])]
    assert everything == KEYS


def test_encoding_type_url(s3: Any, bucket: str) -> None:
    key = "sp ace/ü+&.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # botocore asks for url encoding itself and decodes; with an explicit EncodingType it leaves keys encoded.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    explicit = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Prefix="sp ace/")
    assert [o["Key"] for o in explicit["Contents"]] == ["sp%20ace/%C3%BC%2B%26.txt"]
    assert explicit["Prefix"] == "sp%20ace/"
    assert explicit["EncodingType"] == "url"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, EncodingType="base64")
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"


def test_many_keys_page_through(s3: Any, bucket: str) -> None:
    keys = [f"k/{i:05d}" for i in range(1003)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    first = s3.list_objects_v2(Bucket=bucket)
    assert first["KeyCount"] == 1000
    assert first["IsTruncated"]
    second = s3.list_objects_v2(Bucket=bucket, ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in second["Contents"]] == keys[1000:]
    assert not second["IsTruncated"]
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert rolled["CommonPrefixes"] == [{"Prefix": "k/"}]
    assert "Contents" not in rolled
