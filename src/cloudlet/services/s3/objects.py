"""Object operations: put, get, head, delete (one and many), copy, object tagging."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.events.outbox import Enqueued
from cloudlet.services.s3 import conditions, errors
from cloudlet.services.s3.base import (
    Bucket,
    ObjectRow,
    S3Base,
    latest,
    looks_like_version_id,
    new_version_id,
    next_seq,
    promote_latest,
    store_version,
    to_datetime,
    version,
)
from cloudlet.services.s3.checksums import ALGORITHMS, SLOW_ALGORITHMS, Hasher, decode_content_md5
from cloudlet.services.s3.files import BlobBody, BlobRef, body_chunks, is_file

#: Content headers stored with an object and returned on GET/HEAD.
CONTENT_FIELDS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl",
                  "WebsiteRedirectLocation")
#: GetObject's ``response-*`` overrides.
OVERRIDES = {
    "ResponseContentType": "ContentType", "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentDisposition": "ContentDisposition", "ResponseContentLanguage": "ContentLanguage",
    "ResponseCacheControl": "CacheControl", "ResponseExpires": "Expires",
}
MAX_KEY_BYTES = 1024
MAX_SINGLE_PUT = 5 * 1024**3
MAX_TAGS = 10
#: Bodies up to this size are written on the event loop (a thread hop costs more).
INLINE_WRITE = 64 * 1024


def check_key(key: str) -> None:
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ServiceError("Your key is too long", code="KeyTooLongError", status=400,
                           fields={"Size": str(len(key.encode())), "MaxSizeAllowed": str(MAX_KEY_BYTES)})


def requested_checksums(params: dict[str, Any], trailer: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(algorithms to compute, algorithm → value the client sent) for an upload.

    ``trailer`` is the ``x-amz-trailer`` header: a checksum an ``aws-chunked``
    body sends after its data, computed here whether or not it has arrived yet.
    """
    sent = {name: params[member] for name, member in ALGORITHMS.items() if params.get(member)}
    trailing = [name for name in ALGORITHMS if trailer and trailer.strip().lower() == f"x-amz-checksum-{name.lower()}"]
    if len(sent) > 1:
        raise errors.invalid_request("Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                                     "not allowed.")
    algorithm = params.get("ChecksumAlgorithm")
    algorithms = list(sent) + [name for name in trailing if name not in sent]
    if algorithm:
        algorithm = algorithm.upper()
        if algorithm not in ALGORITHMS:
            raise errors.invalid_request(f"Checksum algorithm provided is unsupported: {algorithm}")
        if sent and algorithm not in sent:
            raise errors.invalid_request(
                f"Value for x-amz-sdk-checksum-algorithm header is invalid: {algorithm} does not match the "
                "x-amz-checksum header sent")
        if algorithm not in algorithms:
            algorithms.append(algorithm)
    return algorithms, sent


def with_trailers(sent: dict[str, str], body: Any) -> dict[str, str]:
    """``sent`` plus the checksums a streamed ``aws-chunked`` body carried in its trailer (read by now)."""
    trailers = getattr(body, "trailers", None)
    if not trailers:
        return sent
    found = {name: trailers[f"x-amz-checksum-{name.lower()}"] for name in ALGORITHMS
             if f"x-amz-checksum-{name.lower()}" in trailers}  # fmt: skip
    return {**sent, **found}


def check_declared_size(body: Any, limit: int) -> None:
    """``EntityTooLarge`` before reading a streamed body whose announced size is over ``limit``."""
    length = getattr(body, "length", None)
    if length is not None and length > limit:
        raise errors.entity_too_large(length, limit)


def content_md5(params: dict[str, Any]) -> bytes | None:
    value = params.get("ContentMD5")
    if value is None:
        return None
    raw = decode_content_md5(value)
    if raw is None:
        raise errors.invalid_digest()
    return raw


def verify(hasher: Hasher, md5: bytes | None, sent: dict[str, str]) -> None:
    if md5 is not None and hasher.md5.digest() != md5:
        raise errors.bad_digest()
    computed = hasher.checksums()
    for name, value in sent.items():
        if computed.get(name) != value:
            raise errors.bad_digest(f"The {name} you specified did not match the calculated checksum.")


def parse_tagging(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    tags = dict(parse_qsl(text, keep_blank_values=True))
    check_tags(tags)
    return tags


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceError("Object tags cannot be greater than 10", code="BadRequest", status=400)
    for k, v in tags.items():
        if not k or len(k) > 128 or len(v) > 256:
            raise errors.invalid_argument("The TagKey you have provided is invalid", "TagKey", k)


def content_meta(params: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {f: params[f] for f in CONTENT_FIELDS if params.get(f) is not None}
    if params.get("Expires") is not None:
        meta["Expires"] = params["Expires"].timestamp()
    meta["Metadata"] = {k.lower(): v for k, v in (params.get("Metadata") or {}).items()}
    if len(str(meta["Metadata"])) > 2048 + 16 * len(meta["Metadata"]):
        raise ServiceError("Your metadata headers exceed the maximum allowed metadata size", code="MetadataTooLarge",
                           status=400)
    if params.get("StorageClass"):
        meta["StorageClass"] = params["StorageClass"]
    return meta


def parse_copy_source(source: Any) -> tuple[str, str, str | None]:
    """(bucket, key, version id) of an ``x-amz-copy-source`` value."""
    if isinstance(source, dict):
        return source["Bucket"], source["Key"], source.get("VersionId")
    text = str(source)
    path, _, query = text.partition("?")
    version_id = None
    if query:
        version_id = dict(parse_qsl(query)).get("versionId")
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument("Invalid copy source object key", "x-amz-copy-source", text)
    return bucket, key, version_id


def object_result(obj: ObjectRow, bucket: Bucket, params: dict[str, Any]) -> dict[str, Any]:
    """The header members GET/HEAD answer for ``obj``."""
    meta = obj.meta
    out: dict[str, Any] = {
        "AcceptRanges": "bytes",
        "LastModified": to_datetime(obj.last_modified),
        "ContentLength": obj.size,
        "ETag": obj.etag,
        "ContentType": meta.get("ContentType") or "binary/octet-stream",
        "Metadata": meta.get("Metadata") or {},
        "ServerSideEncryption": "AES256",
    }
    for name in CONTENT_FIELDS[1:]:
        if meta.get(name) is not None:
            out[name] = meta[name]
    if meta.get("Expires") is not None:
        out["Expires"] = to_datetime(meta["Expires"])
    if meta.get("StorageClass") and meta["StorageClass"] != "STANDARD":
        out["StorageClass"] = meta["StorageClass"]
    if bucket.versioning is not None or obj.version_id != "null":
        out["VersionId"] = obj.version_id
    if obj.tags:
        out["TagCount"] = len(obj.tags)
    if meta.get("Parts") and params.get("PartNumber"):
        out["PartsCount"] = len(meta["Parts"])
    if (params.get("ChecksumMode") or "").upper() == "ENABLED":
        for name, value in (meta.get("Checksums") or {}).items():
            if name in ALGORITHMS:
                out[ALGORITHMS[name]] = value
        if meta.get("Checksums"):
            out["ChecksumType"] = meta.get("ChecksumType", "FULL_OBJECT")
    for param, field in OVERRIDES.items():
        if params.get(param) is not None:
            out[field] = params[param]
    return out


def _marker_error(obj: ObjectRow, by_version: bool, key: str) -> ServiceError:
    headers = {"x-amz-delete-marker": "true", "x-amz-version-id": obj.version_id}
    error = errors.method_not_allowed("GET") if by_version else errors.no_such_key(key)
    error.headers.update(headers)
    if by_version:
        error.headers["Last-Modified"] = to_datetime(obj.last_modified).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return error


class ObjectsMixin(S3Base):
    #: Answer large GetObject bodies as a lazy ``BlobBody`` instead of bytes; the edge streams them.
    stream_responses = True

    # -- hooks the notification mixin overrides ----------------------------------

    def emit(self, conn: sqlite3.Connection, ctx: RequestContext, bucket: Bucket, event: str,
             obj: ObjectRow) -> list[Enqueued]:
        """Enqueue the notifications of ``event`` (inside the write job); the events enqueued."""
        return []

    def after_write(self, garbage: list[str], *, notified: bool = True) -> None:
        """After a write committed: ``notified`` says it may have enqueued events (wake the outbox)."""
        if notified and self.outbox is not None:
            self.outbox.wake()

    async def collect(self, garbage: list[str], *, notified: bool = True) -> None:
        if garbage:
            await self.in_thread(self.files.delete, garbage)
        self.after_write(garbage, notified=notified)

    # -- reads -----------------------------------------------------------------

    async def find(self, bucket: Bucket, key: str, version_id: str | None) -> ObjectRow:
        if version_id is not None and not looks_like_version_id(version_id):
            raise errors.invalid_version(version_id)

        def read(conn: sqlite3.Connection) -> ObjectRow | None:
            if version_id is not None:
                return version(conn, bucket.name, key, version_id)
            return latest(conn, bucket.name, key)

        obj = await self.db.point_read(read)
        if obj is None:
            if version_id is not None:
                raise errors.no_such_version(key, version_id)
            raise errors.no_such_key(key)
        if obj.delete_marker:
            raise _marker_error(obj, version_id is not None, key)
        return obj

    def _range(self, obj: ObjectRow, params: dict[str, Any]) -> tuple[int, int] | None:
        part = params.get("PartNumber")
        if part is not None:
            sizes: list[int] = obj.meta.get("Parts") or [obj.size]
            if not 1 <= part <= len(sizes):
                raise errors.invalid_range(obj.size, f"partNumber={part}") if part > 1 else \
                    errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive",
                                            "partNumber", part)
            start = sum(sizes[: part - 1])
            return start, start + sizes[part - 1] - 1
        header = params.get("Range")
        return conditions.parse_range(header, obj.size) if header else None

    async def _read_object(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[ObjectRow, dict[str, Any],
                                                                                         tuple[int, int] | None]:
        version_id = params.get("VersionId")
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"], versioned=version_id is not None)
        obj = await self.find(bucket, params["Key"], version_id)
        conditions.check_read(params, obj.etag, obj.last_modified)
        selected = self._range(obj, params)
        out = object_result(obj, bucket, params)
        if selected is not None:
            # Checksums describe the whole object; a part of it comes without them.
            for member in ALGORITHMS.values():
                out.pop(member, None)
            out.pop("ChecksumType", None)
            start, end = selected
            out["ContentLength"] = end - start + 1 if obj.size else 0
            out["ContentRange"] = f"bytes {start}-{end}/{obj.size}"
            if params.get("PartNumber") and "PartsCount" not in out:
                out["PartsCount"] = len(obj.meta.get("Parts") or [obj.size])
        return obj, out, selected

    async def GetObject(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        obj, out, selected = await self._read_object(ctx, params)
        start, end = selected if selected is not None else (0, None)
        length = obj.size if end is None else end - start + 1
        if obj.size == 0:
            out["Body"] = b""
        elif self.stream_responses and length > INLINE_WRITE and is_file(obj.blob):
            out["Body"] = BlobBody(self.files, obj.blob, start, obj.size - 1 if end is None else end)
        elif length <= INLINE_WRITE:
            out["Body"] = self.files.read_bytes(obj.blob, start, end)
        else:
            out["Body"] = await self.in_thread(self.files.read_bytes, obj.blob, start, end)
        return out

    async def HeadObject(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, out, _ = await self._read_object(ctx, params)
        return out

    # -- writes ----------------------------------------------------------------

    async def write_object(
        self, ctx: RequestContext, bucket: Bucket, key: str, blob: BlobRef | None, hasher: Hasher | None,
        meta: dict[str, Any], tags: dict[str, str], event: str, params: dict[str, Any],
        *, etag: str | None = None, size: int | None = None,
        extra: Callable[[sqlite3.Connection], list[str]] | None = None,
    ) -> ObjectRow:
        """Commit a new version whose bytes are already in ``blob``; deletes the blob if that fails."""
        obj = ObjectRow(
            bucket=bucket.name, key=key, version_id="null", seq=0, is_latest=True, delete_marker=False,
            size=size if size is not None else (hasher.size if hasher else 0),
            etag=etag or f'"{hasher.md5.hexdigest() if hasher else ""}"',
            last_modified=time.time(), blob=blob, meta=meta, tags=tags,
        )

        def put(conn: sqlite3.Connection) -> tuple[list[str], list[Enqueued]]:
            if params.get("IfNoneMatch") is not None or params.get("IfMatch") is not None:
                current = latest(conn, bucket.name, key)
                conditions.check_write(
                    params, current.etag if current is not None and not current.delete_marker else None, key)
            row = conn.execute("SELECT versioning FROM buckets WHERE name = ?", (bucket.name,)).fetchone()
            if row is None:
                raise errors.no_such_bucket(bucket.name)
            bucket.versioning = row["versioning"]
            garbage = extra(conn) if extra is not None else []
            obj.seq = next_seq(conn)
            garbage += store_version(conn, bucket, obj)
            return garbage, self.emit(conn, ctx, bucket, event, obj)

        try:
            garbage, events = await self.db.write(put)
        except BaseException:
            if is_file(blob):
                await self.in_thread(self.files.delete, [blob])
            raise
        if events and self.outbox is not None:
            self.outbox.deliver_now(events)  # committed: no need for the dispatcher to read them back
        await self.collect(garbage, notified=False)
        return obj

    async def PutObject(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = params["Key"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        check_key(key)
        body = params.get("Body") or b""
        check_declared_size(body, MAX_SINGLE_PUT)
        algorithms, sent = requested_checksums(params, ctx.headers.get("x-amz-trailer"))
        md5 = content_md5(params)
        tags = parse_tagging(params.get("Tagging"))
        meta = content_meta(params)
        blob, hasher = await self.store_body(body, algorithms)
        try:
            if hasher.size > MAX_SINGLE_PUT:
                raise errors.entity_too_large(hasher.size, MAX_SINGLE_PUT)
            verify(hasher, md5, with_trailers(sent, body))
        except ServiceError:
            await self.in_thread(self.files.delete, [blob])
            raise
        meta["Checksums"] = hasher.checksums()
        obj = await self.write_object(ctx, bucket, key, blob, hasher, meta, tags, "ObjectCreated:Put", params)
        out: dict[str, Any] = {"ETag": obj.etag, "ServerSideEncryption": "AES256"}
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        for name, value in meta["Checksums"].items():
            out[ALGORITHMS[name]] = value
        if meta["Checksums"]:
            out["ChecksumType"] = "FULL_OBJECT"
        return out

    async def store_body(self, body: Any, algorithms: list[str]) -> tuple[BlobRef, Hasher]:
        """Write a request body (bytes, file-like or async iterable of chunks) to a new blob."""
        if isinstance(body, bytes) and len(body) <= INLINE_WRITE and not self.files.fsync \
                and SLOW_ALGORITHMS.isdisjoint(algorithms):
            return self.files.write_bytes(body, algorithms)  # cheaper than a thread hop
        chunks = body_chunks(body)
        if chunks is not None:
            return await self.in_thread(self.files.write, chunks, algorithms)
        return await self.files.write_async(body, algorithms)

    def link_blob(self, blob: BlobRef | None) -> BlobRef | None:
        """A new blob with the same bytes (a hard link; blobs are never modified in place)."""
        if not is_file(blob):
            return blob  # no file, or bytes kept in the row: the new row keeps the same value
        new = uuid.uuid4().hex
        target = self.files.path(new)
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(self.files.path(blob), target)
        except OSError:
            new, _ = self.files.write(self.files.read(blob))
        return new

    async def CopyObject(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        src_bucket_name, src_key, src_version = parse_copy_source(params["CopySource"])
        src_bucket = await self.authorize(ctx, src_bucket_name, src_key, operation="GetObject",
                                          versioned=src_version is not None)
        key = params["Key"]
        bucket = await self.authorize(ctx, params["Bucket"], key)
        check_key(key)
        source = await self.find(src_bucket, src_key, src_version)
        conditions.check_read(params, source.etag, source.last_modified, prefix="CopySourceIf")
        directive = (params.get("MetadataDirective") or "COPY").upper()
        tag_directive = (params.get("TaggingDirective") or "COPY").upper()
        algorithm = (params.get("ChecksumAlgorithm") or "").upper()
        same = src_bucket.name == bucket.name and src_key == key and src_version is None
        if same and directive == "COPY" and not params.get("StorageClass") and not algorithm \
                and not params.get("WebsiteRedirectLocation") and not params.get("ServerSideEncryption"):
            raise errors.invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing "
                "the object's metadata, storage class, website redirect location or encryption attributes.")
        if directive == "REPLACE":
            meta = content_meta(params)
        else:
            meta = {k: v for k, v in source.meta.items() if k not in ("Parts", "Checksums", "ChecksumType")}
            if params.get("StorageClass"):
                meta["StorageClass"] = params["StorageClass"]
        tags = parse_tagging(params.get("Tagging")) if tag_directive == "REPLACE" else dict(source.tags)
        etag = source.etag
        blob: BlobRef | None
        if algorithm and algorithm in ALGORITHMS:
            blob, hasher = await self.in_thread(
                self.files.write, self.files.read(source.blob) if source.blob else iter(()), [algorithm])
            meta["Checksums"] = hasher.checksums()
            etag = f'"{hasher.md5.hexdigest()}"'
        else:
            blob = await self.in_thread(self.link_blob, source.blob)
            checksums = source.meta.get("Checksums") or {}
            if source.meta.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
                meta["Checksums"] = checksums
        obj = await self.write_object(ctx, bucket, key, blob, None, meta, tags, "ObjectCreated:Copy", params,
                                      etag=etag, size=source.size)
        result: dict[str, Any] = {"ETag": obj.etag, "LastModified": to_datetime(obj.last_modified)}
        for name, value in (meta.get("Checksums") or {}).items():
            result[ALGORITHMS[name]] = value
        if meta.get("Checksums"):
            result["ChecksumType"] = "FULL_OBJECT"
        out: dict[str, Any] = {"CopyObjectResult": result, "ServerSideEncryption": "AES256"}
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        if src_version is not None or src_bucket.versioning is not None:
            out["CopySourceVersionId"] = source.version_id
        return out

    # -- deletes ---------------------------------------------------------------

    def delete_tx(self, conn: sqlite3.Connection, ctx: RequestContext, bucket: Bucket, key: str,
                  version_id: str | None, garbage: list[str], *, family: str = "ObjectRemoved") -> dict[str, Any]:
        """Delete inside a write job; ``family`` is ``LifecycleExpiration`` for lifecycle expiry events."""
        row = conn.execute("SELECT versioning FROM buckets WHERE name = ?", (bucket.name,)).fetchone()
        if row is None:
            raise errors.no_such_bucket(bucket.name)
        bucket.versioning = row["versioning"]
        out: dict[str, Any] = {}
        if version_id is not None:
            if not looks_like_version_id(version_id):
                raise errors.invalid_version(version_id)
            obj = version(conn, bucket.name, key, version_id)
            out["VersionId"] = version_id
            if obj is None:
                return out
            conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ?",
                         (bucket.name, key, version_id))
            if obj.is_latest:
                promote_latest(conn, bucket.name, key)
            if is_file(obj.blob):
                garbage.append(obj.blob)
            if obj.delete_marker:
                out["DeleteMarker"] = True
            obj.seq = next_seq(conn)  # the event's sequencer orders after the write it removes
            self.emit(conn, ctx, bucket, f"{family}:Delete", obj)
            return out
        if bucket.versioning is None:
            obj = version(conn, bucket.name, key, "null")
            if obj is not None:
                conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = 'null'",
                             (bucket.name, key))
                if is_file(obj.blob):
                    garbage.append(obj.blob)
                obj.seq = next_seq(conn)
                self.emit(conn, ctx, bucket, f"{family}:Delete", obj)
            return out
        marker_id = new_version_id() if bucket.versioning == "Enabled" else "null"
        if marker_id == "null":
            old = version(conn, bucket.name, key, "null")
            if old is not None:
                conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = 'null'",
                             (bucket.name, key))
                if is_file(old.blob):
                    garbage.append(old.blob)
        conn.execute("UPDATE objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1",
                     (bucket.name, key))
        marker = ObjectRow(bucket=bucket.name, key=key, version_id=marker_id, seq=next_seq(conn), is_latest=True,
                           delete_marker=True, size=0, etag="", last_modified=time.time(), blob=None, meta={},
                           tags={})
        conn.execute(
            "INSERT INTO objects (bucket, key, version_id, seq, is_latest, delete_marker, last_modified) "
            "VALUES (?, ?, ?, ?, 1, 1, ?)",
            (bucket.name, key, marker_id, marker.seq, marker.last_modified),
        )
        self.emit(conn, ctx, bucket, f"{family}:DeleteMarkerCreated", marker)
        return {"DeleteMarker": True, "VersionId": marker_id}

    async def DeleteObject(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        version_id = params.get("VersionId")
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"], versioned=version_id is not None)
        garbage: list[str] = []
        out = await self.db.write(lambda conn: self.delete_tx(conn, ctx, bucket, params["Key"], version_id, garbage))
        await self.collect(garbage)
        return out

    async def DeleteObjects(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        request = params.get("Delete") or {}
        items = request.get("Objects") or []
        if not items or len(items) > 1000:
            raise errors.malformed_xml()
        bucket = await self.get_bucket(params["Bucket"])
        if bucket is None:
            raise errors.no_such_bucket(params["Bucket"])
        quiet = bool(request.get("Quiet"))
        deleted: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        allowed: list[dict[str, Any]] = []
        for item in items:
            try:
                await self.authorize(ctx, bucket.name, item["Key"], operation="DeleteObject",
                                     versioned=item.get("VersionId") is not None)
                allowed.append(item)
            except ServiceError as exc:
                failed.append({"Key": item["Key"], "Code": exc.code, "Message": exc.message,
                               **({"VersionId": item["VersionId"]} if item.get("VersionId") else {})})
        garbage: list[str] = []

        def delete_all(conn: sqlite3.Connection) -> None:
            for item in allowed:
                try:
                    conn.execute("SAVEPOINT one")
                    out = self.delete_tx(conn, ctx, bucket, item["Key"], item.get("VersionId"), garbage)
                    conn.execute("RELEASE one")
                except ServiceError as exc:
                    conn.execute("ROLLBACK TO one")
                    conn.execute("RELEASE one")
                    failed.append({"Key": item["Key"], "Code": exc.code, "Message": exc.message})
                    continue
                entry: dict[str, Any] = {"Key": item["Key"]}
                if item.get("VersionId"):
                    entry["VersionId"] = item["VersionId"]
                if out.get("DeleteMarker"):
                    entry["DeleteMarker"] = True
                    if item.get("VersionId") is None:
                        entry["DeleteMarkerVersionId"] = out["VersionId"]
                    elif item.get("VersionId"):
                        entry["DeleteMarkerVersionId"] = item["VersionId"]
                deleted.append(entry)

        await self.db.write(delete_all)
        await self.collect(garbage)
        result: dict[str, Any] = {}
        if deleted and not quiet:
            result["Deleted"] = deleted
        if failed:
            result["Errors"] = failed
        return result

    # -- object tagging ----------------------------------------------------------

    async def GetObjectTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        version_id = params.get("VersionId")
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"], versioned=version_id is not None)
        obj = await self.find(bucket, params["Key"], version_id)
        out: dict[str, Any] = {"TagSet": [{"Key": k, "Value": v} for k, v in obj.tags.items()]}
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        return out

    async def _set_tags(self, ctx: RequestContext, params: dict[str, Any], tags: dict[str, str],
                        event: str) -> dict[str, Any]:
        version_id = params.get("VersionId")
        bucket = await self.authorize(ctx, params["Bucket"], params["Key"], versioned=version_id is not None)
        obj = await self.find(bucket, params["Key"], version_id)

        def update(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE objects SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?",
                         (json.dumps(tags), bucket.name, obj.key, obj.version_id))
            self.emit(conn, ctx, bucket, event, obj)

        await self.db.write(update)
        self.after_write([])
        out: dict[str, Any] = {}
        if bucket.versioning is not None:
            out["VersionId"] = obj.version_id
        return out

    async def PutObjectTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tag_set = (params.get("Tagging") or {}).get("TagSet") or []
        tags = {t["Key"]: t.get("Value", "") for t in tag_set}
        if len(tags) != len(tag_set):
            raise errors.invalid_argument("Cannot provide multiple Tags with the same key", "TagKey")
        check_tags(tags)
        return await self._set_tags(ctx, params, tags, "ObjectTagging:Put")

    async def DeleteObjectTagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        out = await self._set_tags(ctx, params, {}, "ObjectTagging:Delete")
        return out

