"""Listing logic shared by ListObjects, ListObjectsV2 and ListObjectVersions.

``paginate`` walks entries in key order from a *scan* (a callable that yields
entries from a start key on, lazily — the SQL scan pages through an index in
batches), rolls keys up into common prefixes, and stops after ``max_keys``
results.  After a common prefix it restarts the scan past every key under
that prefix, so a million keys under one folder cost one seek, not a million
rows.  A common prefix is reported only if it sorts after the marker, which
makes "resume after the last thing returned" (markers, continuation tokens)
exact whether that last thing was a key or a prefix.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import quote

E = TypeVar("E")

#: Sorts after any key that starts with a given prefix (keys never hold U+10FFFF in practice).
_HIGH = "\U0010ffff" * 2

Scan = Callable[[str, bool], Iterator[E]]

#: Keys that ``quote(key, safe="/")`` returns unchanged (the common case, checked first: it is cheaper).
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*").fullmatch


@dataclass
class Page(Generic[E]):
    entries: list[E] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    #: The last key or prefix returned (the next marker), or None if nothing was returned.
    last: str | None = None


def paginate(
    scan: Scan[E],
    key_of: Callable[[E], str],
    *,
    prefix: str = "",
    delimiter: str = "",
    marker: str = "",
    max_keys: int = 1000,
) -> Page[E]:
    page: Page[E] = Page()
    if max_keys <= 0:
        return page
    if marker >= prefix:
        start, inclusive = marker, not marker
    else:
        start, inclusive = prefix, True
    count = 0
    iterator = scan(start, inclusive)
    while True:
        restart: str | None = None
        for entry in iterator:
            key = key_of(entry)
            if not key.startswith(prefix):
                if key > prefix:
                    return page
                continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    restart = common + _HIGH
                    if common <= marker:
                        break
                    if count == max_keys:
                        page.truncated = True
                        return page
                    page.prefixes.append(common)
                    page.last = common
                    count += 1
                    break
            if count == max_keys:
                page.truncated = True
                return page
            page.entries.append(entry)
            page.last = key
            count += 1
        if restart is None:
            return page
        iterator = scan(restart, True)


def encode_key(key: str, encoding_type: str | None) -> str:
    """A key as ``encoding-type=url`` asks for it (percent-encoded, ``/`` kept; botocore unquotes it)."""
    if encoding_type != "url" or _URL_SAFE(key):
        return key
    return quote(key, safe="/")


def make_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def read_token(token: str) -> str | None:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
