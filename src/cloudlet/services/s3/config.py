"""Bucket sub-resources: versioning, tagging, CORS, policy, lifecycle, notifications.

Each configuration is one JSON value in ``bucket_config`` (``kind`` names it),
stored as boto3 passes it and returned as boto3 expects it.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.s3 import errors, policy
from cloudlet.services.s3.base import S3Base


def _json_safe(value: Any) -> Any:
    """Configurations may hold datetimes (lifecycle ``Date``); store them as ISO text."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


class ConfigMixin(S3Base):
    async def put_config(self, bucket: str, kind: str, value: Any) -> None:
        await self.db.execute("INSERT OR REPLACE INTO bucket_config (bucket, kind, value) VALUES (?, ?, ?)",
                              (bucket, kind, json.dumps(_json_safe(value))))
        self.forget_bucket(bucket)

    async def delete_config(self, bucket: str, kind: str) -> None:
        await self.db.execute("DELETE FROM bucket_config WHERE bucket = ? AND kind = ?", (bucket, kind))
        self.forget_bucket(bucket)

    # -- versioning ------------------------------------------------------------

    async def PutBucketVersioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise errors.malformed_xml()

        def put(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket.name))

        await self.db.write(put)
        self.forget_bucket(bucket.name)
        return {}

    async def GetBucketVersioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        return {"Status": bucket.versioning} if bucket.versioning else {}

    # -- tagging ---------------------------------------------------------------

    async def PutBucketTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        tag_set = (params.get("Tagging") or {}).get("TagSet") or []
        keys = [t["Key"] for t in tag_set]
        if len(set(keys)) != len(keys):
            raise ServiceError("Cannot provide multiple Tags with the same key", code="InvalidTag", status=400)
        if len(tag_set) > 50:
            raise ServiceError("Bucket tag count cannot be greater than 50", code="BadRequest", status=400)
        await self.put_config(bucket.name, "tagging", tag_set)
        return {}

    async def GetBucketTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        tags = await self.bucket_config(bucket.name, "tagging")
        if tags is None:
            raise errors.no_such_config("NoSuchTagSet", "The TagSet does not exist", bucket.name)
        return {"TagSet": tags}

    async def DeleteBucketTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "tagging")
        return {}

    # -- CORS ------------------------------------------------------------------

    async def PutBucketCors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100:
            raise errors.malformed_xml()
        for rule in rules:
            for method in rule.get("AllowedMethods") or []:
                if method not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                    raise errors.invalid_request(f"Found unsupported HTTP method in CORS config. Unsupported "
                                                 f"method is {method}")
            for origin in rule.get("AllowedOrigins") or []:
                if origin.count("*") > 1:
                    raise errors.invalid_request(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
        await self.put_config(bucket.name, "cors", rules)
        return {}

    async def GetBucketCors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        rules = await self.bucket_config(bucket.name, "cors")
        if rules is None:
            raise errors.no_such_config("NoSuchCORSConfiguration", "The CORS configuration does not exist",
                                        bucket.name)
        return {"CORSRules": rules}

    async def DeleteBucketCors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "cors")
        return {}

    # -- policy ----------------------------------------------------------------

    async def PutBucketPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        text = params.get("Policy") or ""
        policy.validate(text)
        await self.put_config(bucket.name, "policy", text)
        return {}

    async def GetBucketPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        text = await self.bucket_config(bucket.name, "policy")
        if text is None:
            raise errors.no_such_config("NoSuchBucketPolicy", "The bucket policy does not exist", bucket.name)
        return {"Policy": text}

    async def DeleteBucketPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "policy")
        return {}

    async def GetBucketPolicyStatus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        text = await self.bucket_config(bucket.name, "policy")
        public = False
        if text:
            public = policy.evaluate(json.loads(text), None, "s3:GetObject",
                                     policy.resource_arn(bucket.name, "x")) == "Allow"
        return {"PolicyStatus": {"IsPublic": public}}

    # -- lifecycle -------------------------------------------------------------

    async def PutBucketLifecycleConfiguration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > 1000:
            raise errors.malformed_xml()
        ids: set[str] = set()
        for rule in rules:
            rule.setdefault("ID", uuid.uuid4().hex[:20])
            if rule["ID"] in ids:
                raise errors.invalid_argument("Rule ID must be unique. Found same ID for more than one rule",
                                              "ID", rule["ID"])
            ids.add(rule["ID"])
            if rule.get("Status") not in ("Enabled", "Disabled"):
                raise errors.malformed_xml()
            expiration = rule.get("Expiration") or {}
            days = expiration.get("Days")
            if days is not None and days <= 0:
                raise errors.invalid_argument("'Days' for Expiration action must be a positive integer",
                                              "Days", days)
            if "Filter" not in rule and "Prefix" not in rule:
                raise errors.malformed_xml()
        await self.put_config(bucket.name, "lifecycle", rules)
        return {"TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"}

    async def GetBucketLifecycleConfiguration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        rules = await self.bucket_config(bucket.name, "lifecycle")
        if rules is None:
            raise errors.no_such_config("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist",
                                        bucket.name)
        from cloudlet.protocols.rest import parse_timestamp

        for rule in rules:
            expiration = rule.get("Expiration") or {}
            if isinstance(expiration.get("Date"), str):
                expiration["Date"] = parse_timestamp(expiration["Date"])
        return {"Rules": rules, "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"}

    async def DeleteBucketLifecycle(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "lifecycle")
        return {}
