"""Authentication against requests signed by botocore's own signers.

Every request here is signed by ``botocore.auth`` exactly as boto3 would sign
it, then turned into the ``HttpRequest`` the edge would receive (raw path and
query, lower-cased headers, the ``Host`` header the HTTP client adds).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from botocore.auth import (
    HmacV1Auth,
    HmacV1QueryAuth,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from botocore.utils import percent_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudlet.edge import sigv4
from cloudlet.edge.auth import (
    Principal,
    SigningScope,
    authenticate,
    decode_streaming_body,
    signing_scope,
)
from cloudlet.edge.credentials import CredentialStore
from cloudlet.errors import AuthError
from cloudlet.protocols.base import HttpRequest

ENDPOINT = "http://localhost:4566"
CREDS = Credentials("test", "test")
OTHER = Credentials("AKIDOTHER", "other-secret")
STORE = CredentialStore.from_spec("AKIDOTHER:other-secret:111111111111")
REGION = "eu-west-2"

#: A typical request per service: (method, path, query, headers, body).
TYPICAL: dict[str, tuple[str, str, str, dict[str, str], bytes]] = {
    "lambda": ("POST", "/2015-03-31/functions/my-fn%3Alive/invocations", "Qualifier=live",
               {"X-Amz-Invocation-Type": "RequestResponse"}, b'{"hello": "world"}'),
    "sqs": ("POST", "/", "", {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"},
            b"{}"),
    "sns": ("POST", "/", "", {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            urlencode({"Action": "ListTopics", "Version": "2010-03-31"}).encode()),
    "dynamodb": ("POST", "/", "", {"Content-Type": "application/x-amz-json-1.0",
                                   "X-Amz-Target": "DynamoDB_20120810.ListTables"}, b"{}"),
    "logs": ("POST", "/", "", {"Content-Type": "application/x-amz-json-1.1",
                               "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}, b"{}"),
    "s3": ("PUT", "/bucket/some%20key.txt", "", {"Content-Type": "text/plain"}, b"hello"),
}
SERVICES = tuple(TYPICAL)


def wire(request: AWSRequest) -> HttpRequest:
    """What the edge receives for a signed ``AWSRequest``."""
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers: dict[str, str] = {}
    for name, value in prepared.headers.items():
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text.encode("latin-1")  # what http.client would send
        key = name.lower()
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers, body)


def sign(
    service: str,
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    how: str = "header",
    creds: Credentials = CREDS,
    region: str = REGION,
    expires: int = 3600,
    host: str | None = None,
    auth_path: str | None = None,
) -> HttpRequest:
    url = (f"http://{host}" if host else ENDPOINT) + path + (f"?{query}" if query else "")
    data: bytes | dict[str, str] = body
    if how == "presign" and body and "x-www-form-urlencoded" in str(headers):
        data = dict(parse_qsl(body.decode()))  # presigning moves form fields into the query
    if how == "presign" and service == "s3":
        data = b""  # the body of a presigned PUT is not signed: it is sent later, with the URL
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=data)
    if host:
        request.headers["Host"] = host
    request.auth_path = auth_path
    s3 = service == "s3"
    if how == "header":
        (S3SigV4Auth if s3 else SigV4Auth)(creds, service, region).add_auth(request)
    elif how == "presign":
        (S3SigV4QueryAuth if s3 else SigV4QueryAuth)(creds, service, region, expires=expires).add_auth(request)
    elif how == "v2":
        HmacV1QueryAuth(creds, expires=expires).add_auth(request)
    else:
        raise AssertionError(how)
    http = wire(request)
    if how == "presign" and service == "s3":
        http.body = body
    return http


def typical(service: str, **kwargs: Any) -> HttpRequest:
    method, path, query, headers, body = TYPICAL[service]
    return sign(service, method, path, query, headers, body, **kwargs)


def auth(request: HttpRequest, service: str, **kwargs: Any) -> Principal:
    kwargs.setdefault("allow_anonymous", service == "s3")
    return authenticate(request, STORE, service=service, **kwargs)


def refused(request: HttpRequest, service: str, **kwargs: Any) -> AuthError:
    with pytest.raises(AuthError) as info:
        auth(request, service, **kwargs)
    return info.value


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


# -- what passes ----------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("how", ["header", "presign"])
def test_a_signed_request_passes_and_names_key_account_and_region(service: str, how: str) -> None:
    principal = auth(typical(service, how=how), service)
    assert principal == Principal("test", "000000000000", REGION, anonymous=False)


@pytest.mark.parametrize("service", SERVICES)
def test_each_key_acts_for_its_own_account(service: str) -> None:
    principal = auth(typical(service, creds=OTHER), service)
    assert (principal.access_key_id, principal.account_id) == ("AKIDOTHER", "111111111111")


S3_KEYS = ["plain.txt", "with space/and+plus.txt", "ünïcødé/日本語.bin", "odd !'()*&=$,;@:~.txt", "a//b/./c/../d"]


@pytest.mark.parametrize("key", S3_KEYS)
@pytest.mark.parametrize("how", ["header", "presign", "v2"])
def test_s3_keys_are_signed_as_sent(key: str, how: str) -> None:
    path = "/bucket/" + percent_encode(key, safe="/~")
    principal = auth(sign("s3", "GET", path, how=how), "s3")
    assert principal.access_key_id == "test"
    assert not principal.anonymous


def sigv2_header_request(creds: Credentials = CREDS) -> HttpRequest:
    request = AWSRequest("PUT", ENDPOINT + "/b/k%20x?acl", data=b"<acl/>",
                         headers={"Content-Type": "text/xml", "x-amz-meta-a": " 1 "})
    HmacV1Auth(creds).add_auth(request)
    return wire(request)


def test_s3_sigv2_authorization_header() -> None:
    request = sigv2_header_request()
    assert request.headers["authorization"].startswith("AWS test:")
    assert auth(request, "s3") == Principal("test", "000000000000", None)
    error = refused(sigv2_header_request(Credentials("test", "nope")), "s3")
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert refused(request, "s3", now=later(minutes=20)).code == "RequestTimeTooSkewed"
    assert refused(request, "lambda").code == "IncompleteSignatureException"


def test_s3_sigv2_presign_with_sub_resources_and_virtual_host() -> None:
    query = "uploadId=abc%2Fdef&partNumber=2&response-content-type=text%2Fplain"
    request = sign("s3", "PUT", "/my%20key", query, how="v2", host="photos.s3.localhost:4566",
                   auth_path="/photos/my%20key")
    assert auth(request, "s3").access_key_id == "test"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("body", [b"", bytes(range(256)) * 3], ids=["empty", "binary"])
def test_empty_and_binary_bodies(service: str, body: bytes) -> None:
    method, path, query, headers, _ = TYPICAL[service]
    assert auth(sign(service, method, path, query, headers, body), service).access_key_id == "test"


@pytest.mark.parametrize("service", ["lambda", "s3", "sqs"])
@pytest.mark.parametrize("how", ["header", "presign"])
def test_repeated_and_blank_query_parameters(service: str, how: str) -> None:
    query = "b=2&a=1&a=0&empty=&bare&sp=a%20b&enc=%E2%82%AC"
    assert auth(sign(service, "GET", "/x/y", query, how=how), service).access_key_id == "test"


@pytest.mark.parametrize("service", ["lambda", "s3"])
def test_hand_made_query_strings_are_verified_as_written(service: str) -> None:
    """botocore signs a URL it is handed without re-encoding the query (``+``, lower-case escapes)."""
    request = sign(service, "GET", "/x", "q=a+b&p=%2fc&z=*")
    assert auth(request, service).access_key_id == "test"
    request.query_string = "q=a%20b&p=%2Fc&z=%2A"  # same parameters, canonically encoded: signed differently
    assert refused(request, service).code in ("SignatureDoesNotMatch", "InvalidSignatureException")


def test_non_s3_paths_are_normalised_before_signing() -> None:
    path = "/2015-03-31//functions/./a%3Ab/../fn%20x/"
    assert auth(sign("lambda", "GET", path), "lambda").access_key_id == "test"


def test_date_header_may_replace_x_amz_date() -> None:
    request = AWSRequest("GET", ENDPOINT + "/2015-03-31/functions/", headers={"Date": "x"})
    SigV4Auth(CREDS, "lambda", REGION).add_auth(request)
    http = wire(request)
    assert "x-amz-date" not in http.headers
    assert auth(http, "lambda").access_key_id == "test"


def test_latin1_and_padded_header_values() -> None:
    headers = {"x-amz-meta-name": "café", "x-amz-meta-pad": "  a   b  "}
    assert auth(sign("s3", "PUT", "/b/k", headers=headers, body=b"x"), "s3").access_key_id == "test"


def test_utf8_header_bytes_sent_by_other_sdks() -> None:
    """SDKs that send UTF-8 on the wire: the edge's Latin-1 reading is turned back into UTF-8."""
    request = AWSRequest("PUT", ENDPOINT + "/b/k", headers={"x-amz-meta-city": "Zürich"}, data=b"x")
    S3SigV4Auth(CREDS, "s3", REGION).add_auth(request)
    http = wire(request)
    http.headers["x-amz-meta-city"] = "Zürich".encode().decode("latin-1")
    assert auth(http, "s3").access_key_id == "test"


