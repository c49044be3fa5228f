"""Small wire helpers the provider needs outside the protocol (CORS answers)."""

from __future__ import annotations

from cloudlet.protocols.rest_xml import escape_text
from cloudlet.protocols.s3 import host_id


def error_document(code: str, message: str, request_id: str, **fields: str) -> bytes:
    extra = "".join(f"<{k}>{escape_text(v)}</{k}>" for k, v in fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape_text(message)}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{host_id(request_id)}</HostId></Error>"
    ).encode()
