"""The contract every wire protocol implements.

A protocol is built once per service from botocore's ``ServiceModel``.  On the
request path it does two things:

* ``parse(request) -> (operation_model, params)``: the inverse of botocore's
  request serializer.  ``params`` is exactly the dict a boto3 user passed to
  the client method (blobs as ``bytes``, timestamps as aware ``datetime``).
  Modelled constraints botocore does not check client-side (max length,
  pattern, enum, max value) are checked here and raise ``ValidationError``.
* ``serialize(operation_model, result)`` / ``serialize_error(operation_model,
  error)``: the inverse of botocore's response parser.  ``result`` is the dict
  a boto3 user gets back (minus ``ResponseMetadata``).

Blob payloads are ``bytes``, except S3 uploads large enough to arrive in
several pieces: those are the request's ``stream`` (see ``cloudlet.edge.body``),
passed on to the provider unread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel

from cloudlet.errors import ServiceError


@dataclass
class HttpRequest:
    """An HTTP request as the edge received it."""

    method: str
    #: The raw (still percent-encoded) path, e.g. ``/2015-03-31/functions/f%3A1``.
    path: str
    #: The raw query string without ``?``.
    query_string: str = ""
    #: Header names lower-cased; repeated headers joined with ``,``.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: A body still arriving (``cloudlet.edge.body.IncomingBody``, an async iterator of
    #: chunks) for the operations that stream uploads; when set, ``body`` is empty.
    stream: Any = None

    def query_items(self) -> list[tuple[str, str]]:
        """Decoded query parameters in order (repeats kept)."""
        return parse_qsl(self.query_string, keep_blank_values=True)


@dataclass
class HttpResponse:
    """An HTTP response ready to be written by the edge."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: A body too large to hold in memory: chunks read lazily (blocking reads; the edge
    #: runs them in a thread) with ``len()`` the total.  When set, ``body`` is empty.
    stream: Any = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


class Protocol:
    """Base class: one subclass per wire protocol, registered in ``protocols.PROTOCOLS``."""

    name: str = ""

    def __init__(self, service_model: ServiceModel) -> None:
        self.service_model = service_model

    def parse(self, request: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        raise NotImplementedError

    def serialize(self, operation: OperationModel, result: Mapping[str, Any], request_id: str) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(
        self, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> HttpResponse:
        raise NotImplementedError
