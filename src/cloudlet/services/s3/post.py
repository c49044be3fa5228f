"""Browser uploads: ``POST /{bucket}`` with a ``multipart/form-data`` form and a signed POST policy.

This is the one S3 operation botocore's model lacks (boto3 only *generates*
the form, with ``generate_presigned_post``), so it does not go through the
protocol layer: the edge hands the raw ``HttpRequest`` to
``S3Provider.post_object`` and sends back the ``HttpResponse`` it returns.

The pipeline, in the order S3 applies it (AWS developer guide "POST Object",
"POST Policy", "Authenticating requests in browser-based uploads"; the answers
S3 gives where the guide is silent were taken from recordings of real S3):

1. the body must be ``multipart/form-data`` (else 412 ``PreconditionFailed``)
   and well formed (else 400 ``MalformedPOSTRequest``); the part named
   ``file`` is the object and everything after it is ignored; field names are
   case-insensitive;
2. required fields (``key``, and the signature fields of SigV4 or SigV2) →
   400 ``InvalidArgument`` "Bucket POST must contain a field named …";
3. the signature over the base64 policy *as sent* — SigV4: hex
   HMAC-SHA256 under the ``s3`` signing key of the credential scope; SigV2:
   base64 HMAC-SHA1 under the secret — before the policy is decoded; a form
   without signature fields is anonymous and needs a bucket policy that lets
   anyone ``s3:PutObject``;
4. the policy: ``expiration`` (403 "Policy expired."), then each condition in
   order (``eq`` / simple object, ``starts-with``, ``content-length-range``;
   names case-insensitive, values case-sensitive, ``key`` after
   ``${filename}`` expansion), then the coverage rule: every field except
   ``file``, ``policy``, the signature and ``x-ignore-*`` must be named by a
   condition ("Extra input fields");
5. the object is written through the provider's normal write path (so
   ``s3:ObjectCreated:Post`` notifications fire), with ``Content-Type``, the
   other REST headers, ``x-amz-meta-*``, ``tagging`` and checksums taken from
   the form (S3 would also store its default full-object CRC64NVME when the
   form names no checksum; Cloudlet computes none by default, for uploads of
   every kind — see docs/differences.md);
6. the answer: 303 to ``success_action_redirect`` (with ``bucket``, ``key``
   and ``etag`` appended), else ``success_action_status`` 200, 201 (a
   ``PostResponse`` document) or 204 (the default).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import time
import xml.etree.ElementTree as ET
from calendar import timegm
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit
from xml.sax.saxutils import escape

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.services.s3 import errors
from cloudlet.services.s3.checksums import ALGORITHMS
from cloudlet.services.s3.form import Form, read_form
from cloudlet.services.s3.objects import (
    ObjectsMixin,
    check_key,
    check_tags,
    content_md5,
    content_meta,
    requested_checksums,
    verify,
)

if TYPE_CHECKING:
    from cloudlet.edge.credentials import Credential

MAX_POST_OBJECT = 5 * 1024**3
#: Fields the coverage rule exempts (besides ``x-ignore-*``).
_UNCOVERED = frozenset({"file", "policy", "x-amz-signature", "signature", "awsaccesskeyid"})
#: Form field → PutObject parameter for the REST headers a form may set.
_REST_FIELDS = {
    "cache-control": "CacheControl", "content-type": "ContentType", "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding", "content-language": "ContentLanguage",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation", "x-amz-storage-class": "StorageClass",
    "content-md5": "ContentMD5", "x-amz-checksum-algorithm": "ChecksumAlgorithm",
}
_EXPIRATION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?Z$")
_CREDENTIAL = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")


class KeyStore(Protocol):
    """What post needs from ``cloudlet.edge.credentials.CredentialStore``."""

    default_account_id: str

    def get(self, access_key_id: str) -> Credential | None: ...


# -- the form ----------------------------------------------------------------------


def _missing(name: str) -> ServiceError:
    return errors.invalid_argument(f"Bucket POST must contain a field named '{name}'.  If it is specified, "
                                   "please check the order of the fields.", name, "")


# -- the signature -------------------------------------------------------------------


@dataclass
class Signer:
    """Who signed the form: the credential, and the region its scope names (SigV4)."""

    credential: Credential | None
    region: str | None = None


def check_signature(form: Form, keys: KeyStore) -> Signer:
    """Verify the SigV4 or SigV2 signature of ``form``; a form with neither is anonymous."""
    if any(form.get(n) is not None for n in ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")):
        return _sigv4(form, keys)
    if form.get("awsaccesskeyid") is not None or form.get("signature") is not None:
        return _sigv2(form, keys)
    return Signer(None)


def _sigv4(form: Form, keys: KeyStore) -> Signer:
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy"):
        if form.get(name.lower()) is None:
            raise _missing(name)
    algorithm, credential_text = form.get("x-amz-algorithm") or "", form.get("x-amz-credential") or ""
    if algorithm != "AWS4-HMAC-SHA256":
        raise errors.invalid_argument('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', "X-Amz-Algorithm",
                                      algorithm)
    scope = _CREDENTIAL.match(credential_text)
    if scope is None or scope.group(4) != "s3":
        raise errors.invalid_argument('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/'
                                      'SERVICE/aws4_request".', "X-Amz-Credential", credential_text)
    access_key, date, region, _ = scope.groups()
    credential = _known(keys, access_key)
    policy_text = form.get("policy") or ""
    key = b"AWS4" + credential.secret_access_key.encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, policy_text.encode(), hashlib.sha256).hexdigest()
    _compare(expected, form.get("x-amz-signature") or "", access_key, policy_text)
    return Signer(credential, region)


def _sigv2(form: Form, keys: KeyStore) -> Signer:
    for name in ("AWSAccessKeyId", "Signature", "Policy"):
        if form.get(name.lower()) is None:
            raise _missing(name)
    access_key, policy_text = form.get("awsaccesskeyid") or "", form.get("policy") or ""
    credential = _known(keys, access_key)
    digest = hmac.new(credential.secret_access_key.encode(), policy_text.encode(), hashlib.sha1).digest()
    _compare(base64.b64encode(digest).decode(), form.get("signature") or "", access_key, policy_text)
    return Signer(credential)


def _known(keys: KeyStore, access_key: str) -> Credential:
    credential = keys.get(access_key)
    if credential is None:
        raise ServiceError("The AWS Access Key Id you provided does not exist in our records.",
                           code="InvalidAccessKeyId", status=403, fields={"AWSAccessKeyId": access_key})
    return credential


def _compare(expected: str, provided: str, access_key: str, policy_text: str) -> None:
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise ServiceError(
            "The request signature we calculated does not match the signature you provided. Check your key and "
            "signing method.", code="SignatureDoesNotMatch", status=403,
            fields={"AWSAccessKeyId": access_key, "StringToSign": policy_text, "SignatureProvided": provided,
                    "StringToSignBytes": " ".join(f"{b:02x}" for b in policy_text.encode())})


# -- the policy ----------------------------------------------------------------------


def _invalid_policy(detail: str) -> ServiceError:
    return ServiceError(f"Invalid Policy: {detail}", code="InvalidPolicyDocument", status=400)


def _denied(detail: str) -> ServiceError:
    return ServiceError(f"Invalid according to Policy: {detail}", code="AccessDenied", status=403)


def decode_policy(text: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid_policy("invalid Base64 encoding.") from None
    try:
        document = json.loads(raw, parse_float=_no_float)
    except (ValueError, UnicodeDecodeError):
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid_policy("Policy missing expiration.")
    if "conditions" not in document:
        raise _invalid_policy("Policy missing conditions.")
    if not isinstance(document["conditions"], list):
        raise _invalid_policy("Invalid 'conditions' value: must be a List.")
    return document


def _no_float(text: str) -> float:
    raise ValueError(f"float {text}")  # S3 refuses fractional numbers as "Invalid JSON."


def check_expiration(document: Mapping[str, Any], now: float) -> None:
    value = document["expiration"]
    found = _EXPIRATION.match(value) if isinstance(value, str) else None
    if found is None:
        raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")
    if timegm(tuple(int(g) for g in found.groups())) <= now:
        raise _denied("Policy expired.")


def check_conditions(document: Mapping[str, Any], values: Mapping[str, str], size: int | None) -> set[str]:
    """Apply every condition in order; returns the (lower-case) field names they cover.

    ``values`` holds the form's fields by lower-case name, ``bucket`` and the expanded ``key`` included.
    ``content-length-range`` is checked only when ``size`` is given.
    """
    covered: set[str] = set()
    for condition in document["conditions"]:
        if isinstance(condition, dict):
            if len(condition) != 1:
                raise _invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                                      "specified.")
            ((name, expected),) = condition.items()
            if not isinstance(expected, str):
                raise _invalid_policy("Invalid Simple-Condition: value must be a string.")
            covered.add(name.lower())
            if values.get(name.lower()) != expected:
                raise _failed(["eq", f"${name}", expected])
        elif isinstance(condition, list):
            _check_list(condition, values, size, covered)
        else:
            raise _invalid_policy("Invalid condition test: must be a List or Object.")
    return covered


def _check_list(condition: list[Any], values: Mapping[str, str], size: int | None,
                covered: set[str]) -> None:
    if not condition or not isinstance(condition[0], str):
        raise _invalid_policy("Invalid Condition: missing operation identifier.")
    operation = condition[0].lower()
    if operation not in ("eq", "starts-with", "content-length-range"):
        raise _invalid_policy(f"Invalid Condition: unknown operation '{condition[0]}'.")
    if len(condition) != 3:
        raise _invalid_policy(f"Invalid {condition[0]}: wrong number of arguments.")
    if operation == "content-length-range":
        try:
            low, high = int(condition[1]), int(condition[2])
        except (TypeError, ValueError):
            raise _failed(condition) from None
        if size is None:
            return
        if size > high:
            raise ServiceError("Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge",
                               status=400, fields={"ProposedSize": str(size), "MaxSizeAllowed": str(high)})
        if size < low:
            raise ServiceError("Your proposed upload is smaller than the minimum allowed size",
                               code="EntityTooSmall", status=400,
                               fields={"ProposedSize": str(size), "MinSizeAllowed": str(low)})
        return
    target, expected = condition[1], condition[2]
    if not isinstance(target, str) or not isinstance(expected, str) or not target.startswith("$"):
        raise _failed(condition)
    name = target[1:].lower()
    covered.add(name)
    actual = values.get(name)
    if actual is None:
        raise _failed(condition)
    if operation == "eq":
        ok = actual == expected
    elif name == "content-type":  # a list: every member must match
        ok = all(member.strip().startswith(expected) for member in actual.split(","))
    else:
        ok = actual.startswith(expected)
    if not ok:
        raise _failed(condition)


def _failed(condition: list[Any]) -> ServiceError:
    return _denied(f"Policy Condition failed: {json.dumps(condition, ensure_ascii=False)}")


def check_coverage(form: Form, covered: set[str]) -> None:
    for lower, (name, _) in form.fields.items():
        if lower not in covered and lower not in _UNCOVERED and not lower.startswith("x-ignore-"):
            raise _denied(f"Extra input fields: {name}")


# -- the operation ---------------------------------------------------------------------


class PostObjectMixin(ObjectsMixin):
    """``post_object``: the edge calls it for ``POST /{bucket}`` with a form body."""

    #: The edge's access keys (``CredentialStore``); set by the provider.
    credentials: KeyStore

    async def post_object(self, request: HttpRequest, request_id: str) -> HttpResponse:
        bucket_name, virtual_host = _bucket_of(request)
        try:
            response = await self._post(request, request_id, bucket_name, virtual_host)
        except ServiceError as error:
            response = _error_response(error, request_id)
        if request.headers.get("origin") and bucket_name:
            response.headers.extend(await self.cors_headers(bucket_name, "POST", request.headers))
        return response

    if TYPE_CHECKING:  # provided by the CORS mixin of the assembled provider

        async def cors_headers(self, bucket: str, method: str,
                               headers: Mapping[str, str]) -> list[tuple[str, str]]: ...

    async def _post(self, request: HttpRequest, request_id: str, bucket_name: str,
                    virtual_host: bool) -> HttpResponse:
        form = await read_form(request.headers.get("content-type", ""), _body_chunks(request))
        if form.file is None:
            raise errors.invalid_argument("POST requires exactly one file upload per request.", "file", "0")
        key = form.get("key")
        if not key:
            raise _missing("key")
        if form.filename is not None:
            key = key.replace("${filename}", re.split(r"[/\\]", form.filename)[-1])
        signer = check_signature(form, self.credentials)
        document: dict[str, Any] | None = None
        values = {lower: value for lower, (_, value) in form.fields.items()}
        values.update(bucket=bucket_name, key=key)
        if form.get("policy") is not None and signer.credential is not None:
            document = decode_policy(form.get("policy") or "")
            check_expiration(document, time.time())
            check_coverage(form, check_conditions(document, values, None))  # the size is known once stored
        credential = signer.credential
        ctx = RequestContext(
            request_id=request_id, service="s3", operation="PutObject",
            region=signer.region or self.default_region,
            account_id=credential.account_id if credential else self.credentials.default_account_id,
            access_key_id=credential.access_key_id if credential else None,
            endpoint=f"http://{request.headers.get('host', '')}", headers=request.headers,
        )
        bucket = await self.authorize(ctx, bucket_name, key)
        if signer.region is not None and signer.region != bucket.region:
            raise ServiceError(f"the region '{signer.region}' is wrong; expecting '{bucket.region}'",
                               code="InvalidArgument", status=400,
                               fields={"ArgumentName": "X-Amz-Credential",
                                       "ArgumentValue": form.get("x-amz-credential"), "Region": bucket.region})
        check_key(key)
        params = _put_params(form)
        algorithms, sent = requested_checksums(params)
        md5 = content_md5(params)
        meta = content_meta(params)
        tags = _tagging(form.get("tagging"))
        blob, hasher = await self.store_body(form.file, algorithms)
        try:
            if document is not None:
                check_conditions(document, values, hasher.size)  # content-length-range
            if hasher.size > MAX_POST_OBJECT:
                raise errors.entity_too_large(hasher.size, MAX_POST_OBJECT)
            verify(hasher, md5, sent)
        except ServiceError:
            await self.in_thread(self.files.delete, [blob])
            raise
        meta["Checksums"] = hasher.checksums()
        obj = await self.write_object(ctx, bucket, key, blob, hasher, meta, tags, "ObjectCreated:Post", {})
        base = f"http://{request.headers.get('host', '')}" + ("" if virtual_host else f"/{bucket.name}")
        location = f"{base}/{quote(key, safe='')}"
        headers = [("ETag", obj.etag), ("Location", location), ("x-amz-server-side-encryption", "AES256"),
                   *_id_headers(request_id)]
        if bucket.versioning is not None:
            headers.append(("x-amz-version-id", obj.version_id))
        for name, value in meta["Checksums"].items():
            headers.append((f"x-amz-checksum-{name.lower()}", value))
        if meta["Checksums"]:
            headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
        return _success(form, headers, bucket.name, key, obj.etag, location)


def _body_chunks(request: HttpRequest) -> AsyncIterator[bytes]:
    """The request body as chunks: the edge's stream of a large form, or its bytes."""
    if request.stream is not None:
        return aiter(request.stream)

    async def whole() -> AsyncIterator[bytes]:
        yield request.body

    return whole()


