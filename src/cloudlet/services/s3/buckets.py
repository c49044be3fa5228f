"""Bucket operations: create (with S3's region rules), head, delete, list, location."""

from __future__ import annotations

import ipaddress
import re
import sqlite3
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.s3 import errors
from cloudlet.services.s3.base import OWNER_NAME, S3Base, owner_id, to_datetime
from cloudlet.services.s3.listing import make_token, read_token

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def valid_bucket_name(name: str) -> bool:
    if not _NAME.match(name) or ".." in name or ".-" in name or "-." in name:
        return False
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return False
    try:
        ipaddress.IPv4Address(name)
        return False
    except ValueError:
        return True


class BucketsMixin(S3Base):
    async def CreateBucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        if ctx.access_key_id is None:
            raise errors.access_denied()
        if not valid_bucket_name(name):
            raise ServiceError("The specified bucket is not valid.", code="InvalidBucketName", status=400,
                               fields={"BucketName": name})
        config = params.get("CreateBucketConfiguration") or {}
        constraint = config.get("LocationConstraint") or None
        region = ctx.region
        if region == "us-east-1":
            if constraint == "us-east-1":
                raise ServiceError("The specified location-constraint is not valid", code="InvalidLocationConstraint",
                                   status=400, fields={"LocationConstraint": constraint})
            if constraint is not None:
                region = constraint
        elif constraint is None:
            raise ServiceError(
                "The unspecified location constraint is incompatible for the region specific endpoint this "
                "request was sent to.", code="IllegalLocationConstraintException", status=400)
        elif constraint != region:
            raise ServiceError(
                f"The {constraint} location constraint is incompatible for the region specific endpoint this "
                "request was sent to.", code="IllegalLocationConstraintException", status=400)

        def create(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT account_id, region FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if row["account_id"] != ctx.account_id:
                    raise ServiceError(
                        "The requested bucket name is not available. The bucket namespace is shared by all users "
                        "of the system. Please select a different name and try again.",
                        code="BucketAlreadyExists", status=409, fields={"BucketName": name})
                if row["region"] == "us-east-1" and region == "us-east-1":
                    return None  # legacy us-east-1: 200 OK
                raise ServiceError(
                    "Your previous request to create the named bucket succeeded and you already own it.",
                    code="BucketAlreadyOwnedByYou", status=409, fields={"BucketName": name})
            conn.execute("INSERT INTO buckets (name, account_id, region, created) VALUES (?, ?, ?, ?)",
                         (name, ctx.account_id, region, time.time()))
            return name

        await self.db.write(create)
        self.forget_bucket(name)
        return {"Location": f"/{name}"}

    async def HeadBucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        return {"BucketRegion": bucket.region, "AccessPointAlias": False}

    async def GetBucketLocation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        return {"LocationConstraint": None if bucket.region == "us-east-1" else bucket.region}

    async def DeleteBucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        name = bucket.name

        def delete(conn: sqlite3.Connection) -> list[str]:
            if conn.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise ServiceError("The bucket you tried to delete is not empty", code="BucketNotEmpty",
                                   status=409, fields={"BucketName": name})
            blobs = [r[0] for r in conn.execute(
                "SELECT p.blob FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.bucket = ?", (name,))]
            conn.execute("DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?)",
                         (name,))
            conn.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
            conn.execute("DELETE FROM bucket_config WHERE bucket = ?", (name,))
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))
            return blobs

        garbage = await self.db.write(delete)
        self.forget_bucket(name)
        await self.in_thread(self.files.delete, garbage)
        return {}

    async def ListBuckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.access_key_id is None:
            raise errors.access_denied()
        limit = params.get("MaxBuckets")
        if limit is not None and not 1 <= limit <= 10000:
            raise errors.invalid_argument("Argument max-buckets must be an integer between 1 and 10000",
                                          "max-buckets", limit)
        after = ""
        token = params.get("ContinuationToken")
        if token:
            decoded = read_token(token)
            if decoded is None:
                raise errors.invalid_argument("The continuation token provided is incorrect",
                                              "continuation-token", token)
            after = decoded
        sql = "SELECT * FROM buckets WHERE account_id = ? AND name > ?"
        args: list[Any] = [ctx.account_id, after]
        if params.get("Prefix"):
            sql += " AND substr(name, 1, ?) = ?"
            args += [len(params["Prefix"]), params["Prefix"]]
        if params.get("BucketRegion"):
            sql += " AND region = ?"
            args.append(params["BucketRegion"])
        sql += " ORDER BY name LIMIT ?"
        args.append((limit or 10000) + 1)
        rows = await self.db.fetchall(sql, args)
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        out: dict[str, Any] = {
            "Buckets": [
                {"Name": r["name"], "CreationDate": to_datetime(r["created"]), "BucketRegion": r["region"]}
                for r in rows
            ],
            "Owner": {"DisplayName": OWNER_NAME, "ID": owner_id(ctx.account_id)},
        }
        if params.get("Prefix"):
            out["Prefix"] = params["Prefix"]
        if more:
            out["ContinuationToken"] = make_token(rows[-1]["name"])
        return out