def test_s3_streaming_upload_hands_on_the_seed_signature() -> None:
    request = AWSRequest("PUT", ENDPOINT + "/b/k", data=b"5;chunk-signature=...",
                         headers={"X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                                  "Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "5"})
    SigV4Auth(CREDS, "s3", REGION).add_auth(request)  # keeps the header value, as the streaming signer does
    http = wire(request)
    principal = auth(http, "s3")
    assert principal.streaming is not None
    assert principal.streaming.signed_chunks
    assert principal.streaming.seed_signature == http.headers["authorization"].rsplit("Signature=", 1)[1]
    assert principal.streaming.scope.endswith(f"/{REGION}/s3/aws4_request")


def test_unsigned_payload_is_accepted() -> None:
    request = AWSRequest("PUT", ENDPOINT + "/b/k", data=b"anything")
    request.context["payload_signing_enabled"] = False
    SigV4Auth(CREDS, "s3", REGION).add_auth(request)
    http = wire(request)
    assert http.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    http.body = b"changed"
    assert auth(http, "s3").access_key_id == "test"


# -- aws-chunked uploads (the AWS documentation's example, and botocore's unsigned trailer) ---

DOC_STORE = CredentialStore.from_spec("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:123456789012")
DOC_NOW = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
DOC_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)


def doc_chunked_body(signatures: tuple[str, ...], trailer: str = "") -> bytes:
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode() + b"a" * 65536
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode() + b"a" * 1024
        + f"\r\n0;chunk-signature={signatures[2]}\r\n{trailer}\r\n".encode()
    )