def _bucket_of(request: HttpRequest) -> tuple[str, bool]:
    """(bucket, addressed by host name?) — ``POST /bucket`` or ``POST /`` to ``bucket.s3.localhost``."""
    path = request.path.split("?", 1)[0].strip("/")
    if path:
        return path.split("/", 1)[0], False
    host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
    for suffix in (".s3.localhost", ".localhost", ".s3.amazonaws.com"):
        if host.endswith(suffix) and host[: -len(suffix)] not in ("", "s3"):
            return host[: -len(suffix)], True
    return "", False


def _put_params(form: Form) -> dict[str, Any]:
    """PutObject's parameters from the form's fields."""
    params: dict[str, Any] = {member: form.get(name) for name, member in _REST_FIELDS.items()
                              if form.get(name) is not None}
    for name, member in ALGORITHMS.items():
        value = form.get(f"x-amz-checksum-{name.lower()}")
        if value is not None:
            params[member] = value
    params["Metadata"] = {lower[len("x-amz-meta-"):]: value for lower, (_, value) in form.fields.items()
                          if lower.startswith("x-amz-meta-")}
    expires = form.get("expires")
    if expires:  # an unparsable date is dropped rather than failing the upload
        with contextlib.suppress(TypeError, ValueError):
            params["Expires"] = parsedate_to_datetime(expires)
    return params


