"""ListObjects, ListObjectsV2 and ListObjectVersions over the paged index scan.

The scans read only the columns a listing shows, as plain tuples
(:class:`Listed`), and step their SQL cursor lazily: a scan that
:func:`~cloudlet.services.s3.listing.paginate` abandons (page full, or a
common prefix to skip) has read no row past the last one it used.  Every query
is a range seek on an index (``objects_latest`` for the current versions,
``objects_versions`` for all of them), so a page costs the same in a bucket of
a thousand keys or a million.  A listing parses an object's ``meta`` JSON only
for the three fields it shows, through a small cache (objects written the same
way share the same text).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from cloudlet.context import RequestContext
from cloudlet.services.s3 import errors
from cloudlet.services.s3.base import OWNER_NAME, S3Base, owner_id, to_datetime
from cloudlet.services.s3.listing import Scan, encode_key, make_token, paginate, read_token

#: Rows asked of one index seek while listing (read lazily: a scan stops where the page does).
BATCH = 1000

_COLUMNS = "key, version_id, seq, is_latest, delete_marker, size, etag, last_modified, meta"


class Listed(NamedTuple):
    """The columns of an ``objects`` row that a listing shows (``meta`` still JSON text)."""

    key: str
    version_id: str
    seq: int
    is_latest: int
    delete_marker: int
    size: int
    etag: str
    last_modified: float
    meta: str


def _listed(_cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Listed:
    return Listed._make(row)


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Iterator[Listed]:
    cursor = conn.cursor()
    cursor.row_factory = _listed  # not sqlite3.Row: a tuple is all a listing needs
    rows: Iterator[Listed] = cursor.execute(sql, params)
    return rows


def scan_latest(conn: sqlite3.Connection, bucket: str) -> Scan[Listed]:
    """Current versions that are not delete markers, in key order, from a start key on."""

    def scan(start: str, inclusive: bool) -> Iterator[Listed]:
        op = ">=" if inclusive else ">"
        cursor = start
        while True:
            seen = 0
            last = cursor
            for row in _rows(conn, f"SELECT {_COLUMNS} FROM objects WHERE bucket = ? AND is_latest = 1 "
                                   f"AND key {op} ? ORDER BY key LIMIT ?", (bucket, cursor, BATCH)):
                seen += 1
                last = row.key
                if not row.delete_marker:
                    yield row
            if seen < BATCH:
                return
            cursor, op = last, ">"

    return scan


def _older_versions(conn: sqlite3.Connection, bucket: str, key: str, seq: int) -> Iterator[Listed]:
    """The versions of ``key`` older than ``seq``, newest first."""
    return _rows(conn, f"SELECT {_COLUMNS} FROM objects WHERE bucket = ? AND key = ? AND seq < ? ORDER BY seq DESC",
                 (bucket, key, seq))


def scan_versions(conn: sqlite3.Connection, bucket: str, key_marker: str, version_marker: str | None) -> Scan[Listed]:
    """Every version and delete marker, by key then newest first, from a start key on."""
    marker_seq: int | None = None
    if key_marker and version_marker:
        row = conn.execute("SELECT seq FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
                           (bucket, key_marker, version_marker)).fetchone()
        if row is None:
            raise errors.invalid_argument("Invalid version id specified", "version-id-marker", version_marker)
        marker_seq = row["seq"]

    def scan(start: str, inclusive: bool) -> Iterator[Listed]:
        if marker_seq is not None and start == key_marker:
            yield from _older_versions(conn, bucket, key_marker, marker_seq)
            inclusive = False
        op = ">=" if inclusive else ">"
        cursor = start
        while True:
            seen = 0
            last: Listed | None = None
            for row in _rows(conn, f"SELECT {_COLUMNS} FROM objects WHERE bucket = ? AND key {op} ? "
                                   "ORDER BY key, seq DESC LIMIT ?", (bucket, cursor, BATCH)):
                seen += 1
                last = row
                yield row
            if seen < BATCH or last is None:
                return
            # The batch may have stopped inside a key's versions: finish that key, then seek past it.
            # (One "(key = ? AND seq < ?) OR key > ?" query would not be a range seek.)
            yield from _older_versions(conn, bucket, last.key, last.seq)
            cursor, op = last.key, ">"

    return scan


@lru_cache(maxsize=512)
def _shown_meta(meta: str) -> tuple[str, tuple[str, ...], str | None]:
    """(storage class, checksum algorithms, checksum type) of a row's ``meta`` JSON."""
    parsed = json.loads(meta)
    checksums = parsed.get("Checksums") or {}
    return (parsed.get("StorageClass") or "STANDARD", tuple(sorted(checksums)),
            parsed.get("ChecksumType", "FULL_OBJECT") if checksums else None)


def _max_keys(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return 1000
    if value < 0:
        raise errors.invalid_argument("Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys",
                                      value)
    return min(value, 1000)


def _content(obj: Listed, encoding: str | None, owner: dict[str, str] | None) -> dict[str, Any]:
    storage_class, algorithms, checksum_type = _shown_meta(obj.meta)
    entry: dict[str, Any] = {
        "Key": encode_key(obj.key, encoding) if encoding else obj.key,
        "LastModified": to_datetime(obj.last_modified),
        "ETag": obj.etag,
        "Size": obj.size,
        "StorageClass": storage_class,
    }
    if algorithms:
        entry["ChecksumAlgorithm"] = list(algorithms)
        entry["ChecksumType"] = checksum_type
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
            common = {"Key": encode_key(obj.key, encoding), "VersionId": obj.version_id, "IsLatest": bool(obj.is_latest),
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

