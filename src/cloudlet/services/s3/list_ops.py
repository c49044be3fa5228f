"""ListObjects, ListObjectsV2 and ListObjectVersions over the paged index scan."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.s3 import errors
from cloudlet.services.s3.base import OWNER_NAME, ObjectRow, S3Base, owner_id, to_datetime
from cloudlet.services.s3.listing import encode_key, make_token, paginate, read_token

#: Rows fetched per index seek while listing.
BATCH = 500


def scan_latest(conn: sqlite3.Connection, bucket: str) -> Any:
    def scan(start: str, inclusive: bool) -> Iterator[ObjectRow]:
        op = ">=" if inclusive else ">"
        cursor = start
        while True:
            rows = conn.execute(
                f"SELECT * FROM objects WHERE bucket = ? AND is_latest = 1 AND key {op} ? ORDER BY key LIMIT ?",
                (bucket, cursor, BATCH),
            ).fetchall()
            for row in rows:
                if not row["delete_marker"]:
                    yield ObjectRow.from_row(row)
            if len(rows) < BATCH:
                return
            cursor, op = rows[-1]["key"], ">"

    return scan


def scan_versions(conn: sqlite3.Connection, bucket: str, key_marker: str, version_marker: str | None) -> Any:
    marker_seq: int | None = None
    if key_marker and version_marker:
        row = conn.execute("SELECT seq FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
                           (bucket, key_marker, version_marker)).fetchone()
        if row is None:
            raise errors.invalid_argument("Invalid version id specified", "version-id-marker", version_marker)
        marker_seq = row["seq"]

    def scan(start: str, inclusive: bool) -> Iterator[ObjectRow]:
        if marker_seq is not None and start == key_marker:
            for row in conn.execute(
                "SELECT * FROM objects WHERE bucket = ? AND key = ? AND seq < ? ORDER BY seq DESC",
                (bucket, key_marker, marker_seq),
            ):
                yield ObjectRow.from_row(row)
            inclusive = False
        op = ">=" if inclusive else ">"
        cursor, last_seq = start, None
        while True:
            if last_seq is None:
                rows = conn.execute(
                    f"SELECT * FROM objects WHERE bucket = ? AND key {op} ? ORDER BY key, seq DESC LIMIT ?",
                    (bucket, cursor, BATCH)).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM objects WHERE bucket = ? AND ((key = ? AND seq < ?) OR key > ?) "
                    "ORDER BY key, seq DESC LIMIT ?", (bucket, cursor, last_seq, cursor, BATCH)).fetchall()
            for row in rows:
                yield ObjectRow.from_row(row)
            if len(rows) < BATCH:
                return
            cursor, last_seq = rows[-1]["key"], rows[-1]["seq"]

    return scan


def _max_keys(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return 1000
    if value < 0:
        raise errors.invalid_argument("Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys",
                                      value)
    return min(value, 1000)


def _content(obj: ObjectRow, encoding: str | None, owner: dict[str, str] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": encode_key(obj.key, encoding),
        "LastModified": to_datetime(obj.last_modified),
        "ETag": obj.etag,
        "Size": obj.size,
        "StorageClass": obj.meta.get("StorageClass") or "STANDARD",
    }
    checksums = obj.meta.get("Checksums") or {}
    if checksums:
        entry["ChecksumAlgorithm"] = sorted(checksums)
        entry["ChecksumType"] = obj.meta.get("ChecksumType", "FULL_OBJECT")
    if owner is not None:
        entry["Owner"] = owner
    return entry


def _check_encoding(params: dict[str, Any]) -> str | None:
    encoding = params.get("EncodingType")
    if encoding is not None and encoding != "url":
        raise errors.invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", encoding)
    return encoding


class ListingMixin(S3Base):
    async def ListObjects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        encoding = _check_encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        marker, max_keys = params.get("Marker") or "", _max_keys(params)
        page = await self.db.read(lambda conn: paginate(
            scan_latest(conn, bucket.name), lambda o: o.key, prefix=prefix, delimiter=delimiter, marker=marker,
            max_keys=max_keys))
        owner = {"DisplayName": OWNER_NAME, "ID": owner_id(bucket.account_id)}
        out: dict[str, Any] = {
            "IsTruncated": page.truncated,
            "Marker": encode_key(marker, encoding),
            "Contents": [_content(o, encoding, owner) for o in page.entries] or None,
            "Name": bucket.name,
            "Prefix": encode_key(prefix, encoding),
            "MaxKeys": max_keys,
            "CommonPrefixes": [{"Prefix": encode_key(p, encoding)} for p in page.prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = encode_key(delimiter, encoding)
        if encoding:
            out["EncodingType"] = encoding
        if page.truncated and delimiter and page.last is not None:
            out["NextMarker"] = encode_key(page.last, encoding)
        return out

    async def ListObjectsV2(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        encoding = _check_encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        start_after, max_keys = params.get("StartAfter") or "", _max_keys(params)
        token = params.get("ContinuationToken")
        marker = start_after
        if token is not None:
            decoded = read_token(token)
            if decoded is None:
                raise errors.invalid_argument("The continuation token provided is incorrect", "continuation-token",
                                              token)
            marker = decoded
        page = await self.db.read(lambda conn: paginate(
            scan_latest(conn, bucket.name), lambda o: o.key, prefix=prefix, delimiter=delimiter, marker=marker,
            max_keys=max_keys))
        owner = {"DisplayName": OWNER_NAME, "ID": owner_id(bucket.account_id)} if params.get("FetchOwner") else None
        out: dict[str, Any] = {
            "IsTruncated": page.truncated,
            "Contents": [_content(o, encoding, owner) for o in page.entries] or None,
            "Name": bucket.name,
            "Prefix": encode_key(prefix, encoding),
            "MaxKeys": max_keys,
            "CommonPrefixes": [{"Prefix": encode_key(p, encoding)} for p in page.prefixes] or None,
            "KeyCount": len(page.entries) + len(page.prefixes),
        }
        if delimiter:
            out["Delimiter"] = encode_key(delimiter, encoding)
        if encoding:
            out["EncodingType"] = encoding
        if token is not None:
            out["ContinuationToken"] = token
        if start_after:
            out["StartAfter"] = encode_key(start_after, encoding)
        if page.truncated and page.last is not None:
            out["NextContinuationToken"] = make_token(page.last)
        return out

    async def ListObjectVersions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        encoding = _check_encoding(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        key_marker = params.get("KeyMarker") or ""
        version_marker = params.get("VersionIdMarker") or None
        max_keys = _max_keys(params)

        def run(conn: sqlite3.Connection) -> Any:
            scan = scan_versions(conn, bucket.name, key_marker, version_marker)
            return paginate(scan, lambda o: o.key, prefix=prefix, delimiter=delimiter, marker=key_marker,
                            max_keys=max_keys)

        page = await self.db.read(run)
        owner = {"DisplayName": OWNER_NAME, "ID": owner_id(bucket.account_id)}
        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        for obj in page.entries:
            common = {"Key": encode_key(obj.key, encoding), "VersionId": obj.version_id, "IsLatest": obj.is_latest,
                      "LastModified": to_datetime(obj.last_modified), "Owner": owner}
            if obj.delete_marker:
                markers.append(common)
            else:
                entry = _content(obj, encoding, owner)
                entry.update(common)
                versions.append(entry)
        out: dict[str, Any] = {
            "IsTruncated": page.truncated,
            "KeyMarker": encode_key(key_marker, encoding),
            "VersionIdMarker": version_marker or "",
            "Versions": versions or None,
            "DeleteMarkers": markers or None,
            "Name": bucket.name,
            "Prefix": encode_key(prefix, encoding),
            "MaxKeys": max_keys,
            "CommonPrefixes": [{"Prefix": encode_key(p, encoding)} for p in page.prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = encode_key(delimiter, encoding)
        if encoding:
            out["EncodingType"] = encoding
        if page.truncated and page.entries:
            last_entry = page.entries[-1]
            if page.last == last_entry.key:
                out["NextKeyMarker"] = encode_key(last_entry.key, encoding)
                out["NextVersionIdMarker"] = last_entry.version_id
            elif page.last is not None:
                out["NextKeyMarker"] = encode_key(page.last, encoding)
        elif page.truncated and page.last is not None:
            out["NextKeyMarker"] = encode_key(page.last, encoding)
        return out