def doc_chunked_request() -> HttpRequest:
    """The signed-chunks PUT of the S3 documentation (sigv4-streaming), byte for byte."""
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    body = doc_chunked_body(DOC_CHUNK_SIGNATURES)
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", "", headers, body)


def test_documented_chunk_signed_upload_verifies_and_decodes() -> None:
    request = doc_chunked_request()
    principal = authenticate(request, DOC_STORE, service="s3", allow_anonymous=True, now=DOC_NOW)
    assert (principal.account_id, principal.region) == ("123456789012", "us-east-1")
    decoded = decode_streaming_body(request, principal)
    assert decoded.body == b"a" * 66560
    assert "content-encoding" not in decoded.headers
    assert decoded.headers["content-length"] == "66560"


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (lambda body: body.replace(b"\r\naaaa", b"\r\nbaaa", 1), "SignatureDoesNotMatch"),
        (lambda body: body.replace(b"chunk-signature=0055", b"chunk-signature=1055"), "SignatureDoesNotMatch"),
        (lambda body: body[:66000], "IncompleteBody"),
        (lambda body: body.replace(b"400;", b"zz;"), "IncompleteBody"),
    ],
)
def test_a_damaged_chunked_body_is_refused(damage: Any, code: str) -> None:
    request = doc_chunked_request()
    principal = authenticate(request, DOC_STORE, service="s3", allow_anonymous=True, now=DOC_NOW)
    request.body = damage(request.body)
    with pytest.raises(AuthError) as info:
        decode_streaming_body(request, principal)
    assert info.value.code == code


