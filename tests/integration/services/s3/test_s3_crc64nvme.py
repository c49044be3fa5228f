"""CRC64NVME checksums through boto3: single PUT, multipart (FULL_OBJECT), verification, GET/HEAD.

botocore computes CRC64NVME only with ``awscrt`` installed (``httpchecksum``
registers it under ``HAS_CRT``); the venv has no awscrt, so the tests compute
the value with our own function and hand it to botocore as the
``ChecksumCRC64NVME`` parameter, which botocore sends as
``x-amz-checksum-crc64nvme`` without computing anything itself.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cloudlet.services.s3.checksums import checksum_b64

BODY = b"crc64nvme body " * 1000


def test_put_with_crc64nvme_is_verified_stored_and_returned(s3: Any, bucket: str) -> None:
    value = checksum_b64("CRC64NVME", BODY)
    out = s3.put_object(Bucket=bucket, Key="k", Body=BODY, ChecksumCRC64NVME=value)
    assert out["ChecksumCRC64NVME"] == value
    assert out["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == value
    assert head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == value
    assert got["Body"].read() == BODY
    attrs = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"]["ChecksumCRC64NVME"] == value


def test_wrong_crc64nvme_is_bad_digest(s3: Any, bucket: str) -> None:
    wrong = checksum_b64("CRC64NVME", BODY + b"x")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=BODY, ChecksumCRC64NVME=wrong)
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert "CRC64NVME" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="bad")
    assert missing.value.response["Error"]["Code"] == "404"


def test_multipart_crc64nvme_is_full_object(s3: Any, bucket: str) -> None:
    parts_data = [os.urandom(5 * 1024 * 1024), os.urandom(300_000)]
    created = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC64NVME")
    assert created["ChecksumAlgorithm"] == "CRC64NVME"
    assert created["ChecksumType"] == "FULL_OBJECT"
    upload_id = created["UploadId"]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        value = checksum_b64("CRC64NVME", data)
        out = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=data,
                             ChecksumCRC64NVME=value)
        assert out["ChecksumCRC64NVME"] == value
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC64NVME": value})
    whole = checksum_b64("CRC64NVME", b"".join(parts_data))
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, ChecksumCRC64NVME=whole,
                                        ChecksumType="FULL_OBJECT")
    assert done["ChecksumCRC64NVME"] == whole
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == whole
    assert head["ChecksumType"] == "FULL_OBJECT"


def test_multipart_full_object_mismatch_is_bad_digest(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC64NVME")["UploadId"]
    data = b"only part"
    out = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=data,
                         ChecksumCRC64NVME=checksum_b64("CRC64NVME", data))
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": out["ETag"]}]},
                                     ChecksumCRC64NVME=checksum_b64("CRC64NVME", b"other"))
    assert exc.value.response["Error"]["Code"] == "BadDigest"


def test_crc64nvme_composite_is_rejected(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE")
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    assert exc.value.response["Error"]["Message"] == (
        "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")


def test_crc32_full_object_multipart_is_combined(s3: Any, bucket: str) -> None:
    data = [os.urandom(5 * 1024 * 1024), b"tail"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="CRC32",
                                           ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for number, body in enumerate(data, start=1):
        out = s3.upload_part(Bucket=bucket, Key="c", UploadId=upload_id, PartNumber=number, Body=body,
                             ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC32": out["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done["ChecksumCRC32"] == checksum_b64("CRC32", b"".join(data))
    assert done["ChecksumType"] == "FULL_OBJECT"
