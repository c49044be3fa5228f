"""A fixed RSA-2048 test key pair (generated once with ``openssl genrsa 2048``) and a JWT signer.

Test-only material: it signs tokens for the JWT authorizer tests; never use it for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

N = int(
    "b4406ce490f4758d0b7cd14d5023dab006f79abf956d89709ecb13b2e202a7e2adb0f8af8f6bdd2ff38e1efb0b466338"
    "032df0a06cd37913d20ed2cc9cfb27227990f7a71155a322b1d955042ae8795f72c5264836784a8f4a6b80ca0c8644c6"
    "3baf2e26579074ac8a1c29122cb306badbbe00326a590f10594c36c7b28e9ad5516a80ecfa1bcecc5113c9f36de66d52"
    "5fd0400b2f00bafa30b7419a6553d5a2d071337fe59ea5d9ad724cdb112a90d3d12e50060d2d7a483cc4280ee19cabb4"
    "d31e9d8268a1183b2374ad821b4f686718287cc3622e07f25eb11ec4f1664d223caf665f55ce8457b8f9088fb2ce8e3f"
    "44b26d947747a5193e9e77daaffe8713",
    16,
)
E = 65537
D = int(
    "36b47ed7f7ae59a6cedfb8de0ffe71b68ec6c2ee763962470dca70561005e2520788f850bfe46aa2ccf64b2cc1c54103"
    "94e3726e1dd9289bfd5a865b97211a457a43a705cb5b0441d95c2e532f7a92ab87379260c43749d9a72a6d51e4ef331c"
    "3eacf202acfca88c5cf622f8e31c0a64d7a0188b347f86f4dd452633015c0a5d435d0106fc98f8008bd312b594254993"
    "0d8e023e646e4d9145ecca606b115a3dcf8864ad8f6ff04a6fbfbb9cc384a8224be04f975d145fe0235e21a85e4917dc"
    "a3f24b9a7f3bb296ac8882238bffc8e0c2e3289a28213a4acf2cb819e772a5207ce71ae1c7e5687c83530ee5955f8fb2"
    "2ecf5a99d4c3c78f6b51e66cd02adf61",
    16,
)
KID = "cloudlet-test-key"
DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwks() -> dict[str, Any]:
    size = (N.bit_length() + 7) // 8
    return {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                      "n": b64url(N.to_bytes(size, "big")), "e": b64url(E.to_bytes(3, "big"))}]}


def sign(claims: dict[str, Any], *, kid: str = KID, d: int = D) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    size = (N.bit_length() + 7) // 8
    t = DIGEST_INFO + hashlib.sha256(signing_input.encode()).digest()
    em = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    signature = pow(int.from_bytes(em, "big"), d, N).to_bytes(size, "big")
    return signing_input + "." + b64url(signature)


def claims(issuer: str, audience: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": audience, "sub": "user-1", "iat": now, "exp": now + 600, **extra}