def test_documented_signed_trailer_vector() -> None:
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3")
    streaming = sigv4.StreamingSignature(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
        "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    )
    signatures = (
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    )
    trailer = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{}\r\n"
    good = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
    decoded = sigv4.decode_aws_chunked(doc_chunked_body(signatures, trailer.format(good)), streaming)
    assert (len(decoded.data), decoded.trailers) == (66560, {"x-amz-checksum-crc32c": "sOO8/Q=="})
    with pytest.raises(sigv4.ChunkedBodyError) as info:
        sigv4.decode_aws_chunked(doc_chunked_body(signatures, trailer.format("0" * 64)), streaming)
    assert info.value.bad_signature


def test_botocore_unsigned_trailer_upload() -> None:
    data = bytes(range(256)) * 5
    wrapped = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=300)
    request = AWSRequest("PUT", ENDPOINT + "/b/k", data=wrapped.read(),
                         headers={"Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32",
                                  "X-Amz-Decoded-Content-Length": str(len(data))})
    request.context["checksum"] = {"request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}}
    S3SigV4Auth(CREDS, "s3", REGION).add_auth(request)
    http = wire(request)
    assert http.headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    principal = auth(http, "s3")
    assert principal.streaming is not None and not principal.streaming.signed_chunks
    decoded = decode_streaming_body(http, principal)
    assert decoded.body == data
    assert decoded.headers["x-amz-checksum-crc32"]


def test_plain_requests_pass_decode_streaming_body_unchanged() -> None:
    request = typical("s3")
    assert decode_streaming_body(request, auth(request, "s3")) is request


# -- anonymous and missing ---------------------------------------------------------------


def test_anonymous_s3_is_allowed_and_acts_for_the_default_account() -> None:
    principal = auth(HttpRequest("GET", "/public-bucket/key", headers={"host": "localhost"}), "s3")
    assert principal == Principal(None, "000000000000", None, anonymous=True)


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("lambda", "MissingAuthenticationTokenException", 403),
        ("dynamodb", "MissingAuthenticationTokenException", 400),
        ("logs", "MissingAuthenticationTokenException", 400),
        ("sqs", "MissingAuthenticationToken", 403),
        ("sns", "MissingAuthenticationToken", 403),
        ("s3", "AccessDenied", 403),
    ],
)
def test_missing_auth_is_refused_where_anonymous_is_not_allowed(service: str, code: str, status: int) -> None:
    request = HttpRequest("POST", "/", headers={"host": "localhost"}, body=b"{}")
    error = refused(request, service, allow_anonymous=False)
    assert (error.code, error.status) == (code, status)


def test_sigv2_query_parameters_mean_nothing_outside_s3() -> None:
    request = sign("s3", "GET", "/b/k", how="v2")
    assert refused(request, "lambda").code == "MissingAuthenticationTokenException"


# -- what is refused ----------------------------------------------------------------------

WRONG_SECRET = [
    ("lambda", "InvalidSignatureException", 403),
    ("dynamodb", "InvalidSignatureException", 400),
    ("logs", "InvalidSignatureException", 400),
    ("sqs", "SignatureDoesNotMatch", 403),
    ("sns", "SignatureDoesNotMatch", 403),
    ("s3", "SignatureDoesNotMatch", 403),
]


