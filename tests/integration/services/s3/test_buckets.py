"""Bucket operations through boto3: region rules, head, delete, list, location."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_in_us_east_1_twice_is_ok_and_listed(s3: Any, new_name: Callable[[str], str]) -> None:
    name = new_name("bkt")
    assert s3.create_bucket(Bucket=name)["Location"] == f"/{name}"
    s3.create_bucket(Bucket=name)  # us-east-1 legacy: 200 for your own bucket
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name in names
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_region_rules(aws_client: Callable[..., Any], new_name: Callable[[str], str]) -> None:
    import boto3
    from botocore.config import Config

    s3 = aws_client("s3")
    endpoint = s3.meta.endpoint_url
    eu = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))
    name = new_name("eu")
    with pytest.raises(ClientError) as exc:
        eu.create_bucket(Bucket=name)
    assert code_of(exc) == "IllegalLocationConstraintException"
    with pytest.raises(ClientError) as exc:
        eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert code_of(exc) == "IllegalLocationConstraintException"
    eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert eu.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as exc:
        eu.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code_of(exc) == "BucketAlreadyOwnedByYou"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=new_name("x"), CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert code_of(exc) in ("InvalidLocationConstraint", "MalformedXML")  # the model enum lacks us-east-1


@pytest.mark.parametrize("name", ["ab", "UPPER-case", "bad..name", "192.168.1.1", "-start", "xn--punycode",
                                  "a" * 64, "end-s3alias"])
def test_invalid_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert code_of(exc) == "InvalidBucketName"


def test_delete_bucket_not_empty_and_missing(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(exc) == "BucketNotEmpty"
    assert exc.value.response["Error"]["BucketName"] == bucket
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=bucket)
    assert code_of(exc) == "404"
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket)
    assert code_of(exc) == "NoSuchBucket"
    assert exc.value.response["Error"]["BucketName"] == bucket


def test_list_buckets_pagination(s3: Any, new_name: Callable[[str], str]) -> None:
    prefix = new_name("pg")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for name in names:
        s3.create_bucket(Bucket=name)
    seen: list[str] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"MaxBuckets": 2, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_buckets(**kwargs)
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == names


def test_expected_bucket_owner(s3: Any, bucket: str) -> None:
    s3.head_bucket(Bucket=bucket, ExpectedBucketOwner="000000000000")
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner="111111111111")
    assert code_of(exc) == "AccessDenied"
