"""Bucket policies: which operation needs which action, and evaluation.

Enough of IAM's logic for what people put on buckets: ``Principal`` ``*`` /
``{"AWS": "*"}`` / account ids and ARNs, ``Action`` and ``Resource`` with
``*``/``?`` wildcards, ``Effect`` Allow/Deny, explicit Deny winning.
Statements with a ``Condition`` are not evaluated (they neither allow nor
deny), so a condition we cannot check never locks anybody out.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from cloudlet.errors import ServiceError

#: Operations whose action is not ``s3:<OperationName>``.
ACTIONS: dict[str, str] = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "CopyObject": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketCors": "s3:GetBucketCORS",
    "PutBucketCors": "s3:PutBucketCORS",
    "DeleteBucketCors": "s3:PutBucketCORS",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "s3:PutLifecycleConfiguration",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "GetBucketTagging": "s3:GetBucketTagging",
    "PutBucketTagging": "s3:PutBucketTagging",
    "DeleteBucketTagging": "s3:PutBucketTagging",
    "DeleteObjectTagging": "s3:DeleteObjectTagging",
}

#: Operations on an object resource (``arn:aws:s3:::bucket/key``); the rest are on the bucket.
OBJECT_OPERATIONS = frozenset({
    "GetObject", "HeadObject", "PutObject", "CopyObject", "DeleteObject", "DeleteObjects",
    "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "CreateMultipartUpload",
    "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
    "GetObjectAttributes",
})


def action_for(operation: str, versioned: bool = False) -> str:
    action = ACTIONS.get(operation, f"s3:{operation}")
    if versioned and action in ("s3:GetObject", "s3:DeleteObject", "s3:GetObjectTagging"):
        action = action.replace("Object", "ObjectVersion", 1)
    return action


def validate(document: str) -> dict[str, Any]:
    """Parse a policy; ``MalformedPolicy`` if it is not a JSON policy document."""
    try:
        policy = json.loads(document)
    except ValueError:
        raise ServiceError("Policies must be valid JSON and the first byte must be '{'",
                                  code="MalformedPolicy", status=400) from None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ServiceError("Missing required field Statement", code="MalformedPolicy", status=400)
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise ServiceError("Invalid effect", code="MalformedPolicy", status=400)
        if "Action" not in statement and "NotAction" not in statement:
            raise ServiceError("Missing required field Action", code="MalformedPolicy", status=400)
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise ServiceError("Missing required field Principal", code="MalformedPolicy", status=400)
    return policy


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, account_id: str | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        if value == "*":
            return True
        if account_id is not None and isinstance(value, str) and (
            value == account_id or value.startswith(f"arn:aws:iam::{account_id}:")
        ):
            return True
    return False


def _any_match(patterns: list[Any], value: str, *, fold: bool) -> bool:
    target = value.lower() if fold else value
    for pattern in patterns:
        if not isinstance(pattern, str):
            continue
        if fnmatch.fnmatchcase(target, pattern.lower() if fold else pattern):
            return True
    return False


def evaluate(policy: dict[str, Any], account_id: str | None, action: str, resource: str) -> str | None:
    """``"Deny"`` if a statement denies, else ``"Allow"`` if one allows, else None."""
    allowed = False
    statements = policy.get("Statement")
    for statement in _as_list(statements):
        if not isinstance(statement, dict) or statement.get("Condition"):
            continue
        if not _principal_matches(statement.get("Principal"), account_id):
            continue
        if not _any_match(_as_list(statement.get("Action")), action, fold=True):
            continue
        if not _any_match(_as_list(statement.get("Resource")), resource, fold=False):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        allowed = True
    return "Allow" if allowed else None


def resource_arn(bucket: str, key: str | None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"
