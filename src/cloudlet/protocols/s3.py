"""S3's own flavour of ``rest-xml``.

What S3 does differently from the generic protocol in :mod:`cloudlet.protocols.rest_xml`:

* **Addressing.**  Besides path style (``/bucket/key``, what botocore uses with a
  custom ``endpoint_url``) S3 accepts virtual-hosted style, where the bucket is
  the first labels of the host: ``bucket.s3.localhost:4566``,
  ``bucket.localhost:4566``, ``bucket.s3.us-east-1.amazonaws.com``.
  :meth:`S3Protocol.prepare` rewrites those to path style before routing.  The
  one operation whose host carries something else (``WriteGetObjectResponse``,
  host prefix ``{RequestRoute}.``) is recognised by its ``x-amz-request-route``
  header and left alone.
* **Errors.**  The body is ``<Error><Code/><Message/>…<RequestId/><HostId/></Error>``
  with the error's extra fields (``BucketName``, ``Key``, ``Condition`` …) as
  siblings of ``Code``; every response carries ``x-amz-request-id`` and
  ``x-amz-id-2``.  Responses to ``HEAD`` (and ``304 Not Modified``) have no
  body, so clients see only the status (botocore reports code ``"404"``).
* **Documents.**  Output roots carry S3's names (``ListBucketResult``,
  ``ListAllMyBucketsResult`` …) and namespace; ``GetBucketLocation`` answers
  the bare ``<LocationConstraint>`` botocore's custom handler reads.
* **Codes.**  A body that is not well-formed, or breaks the model (a missing
  required element, a value out of range), is ``MalformedXML``; a parameter
  that does not parse is ``InvalidArgument``; a request no operation matches is
  ``MethodNotAllowed``; the generic server fault is ``InternalError``.

Checksum and ``Content-MD5`` headers are modelled members and arrive in the
params like any header; ``encoding-type=url`` is just the ``EncodingType`` param.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botocore.model import OperationModel, Shape

from cloudlet.errors import ServiceError, ValidationError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.protocols.rest_xml import XML_DECLARATION, RestXmlProtocol, XmlWriter
from cloudlet.protocols.validate import validate_params

__all__ = ["S3_NAMESPACE", "S3Protocol", "bucket_from_host", "host_id"]

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

#: Root element names S3 uses for outputs without a payload member.
OUTPUT_ROOTS: dict[str, str] = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
    "ListBucketIntelligentTieringConfigurations": "ListBucketIntelligentTieringConfigurationsOutput",
    "CreateSession": "CreateSessionResult",
}

#: Hosts that address S3 itself (no bucket in the name).
_AWS_HOST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$")
#: Statuses whose responses never carry a body.
_BODYLESS = frozenset({204, 304})


def host_id(request_id: str) -> str:
    """An ``x-amz-id-2`` value derived from the request id (stable, opaque, S3-looking)."""
    return base64.b64encode(hashlib.sha384(request_id.encode()).digest()).decode()


@functools.lru_cache(maxsize=1024)
def bucket_from_host(host: str) -> str | None:
    """The bucket a virtual-hosted-style ``Host`` header names, or None for path style.

    Cached: a server sees few distinct ``Host`` values, and parsing one costs more than the look-up.
    """
    name = host.strip().lower()
    if name.startswith("["):  # IPv6 literal
        return None
    name = name.rsplit(":", 1)[0] if ":" in name else name
    name = name.rstrip(".")
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        pass
    if name.endswith(".localhost"):
        rest = name[: -len(".localhost")]
        if rest.endswith(".s3"):
            rest = rest[: -len(".s3")]
        return rest if rest and rest != "s3" else None
    found = _AWS_HOST.match(name)
    return found.group("bucket") if found else None


class S3Protocol(RestXmlProtocol):
    name = "rest-xml"
    request_id_header = "x-amz-request-id"
    #: What S3 answers for an object stored without a Content-Type.
    blob_content_type = "binary/octet-stream"

    @property
    def xml_namespace(self) -> str | None:
        return S3_NAMESPACE

    # -- request side ---------------------------------------------------------

    def prepare(self, request: HttpRequest) -> HttpRequest:
        bucket = bucket_from_host(request.headers.get("host", ""))
        if bucket is None:
            return request
        route = request.headers.get("x-amz-request-route")
        if route is not None and route.lower() == bucket:
            return request  # WriteGetObjectResponse: the host prefix is the route token
        path, sep, query = request.path.partition("?")
        rewritten = f"/{bucket}" if path in ("", "/") else f"/{bucket}{path}"
        return replace(request, path=rewritten + sep + query)

    def malformed_message(self, detail: str) -> str:
        return "The XML you provided was not well-formed or did not validate against our published schema"

    def validate(self, shape: Shape, params: dict[str, Any]) -> None:
        # A body document that breaks the model "did not validate against our
        # published schema": S3 says MalformedXML, not InvalidArgument.
        payload = shape.serialization.get("payload")
        if payload is not None and isinstance(params.get(payload), Mapping):
            try:
                validate_params(self.service_model, shape.members[payload], params[payload])
            except ValidationError as exc:
                raise self.malformed_body(self.malformed_message(exc.message)) from exc
        super().validate(shape, params)

    def bad_request(self, message: str) -> ServiceError:
        return ServiceError(message, code="InvalidArgument", status=400)

    def unknown_operation(self, request: HttpRequest) -> ServiceError:
        return ServiceError(
            "The specified method is not allowed against this resource.",
            code="MethodNotAllowed",
            status=405,
            fields={"Method": request.method, "ResourceType": "OBJECT"},
        )

    # -- response side --------------------------------------------------------

    def request_id_headers(self, request_id: str) -> list[tuple[str, str]]:
        return [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]

    def output_root_name(self, operation: OperationModel, shape: Shape) -> str:
        return OUTPUT_ROOTS.get(operation.name) or super().output_root_name(operation, shape)

    def serialize(
        self, operation: OperationModel, result: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        response = super().serialize(operation, result, request_id)
        if operation.name == "GetBucketLocation":
            # Not modelled faithfully: S3 answers a bare element, botocore reads its text.
            location = result.get("LocationConstraint")
            writer = XmlWriter()
            writer.leaf("LocationConstraint", str(location or ""), {"xmlns": S3_NAMESPACE})
            response.body = (XML_DECLARATION + writer.text()).encode()
        elif operation.name == "GetObject" and result.get("ContentRange"):
            # The model has no status member for it: a ranged read is 206 Partial Content.
            response.status = 206
        return response

    def serialize_error(
        self, operation: OperationModel | None, error: ServiceError, request_id: str
    ) -> HttpResponse:
        response = super().serialize_error(operation, error, request_id)
        method = operation.http.get("method", "") if operation is not None else ""
        if method.upper() == "HEAD" or response.status in _BODYLESS:
            response.body = b""
            response.headers = [(k, v) for k, v in response.headers if k.lower() != "content-type"]
        return response

    def write_error_body(
        self,
        operation: OperationModel | None,
        error: ServiceError,
        shape: Shape | None,
        fields: Mapping[str, Any],
        request_id: str,
        response: HttpResponse,
    ) -> None:
        writer = XmlWriter()
        writer.open("Error")
        # S3 spells the generic server fault InternalError, not InternalFailure.
        writer.leaf("Code", "InternalError" if error.code == "InternalFailure" else error.code)
        writer.leaf("Message", error.message)
        self.error_fields(writer, shape, fields)
        writer.leaf("RequestId", request_id)
        writer.leaf("HostId", host_id(request_id))
        writer.close("Error")
        response.headers.append(("Content-Type", self.content_type))
        response.body = (XML_DECLARATION + writer.text()).encode()
