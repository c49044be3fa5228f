"""Multipart uploads: create, upload part (and part copy), complete, abort, list parts and uploads."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import time
from typing import Any
from urllib.parse import quote

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.s3 import conditions, errors
from cloudlet.services.s3.base import OWNER_NAME, Bucket, owner_id, to_datetime
from cloudlet.services.s3.checksums import (
    ALGORITHMS,
    FULL_OBJECT_ALGORITHMS,
    combine_b64,
    composite_checksum,
)
from cloudlet.services.s3.files import BlobRef
from cloudlet.services.s3.listing import paginate
from cloudlet.services.s3.objects import (
    ObjectsMixin,
    check_declared_size,
    check_key,
    content_md5,
    content_meta,
    parse_copy_source,
    parse_tagging,
    requested_checksums,
    verify,
    with_trailers,
)

MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024**3
MAX_PARTS = 10000


def _check_part_number(number: int) -> None:
    if not 1 <= number <= MAX_PARTS:
        raise errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                      "partNumber", number)


def default_checksum_type(algorithm: str) -> str:
    """CreateMultipartUpload without ``ChecksumType``: COMPOSITE, except CRC64NVME which is only FULL_OBJECT."""
    return "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"


def full_object_checksum(algorithm: str | None, parts: list[Any]) -> str | None:
    """The whole object's CRC combined from the part rows' CRCs, or None when a part lacks one."""
    if algorithm not in FULL_OBJECT_ALGORITHMS:
        return None
    pieces = []
    for row in parts:
        value = json.loads(row["checksums"]).get(algorithm)
        if not value:
            return None
        pieces.append((value, row["size"]))
    return combine_b64(algorithm, pieces)


class MultipartMixin(ObjectsMixin):
    async def _upload(self, bucket: Bucket, key: str, upload_id: str) -> dict[str, Any]:
        row = await self.db.fetchone("SELECT * FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
                                     (upload_id, bucket.name, key))
        if row is None:
            raise errors.no_such_upload(upload_id)
        return {"initiated": row["initiated"], "meta": json.loads(row["meta"]), "tags": json.loads(row["tags"])}

    async def CreateMultipartUpload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = params["Key"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        check_key(key)
        meta = content_meta(params)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper()
        if algorithm and algorithm not in ALGORITHMS:
            raise errors.invalid_request(f"Checksum algorithm provided is unsupported: {algorithm}")
        checksum_type = params.get("ChecksumType") or (default_checksum_type(algorithm) if algorithm else None)
        if checksum_type and not algorithm:
            raise errors.invalid_request("The x-amz-checksum-type header can only be used with the "
                                         "x-amz-checksum-algorithm header.")
        if (checksum_type == "FULL_OBJECT" and algorithm not in FULL_OBJECT_ALGORITHMS) \
                or (checksum_type == "COMPOSITE" and algorithm == "CRC64NVME"):
            raise errors.invalid_request(f"The {checksum_type} checksum type cannot be used with the "
                                         f"{algorithm.lower()} checksum algorithm.")
        if algorithm:
            meta["ChecksumAlgorithm"] = algorithm
            meta["ChecksumType"] = checksum_type
        tags = parse_tagging(params.get("Tagging"))
        upload_id = secrets.token_urlsafe(48)
        await self.db.execute(
            "INSERT INTO uploads (upload_id, bucket, key, initiated, meta, tags) VALUES (?, ?, ?, ?, ?, ?)",
            (upload_id, bucket.name, key, time.time(), json.dumps(meta), json.dumps(tags)))
        out: dict[str, Any] = {"Bucket": bucket.name, "Key": key, "UploadId": upload_id,
                               "ServerSideEncryption": "AES256"}
        if algorithm:
            out["ChecksumAlgorithm"] = algorithm
            out["ChecksumType"] = checksum_type
        return out

    async def _store_part(self, upload_id: str, number: int, blob: BlobRef, size: int, etag: str,
                          checksums: dict[str, str]) -> None:
        def put(conn: sqlite3.Connection) -> list[str]:
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                raise errors.no_such_upload(upload_id)
            old = conn.execute("SELECT blob FROM parts WHERE upload_id = ? AND part_number = ?",
                               (upload_id, number)).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, last_modified, blob, checksums) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload_id, number, size, etag, time.time(), blob, json.dumps(checksums)))
            return [old["blob"]] if old else []

        try:
            garbage = await self.db.write(put)
        except BaseException:
            await self.in_thread(self.files.delete, [blob])
            raise
        await self.in_thread(self.files.delete, garbage)

    async def UploadPart(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, upload_id, number = params["Key"], params["UploadId"], params["PartNumber"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        _check_part_number(number)
        upload = await self._upload(bucket, key, upload_id)
        body = params.get("Body") or b""
        check_declared_size(body, MAX_PART)
        algorithms, sent = requested_checksums(params, ctx.headers.get("x-amz-trailer"))
        wanted = upload["meta"].get("ChecksumAlgorithm")
        if wanted and wanted not in algorithms:
            algorithms.append(wanted)
        md5 = content_md5(params)
        blob, hasher = await self.store_body(body, algorithms)
        try:
            if hasher.size > MAX_PART:
                raise errors.entity_too_large(hasher.size, MAX_PART)
            verify(hasher, md5, with_trailers(sent, body))
        except ServiceError:
            await self.in_thread(self.files.delete, [blob])
            raise
        etag = f'"{hasher.md5.hexdigest()}"'
        checksums = hasher.checksums()
        await self._store_part(upload_id, number, blob, hasher.size, etag, checksums)
        out: dict[str, Any] = {"ETag": etag, "ServerSideEncryption": "AES256"}
        for name, value in checksums.items():
            out[ALGORITHMS[name]] = value
        return out

    async def UploadPartCopy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, upload_id, number = params["Key"], params["UploadId"], params["PartNumber"]
        src_bucket_name, src_key, src_version = parse_copy_source(params["CopySource"])
        src_bucket = await self.authorize(ctx, src_bucket_name, src_key, operation="GetObject",
                                          versioned=src_version is not None)
        bucket = await self.authorize(ctx, params["Bucket"], key)
        _check_part_number(number)
        upload = await self._upload(bucket, key, upload_id)
        source = await self.find(src_bucket, src_key, src_version)
        conditions.check_read(params, source.etag, source.last_modified, prefix="CopySourceIf")
        start, end = 0, source.size - 1
        text = params.get("CopySourceRange")
        if text:
            spec = text.strip()
            try:
                if not spec.startswith("bytes="):
                    raise ValueError
                first, _, last = spec[len("bytes="):].partition("-")
                start, end = int(first), int(last)
            except ValueError:
                raise errors.invalid_argument("The x-amz-copy-source-range value must be of the form "
                                              "bytes=first-last where first and last are the zero-based offsets "
                                              "of the first and last bytes to copy", "x-amz-copy-source-range",
                                              text) from None
            if start > end or end >= source.size:
                raise errors.invalid_range(source.size, text) if start >= source.size else errors.invalid_argument(
                    "Range specified is not valid for source object of size: " + str(source.size),
                    "x-amz-copy-source-range", text)
        wanted = upload["meta"].get("ChecksumAlgorithm")
        algorithms = [wanted] if wanted else []
        chunks = self.files.read(source.blob, start, end) if source.blob and source.size else iter(())
        blob, hasher = await self.in_thread(self.files.write, chunks, algorithms)
        etag = f'"{hasher.md5.hexdigest()}"'
        checksums = hasher.checksums()
        await self._store_part(upload_id, number, blob, hasher.size, etag, checksums)
        result: dict[str, Any] = {"ETag": etag, "LastModified": to_datetime(time.time())}
        for name, value in checksums.items():
            result[ALGORITHMS[name]] = value
        out: dict[str, Any] = {"CopyPartResult": result, "ServerSideEncryption": "AES256"}
        if src_version is not None or src_bucket.versioning is not None:
            out["CopySourceVersionId"] = source.version_id
        return out

    async def CompleteMultipartUpload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, upload_id = params["Key"], params["UploadId"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        upload = await self._upload(bucket, key, upload_id)
        requested = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not requested:
            raise errors.malformed_xml()
        rows = await self.db.fetchall("SELECT * FROM parts WHERE upload_id = ?", (upload_id,))
        stored = {r["part_number"]: r for r in rows}
        previous = 0
        chosen: list[Any] = []
        for part in requested:
            number = part.get("PartNumber")
            if number is None or number <= previous:
                raise errors.invalid_part_order()
            previous = number
            row = stored.get(number)
            etag = (part.get("ETag") or "").strip('"')
            if row is None or row["etag"].strip('"') != etag:
                raise errors.invalid_part(number, part.get("ETag"), upload_id)
            part_sums = json.loads(row["checksums"])
            for name, member in ALGORITHMS.items():
                if part.get(member) and part_sums.get(name) != part[member]:
                    raise errors.invalid_part(number, part.get("ETag"), upload_id)
            chosen.append(row)
        for row in chosen[:-1]:
            if row["size"] < MIN_PART:
                raise errors.entity_too_small(row["size"])
        meta = dict(upload["meta"])
        algorithm = meta.pop("ChecksumAlgorithm", None)
        checksum_type = meta.pop("ChecksumType", None)
        # A full-object CRC is combined from the parts' CRCs and sizes (CRC linearity),
        # so completion never re-reads the bytes; re-hashing is only the fallback for
        # parts stored without the checksum.
        combined = full_object_checksum(algorithm, chosen) if checksum_type == "FULL_OBJECT" else None
        full = [algorithm] if algorithm and checksum_type == "FULL_OBJECT" and combined is None else []
        blob, hasher = await self.in_thread(self.files.concat, [r["blob"] for r in chosen], full)
        digest = hashlib.md5(b"".join(bytes.fromhex(r["etag"].strip('"')) for r in chosen)).hexdigest()
        etag = f'"{digest}-{len(chosen)}"'
        if algorithm and checksum_type == "FULL_OBJECT":
            meta["Checksums"] = {algorithm: combined} if combined is not None else hasher.checksums()
            sent = params.get(ALGORITHMS[algorithm])
            if sent and sent != meta["Checksums"][algorithm]:
                await self.in_thread(self.files.delete, [blob])
                raise errors.bad_digest(f"The {algorithm} you specified did not match the calculated checksum.")
        elif algorithm:
            digests = []
            for r in chosen:
                value = json.loads(r["checksums"]).get(algorithm)
                digests.append(base64.b64decode(value) if value else b"")
            meta["Checksums"] = {algorithm: composite_checksum(algorithm, digests)}
        if algorithm:
            meta["ChecksumType"] = checksum_type
        meta["Parts"] = [r["size"] for r in chosen]

        def finish(conn: sqlite3.Connection) -> list[str]:
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is None:
                raise errors.no_such_upload(upload_id)
            blobs = [r[0] for r in conn.execute("SELECT blob FROM parts WHERE upload_id = ?", (upload_id,))]
            conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return blobs

        obj = await self.write_object(ctx, bucket, key, blob, None, meta, upload["tags"],
                                      "ObjectCreated:CompleteMultipartUpload", params, etag=etag,
                                      size=hasher.size, extra=finish)
        out: dict[str, Any] = {
            "Location": f"{ctx.endpoint}/{bucket.name}/{quote(key)}",
            "Bucket": bucket.name, "Key": key, "ETag": obj.etag, "ServerSideEncryption": "AES256",
        }
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        for name, value in (meta.get("Checksums") or {}).items():
            out[ALGORITHMS[name]] = value
        if algorithm:
            out["ChecksumType"] = checksum_type
        return out

    async def AbortMultipartUpload(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, upload_id = params["Key"], params["UploadId"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        await self._upload(bucket, key, upload_id)
        garbage = await self.db.write(lambda conn: abort_tx(conn, upload_id))
        await self.in_thread(self.files.delete, garbage)
        return {}

    async def ListParts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key, upload_id = params["Key"], params["UploadId"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        upload = await self._upload(bucket, key, upload_id)
        marker: int = int(params.get("PartNumberMarker") or 0)
        max_parts: int = min(int(params.get("MaxParts") or 1000), 1000)
        rows = await self.db.fetchall(
            "SELECT * FROM parts WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
            (upload_id, marker, max_parts + 1))
        truncated = len(rows) > max_parts
        rows = rows[:max_parts]
        owner = {"DisplayName": OWNER_NAME, "ID": owner_id(bucket.account_id)}
        parts = []
        for r in rows:
            part: dict[str, Any] = {"PartNumber": r["part_number"], "LastModified": to_datetime(r["last_modified"]),
                                    "ETag": r["etag"], "Size": r["size"]}
            for name, value in json.loads(r["checksums"]).items():
                part[ALGORITHMS[name]] = value
            parts.append(part)
        out: dict[str, Any] = {
            "Bucket": bucket.name, "Key": key, "UploadId": upload_id, "PartNumberMarker": marker,
            "MaxParts": max_parts, "IsTruncated": truncated, "Parts": parts or None,
            "Initiator": {"ID": owner["ID"], "DisplayName": OWNER_NAME}, "Owner": owner,
            "StorageClass": upload["meta"].get("StorageClass") or "STANDARD",
        }
        if rows:
            out["NextPartNumberMarker"] = rows[-1]["part_number"]
        if upload["meta"].get("ChecksumAlgorithm"):
            out["ChecksumAlgorithm"] = upload["meta"]["ChecksumAlgorithm"]
            out["ChecksumType"] = upload["meta"].get("ChecksumType")
        return out

    async def ListMultipartUploads(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or ""
        key_marker = params.get("KeyMarker") or ""
        id_marker = params.get("UploadIdMarker") or ""
        max_uploads: int = min(int(params.get("MaxUploads") or 1000), 1000)
        rows = await self.db.fetchall("SELECT * FROM uploads WHERE bucket = ? ORDER BY key, initiated, upload_id",
                                      (bucket.name,))
        entries = list(rows)
        if key_marker and id_marker:
            # Uploads of the marker key after the marker upload, then later keys.
            skip = True
            kept = []
            for r in entries:
                if r["key"] == key_marker:
                    if skip:
                        if r["upload_id"] == id_marker:
                            skip = False
                        continue
                    kept.append(r)
                elif r["key"] > key_marker:
                    kept.append(r)
            entries = kept

        def scan(start: str, inclusive: bool) -> Any:
            for r in entries:
                if r["key"] >= start if inclusive else r["key"] > start:
                    yield r

        page = paginate(scan, lambda r: r["key"], prefix=prefix, delimiter=delimiter,
                        marker=key_marker if not id_marker else "", max_keys=max_uploads)
        owner = {"DisplayName": OWNER_NAME, "ID": owner_id(bucket.account_id)}
        uploads = []
        for r in page.entries:
            meta = json.loads(r["meta"])
            item: dict[str, Any] = {"UploadId": r["upload_id"], "Key": r["key"],
                                    "Initiated": to_datetime(r["initiated"]),
                                    "StorageClass": meta.get("StorageClass") or "STANDARD", "Owner": owner,
                                    "Initiator": {"ID": owner["ID"], "DisplayName": OWNER_NAME}}
            if meta.get("ChecksumAlgorithm"):
                item["ChecksumAlgorithm"] = meta["ChecksumAlgorithm"]
                item["ChecksumType"] = meta.get("ChecksumType")
            uploads.append(item)
        out: dict[str, Any] = {
            "Bucket": bucket.name, "KeyMarker": key_marker, "UploadIdMarker": id_marker, "Prefix": prefix,
            "MaxUploads": max_uploads, "IsTruncated": page.truncated, "Uploads": uploads or None,
            "CommonPrefixes": [{"Prefix": p} for p in page.prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = delimiter
        if page.truncated and page.entries:
            out["NextKeyMarker"] = page.entries[-1]["key"]
            out["NextUploadIdMarker"] = page.entries[-1]["upload_id"]
        return out


def abort_tx(conn: sqlite3.Connection, upload_id: str) -> list[str]:
    blobs = [r[0] for r in conn.execute("SELECT blob FROM parts WHERE upload_id = ?", (upload_id,))]
    conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
    conn.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
    return blobs
