"""The core every S3 module shares: database, files, bucket look-up with policy checks, rows."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cloudlet.context import RequestContext
from cloudlet.events import Outbox
from cloudlet.services.s3 import errors, policy
from cloudlet.services.s3.files import BlobRef, FileStore, is_file
from cloudlet.storage import Database

T = TypeVar("T")

OWNER_NAME = "cloudlet"
_VERSION_ID = re.compile(r"^[A-Za-z0-9._-]{32}$")


def owner_id(account_id: str) -> str:
    """A stable canonical user id (64 hex) for an account."""
    return (account_id.encode().hex() * 8)[:64].rjust(64, "0")


def new_version_id() -> str:
    return secrets.token_urlsafe(24)[:32]


def looks_like_version_id(value: str) -> bool:
    return value == "null" or bool(_VERSION_ID.match(value))


def to_datetime(epoch: float) -> datetime:
    # S3 reports times at millisecond resolution; headers drop the fraction anyway.
    return datetime.fromtimestamp(round(epoch, 3), UTC)


@dataclass
class Bucket:
    name: str
    account_id: str
    region: str
    created: float
    versioning: str | None


@dataclass
class ObjectRow:
    bucket: str
    key: str
    version_id: str
    seq: int
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: float
    #: The bytes: a blob file's id, or a small body itself (``files.BlobRef``); None for delete markers.
    blob: BlobRef | None
    meta: dict[str, Any]
    tags: dict[str, str]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ObjectRow:
        return cls(
            bucket=row["bucket"], key=row["key"], version_id=row["version_id"], seq=row["seq"],
            is_latest=bool(row["is_latest"]), delete_marker=bool(row["delete_marker"]), size=row["size"],
            etag=row["etag"], last_modified=row["last_modified"], blob=row["blob"],
            meta=json.loads(row["meta"]), tags=json.loads(row["tags"]),
        )


def next_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()
    return int(row[0])


def latest(conn: sqlite3.Connection, bucket: str, key: str) -> ObjectRow | None:
    row = conn.execute(
        "SELECT * FROM objects WHERE bucket = ? AND key = ? AND is_latest = 1", (bucket, key)
    ).fetchone()
    return ObjectRow.from_row(row) if row else None


def version(conn: sqlite3.Connection, bucket: str, key: str, version_id: str) -> ObjectRow | None:
    row = conn.execute(
        "SELECT * FROM objects WHERE bucket = ? AND key = ? AND version_id = ?", (bucket, key, version_id)
    ).fetchone()
    return ObjectRow.from_row(row) if row else None


def insert_object(conn: sqlite3.Connection, obj: ObjectRow) -> None:
    conn.execute(
        "INSERT INTO objects (bucket, key, version_id, seq, is_latest, delete_marker, size, etag, last_modified,"
        " blob, meta, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (obj.bucket, obj.key, obj.version_id, obj.seq, int(obj.is_latest), int(obj.delete_marker), obj.size,
         obj.etag, obj.last_modified, obj.blob, json.dumps(obj.meta), json.dumps(obj.tags)),
    )


def promote_latest(conn: sqlite3.Connection, bucket: str, key: str) -> None:
    """Make the newest remaining version of ``key`` the latest."""
    conn.execute(
        "UPDATE objects SET is_latest = 1 WHERE bucket = ? AND key = ? AND seq = "
        "(SELECT MAX(seq) FROM objects WHERE bucket = ? AND key = ?)",
        (bucket, key, bucket, key),
    )


def store_version(conn: sqlite3.Connection, bucket: Bucket, obj: ObjectRow) -> list[str]:
    """Insert ``obj`` as the new latest version per the bucket's versioning; returns blobs to delete."""
    garbage: list[str] = []
    if bucket.versioning == "Enabled":
        obj.version_id = new_version_id()
    else:
        obj.version_id = "null"
        for (blob,) in conn.execute(
            "DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = 'null' RETURNING blob",
            (bucket.name, obj.key),
        ).fetchall():
            if is_file(blob):
                garbage.append(blob)
    if bucket.versioning is not None:  # never versioned: the null version was the only one
        conn.execute("UPDATE objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1",
                     (bucket.name, obj.key))
    obj.is_latest = True
    insert_object(conn, obj)
    return garbage


class S3Base:
    """State and helpers shared by the operation mixins."""

    service_name = "s3"

    def __init__(self, db: Database, files: FileStore, default_region: str) -> None:
        self.db = db
        self.files = files
        self.default_region = default_region
        self.outbox: Outbox | None = None
        # Read-through caches of the rows every request needs (this process owns the database).
        self._buckets: dict[str, Bucket] = {}
        self._policies: dict[str, dict[str, Any] | None] = {}

    def forget_bucket(self, name: str) -> None:
        """Drop cached state of ``name`` after a change to its row or its policy."""
        self._buckets.pop(name, None)
        self._policies.pop(name, None)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def get_bucket(self, name: str) -> Bucket | None:
        cached = self._buckets.get(name)
        if cached is not None:
            return cached
        row = await self.db.fetchone("SELECT * FROM buckets WHERE name = ?", (name,))
        if row is None:
            return None
        bucket = Bucket(row["name"], row["account_id"], row["region"], row["created"], row["versioning"])
        self._buckets[name] = bucket
        return bucket

    async def bucket_policy(self, name: str) -> dict[str, Any] | None:
        if name in self._policies:
            return self._policies[name]
        text = await self.bucket_config(name, "policy")
        parsed = json.loads(text) if text else None
        self._policies[name] = parsed
        return parsed

    async def bucket_config(self, bucket: str, kind: str) -> Any:
        row = await self.db.fetchone("SELECT value FROM bucket_config WHERE bucket = ? AND kind = ?", (bucket, kind))
        return json.loads(row["value"]) if row else None

    async def authorize(self, ctx: RequestContext, name: str, key: str | None = None,
                        *, operation: str | None = None, versioned: bool = False) -> Bucket:
        """The bucket ``name`` if the caller may run the operation on it (policy checked)."""
        bucket = await self.get_bucket(name)
        if bucket is None:
            raise errors.no_such_bucket(name)
        expected_owner = ctx.headers.get("x-amz-expected-bucket-owner")
        if expected_owner and expected_owner != bucket.account_id:
            raise errors.access_denied()
        op = operation or ctx.operation
        document = await self.bucket_policy(name)
        anonymous = ctx.access_key_id is None
        owner = not anonymous and ctx.account_id == bucket.account_id
        if document is None:
            if owner:
                return bucket
            raise errors.access_denied()
        resource_key = key if op in policy.OBJECT_OPERATIONS else None
        decision = policy.evaluate(
            document, None if anonymous else ctx.account_id, policy.action_for(op, versioned),
            policy.resource_arn(name, resource_key),
        )
        if decision == "Deny" or (decision is None and not owner):
            raise errors.access_denied()
        return bucket

    async def now(self) -> float:
        return time.time()