@pytest.mark.parametrize(("service", "code", "status"), WRONG_SECRET)
@pytest.mark.parametrize("how", ["header", "presign"])
def test_wrong_secret_gets_the_services_code(service: str, code: str, status: int, how: str) -> None:
    error = refused(typical(service, how=how, creds=Credentials("test", "not-the-secret")), service)
    assert (error.code, error.status) == (code, status)


def test_s3_mismatch_tells_what_was_signed() -> None:
    error = refused(typical("s3", creds=Credentials("test", "nope")), "s3")
    assert error.fields["AWSAccessKeyId"] == "test"
    assert error.fields["CanonicalRequest"].startswith("PUT\n/bucket/some%20key.txt\n\n")
    assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert error.fields["StringToSignBytes"].startswith("41 57 53 34")  # "AWS4"
    assert len(error.fields["SignatureProvided"]) == 64


def test_s3_sigv2_wrong_secret() -> None:
    error = refused(sign("s3", "GET", "/b/k", how="v2", creds=Credentials("test", "nope")), "s3")
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["StringToSign"].endswith("\n/b/k")
    assert "CanonicalRequest" not in error.fields


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("lambda", "UnrecognizedClientException", 403),
        ("dynamodb", "UnrecognizedClientException", 400),
        ("logs", "UnrecognizedClientException", 400),
        ("sqs", "InvalidClientTokenId", 403),
        ("sns", "InvalidClientTokenId", 403),
        ("s3", "InvalidAccessKeyId", 403),
    ],
)
@pytest.mark.parametrize("how", ["header", "presign"])
def test_unknown_key_is_refused(service: str, code: str, status: int, how: str) -> None:
    error = refused(typical(service, how=how, creds=Credentials("AKIDUNKNOWN", "x")), service)
    assert (error.code, error.status) == (code, status)


def test_unknown_key_in_sigv2_presign() -> None:
    error = refused(sign("s3", "GET", "/b/k", how="v2", creds=Credentials("AKIDUNKNOWN", "x")), "s3")
    assert (error.code, error.fields["AWSAccessKeyId"]) == ("InvalidAccessKeyId", "AKIDUNKNOWN")


def test_expired_s3_presigned_url() -> None:
    request = typical("s3", how="presign", expires=60)
    assert auth(request, "s3", now=later(seconds=30)).access_key_id == "test"
    error = refused(request, "s3", now=later(seconds=120))
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request has expired")
    assert set(error.fields) >= {"Expires", "ServerTime"}


def test_expired_sigv2_presigned_url() -> None:
    error = refused(sign("s3", "GET", "/b/k", how="v2", expires=60), "s3", now=later(seconds=120))
    assert (error.code, error.status, error.message) == ("AccessDenied", 403, "Request has expired")


@pytest.mark.parametrize(("service", "code", "status"), [("lambda", "InvalidSignatureException", 403),
                                                         ("sqs", "SignatureDoesNotMatch", 403)])
def test_expired_presigned_url_outside_s3(service: str, code: str, status: int) -> None:
    error = refused(typical(service, how="presign", expires=60), service, now=later(seconds=120))
    assert (error.code, error.status) == (code, status)
    assert "expired" in error.message


@pytest.mark.parametrize("expires", ["0x10", "-1", "0", "604801"])
def test_presign_expiry_must_be_sane(expires: str) -> None:
    request = typical("s3", how="presign")
    request.query_string = request.query_string.replace("X-Amz-Expires=3600", f"X-Amz-Expires={expires}")
    error = refused(request, "s3")
    assert (error.code, error.status) == ("AuthorizationQueryParametersError", 400)


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "XAmzContentSHA256Mismatch", 400),
        ("lambda", "InvalidSignatureException", 403),
        ("dynamodb", "InvalidSignatureException", 400),
        ("sns", "SignatureDoesNotMatch", 403),
    ],
)
def test_tampered_body(service: str, code: str, status: int) -> None:
    request = typical(service)
    request.body += b" "
    error = refused(request, service)
    assert (error.code, error.status) == (code, status)


