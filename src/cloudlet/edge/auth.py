"""Authentication: who sent this request, and did they sign it with their secret?

``authenticate`` is one step of the edge pipeline.  It recognises, in order:

1. an ``Authorization`` header — ``AWS4-HMAC-SHA256 Credential=…`` (SigV4,
   every service) or ``AWS AKID:signature`` (SigV2, S3 only);
2. a presigned query — ``X-Amz-Algorithm=…`` (SigV4) or
   ``AWSAccessKeyId=…&Signature=…&Expires=…`` (SigV2, S3 only);
3. nothing — an anonymous caller, which only S3 admits.

Each check that fails raises the ``AuthError`` the service's own front end
answers with (``auth_errors``), so a client sees the same code as on AWS.
The order of the checks is: well-formed → known key → time (skew or expiry)
→ signature → payload hash (S3 checks the body against
``x-amz-content-sha256`` after the signature, as AWS does).

On success the ``Principal`` says which key and account made the call and the
region it signed for.  For ``aws-chunked`` S3 uploads it also carries the
``StreamingSignature`` that ``decode_streaming_body`` uses to check each
chunk while it strips the framing.  A body still streaming in (an S3 upload,
``cloudlet.edge.body``) is checked as it arrives: its payload hash and chunk
signatures fail the upload when its bytes prove bad, not before.

``signing_scope`` is the cheap read of the credential scope the router uses
to pick a service before anything is verified.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from urllib.parse import unquote

from cloudlet.edge import auth_errors as errors
from cloudlet.edge import body, sigv2, sigv4
from cloudlet.edge.auth_errors import Family, service_traits
from cloudlet.edge.credentials import Credential, CredentialStore
from cloudlet.errors import AuthError
from cloudlet.protocols.base import HttpRequest

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604_800  # seven days, in seconds
_PRESIGN_V4_PARAMS = (
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature",
)


@dataclass(frozen=True)
class SigningScope:
    """The SigV4 credential scope: ``AKID/date/region/service/aws4_request``."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str = sigv4.TERMINATOR

    @property
    def text(self) -> str:
        """The scope as it appears in the string to sign (without the key id)."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True)
class Principal:
    """Who made an authenticated (or anonymous) request."""

    #: The access key id that signed the request; ``None`` when anonymous.
    access_key_id: str | None
    #: The account the key belongs to (the store's default account when anonymous).
    account_id: str
    #: The region of the SigV4 scope; ``None`` for SigV2 and anonymous requests.
    region: str | None
    anonymous: bool = False
    #: Set for S3 ``aws-chunked`` bodies (``x-amz-content-sha256: STREAMING-…``).
    streaming: sigv4.StreamingSignature | None = None
    #: The SHA-256 a streamed body must have (checked as it arrives, see ``decode_streaming_body``).
    payload_sha256: str | None = None


# -- the credential scope, read cheaply -----------------------------------------


@functools.lru_cache(maxsize=1024)
def parse_credential(credential: str) -> SigningScope | None:
    """``AKID/20240101/us-east-1/s3/aws4_request`` → ``SigningScope``; ``None`` if it is not that shape.

    Cached: a client repeats its credential on every request of a day, and the
    router and the verifier both read it.
    """
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        return None
    return SigningScope(*parts)


def signing_scope(request: HttpRequest) -> SigningScope | None:
    """The credential scope of a SigV4 request (header or presigned), unverified; else ``None``."""
    header = request.headers.get("authorization", "")
    if header.startswith(sigv4.ALGORITHM):
        credential = _header_params(header).get("Credential")
        return parse_credential(credential) if credential else None
    query = request.query_string
    if "X-Amz-Credential=" in query:
        for item in query.split("&"):
            name, _, value = item.partition("=")
            if name == "X-Amz-Credential":
                return parse_credential(unquote(value))
    return None


def _header_params(header: str) -> Mapping[str, str]:
    """``AWS4-HMAC-SHA256 Credential=a, SignedHeaders=b, Signature=c`` → ``{"Credential": "a", …}``.

    The router (``signing_scope``) and the verifier both read the same header,
    so the last few parses are kept; the result is read-only.
    """
    return _parsed_header_params(header)


@functools.lru_cache(maxsize=64)
def _parsed_header_params(header: str) -> Mapping[str, str]:
    params: dict[str, str] = {}
    for item in header[len(sigv4.ALGORITHM) :].split(","):
        name, equals, value = item.strip().partition("=")
        if equals:
            params[name] = value.strip()
    return MappingProxyType(params)


# -- the entry point --------------------------------------------------------------


def authenticate(
    request: HttpRequest,
    store: CredentialStore,
    *,
    service: str,
    allow_anonymous: bool,
    now: datetime | None = None,
) -> Principal:
    """Verify the request's signature; raise the service's ``AuthError`` if it does not hold."""
    family, signing_name = service_traits(service)
    now = _utc(now) if now is not None else datetime.now(UTC)
    header = request.headers.get("authorization")
    query = request.query_string
    presigned_v4 = "X-Amz-" in query and _has_param(query, "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
    presigned_v2 = (
        family is Family.S3 and "Signature=" in query and _has_param(query, "AWSAccessKeyId", "Signature")
    )
    if header:
        if family is Family.S3 and (presigned_v4 or presigned_v2):
            raise _s3_invalid_argument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                "string parameter or the Authorization header should be specified",
                "Authorization", header,
            )
        if header.startswith(sigv4.ALGORITHM + " "):
            return _SigV4(request, store, family, signing_name, now).header(header)
        if family is Family.S3 and header.startswith("AWS "):
            return _sigv2_header(request, store, header, now)
        if family is Family.S3:
            raise _s3_invalid_argument("Unsupported Authorization Type", "Authorization", header)
        raise errors.incomplete(
            family,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
            "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
            f"existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={header}",
        )
    if presigned_v4:
        return _SigV4(request, store, family, signing_name, now).presigned()
    if presigned_v2:
        return _sigv2_query(request, store, now)
    if allow_anonymous:
        return Principal(None, store.default_account_id, None, anonymous=True)
    raise errors.missing(family)


def _has_param(query: str, *names: str) -> bool:
    present = {item.partition("=")[0] for item in query.split("&")}
    return any(name in present for name in names)


# -- SigV4 ------------------------------------------------------------------------


class _SigV4:
    """One SigV4 verification: the header and presigned forms share everything but the inputs."""

    def __init__(
        self, request: HttpRequest, store: CredentialStore, family: Family, signing_name: str, now: datetime
    ) -> None:
        self.request = request
        self.store = store
        self.family = family
        self.signing_name = signing_name
        self.now = now
        self.s3 = family is Family.S3
        #: Presigned (query) form rather than the Authorization header.
        self.query = False

    # -- the two forms -----------------------------------------------------------

    def header(self, header: str) -> Principal:
        params = _header_params(header)
        missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not params.get(name)]
        if missing:
            raise self._malformed(
                " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
                + f" Authorization={header}",
                s3_message="The authorization header is malformed; the authorization header requires three "
                "components: Credential, SignedHeaders, and Signature.",
            )
        scope = self._scope(params["Credential"])
        credential = self._credential(scope)
        timestamp, signed_at = self._header_time()
        self._check_scope_date(scope, timestamp)
        self._check_skew(timestamp, signed_at)
        signed_headers = params["SignedHeaders"].split(";")
        claimed = self.request.headers.get("x-amz-content-sha256")
        payload = self._claimed_payload_hash(claimed) if claimed is not None else self._body_hash()
        key = self._verify(credential, scope, timestamp, signed_headers, payload, params["Signature"])
        streaming = None
        if payload in sigv4.SPECIAL_PAYLOAD_HASHES:
            if payload != sigv4.UNSIGNED_PAYLOAD:
                streaming = sigv4.StreamingSignature(payload, key, timestamp, scope.text, params["Signature"])
        elif claimed is not None:
            return self._checked(credential, scope, payload)
        return Principal(credential.access_key_id, credential.account_id, scope.region, streaming=streaming)

    def presigned(self) -> Principal:
        self.query = True
        params = dict(sigv2.query_pairs(self.request.query_string))
        required = (*_PRESIGN_V4_PARAMS, "X-Amz-Expires") if self.s3 else _PRESIGN_V4_PARAMS
        if not all(params.get(name) for name in required):
            raise self._malformed(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
            )
        if params["X-Amz-Algorithm"] != sigv4.ALGORITHM:
            raise self._malformed(f'X-Amz-Algorithm only supports "{sigv4.ALGORITHM}"')
        scope = self._scope(params["X-Amz-Credential"])
        credential = self._credential(scope)
        timestamp = params["X-Amz-Date"]
        signed_at = _parse_amz_date(timestamp)
        if signed_at is None:
            raise self._malformed(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        self._check_scope_date(scope, timestamp)
        self._check_expiry(params.get("X-Amz-Expires"), timestamp, signed_at)
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
        headers = self.request.headers
        claimed = headers.get("x-amz-content-sha256") if "x-amz-content-sha256" in signed_headers else None
        if claimed is not None:
            payload = claimed
        elif self.s3:
            payload = sigv4.UNSIGNED_PAYLOAD
        else:
            payload = sigv4.sha256_hex(self.request.body)
        self._verify(credential, scope, timestamp, signed_headers, payload, params["X-Amz-Signature"])
        if claimed is not None and _is_sha256_hex(claimed):
            return self._checked(credential, scope, claimed)
        return Principal(credential.access_key_id, credential.account_id, scope.region)

    # -- shared steps --------------------------------------------------------------

    def _scope(self, text: str) -> SigningScope:
        """Parse and check the credential scope.

        A scope of the wrong shape is malformed; a well-formed scope for the
        wrong terminator or service is, outside S3, a signature error (as AWS
        answers "Credential should be scoped to correct service").
        """
        scope = parse_credential(text)
        if scope is None:
            raise self._malformed(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
                f"got '{text}'",
                s3_message=self._s3_scope_message(
                    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
                ),
            )
        if scope.terminator != sigv4.TERMINATOR:
            self._wrong_scope(
                f"Credential should be scoped with a valid terminator: '{sigv4.TERMINATOR}', not "
                f"'{scope.terminator}'.",
                f'incorrect terminal "{scope.terminator}". This endpoint uses "{sigv4.TERMINATOR}".',
            )
        if scope.service != self.signing_name:
            self._wrong_scope(
                f"Credential should be scoped to correct service: '{self.signing_name}'. ",
                f'incorrect service "{scope.service}". This endpoint belongs to "{self.signing_name}".',
            )
        return scope

    def _wrong_scope(self, message: str, s3_detail: str) -> None:
        if self.s3:
            raise self._malformed(s3_detail, s3_message=self._s3_scope_message(s3_detail))
        raise errors.bad_signature(self.family, message)

    def _s3_scope_message(self, detail: str) -> str:
        """S3 names the part of the request the bad credential came from."""
        if self.query:
            return f"Error parsing the X-Amz-Credential parameter; {detail}"
        return f"The authorization header is malformed; {detail}"

    def _credential(self, scope: SigningScope) -> Credential:
        credential = self.store.get(scope.access_key_id)
        if credential is None:
            raise errors.unknown_key(self.family, scope.access_key_id)
        return credential

    def _header_time(self) -> tuple[str, datetime]:
        """The timestamp of the string to sign (``x-amz-date``, else ``Date``) and its instant."""
        headers = self.request.headers
        amz_date = headers.get("x-amz-date")
        signed_at: datetime | None
        if amz_date is not None:
            signed_at = _parse_amz_date(amz_date)
        else:
            signed_at = _parse_http_date(headers.get("date"))
        if signed_at is None:
            if self.s3:
                raise errors.bad_signature(self.family, "AWS authentication requires a valid Date or x-amz-date header")
            raise errors.incomplete(
                self.family,
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
                f"Authorization={headers.get('authorization', '')}",
            )
        return amz_date or _amz_date(signed_at), signed_at

    def _check_scope_date(self, scope: SigningScope, timestamp: str) -> None:
        if scope.date == timestamp[:8]:
            return
        if self.s3:
            detail = "Invalid credential date. Date is not the same as X-Amz-Date."
            raise self._malformed(detail, s3_message=self._s3_scope_message(detail))
        raise errors.bad_signature(
            self.family,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{timestamp[:8]}', from '{timestamp}'.",
        )

    def _check_skew(self, timestamp: str, signed_at: datetime) -> None:
        if abs(self.now - signed_at) <= MAX_SKEW:
            return
        now = _amz_date(self.now)
        if signed_at < self.now:
            message = (
                f"Signature expired: {timestamp} is now earlier than {_amz_date(self.now - MAX_SKEW)} "
                f"({now} - 15 min.)"
            )
        else:
            message = (
                f"Signature not yet current: {timestamp} is still later than {_amz_date(self.now + MAX_SKEW)} "
                f"({now} + 15 min.)"
            )
        raise errors.skewed(
            self.family, request_time=timestamp, message=message, server_time=_iso(self.now),
        )

    def _check_expiry(self, expires_text: str | None, timestamp: str, signed_at: datetime) -> None:
        if expires_text is None:  # optional outside S3: then only the skew rule applies
            self._check_skew(timestamp, signed_at)
            return
        try:
            expires = int(expires_text)
        except ValueError:
            raise self._malformed("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise self._malformed("X-Amz-Expires must be non-negative")
        if expires == 0:
            raise self._malformed("X-Amz-Expires must be at least 1 second")
        if expires > MAX_PRESIGN_EXPIRES:
            raise self._malformed(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}"
            )
        if signed_at - self.now > MAX_SKEW:
            raise errors.bad_signature(
                self.family,
                "Request is not yet valid" if self.s3 else
                f"Signature not yet current: {timestamp} is still later than "
                f"{_amz_date(self.now + MAX_SKEW)} ({_amz_date(self.now)} + 15 min.)",
            )
        expiry = signed_at + timedelta(seconds=expires)
        if self.now > expiry:
            raise errors.bad_signature(
                self.family,
                "Request has expired" if self.s3 else
                f"Signature expired: {_amz_date(expiry)} is now earlier than {_amz_date(self.now)}",
                fields={"X-Amz-Expires": str(expires), "Expires": _iso(expiry), "ServerTime": _iso(self.now)},
            )

    def _body_hash(self) -> str:
        """No ``x-amz-content-sha256``: S3 requires one, other services hash the body themselves."""
        if self.s3:
            raise errors.incomplete(
                self.family, "Missing required header for this request: x-amz-content-sha256",
                s3_code="InvalidRequest",
            )
        return sigv4.sha256_hex(self.request.body)

    def _claimed_payload_hash(self, value: str) -> str:
        """The ``x-amz-content-sha256`` a client sent: a hex digest or, for S3, one of the special values."""
        if value in sigv4.SPECIAL_PAYLOAD_HASHES:
            if not self.s3 and value != sigv4.UNSIGNED_PAYLOAD:
                raise errors.incomplete(self.family, f"Unsupported x-amz-content-sha256 value: {value}")
            return value
        if not _is_sha256_hex(value):
            if self.s3:
                raise _s3_invalid_argument(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                    "or a valid sha256 value.",
                    "x-amz-content-sha256", value,
                )
            raise errors.incomplete(self.family, f"Invalid x-amz-content-sha256 value: {value}")
        return value

    def _checked(self, credential: Credential, scope: SigningScope, claimed: str) -> Principal:
        """The principal of a request whose body must hash to ``claimed``: checked now, or
        as it streams in (``payload_sha256``) when it is still arriving."""
        principal = Principal(credential.access_key_id, credential.account_id, scope.region)
        if self.request.stream is not None:
            return dataclasses.replace(principal, payload_sha256=claimed)
        self._check_body(claimed)
        return principal

    def _check_body(self, claimed: str) -> None:
        actual = sigv4.sha256_hex(self.request.body)
        if hmac.compare_digest(actual, claimed.lower()):
            return
        if self.s3:
            raise AuthError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code="XAmzContentSHA256Mismatch", status=400,
                fields={"ClientComputedContentSHA256": claimed, "S3ComputedContentSHA256": actual},
            )
        raise errors.bad_signature(
            self.family, "The provided 'x-amz-content-sha256' header does not match what was computed."
        )

    def _verify(
        self,
        credential: Credential,
        scope: SigningScope,
        timestamp: str,
        signed_headers: list[str],
        payload: str,
        provided: str,
    ) -> bytes:
        """Rebuild what the client signed; return the signing key if the signature matches."""
        request = self.request
        exclude = "X-Amz-Signature" if self.query else None
        raw_query = sigv4.wire_text(request.query_string)
        uri = sigv4.canonical_uri(sigv4.wire_text(request.path), normalize=not self.s3)
        key = sigv4.signing_key(credential.secret_access_key, scope.date, scope.region, scope.service)

        def attempt(query: str) -> tuple[bool, str, str]:
            canonical = sigv4.canonical_request(request.method, uri, query, request.headers, signed_headers, payload)
            to_sign = sigv4.string_to_sign(timestamp, scope.text, canonical)
            return sigv4.signatures_match(sigv4.signature(key, to_sign), provided), canonical, to_sign

        query = sigv4.canonical_query(raw_query, exclude=exclude)
        matched, canonical, to_sign = attempt(query)
        if matched:
            return key
        as_written = sigv4.raw_canonical_query(raw_query, exclude=exclude)
        if as_written != query and attempt(as_written)[0]:  # a hand-made URL, signed as written
            return key
        raise errors.signature_mismatch(
            self.family,
            access_key_id=credential.access_key_id,
            provided=provided,
            string_to_sign=to_sign,
            canonical_request=canonical,
        )

    # -- malformed input -----------------------------------------------------------

    def _malformed(self, message: str, *, s3_message: str | None = None) -> AuthError:
        """Malformed auth information: S3 names the header or the query form, others answer alike."""
        if not self.s3:
            return errors.incomplete(self.family, message)
        if self.query:
            return errors.incomplete(
                self.family, s3_message or message, s3_code="AuthorizationQueryParametersError"
            )
        return errors.incomplete(self.family, s3_message or f"The authorization header is malformed; {message}")


# -- aws-chunked bodies --------------------------------------------------------------------


def decode_streaming_body(request: HttpRequest, principal: Principal) -> HttpRequest:
    """``request`` with its body ready for the provider.

    An ``aws-chunked`` body (S3 uploads signed ``STREAMING-…``) is decoded:
    every chunk signature (and the trailer signature) is checked against the
    seed signature; trailing headers (``x-amz-checksum-*``) join the headers,
    or — for a body still streaming in — the stream's ``trailers``;
    ``aws-chunked`` leaves ``Content-Encoding``.  A streamed body also gets
    its payload-hash check.  Raises S3's ``SignatureDoesNotMatch`` for a bad
    chunk signature and ``IncompleteBody`` for broken framing.
    """
    streaming = principal.streaming
    stream = request.stream
    if stream is not None and principal.payload_sha256 is not None:
        stream = body.checked_sha256(stream, principal.payload_sha256)
    if streaming is None:
        return request if stream is request.stream else dataclasses.replace(request, stream=stream)
    declared_text = request.headers.get("x-amz-decoded-content-length")
    try:
        declared = int(declared_text) if declared_text is not None else None
    except ValueError:
        raise body.incomplete_body() from None
    headers = dict(request.headers)
    data = b""
    if stream is not None:
        stream = body.decoded_chunks(stream, streaming, declared)
    else:
        try:
            decoded = sigv4.decode_aws_chunked(request.body, streaming)
        except sigv4.ChunkedBodyError as error:
            raise body.chunked_error(error) from None
        if declared is not None and declared != len(decoded.data):
            raise body.incomplete_body()
        headers.update(decoded.trailers)
        data = decoded.data
    encodings = [e for e in headers.get("content-encoding", "").split(",") if e.strip() not in ("", "aws-chunked")]
    if encodings:
        headers["content-encoding"] = ",".join(e.strip() for e in encodings)
    else:
        headers.pop("content-encoding", None)
    if stream is None:
        headers["content-length"] = str(len(data))
    elif declared is not None:
        headers["content-length"] = str(declared)
    return HttpRequest(request.method, request.path, request.query_string, headers, data, stream)


# -- SigV2 (S3 only) ----------------------------------------------------------------


def _sigv2_query(request: HttpRequest, store: CredentialStore, now: datetime) -> Principal:
    pairs = sigv2.query_pairs(request.query_string)
    params = dict(pairs)
    access_key_id, provided, expires_text = (params.get(n) for n in ("AWSAccessKeyId", "Signature", "Expires"))
    if not (access_key_id and provided and expires_text):
        raise errors.bad_signature(
            Family.S3, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        )
    credential = _v2_credential(store, access_key_id)
    try:
        expires = datetime.fromtimestamp(int(expires_text), UTC)
    except (ValueError, OverflowError, OSError):
        raise errors.bad_signature(Family.S3, f"Invalid date (should be seconds since epoch): {expires_text}") from None
    if now > expires:
        raise errors.bad_signature(
            Family.S3, "Request has expired", fields={"Expires": _iso(expires), "ServerTime": _iso(now)}
        )
    resource = _v2_resource(request)
    to_sign = sigv2.string_to_sign(request.method, _v2_headers(request), pairs, expires_text, resource)
    _v2_verify(credential, to_sign, provided)
    return Principal(credential.access_key_id, credential.account_id, None)


def _sigv2_header(request: HttpRequest, store: CredentialStore, header: str, now: datetime) -> Principal:
    access_key_id, colon, provided = header[len("AWS ") :].strip().rpartition(":")
    if not (colon and access_key_id and provided):
        raise _s3_invalid_argument("Authorization header is invalid -- one and only one ' ' (space) required",
                                   "Authorization", header)
    credential = _v2_credential(store, access_key_id)
    headers = request.headers
    amz_date = headers.get("x-amz-date")
    signed_at = _parse_http_date(amz_date if amz_date is not None else headers.get("date"))
    if signed_at is None:
        raise errors.bad_signature(Family.S3, "AWS authentication requires a valid Date or x-amz-date header")
    if abs(now - signed_at) > MAX_SKEW:
        raise errors.skewed(Family.S3, request_time=amz_date or headers.get("date", ""), message="",
                            server_time=_iso(now))
    date_slot = "" if amz_date is not None else headers.get("date", "")
    to_sign = sigv2.string_to_sign(request.method, _v2_headers(request), [], date_slot, _v2_resource(request))
    _v2_verify(credential, to_sign, provided)
    return Principal(credential.access_key_id, credential.account_id, None)


def _v2_credential(store: CredentialStore, access_key_id: str) -> Credential:
    credential = store.get(access_key_id)
    if credential is None:
        raise errors.unknown_key(Family.S3, access_key_id)
    return credential


def _v2_headers(request: HttpRequest) -> dict[str, str]:
    return {name: sigv4.wire_text(value) for name, value in request.headers.items()}


def _v2_resource(request: HttpRequest) -> str:
    bucket = sigv2.virtual_host_bucket(request.headers.get("host"))
    return sigv2.canonical_resource(sigv4.wire_text(request.path), request.query_string, bucket)


def _v2_verify(credential: Credential, to_sign: str, provided: str) -> None:
    expected = sigv2.signature(credential.secret_access_key, to_sign)
    if not sigv4.signatures_match(expected, provided):
        raise errors.signature_mismatch(
            Family.S3, access_key_id=credential.access_key_id, provided=provided,
            string_to_sign=to_sign, canonical_request=None,
        )


# -- helpers -------------------------------------------------------------------------


def _s3_invalid_argument(message: str, name: str, value: str) -> AuthError:
    return AuthError(message, code="InvalidArgument", status=400, fields={"ArgumentName": name, "ArgumentValue": value})


_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


@functools.lru_cache(maxsize=64)
def _parse_amz_date(text: str) -> datetime | None:
    """``20240102T030405Z`` → aware datetime; ``None`` if it is not exactly that form."""
    if len(text) != 16 or text[8] != "T" or text[15] != "Z" or not (text[:8] + text[9:15]).isdigit():
        return None
    try:
        return datetime(
            int(text[0:4]), int(text[4:6]), int(text[6:8]),
            int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC,
        )
    except ValueError:
        return None


def _parse_http_date(text: str | None) -> datetime | None:
    """An RFC 7231 date (``Mon, 01 Jan 2024 00:00:00 GMT``); ISO basic is accepted as well."""
    if not text:
        return None
    basic = _parse_amz_date(text)
    if basic is not None:
        return basic
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return _utc(parsed)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _amz_date(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
