"""The per-request context handed from the edge to a provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class RequestContext:
    """What a provider knows about the call it is serving."""

    #: The id echoed in ``x-amzn-RequestId`` / ``x-amz-request-id`` and error bodies.
    request_id: str
    #: botocore service name, e.g. ``lambda``.
    service: str
    #: botocore operation name, e.g. ``CreateFunction``.
    operation: str
    #: Region from the SigV4 credential scope (default region when unsigned).
    region: str
    #: Account the access key maps to (``000000000000`` for the default key pair).
    account_id: str
    #: Access key id of the caller, or ``None`` for an anonymous request.
    access_key_id: str | None
    #: ``scheme://host:port`` the client called; used to build URLs handed back to it.
    endpoint: str
    #: Request headers, names lower-cased.
    headers: Mapping[str, str] = field(default_factory=dict)
