"""CORS as HTTP APIs and function URLs apply it from a ``CorsConfiguration``/``Cors`` object.

The gateway answers preflights itself (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) and adds ``Access-Control-Allow-Origin`` /
``-Expose-Headers`` / ``-Allow-Credentials`` to actual responses, replacing
any the integration sent.  Names of the configuration keys are the API's
(``AllowOrigins``, ``AllowMethods``, ``AllowHeaders``, ``ExposeHeaders``,
``MaxAge``, ``AllowCredentials``).
"""

from __future__ import annotations

from typing import Any

Headers = list[tuple[str, str]]


def _lower(values: Any) -> list[str]:
    return [str(v).lower() for v in values or []]


def allowed_origin(cors: dict[str, Any], origin: str | None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if not allowed."""
    if not origin:
        return None
    origins = [str(o) for o in cors.get("AllowOrigins") or []]
    if "*" in origins:
        return origin if cors.get("AllowCredentials") else "*"
    return origin if origin.lower() in (o.lower() for o in origins) else None


def is_preflight(method: str, headers: dict[str, str]) -> bool:
    return method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


def preflight_headers(cors: dict[str, Any], headers: dict[str, str]) -> Headers:
    """Headers of the gateway's own answer to a preflight (empty when the origin is not allowed)."""
    origin = allowed_origin(cors, headers.get("origin"))
    if origin is None:
        return []
    out: Headers = [("access-control-allow-origin", origin)]
    requested_method = headers.get("access-control-request-method", "").upper()
    methods = [str(m).upper() for m in cors.get("AllowMethods") or []]
    if methods:
        if "*" in methods:
            out.append(("access-control-allow-methods", requested_method or "*"))
        elif requested_method in methods:
            out.append(("access-control-allow-methods", ",".join(methods)))
        else:
            return []
    allow_headers = _lower(cors.get("AllowHeaders"))
    requested = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()]
    if allow_headers:
        if "*" in allow_headers:
            if requested:
                out.append(("access-control-allow-headers", ",".join(requested)))
        else:
            out.append(("access-control-allow-headers", ",".join(allow_headers)))
    if cors.get("AllowCredentials"):
        out.append(("access-control-allow-credentials", "true"))
    if cors.get("MaxAge") is not None:
        out.append(("access-control-max-age", str(cors["MaxAge"])))
    return out


def apply_cors(cors: dict[str, Any], request_headers: dict[str, str], response_headers: Headers) -> Headers:
    """``response_headers`` with the gateway's CORS headers for an actual (non-preflight) request."""
    origin = allowed_origin(cors, request_headers.get("origin"))
    if origin is None:
        return response_headers
    out = [(n, v) for n, v in response_headers if not n.lower().startswith("access-control-")]
    out.append(("access-control-allow-origin", origin))
    if cors.get("AllowCredentials"):
        out.append(("access-control-allow-credentials", "true"))
    expose = [str(h) for h in cors.get("ExposeHeaders") or []]
    if expose:
        out.append(("access-control-expose-headers", ",".join(expose)))
    if origin != "*":
        out.append(("vary", "Origin"))
    return out
