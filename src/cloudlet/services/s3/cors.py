"""CORS answers from a bucket's CORS rules: preflight (``OPTIONS``) and actual requests.

The rules are matched as S3 does: the first rule whose ``AllowedOrigins``
(one ``*`` wildcard allowed per origin), ``AllowedMethods`` and
``AllowedHeaders`` (case-insensitive, wildcards) cover the request wins.
The edge calls :meth:`CorsMixin.cors_preflight` for an ``OPTIONS`` request
to a bucket or object and :meth:`CorsMixin.cors_headers` to decorate the
response of any other request that carries ``Origin``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from cloudlet.services.s3.base import S3Base
from cloudlet.services.s3.protocol_bits import error_document

Headers = list[tuple[str, str]]


def _origin_ok(patterns: list[str], origin: str) -> bool:
    return any(fnmatch.fnmatchcase(origin, p) for p in patterns)


def _headers_ok(patterns: list[str], requested: list[str]) -> bool:
    lowered = [p.lower() for p in patterns]
    return all(any(fnmatch.fnmatchcase(h.lower(), p) for p in lowered) for h in requested)


def _requested_headers(headers: Mapping[str, str]) -> list[str]:
    raw = headers.get("access-control-request-headers", "")
    return [h.strip() for h in raw.split(",") if h.strip()]


def match_rule(rules: list[dict[str, Any]], origin: str, method: str,
               requested: list[str]) -> dict[str, Any] | None:
    for rule in rules:
        if not _origin_ok(rule.get("AllowedOrigins") or [], origin):
            continue
        if method not in (rule.get("AllowedMethods") or []):
            continue
        if requested and not _headers_ok(rule.get("AllowedHeaders") or [], requested):
            continue
        return rule
    return None


def rule_headers(rule: dict[str, Any], origin: str, requested: list[str], *, preflight: bool) -> Headers:
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    out: Headers = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    out.append(("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or [])))
    if not wildcard:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if preflight and requested:
        out.append(("Access-Control-Allow-Headers", ", ".join(h.lower() for h in requested)))
    if rule.get("ExposeHeaders"):
        out.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        out.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    out.append(("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"))
    return out


def preflight(rules: list[dict[str, Any]] | None, headers: Mapping[str, str]) -> tuple[int, Headers, str | None]:
    """(status, headers, error code or None) for an ``OPTIONS`` request."""
    origin = headers.get("origin")
    method = headers.get("access-control-request-method")
    if not origin or not method:
        return 400, [], "BadRequest"
    if not rules:
        return 403, [], "CORSNotEnabled"
    requested = _requested_headers(headers)
    rule = match_rule(rules, origin, method, requested)
    if rule is None:
        return 403, [], "CORSForbidden"
    return 200, rule_headers(rule, origin, requested, preflight=True), None


def actual(rules: list[dict[str, Any]] | None, method: str, headers: Mapping[str, str]) -> Headers:
    """CORS headers for the response to a non-preflight request (empty if none apply)."""
    origin = headers.get("origin")
    if not origin or not rules:
        return []
    rule = match_rule(rules, origin, method, [])
    return [] if rule is None else rule_headers(rule, origin, [], preflight=False)


MESSAGES = {
    "BadRequest": "Insufficient information. Origin request header needed.",
    "CORSNotEnabled": "CORSResponse: CORS is not enabled for this bucket.",
    "CORSForbidden": "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
                     "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
                     "are not whitelisted by the resource's CORS spec.",
}


class CorsMixin(S3Base):
    async def cors_preflight(self, bucket: str, headers: Mapping[str, str],
                             request_id: str) -> tuple[int, Headers, bytes]:
        """The full answer to ``OPTIONS /bucket[/key]``: status, headers, body."""
        found = await self.get_bucket(bucket)
        if found is None:
            return 404, [("Content-Type", "application/xml")], error_document(
                "NoSuchBucket", "The specified bucket does not exist", request_id, BucketName=bucket)
        rules = await self.bucket_config(bucket, "cors")
        status, out, code = preflight(rules, headers)
        if code is None:
            return status, out, b""
        error_code = "AccessForbidden" if code.startswith("CORS") else code
        return status, [("Content-Type", "application/xml")], error_document(
            error_code, MESSAGES[code], request_id, Method=headers.get("access-control-request-method", ""),
            ResourceType="BUCKET" if code == "CORSNotEnabled" else "OBJECT")

    async def cors_headers(self, bucket: str, method: str, headers: Mapping[str, str]) -> Headers:
        """Headers to add to the response of an actual cross-origin request."""
        if not headers.get("origin"):
            return []
        rules = await self.bucket_config(bucket, "cors")
        return actual(rules, method, headers)
