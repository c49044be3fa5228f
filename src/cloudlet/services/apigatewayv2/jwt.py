"""JWT authorizers: RS256 signature check against a JWKS, then issuer/audience/time/scopes.

RSA PKCS#1 v1.5 with SHA-256 is verified with ``pow`` (no crypto dependency):
the signature raised to the public exponent modulo ``n`` must equal the
padded DigestInfo of the SHA-256 of ``header.payload``.

``JwksCache`` fetches keys the way API Gateway does: from the issuer's
``/.well-known/openid-configuration`` (its ``jwks_uri``), falling back to
``{issuer}/.well-known/jwks.json``; results are cached for ``ttl_s``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

#: ASN.1 DigestInfo prefix of a SHA-256 digest (RFC 8017 §9.2 note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
CLOCK_SKEW_S = 0


class JwtError(ValueError):
    """The token is not acceptable (→ 401)."""


def b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise JwtError("bad base64url") from exc


def b64url_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def parse_token(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """``(header, claims, signing input, signature)``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError as exc:
        raise JwtError("bad JWT JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("bad JWT JSON")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])


def rsa_pkcs1_sha256_verify(n: int, e: int, message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 verification with SHA-256."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def select_key(jwks: dict[str, Any], header: dict[str, Any]) -> tuple[int, int]:
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kty") == "RSA"]
    kid = header.get("kid")
    if kid is not None:
        keys = [k for k in keys if k.get("kid") == kid]
    if not keys:
        raise JwtError("no matching key")
    key = keys[0]
    return b64url_int(key["n"]), b64url_int(key["e"])


def verify_token(
    token: str,
    jwks: dict[str, Any],
    *,
    issuer: str | None,
    audiences: list[str],
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a valid token; raises ``JwtError`` otherwise."""
    header, claims, signing_input, signature = parse_token(token)
    if header.get("alg") != "RS256":
        raise JwtError("unsupported alg")
    n, e = select_key(jwks, header)
    if not rsa_pkcs1_sha256_verify(n, e, signing_input, signature):
        raise JwtError("bad signature")
    moment = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or moment > exp + CLOCK_SKEW_S:
        raise JwtError("expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and moment + CLOCK_SKEW_S < nbf:
        raise JwtError("not yet valid")
    if issuer is not None and claims.get("iss") != issuer:
        raise JwtError("wrong issuer")
    if audiences:
        aud = claims.get("aud", claims.get("client_id"))
        token_auds = aud if isinstance(aud, list) else [aud]
        if not any(a in audiences for a in token_auds):
            raise JwtError("wrong audience")
    return claims


def token_scopes(claims: dict[str, Any]) -> list[str]:
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, list):
        return [str(s) for s in scope]
    return []


def stringify_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as HTTP APIs pass them on: every value a string, lists as ``[a b]``."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, dict):
            out[name] = json.dumps(value)
        else:
            out[name] = str(value)
    return out


def _fetch_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class JwksCache:
    """Key sets by issuer, fetched in a thread and kept for ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = 300.0, fetch: Callable[[str], Any] = _fetch_json) -> None:
        self.ttl_s = ttl_s
        self._fetch = fetch
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, issuer: str) -> dict[str, Any]:
        cached = self._cache.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        jwks = await asyncio.to_thread(self._load, issuer)
        self._cache[issuer] = (time.monotonic(), jwks)
        return jwks

    def _load(self, issuer: str) -> dict[str, Any]:
        base = issuer.rstrip("/")
        try:
            config = self._fetch(base + "/.well-known/openid-configuration")
            uri = config.get("jwks_uri") if isinstance(config, dict) else None
        except Exception:
            uri = None
        jwks = self._fetch(uri or base + "/.well-known/jwks.json")
        if not isinstance(jwks, dict):
            raise JwtError("bad JWKS")
        return jwks

    def forget(self, issuer: str) -> None:
        self._cache.pop(issuer, None)