def test_a_content_hash_header_is_checked_outside_s3_too() -> None:
    method, path, query, headers, body = TYPICAL["lambda"]
    headers = {**headers, "X-Amz-Content-SHA256": sigv4.sha256_hex(body)}
    request = sign("lambda", method, path, query, headers, body)
    assert auth(request, "lambda").access_key_id == "test"
    request.body = b"{}"
    error = refused(request, "lambda")
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert "x-amz-content-sha256" in error.message


def test_s3_tampered_content_hash_header_is_a_signature_mismatch() -> None:
    request = typical("s3")
    request.body = b"other"
    request.headers["x-amz-content-sha256"] = "a" * 64
    assert refused(request, "s3").code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "RequestTimeTooSkewed", 403),
        ("lambda", "InvalidSignatureException", 403),
        ("dynamodb", "InvalidSignatureException", 400),
        ("sqs", "SignatureDoesNotMatch", 403),
    ],
)
@pytest.mark.parametrize("minutes", [-20, 20])
def test_skewed_clock(service: str, code: str, status: int, minutes: int) -> None:
    request = typical(service)
    assert auth(request, service, now=later(minutes=minutes / 2)).access_key_id == "test"
    error = refused(request, service, now=later(minutes=minutes))
    assert (error.code, error.status) == (code, status)
    if service != "s3":
        assert ("Signature expired" if minutes > 0 else "Signature not yet current") in error.message


@pytest.mark.parametrize(
    ("service", "code", "status"),
    [
        ("s3", "AuthorizationHeaderMalformed", 400),
        ("lambda", "IncompleteSignatureException", 403),
        ("dynamodb", "IncompleteSignatureException", 400),
        ("sns", "IncompleteSignature", 400),
    ],
)
@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: h.replace("SignedHeaders=", "Signed="),
        lambda h: h.split(", Signature=")[0],
        lambda h: h.replace("Credential=test/", "Credential=test/2020/"),
        lambda h: "AWS4-HMAC-SHA256 garbage",
    ],
)
def test_malformed_authorization_header(service: str, code: str, status: int, mangle: Any) -> None:
    request = typical(service)
    request.headers["authorization"] = mangle(request.headers["authorization"])
    error = refused(request, service)
    assert (error.code, error.status) == (code, status)


def test_scope_for_another_service_is_refused() -> None:
    assert refused(typical("lambda"), "s3").code == "AuthorizationHeaderMalformed"
    assert refused(typical("s3"), "lambda").code == "InvalidSignatureException"
    error = refused(typical("sns", how="presign"), "sqs")
    assert (error.code, error.message) == ("SignatureDoesNotMatch", "Credential should be scoped to correct service: 'sqs'. ")


@pytest.mark.parametrize(("service", "code", "status"), [("s3", "AuthorizationHeaderMalformed", 400),
                                                         ("lambda", "InvalidSignatureException", 403)])
def test_scope_needs_the_aws4_request_terminator(service: str, code: str, status: int) -> None:
    request = typical(service)
    request.headers["authorization"] = request.headers["authorization"].replace("/aws4_request", "/aws5_request")
    error = refused(request, service)
    assert (error.code, error.status) == (code, status)


def test_scope_date_must_match_the_request_date() -> None:
    request = typical("dynamodb")
    day = request.headers["x-amz-date"][:8]
    request.headers["authorization"] = request.headers["authorization"].replace(f"/{day}/", "/20200101/")
    error = refused(request, "dynamodb")
    assert error.code == "InvalidSignatureException"
    assert "Date in Credential scope does not match" in error.message


def test_missing_request_date() -> None:
    request = typical("lambda")
    del request.headers["x-amz-date"]
    assert refused(request, "lambda").code == "IncompleteSignatureException"
    request = typical("s3")
    del request.headers["x-amz-date"]
    assert refused(request, "s3").code == "AccessDenied"


