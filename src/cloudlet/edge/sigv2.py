"""S3's legacy Signature Version 2 (HMAC-SHA1): presigned query URLs and the ``AWS`` header.

botocore still presigns S3 URLs this way by default when given a custom
endpoint (``?AWSAccessKeyId=…&Signature=…&Expires=…``), so the edge must
accept them.  The string to sign is::

    VERB \\n Content-MD5 \\n Content-Type \\n Expires-or-Date \\n
    x-amz-* headers (lower-cased, sorted, ``name:value\\n`` each) CanonicalizedResource

* For presigned URLs ``Expires`` (epoch seconds) takes the Date slot, and
  the ``x-amz-*`` values, ``content-type`` and ``content-md5`` may travel as
  query parameters (botocore moves them there); a query value wins over a
  header of the same name.
* For the header form, a present ``x-amz-date`` empties the Date slot.
* CanonicalizedResource is ``/bucket/key`` as sent (path style, or the bucket
  from a virtual-hosted ``{bucket}.s3.…`` host prepended), followed by the
  sub-resources present in the query, sorted, values percent-decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

from cloudlet.edge.sigv4 import encode

#: Query parameters that name a sub-resource and so are signed in SigV2.  The list
#: documented for RESTAuthentication, the response-header overrides, and the
#: newer sub-resources the SDKs (botocore) also sign.
SUB_RESOURCES = frozenset({
    "acl", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
    "requestPayment", "torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding",
    "accelerate", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "metrics", "object-lock",
    "replication", "restore", "select", "select-type", "storageClass", "tagging",
})


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """Percent-decoded (``+`` kept literally, as S3 does) name/value pairs, in order."""
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def canonical_resource(raw_path: str, raw_query: str, bucket: str | None) -> str:
    resource = (f"/{bucket}" if bucket else "") + (raw_path or "/")
    subs: list[tuple[str, str]] = []
    for item in raw_query.split("&"):
        name, equals, value = item.partition("=")
        if name in SUB_RESOURCES:
            # ``?uploads`` and ``?uploads=`` sign differently: keep the ``=`` only if it was sent.
            subs.append((name, f"{name}={unquote(value)}" if equals else name))
    if subs:
        subs.sort(key=lambda sub: sub[0])
        resource += "?" + "&".join(text for _, text in subs)
    return resource


def string_to_sign(
    method: str,
    headers: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    date_slot: str,
    resource: str,
) -> str:
    query = {n.lower(): v for n, v in pairs}
    amz: dict[str, str] = {n: v for n, v in headers.items() if n.startswith("x-amz-")}
    amz.update((n, v) for n, v in query.items() if n.startswith("x-amz-"))
    lines = [
        method.upper(),
        query.get("content-md5", headers.get("content-md5", "")).strip(),
        query.get("content-type", headers.get("content-type", "")).strip(),
        date_slot,
    ]
    amz_lines = "".join(f"{n}:{amz[n].strip()}\n" for n in sorted(amz))
    return "\n".join(lines) + "\n" + amz_lines + resource


def signature(secret: str, to_sign: str) -> str:
    return base64.b64encode(hmac.new(encode(secret), encode(to_sign), hashlib.sha1).digest()).decode()


def virtual_host_bucket(host: str | None) -> str | None:
    """``photos.s3.localhost:4566`` → ``photos``; ``None`` for path-style hosts."""
    if not host:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    labels = name.lower().split(".")
    for index, label in enumerate(labels[1:], start=1):
        if label == "s3" or label.startswith("s3-"):
            return ".".join(name.split(".")[:index])
    return None
