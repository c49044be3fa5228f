"""Bucket settings tools like Terraform and the CDK read and write: ACLs, default encryption,
public access block, ownership controls; and GetObjectAttributes.

ACLs are answered (owner ``FULL_CONTROL``) and accepted but not enforced: new AWS buckets have
ACLs disabled (``BucketOwnerEnforced``), and access is decided by the bucket policy.
"""

from __future__ import annotations

from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.s3 import errors
from cloudlet.services.s3.base import OWNER_NAME, owner_id, to_datetime
from cloudlet.services.s3.checksums import ALGORITHMS
from cloudlet.services.s3.config import ConfigMixin
from cloudlet.services.s3.objects import ObjectsMixin

DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                 "BucketKeyEnabled": False}]}
DEFAULT_OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def _acl(account_id: str) -> dict[str, Any]:
    owner = {"DisplayName": OWNER_NAME, "ID": owner_id(account_id)}
    return {"Owner": owner, "Grants": [{"Grantee": {**owner, "Type": "CanonicalUser"},
                                        "Permission": "FULL_CONTROL"}]}


class ExtrasMixin(ConfigMixin, ObjectsMixin):
    async def GetBucketAcl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        return _acl(bucket.account_id)

    async def PutBucketAcl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        await self.authorize(ctx, params["Bucket"])
        return {}

    async def GetObjectAcl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"])
        await self.find(bucket, params["Key"], params.get("VersionId"))
        return _acl(bucket.account_id)

    async def PutObjectAcl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"])
        await self.find(bucket, params["Key"], params.get("VersionId"))
        return {}

    async def GetBucketEncryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = await self.bucket_config(bucket.name, "encryption")
        return {"ServerSideEncryptionConfiguration": config or DEFAULT_ENCRYPTION}

    async def PutBucketEncryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = params.get("ServerSideEncryptionConfiguration") or {}
        if not config.get("Rules"):
            raise errors.malformed_xml()
        await self.put_config(bucket.name, "encryption", config)
        return {}

    async def DeleteBucketEncryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "encryption")
        return {}

    async def GetPublicAccessBlock(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = await self.bucket_config(bucket.name, "public-access-block")
        if config is None:
            raise errors.no_such_config("NoSuchPublicAccessBlockConfiguration",
                                        "The public access block configuration was not found", bucket.name)
        return {"PublicAccessBlockConfiguration": config}

    async def PutPublicAccessBlock(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.put_config(bucket.name, "public-access-block", params.get("PublicAccessBlockConfiguration") or {})
        return {}

    async def DeletePublicAccessBlock(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "public-access-block")
        return {}

    async def GetBucketOwnershipControls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = await self.bucket_config(bucket.name, "ownership")
        return {"OwnershipControls": config or DEFAULT_OWNERSHIP}

    async def PutBucketOwnershipControls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.put_config(bucket.name, "ownership", params.get("OwnershipControls") or DEFAULT_OWNERSHIP)
        return {}

    async def DeleteBucketOwnershipControls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        await self.delete_config(bucket.name, "ownership")
        return {}

    async def GetObjectAttributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        version_id = params.get("VersionId")
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"], operation="GetObject",
                                      versioned=version_id is not None)
        obj = await self.find(bucket, params["Key"], version_id)
        wanted = set(params.get("ObjectAttributes") or [])
        out: dict[str, Any] = {"LastModified": to_datetime(obj.last_modified)}
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        if "ETag" in wanted:
            out["ETag"] = obj.etag.strip('"')
        if "ObjectSize" in wanted:
            out["ObjectSize"] = obj.size
        if "StorageClass" in wanted:
            out["StorageClass"] = obj.meta.get("StorageClass") or "STANDARD"
        checksums = obj.meta.get("Checksums") or {}
        if "Checksum" in wanted and checksums:
            out["Checksum"] = {ALGORITHMS[k]: v for k, v in checksums.items()}
            out["Checksum"]["ChecksumType"] = obj.meta.get("ChecksumType", "FULL_OBJECT")
        parts = obj.meta.get("Parts")
        if "ObjectParts" in wanted and parts:
            out["ObjectParts"] = {"TotalPartsCount": len(parts), "PartNumberMarker": 0,
                                  "NextPartNumberMarker": len(parts), "MaxParts": 1000, "IsTruncated": False,
                                  "Parts": [{"PartNumber": i + 1, "Size": size} for i, size in enumerate(parts)]}
        return out
