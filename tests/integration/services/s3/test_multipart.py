"""Multipart uploads through boto3 and managed transfers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_low_level_multipart(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-big",
                                    Metadata={"m": "v"})
    upload_id = up["UploadId"]
    part1 = os.urandom(5 * MIB)
    part2 = b"tail"
    e1 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=2, Body=part2)["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [(1, 5 * MIB, e1), (2, 4, e2)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [upload_id]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code_of(exc) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"0123"'}]})
    assert code_of(exc) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    expected = hashlib.md5(hashlib.md5(part1).digest() + hashlib.md5(part2).digest()).hexdigest() + "-2"
    assert done["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == part1 + part2
    assert got["ContentType"] == "application/x-big"
    assert got["Metadata"] == {"m": "v"}
    second = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert second["Body"].read() == part2
    assert second["PartsCount"] == 2
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id)
    assert code_of(exc) == "NoSuchUpload"


def test_entity_too_small_and_abort(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code_of(exc) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=upload_id, PartNumber=3, Body=b"c")
    assert code_of(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload_id)
    assert code_of(exc) == "NoSuchUpload"


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MIB - 1}")["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=2,
                             CopySource=f"{bucket}/src", CopySourceRange=f"bytes={5 * MIB}-{6 * MIB - 1}")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source


def test_managed_transfer_roundtrip(s3: Any, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(20 * MIB + 123)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "managed.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="managed.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "managed.bin", str(dst), Config=config)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    got = s3.get_object(Bucket=bucket, Key="managed.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data


def test_full_object_checksum_multipart(s3: Any, bucket: str) -> None:
    import base64
    import zlib

    part1, part2 = os.urandom(5 * MIB), b"end"
    up = s3.create_multipart_upload(Bucket=bucket, Key="fo", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    assert up["ChecksumType"] == "FULL_OBJECT"
    parts = []
    for number, body in ((1, part1), (2, part2)):
        out = s3.upload_part(Bucket=bucket, Key="fo", UploadId=up["UploadId"], PartNumber=number, Body=body,
                             ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC32": out["ChecksumCRC32"]})
    whole = base64.b64encode(zlib.crc32(part1 + part2).to_bytes(4, "big")).decode()
    done = s3.complete_multipart_upload(Bucket=bucket, Key="fo", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts}, ChecksumCRC32=whole,
                                        ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC32"] == whole
    got = s3.get_object(Bucket=bucket, Key="fo", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == whole and got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == part1 + part2


def test_composite_checksum_multipart(s3: Any, bucket: str) -> None:
    import base64

    part1, part2 = os.urandom(5 * MIB), b"end"
    up = s3.create_multipart_upload(Bucket=bucket, Key="cc", ChecksumAlgorithm="SHA256")
    parts = []
    for number, body in ((1, part1), (2, part2)):
        out = s3.upload_part(Bucket=bucket, Key="cc", UploadId=up["UploadId"], PartNumber=number, Body=body,
                             ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumSHA256": out["ChecksumSHA256"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="cc", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    digests = hashlib.sha256(part1).digest() + hashlib.sha256(part2).digest()
    assert done["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(digests).digest()).decode() + "-2"
    head = s3.head_object(Bucket=bucket, Key="cc", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "COMPOSITE"
    assert s3.get_object(Bucket=bucket, Key="cc", ChecksumMode="ENABLED")["Body"].read() == part1 + part2
