"""S3's quirks on top of rest-xml: addressing, error documents, XML safety."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel

from cloudlet.errors import ServiceError
from cloudlet.protocols.base import HttpRequest
from cloudlet.protocols.rest_xml import RestXmlProtocol
from cloudlet.protocols.s3 import S3_NAMESPACE, S3Protocol, bucket_from_host

MODEL: ServiceModel = botocore.session.get_session().get_service_model("s3")
S3 = S3Protocol(MODEL)
NS = "{" + S3_NAMESPACE + "}"


def request(
    method: str,
    path: str,
    query: str = "",
    *,
    host: str = "localhost:4566",
    body: bytes = b"",
    **headers: str,
) -> HttpRequest:
    all_headers = {"host": host, **{k.replace("_", "-").lower(): v for k, v in headers.items()}}
    return HttpRequest(method, path, query, all_headers, body)


# -- addressing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("photos.s3.localhost:4566", "photos"),
        ("photos.localhost:4566", "photos"),
        ("my.dotted.bucket.s3.localhost", "my.dotted.bucket"),
        ("photos.s3.amazonaws.com", "photos"),
        ("photos.s3.eu-west-1.amazonaws.com", "photos"),
        ("photos.s3-eu-west-1.amazonaws.com", "photos"),
        ("localhost:4566", None),
        ("s3.localhost:4566", None),
        ("127.0.0.1:4566", None),
        ("[::1]:4566", None),
        ("s3.amazonaws.com", None),
        ("example.com", None),
    ],
)
def test_bucket_from_host(host: str, bucket: str | None) -> None:
    assert bucket_from_host(host) == bucket


def test_virtual_host_object_request_is_rewritten_to_path_style() -> None:
    operation, params = S3.parse(request("GET", "/a%20b/c.txt", host="photos.s3.localhost:4566"))
    assert operation.name == "GetObject"
    assert params["Bucket"] == "photos"
    assert params["Key"] == "a b/c.txt"


def test_virtual_host_bucket_root_is_the_bucket() -> None:
    operation, params = S3.parse(
        request("GET", "/", "list-type=2&prefix=x", host="photos.localhost:4566")
    )
    assert operation.name == "ListObjectsV2"
    assert params == {"Bucket": "photos", "Prefix": "x"}


def test_virtual_host_create_bucket() -> None:
    operation, params = S3.parse(request("PUT", "/", host="new-bucket.s3.localhost:4566"))
    assert operation.name == "CreateBucket"
    assert params["Bucket"] == "new-bucket"


def test_path_style_is_untouched() -> None:
    operation, params = S3.parse(request("HEAD", "/photos/k", host="127.0.0.1:4566"))
    assert operation.name == "HeadObject"
    assert (params["Bucket"], params["Key"]) == ("photos", "k")


def test_write_get_object_response_host_prefix_is_not_a_bucket() -> None:
    operation, params = S3.parse(
        request(
            "POST",
            "/WriteGetObjectResponse",
            host="route-1.localhost:4566",
            x_amz_request_route="route-1",
            x_amz_request_token="t",
        )
    )
    assert operation.name == "WriteGetObjectResponse"
    assert params["RequestRoute"] == "route-1"


# -- params -----------------------------------------------------------------------


def test_checksum_and_md5_headers_are_params() -> None:
    operation, params = S3.parse(
        request(
            "PUT",
            "/b/k",
            "x-id=PutObject",
            body=b"hello",
            content_md5="XUFAKrxLKna5cZ2REBfFkg==",
            x_amz_checksum_crc32="NhCmhg==",
            x_amz_sdk_checksum_algorithm="CRC32",
        )
    )
    assert operation.name == "PutObject"
    assert params["Body"] == b"hello"
    assert params["ContentMD5"] == "XUFAKrxLKna5cZ2REBfFkg=="
    assert params["ChecksumCRC32"] == "NhCmhg=="
    assert params["ChecksumAlgorithm"] == "CRC32"


def test_encoding_type_is_a_plain_param() -> None:
    _, params = S3.parse(request("GET", "/b", "list-type=2&encoding-type=url"))
    assert params["EncodingType"] == "url"


def test_structure_payload_with_namespace_and_xsi_attribute() -> None:
    body = (
        b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList>'
        b'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
        b"<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>"
        b"</AccessControlList><Owner><ID>o</ID></Owner></AccessControlPolicy>"
    )
    operation, params = S3.parse(request("PUT", "/b", "acl", body=body))
    assert operation.name == "PutBucketAcl"
    assert params["AccessControlPolicy"] == {
        "Grants": [
            {
                "Grantee": {
                    "Type": "Group",
                    "URI": "http://acs.amazonaws.com/groups/global/AllUsers",
                },
                "Permission": "READ",
            }
        ],
        "Owner": {"ID": "o"},
    }


def test_unparseable_query_value_is_invalid_argument() -> None:
    with pytest.raises(ServiceError) as caught:
        S3.parse(request("GET", "/b", "list-type=2&max-keys=lots"))
    assert (caught.value.code, caught.value.status) == ("InvalidArgument", 400)


def test_unroutable_request_is_method_not_allowed() -> None:
    with pytest.raises(ServiceError) as caught:
        S3.parse(request("PATCH", "/b/k"))
    assert (caught.value.code, caught.value.status) == ("MethodNotAllowed", 405)


# -- XML safety -------------------------------------------------------------------

_TAGGING = "/b", "tagging"


@pytest.mark.parametrize(
    "body",
    [
        # entity expansion ("billion laughs")
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b"<Tagging><TagSet><Tag><Key>&lol2;</Key><Value>v</Value></Tag></TagSet></Tagging>",
        # external entity
        b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<Tagging><TagSet><Tag><Key>&xxe;</Key><Value>v</Value></Tag></TagSet></Tagging>",
        # any DOCTYPE at all
        b'<!DOCTYPE Tagging SYSTEM "http://example.com/t.dtd"><Tagging><TagSet/></Tagging>',
        # not well-formed
        b"<Tagging><TagSet><Tag><Key>k</Key></TagSet></Tagging>",
        b"not xml at all",
        # a boolean that is not one
        b"<PublicAccessBlockConfiguration><BlockPublicAcls>maybe</BlockPublicAcls></PublicAccessBlockConfiguration>",
    ],
)
def test_bad_xml_is_malformed_xml(body: bytes) -> None:
    path, query = ("/b", "publicAccessBlock") if b"PublicAccess" in body else _TAGGING
    with pytest.raises(ServiceError) as caught:
        S3.parse(request("PUT", path, query, body=body))
    assert (caught.value.code, caught.value.status) == ("MalformedXML", 400)


def test_body_that_breaks_the_model_is_malformed_xml() -> None:
    # TagSet is required.
    with pytest.raises(ServiceError) as caught:
        S3.parse(request("PUT", "/b", "tagging", body=b"<Tagging></Tagging>"))
    assert (caught.value.code, caught.value.status) == ("MalformedXML", 400)


def test_well_formed_tagging_parses() -> None:
    body = (
        b"<Tagging><TagSet><Tag><Key>a&amp;b</Key><Value>\xc3\xa9</Value></Tag></TagSet></Tagging>"
    )
    operation, params = S3.parse(request("PUT", "/b", "tagging", body=body))
    assert operation.name == "PutBucketTagging"
    assert params["Tagging"] == {"TagSet": [{"Key": "a&b", "Value": "é"}]}


# -- responses ----------------------------------------------------------------------


def test_request_id_headers() -> None:
    response = S3.serialize(MODEL.operation_model("DeleteBucket"), {}, "4442587FB7D0A2F9")
    assert response.header("x-amz-request-id") == "4442587FB7D0A2F9"
    host_id = response.header("x-amz-id-2")
    assert host_id and host_id == S3.serialize(
        MODEL.operation_model("DeleteBucket"), {}, "4442587FB7D0A2F9"
    ).header("x-amz-id-2")


def test_list_objects_v2_document() -> None:
    response = S3.serialize(
        MODEL.operation_model("ListObjectsV2"),
        {"Name": "b", "KeyCount": 0, "IsTruncated": False, "Contents": [{"Key": "k", "Size": 3}]},
        "R",
    )
    assert response.header("Content-Type") == "application/xml"
    root = ET.fromstring(response.body)
    assert root.tag == NS + "ListBucketResult"
    assert root.findtext(NS + "IsTruncated") == "false"
    assert [c.findtext(NS + "Key") for c in root.findall(NS + "Contents")] == ["k"]


def test_get_bucket_location_is_a_bare_element() -> None:
    response = S3.serialize(
        MODEL.operation_model("GetBucketLocation"), {"LocationConstraint": "eu-west-1"}, "R"
    )
    root = ET.fromstring(response.body)
    assert (root.tag, root.text) == (NS + "LocationConstraint", "eu-west-1")
    empty = ET.fromstring(S3.serialize(MODEL.operation_model("GetBucketLocation"), {}, "R").body)
    assert empty.text is None


def test_grantee_type_is_an_xsi_attribute() -> None:
    result = {
        "Owner": {"ID": "o"},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "o"}, "Permission": "FULL_CONTROL"}],
    }
    body = S3.serialize(MODEL.operation_model("GetBucketAcl"), result, "R").body
    assert b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"' in body
    assert b'xsi:type="CanonicalUser"' in body
    grantee = ET.fromstring(body).find(f"{NS}AccessControlList/{NS}Grant/{NS}Grantee")
    assert grantee is not None
    assert grantee.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "CanonicalUser"


# -- errors -----------------------------------------------------------------------


def test_error_document_has_s3_shape_and_extra_fields() -> None:
    error = ServiceError(
        "The specified bucket does not exist",
        code="NoSuchBucket",
        status=404,
        fields={"BucketName": "b"},
    )
    response = S3.serialize_error(MODEL.operation_model("GetObject"), error, "4442587FB7D0A2F9")
    assert response.status == 404
    assert response.header("x-amz-request-id") == "4442587FB7D0A2F9"
    assert response.header("x-amz-id-2")
    assert response.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    assert [child.tag for child in root] == ["Code", "Message", "BucketName", "RequestId", "HostId"]
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("Message") == "The specified bucket does not exist"
    assert root.findtext("BucketName") == "b"
    assert root.findtext("RequestId") == "4442587FB7D0A2F9"


@pytest.mark.parametrize("name", ["HeadObject", "HeadBucket"])
def test_head_errors_have_no_body(name: str) -> None:
    error = ServiceError("Not here", code="NoSuchKey", status=404, fields={"Key": "k"})
    response = S3.serialize_error(MODEL.operation_model(name), error, "R")
    assert response.status == 404
    assert response.body == b""
    assert response.header("Content-Type") is None
    assert response.header("x-amz-request-id") == "R"


def test_not_modified_has_no_body() -> None:
    error = ServiceError("Not Modified", code="NotModified", status=304)
    response = S3.serialize_error(MODEL.operation_model("GetObject"), error, "R")
    assert (response.status, response.body) == (304, b"")


def test_error_text_is_escaped() -> None:
    error = ServiceError(
        'a <b> & "c"\r', code="InvalidArgument", status=400, fields={"ArgumentName": "x<y"}
    )
    root = ET.fromstring(S3.serialize_error(None, error, "R").body)
    assert root.findtext("Message") == 'a <b> & "c"\r'
    assert root.findtext("ArgumentName") == "x<y"


def test_generic_rest_xml_error_document() -> None:
    protocol = RestXmlProtocol(MODEL)
    error = ServiceError("bad", code="InvalidInput", status=400)
    root = ET.fromstring(protocol.serialize_error(None, error, "R").body)
    assert root.tag == "ErrorResponse"
    assert root.findtext("Error/Type") == "Sender"
    assert root.findtext("Error/Code") == "InvalidInput"
    assert root.findtext("Error/Message") == "bad"
    assert root.findtext("RequestId") == "R"


def test_internal_failure_is_s3_internal_error() -> None:
    error = ServiceError("We encountered an internal error.", code="InternalFailure", status=500)
    root = ET.fromstring(S3.serialize_error(None, error, "R").body)
    assert root.findtext("Code") == "InternalError"


# -- a real boto3 client, wired to the protocol in process (no sockets) -----------


class _Raw(io.BytesIO):
    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self.read()


class InProcessS3:
    """Answers a boto3 client's requests through ``S3Protocol`` and a fake provider."""

    def __init__(
        self, handler: Callable[[str, dict[str, Any]], dict[str, Any]], **config: Any
    ) -> None:
        self.handler = handler
        self.seen: list[tuple[str, dict[str, Any], HttpRequest]] = []
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.pop("endpoint_url", "http://localhost:4566"),
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(**config),
        )
        self.client.meta.events.register("before-send.s3", self._send)

    def _send(self, request: Any, **_kwargs: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        headers = {
            k.lower(): (v.decode() if isinstance(v, bytes) else v)
            for k, v in request.headers.items()
        }
        headers["host"] = url.netloc
        http = HttpRequest(request.method, url.path, url.query, headers, body)
        operation: OperationModel | None = None
        try:
            operation, params = S3.parse(http)
            self.seen.append((operation.name, params, http))
            response = S3.serialize(operation, self.handler(operation.name, params), "REQ")
        except ServiceError as error:
            response = S3.serialize_error(operation, error, "REQ")
        if request.method == "HEAD":
            response.body = b""
        return AWSResponse(
            request.url, response.status, dict(response.headers), _Raw(response.body)
        )


def test_boto3_put_bucket_tagging_and_checksum_headers() -> None:
    s3 = InProcessS3(lambda name, params: {})
    s3.client.put_bucket_tagging(Bucket="b", Tagging={"TagSet": [{"Key": "k", "Value": "v & w"}]})
    name, params, _ = s3.seen[-1]
    assert name == "PutBucketTagging"
    assert params["Tagging"] == {"TagSet": [{"Key": "k", "Value": "v & w"}]}
    # botocore adds a flexible checksum (or Content-MD5) for this operation: it arrives as a param.
    assert "ChecksumAlgorithm" in params or "ContentMD5" in params


def test_boto3_list_objects_url_encoding_round_trip() -> None:
    def handler(name: str, params: dict[str, Any]) -> dict[str, Any]:
        assert params["EncodingType"] == "url"  # botocore asks for it on its own
        return {
            "Name": "b",
            "IsTruncated": False,
            "EncodingType": "url",
            "Contents": [{"Key": "a%20b/%C3%A9", "Size": 1}],
        }

    s3 = InProcessS3(handler)
    listed = s3.client.list_objects_v2(Bucket="b")
    assert [o["Key"] for o in listed["Contents"]] == ["a b/é"]
    assert listed["ResponseMetadata"]["RequestId"] == "REQ"


def test_boto3_get_bucket_location() -> None:
    s3 = InProcessS3(lambda name, params: {"LocationConstraint": "eu-west-1"})
    assert s3.client.get_bucket_location(Bucket="b")["LocationConstraint"] == "eu-west-1"


def test_boto3_sees_s3_errors() -> None:
    def handler(name: str, params: dict[str, Any]) -> dict[str, Any]:
        raise ServiceError(
            "The specified key does not exist.",
            code="NoSuchKey",
            status=404,
            fields={"Key": params["Key"]},
        )

    s3 = InProcessS3(handler)
    with pytest.raises(s3.client.exceptions.NoSuchKey) as caught:
        s3.client.get_object(Bucket="b", Key="missing")
    assert caught.value.response["Error"]["Message"] == "The specified key does not exist."
    assert caught.value.response["Error"]["Key"] == "missing"
    with pytest.raises(ClientError) as head:
        s3.client.head_object(Bucket="b", Key="missing")
    assert head.value.response["Error"]["Code"] == "404"


def test_boto3_virtual_addressing() -> None:
    s3 = InProcessS3(
        lambda name, params: {"ETag": '"abc"'},
        endpoint_url="http://s3.localhost:4566",
        s3={"addressing_style": "virtual"},
    )
    s3.client.put_object(Bucket="photos", Key="dir/a b.txt", Body=b"data")
    name, params, http = s3.seen[-1]
    assert http.headers["host"] == "photos.s3.localhost:4566"
    assert name == "PutObject"
    assert (params["Bucket"], params["Key"], params["Body"]) == ("photos", "dir/a b.txt", b"data")
