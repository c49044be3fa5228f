"""Conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.

Evaluated as RFC 7232 and S3 do: for reads, If-Match wins over
If-Unmodified-Since and If-None-Match over If-Modified-Since; a failing
If-Match / If-Unmodified-Since is ``412 PreconditionFailed``, a failing
If-None-Match / If-Modified-Since is ``304 Not Modified``.  Dates compare at
one-second resolution (HTTP dates have no fractions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cloudlet.services.s3 import errors


def _etags(value: str) -> list[str]:
    return [item.strip().strip('"') for item in value.split(",") if item.strip()]


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match value names ``etag`` (``*`` matches any)."""
    bare = etag.strip('"')
    return any(item in ("*", bare) for item in _etags(header))


def _seconds(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def check_read(params: Mapping[str, Any], etag: str, last_modified: float, *, prefix: str = "If") -> None:
    """Raise 412/304 if a GET/HEAD's conditions do not hold for the object.

    ``prefix`` is ``"CopySourceIf"`` for CopyObject / UploadPartCopy, where
    every failure is a 412.
    """
    modified = math.floor(last_modified)
    copy = prefix != "If"
    if_match = params.get(f"{prefix}Match")
    if_none_match = params.get(f"{prefix}NoneMatch")
    since = _seconds(params.get(f"{prefix}ModifiedSince"))
    unmodified = _seconds(params.get(f"{prefix}UnmodifiedSince"))
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise errors.precondition_failed("If-Match")
    elif unmodified is not None and modified > unmodified:
        raise errors.precondition_failed("If-Unmodified-Since")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            if copy:
                raise errors.precondition_failed("x-amz-copy-source-If-None-Match")
            raise errors.not_modified()
    elif since is not None and modified <= since:
        if copy:
            raise errors.precondition_failed("x-amz-copy-source-If-Modified-Since")
        raise errors.not_modified()


def check_write(params: Mapping[str, Any], current_etag: str | None, key: str) -> None:
    """Conditional writes: ``If-None-Match: *`` (no object yet) and ``If-Match: <etag>``."""
    if_none_match = params.get("IfNoneMatch")
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise errors.invalid_argument("If-None-Match only supports the * value", "If-None-Match",
                                          if_none_match)
        if current_etag is not None:
            raise errors.precondition_failed("If-None-Match")
    if_match = params.get("IfMatch")
    if if_match is not None:
        if current_etag is None:
            raise errors.no_such_key(key)
        if not etag_matches(if_match, current_etag):
            raise errors.precondition_failed("If-Match")


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a single-range ``Range`` header selects.

    Returns None when the header should be ignored (not ``bytes=``, several
    ranges, syntax S3 ignores); raises ``InvalidRange`` (416) when it cannot
    be satisfied.
    """
    text = header.strip()
    if not text.startswith("bytes=") or size == 0:
        return None  # an empty object has no satisfiable range: answer it whole
    spec = text[len("bytes=") :].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    try:
        if first == "":
            if not last:
                return None
            length = int(last)
            if length <= 0:
                if size == 0:
                    return None
                raise errors.invalid_range(size, header)
            if size == 0:
                return None
            return max(0, size - length), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if last and end < start:
        return None
    if start >= size:
        raise errors.invalid_range(size, header)
    return start, min(end, size - 1)
