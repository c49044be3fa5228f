"""S3's errors, with the codes, statuses and extra fields AWS answers."""

from __future__ import annotations

from typing import Any

from cloudlet.errors import ServiceError


def _err(code: str, status: int, message: str, **fields: Any) -> ServiceError:
    return ServiceError(message, code=code, status=status, fields={k: v for k, v in fields.items() if v is not None})


def no_such_bucket(bucket: str) -> ServiceError:
    return _err("NoSuchBucket", 404, "The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> ServiceError:
    return _err("NoSuchKey", 404, "The specified key does not exist.", Key=key)


def no_such_version(key: str, version_id: str) -> ServiceError:
    return _err("NoSuchVersion", 404, "The specified version does not exist.", Key=key, VersionId=version_id)


def invalid_version(version_id: str) -> ServiceError:
    return _err("InvalidArgument", 400, "Invalid version id specified", ArgumentName="versionId",
                ArgumentValue=version_id)


def no_such_upload(upload_id: str) -> ServiceError:
    return _err(
        "NoSuchUpload", 404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        UploadId=upload_id,
    )


def method_not_allowed(method: str, resource: str = "OBJECT") -> ServiceError:
    return _err("MethodNotAllowed", 405, "The specified method is not allowed against this resource.",
                Method=method, ResourceType=resource)


def invalid_argument(message: str, name: str | None = None, value: Any = None) -> ServiceError:
    return _err("InvalidArgument", 400, message, ArgumentName=name,
                ArgumentValue=None if value is None else str(value))


def invalid_request(message: str) -> ServiceError:
    return _err("InvalidRequest", 400, message)


def malformed_xml() -> ServiceError:
    return _err("MalformedXML", 400,
                "The XML you provided was not well-formed or did not validate against our published schema")


def access_denied() -> ServiceError:
    return _err("AccessDenied", 403, "Access Denied")


def precondition_failed(condition: str) -> ServiceError:
    return _err("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold",
                Condition=condition)


def not_modified() -> ServiceError:
    return _err("NotModified", 304, "Not Modified")


def invalid_range(size: int, requested: str) -> ServiceError:
    return _err("InvalidRange", 416, "The requested range is not satisfiable", RangeRequested=requested,
                ActualObjectSize=str(size))


def bad_digest(message: str = "The Content-MD5 you specified did not match what we received.") -> ServiceError:
    return _err("BadDigest", 400, message)


def invalid_digest() -> ServiceError:
    return _err("InvalidDigest", 400, "The Content-MD5 you specified was invalid.")


def no_such_config(code: str, message: str, bucket: str) -> ServiceError:
    return _err(code, 404, message, BucketName=bucket)


def entity_too_small(size: int) -> ServiceError:
    return _err("EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size.",
                ProposedSize=str(size), MinSizeAllowed=str(5 * 1024 * 1024))


def entity_too_large(size: int, limit: int) -> ServiceError:
    return _err("EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=str(size), MaxSizeAllowed=str(limit))


def invalid_part(part_number: int, etag: str | None, upload_id: str) -> ServiceError:
    return _err(
        "InvalidPart", 400,
        "One or more of the specified parts could not be found.  The part may not have been uploaded, "
        "or the specified entity tag may not match the part's entity tag.",
        UploadId=upload_id, PartNumber=str(part_number), ETag=etag,
    )


def invalid_part_order() -> ServiceError:
    return _err("InvalidPartOrder", 400, "The list of parts was not in ascending order. Parts must be ordered "
                "by part number.")