def test_s3_requires_the_content_hash_header() -> None:
    request = typical("s3")
    del request.headers["x-amz-content-sha256"]
    assert (refused(request, "s3").code, refused(request, "s3").status) == ("InvalidRequest", 400)
    request.headers["x-amz-content-sha256"] = "not-a-hash"
    assert refused(request, "s3").code == "InvalidArgument"


def test_s3_refuses_two_auth_mechanisms() -> None:
    request = typical("s3", how="presign")
    request.headers["authorization"] = typical("s3").headers["authorization"]
    assert refused(request, "s3").code == "InvalidArgument"


def test_unsupported_authorization_type() -> None:
    request = HttpRequest("GET", "/b/k", headers={"host": "localhost", "authorization": "Bearer xyz"})
    assert (refused(request, "s3").code, refused(request, "s3").status) == ("InvalidArgument", 400)
    assert refused(request, "lambda").code == "IncompleteSignatureException"


# -- the credential scope ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["header", "presign"])
def test_signing_scope_is_read_from_header_or_query(how: str) -> None:
    scope = signing_scope(typical("dynamodb", how=how))
    assert scope is not None
    assert (scope.access_key_id, scope.region, scope.service, scope.terminator) == (
        "test", REGION, "dynamodb", "aws4_request")
    assert len(scope.date) == 8


@pytest.mark.parametrize(
    "request_",
    [
        HttpRequest("GET", "/"),
        HttpRequest("GET", "/", headers={"authorization": "AWS4-HMAC-SHA256 Credential=a/b, Signature=x"}),
        HttpRequest("GET", "/", headers={"authorization": "AWS test:abc"}),
        HttpRequest("GET", "/", "X-Amz-Credential=nonsense"),
    ],
)
def test_signing_scope_is_none_without_a_usable_scope(request_: HttpRequest) -> None:
    assert signing_scope(request_) is None


def test_signing_scope_text() -> None:
    assert SigningScope("k", "20240101", "us-east-1", "s3").text == "20240101/us-east-1/s3/aws4_request"


# -- property: whatever botocore signs verifies, and any flipped signature byte fails --------

_segment = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(
    [".", "..", "", "a+b", "%"])
_param = st.text(st.characters(codec="utf-8"), max_size=6)
_header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@st.composite
def signed_requests(draw: st.DrawFn) -> tuple[str, str, HttpRequest]:
    service = draw(st.sampled_from(SERVICES))
    how = draw(st.sampled_from(["header", "presign"]))
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]))
    path = "/" + "/".join(percent_encode(s, safe="~") for s in draw(st.lists(_segment, max_size=4)))
    pairs = draw(st.lists(st.tuples(_param.filter(bool), st.none() | _param), max_size=4))
    query = "&".join(
        percent_encode(k) if v is None else f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs
    )
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), max_size=3, unique=True))
    headers = {f"x-h-{name}": draw(_header_value) for name in names}
    body = draw(st.binary(max_size=64))
    if how == "presign":
        body = b""  # botocore moves a body into the query string of presigned non-S3 URLs
        query = "&".join(p for p in query.split("&") if "=" in p)  # and drops bare names
    return service, how, sign(service, method, path, query, headers, body, how=how)


def _flip(signature: str, index: int) -> str:
    char = signature[index]
    return signature[:index] + ("0" if char != "0" else "1") + signature[index + 1 :]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signed_requests(), st.integers(min_value=0, max_value=63))
def test_anything_botocore_signs_verifies_and_a_flipped_signature_fails(
    case: tuple[str, str, HttpRequest], index: int
) -> None:
    service, how, request = case
    assert auth(request, service).access_key_id == "test"
    if how == "header":
        head, _, signature = request.headers["authorization"].rpartition("Signature=")
        request.headers["authorization"] = head + "Signature=" + _flip(signature, index)
    else:
        head, _, signature = request.query_string.rpartition("X-Amz-Signature=")
        request.query_string = head + "X-Amz-Signature=" + _flip(signature, index)
    error = refused(request, service)
    assert error.code in ("SignatureDoesNotMatch", "InvalidSignatureException")
