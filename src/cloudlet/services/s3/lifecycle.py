"""Lifecycle expiration, applied by a background task every ``interval_s`` seconds.

Supported actions: ``Expiration`` (``Days`` / ``Date`` / ``ExpiredObjectDeleteMarker``),
``NoncurrentVersionExpiration`` (``NoncurrentDays``) and
``AbortIncompleteMultipartUpload`` (``DaysAfterInitiation``); filters by
prefix, tag and ``And``, and object size bounds.  ``day_s`` is the length of
a "day" (86400; tests shorten it).  Expiring the current version of an
object in a versioned bucket adds a delete marker, as on AWS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from datetime import datetime
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.protocols.rest import parse_timestamp
from cloudlet.services.s3.base import Bucket, ObjectRow
from cloudlet.services.s3.multipart import abort_tx
from cloudlet.services.s3.objects import ObjectsMixin

log = logging.getLogger(__name__)


def rule_filter(rule: dict[str, Any]) -> tuple[str, dict[str, str], int | None, int | None]:
    """(prefix, tags, size greater than, size less than) of a lifecycle rule."""
    flt = rule.get("Filter") or {}
    prefix = rule.get("Prefix") or flt.get("Prefix") or ""
    tags: dict[str, str] = {}
    if flt.get("Tag"):
        tags[flt["Tag"]["Key"]] = flt["Tag"].get("Value", "")
    gt, lt = flt.get("ObjectSizeGreaterThan"), flt.get("ObjectSizeLessThan")
    both = flt.get("And") or {}
    if both:
        prefix = both.get("Prefix") or prefix
        tags.update({t["Key"]: t.get("Value", "") for t in both.get("Tags") or []})
        gt = both.get("ObjectSizeGreaterThan", gt)
        lt = both.get("ObjectSizeLessThan", lt)
    return prefix, tags, gt, lt


def applies(rule: dict[str, Any], obj: ObjectRow) -> bool:
    prefix, tags, gt, lt = rule_filter(rule)
    if not obj.key.startswith(prefix):
        return False
    if any(obj.tags.get(k) != v for k, v in tags.items()):
        return False
    if gt is not None and not obj.size > gt:
        return False
    return lt is None or obj.size < lt


def _date(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return parse_timestamp(value).timestamp()


class LifecycleMixin(ObjectsMixin):
    lifecycle_interval_s: float = 3600.0
    day_s: float = 86400.0
    _lifecycle_task: asyncio.Task[None] | None = None

    async def start_lifecycle(self) -> None:
        self._lifecycle_task = asyncio.create_task(self._lifecycle_loop(), name="s3-lifecycle")

    async def stop_lifecycle(self) -> None:
        task, self._lifecycle_task = self._lifecycle_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _lifecycle_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lifecycle_interval_s)
            try:
                await self.apply_lifecycle()
            except Exception:
                log.exception("lifecycle pass failed")

    async def apply_lifecycle(self, now: float | None = None) -> int:
        """One pass over every bucket with rules; returns how many versions/uploads it expired."""
        now = time.time() if now is None else now
        rows = await self.db.fetchall(
            "SELECT b.*, c.value AS rules FROM buckets b JOIN bucket_config c ON c.bucket = b.name "
            "WHERE c.kind = 'lifecycle'")
        total = 0
        for row in rows:
            bucket = Bucket(row["name"], row["account_id"], row["region"], row["created"], row["versioning"])
            rules = [r for r in json.loads(row["rules"]) if r.get("Status") == "Enabled"]
            if rules:
                total += await self._expire_bucket(bucket, rules, now)
        return total

    async def _expire_bucket(self, bucket: Bucket, rules: list[dict[str, Any]], now: float) -> int:
        ctx = RequestContext(request_id="lifecycle", service="s3", operation="DeleteObject", region=bucket.region,
                             account_id=bucket.account_id, access_key_id=None, endpoint="")
        garbage: list[str] = []

        def run(conn: sqlite3.Connection) -> int:
            count = 0
            for rule in rules:
                prefix = rule_filter(rule)[0]
                expiration = rule.get("Expiration") or {}
                days, date = expiration.get("Days"), _date(expiration.get("Date"))
                due = (date is not None and now >= date)
                current = conn.execute(
                    "SELECT * FROM objects WHERE bucket = ? AND is_latest = 1 AND substr(key, 1, ?) = ?",
                    (bucket.name, len(prefix), prefix)).fetchall()
                for r in current:
                    obj = ObjectRow.from_row(r)
                    if not applies(rule, obj):
                        continue
                    if obj.delete_marker:
                        if expiration.get("ExpiredObjectDeleteMarker"):
                            older = conn.execute("SELECT 1 FROM objects WHERE bucket = ? AND key = ? AND seq < ?",
                                                 (bucket.name, obj.key, obj.seq)).fetchone()
                            if older is None:
                                conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
                                             (bucket.name, obj.key, obj.version_id))
                                count += 1
                        continue
                    if due or (days is not None and now >= obj.last_modified + days * self.day_s):
                        self.delete_tx(conn, ctx, bucket, obj.key, None, garbage, family="LifecycleExpiration")
                        count += 1
                noncurrent = (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays")
                if noncurrent is not None:
                    old = conn.execute(
                        "SELECT o.*, (SELECT MIN(n.last_modified) FROM objects n WHERE n.bucket = o.bucket AND "
                        "n.key = o.key AND n.seq > o.seq) AS superseded FROM objects o WHERE o.bucket = ? AND "
                        "o.is_latest = 0 AND substr(o.key, 1, ?) = ?", (bucket.name, len(prefix), prefix)).fetchall()
                    for r in old:
                        obj = ObjectRow.from_row(r)
                        if applies(rule, obj) and r["superseded"] is not None and \
                                now >= r["superseded"] + noncurrent * self.day_s:
                            self.delete_tx(conn, ctx, bucket, obj.key, obj.version_id, garbage,
                                           family="LifecycleExpiration")
                            count += 1
                abort = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
                if abort is not None:
                    for u in conn.execute("SELECT upload_id, key, initiated FROM uploads WHERE bucket = ?",
                                          (bucket.name,)).fetchall():
                        if u["key"].startswith(prefix) and now >= u["initiated"] + abort * self.day_s:
                            garbage.extend(abort_tx(conn, u["upload_id"]))
                            count += 1
            return count

        count = await self.db.write(run)
        await self.collect(garbage)
        return count