def _tagging(text: str | None) -> dict[str, str]:
    """The ``tagging`` field: a ``<Tagging><TagSet><Tag>`` document."""
    if not text:
        return {}
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise errors.malformed_xml() from None
    tags = {}
    for tag in root.iter():
        if tag.tag.rsplit("}", 1)[-1] == "Tag":
            found = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in tag}
            if "Key" in found:
                tags[found["Key"]] = found.get("Value", "")
    check_tags(tags)
    return tags


def _success(form: Form, headers: list[tuple[str, str]], bucket: str, key: str, etag: str,
             location: str) -> HttpResponse:
    redirect = form.get("success_action_redirect") or form.get("redirect")
    if redirect and urlsplit(redirect).scheme in ("http", "https") and urlsplit(redirect).netloc:
        query = urlencode({"bucket": bucket, "key": key, "etag": etag})
        target = f"{redirect}{'&' if '?' in redirect else '?'}{query}"
        return HttpResponse(303, _replace_location(headers, target))
    status = form.get("success_action_status")
    if status == "200":
        return HttpResponse(200, headers)
    if status == "201":
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
                f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>")
        return HttpResponse(201, [*headers, ("Content-Type", "application/xml")], body.encode())
    return HttpResponse(204, headers)


def _replace_location(headers: list[tuple[str, str]], target: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k != "Location"] + [("Location", target)]


def _id_headers(request_id: str) -> list[tuple[str, str]]:
    return [("x-amz-request-id", request_id),
            ("x-amz-id-2", base64.b64encode(hashlib.sha384(request_id.encode()).digest()).decode())]


def _error_response(error: ServiceError, request_id: str) -> HttpResponse:
    """The S3 XML error document (the protocol layer's shape, which POST does not pass through)."""
    extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in error.fields.items())
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId><HostId>{_id_headers(request_id)[1][1]}</HostId></Error>")
    headers = [("Content-Type", "application/xml"), *_id_headers(request_id),
               *((k, v) for k, v in error.headers.items())]
    return HttpResponse(error.status, headers, body.encode())
