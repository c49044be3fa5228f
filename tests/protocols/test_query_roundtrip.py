"""The ``query`` protocol against botocore, in both directions, for every operation.

SNS is checked with its own model.  SQS's query wire is checked with the
legacy model our ``SqsQueryProtocol`` speaks (``Attribute.N.Name``,
``<Message>``, ``<{Op}Result>``): botocore's serializer and parser are driven
by that same model, so what is compared is exactly what an older SDK sends and
reads.

What the query wire cannot carry, and so is normalised before comparing:

* requests: an empty structure or map writes no field at all (botocore sends
  nothing), so it comes back absent (an empty list is carried: ``Name=``).  A list element
  that writes no field would leave a gap in the ``.N`` numbering; such
  examples are skipped;
* responses: an empty flattened list or map writes no element, so it comes
  back absent.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cloudlet.errors import ServiceError
from cloudlet.protocols import load_service_model, protocol_named
from cloudlet.protocols.base import HttpRequest
from cloudlet.protocols.query import QueryProtocol
from cloudlet.protocols.sqs import QUERY_ERROR_CODES
from tests.protocols.wire import botocore_parse, botocore_request, inputs_for, outputs_for

SERVICES = ("sns", "sqs")
CASES = [(s, op) for s in SERVICES for op in load_service_model(s).operation_names]
IDS = [f"{s}.{op}" for s, op in CASES]

XML_CHARACTERS = st.characters(exclude_categories=("Cs", "Cc", "Cn")) | st.sampled_from("\t\n\r")

SETTINGS = settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


class _Gap(Exception):
    """A value the query wire cannot number (see the module docstring)."""


_ABSENT = object()


def _carried(shape: Shape, value: Any, *, request: bool) -> Any:
    """``value`` as it survives the wire, or ``_ABSENT``."""
    kind = shape.type_name
    flattened = bool(shape.serialization.get("flattened"))
    if kind == "structure":
        out = {}
        for name, item in value.items():
            kept = _carried(shape.members[name], item, request=request)
            if kept is not _ABSENT:
                out[name] = kept
            elif request and name in shape.required_members:
                raise _Gap  # AWS, too, would see the required member missing
        return out if out or not request else _ABSENT
    if kind == "list":
        if not value and flattened and not request:
            return _ABSENT
        items = [_carried(shape.member, item, request=request) for item in value]
        if _ABSENT in items:
            raise _Gap
        return items
    if kind == "map":
        if not value and (flattened or request):
            return _ABSENT
        entries = {k: _carried(shape.value, v, request=request) for k, v in value.items()}
        if _ABSENT in entries.values():
            raise _Gap
        return entries
    return value


def _expected(shape: Shape | None, value: dict[str, Any], *, request: bool) -> dict[str, Any]:
    if shape is None:
        return {}
    try:
        kept = _carried(shape, value, request=request)
    except _Gap:
        assume(False)
    return {} if kept is _ABSENT else kept


def _protocol(service: str) -> QueryProtocol:
    protocol = protocol_named(service, "query")
    assert isinstance(protocol, QueryProtocol)
    return protocol


def _operation(service: str, name: str) -> OperationModel:
    return _protocol(service).service_model.operation_model(name)


@pytest.mark.parametrize(("service", "operation"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_botocore_request_parses_to_the_same_params(service: str, operation: str, data: st.DataObject) -> None:
    op = _operation(service, operation)
    params = data.draw(inputs_for(op), label="params")
    expected = _expected(op.input_shape, params, request=True)
    request = botocore_request("query", op, params)
    parsed_op, parsed = _protocol(service).parse(request)
    assert parsed_op.name == operation
    assert parsed == expected


@pytest.mark.parametrize(("service", "operation"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_our_response_parses_to_the_same_result(service: str, operation: str, data: st.DataObject) -> None:
    op = _operation(service, operation)
    result = data.draw(outputs_for(op), label="result")
    expected = _expected(op.output_shape, result, request=False)
    response = _protocol(service).serialize(op, result, "req-1")
    assert response.status == 200
    assert response.header("Content-Type") == "text/xml"
    parsed = botocore_parse("query", response, op.output_shape)
    assert parsed == expected
    root = ElementTree.fromstring(response.body)
    namespace = _protocol(service).namespace
    assert root.tag == f"{{{namespace}}}{operation}Response"


def _error_codes(service: str) -> list[str]:
    model = load_service_model(service)
    shapes = model.error_shapes
    return [s.error_code for s in shapes] + [s.name for s in shapes] + ["InvalidParameterValue", "InternalError"]


def _wire_code(service: str, code: str) -> str:
    if service == "sqs":
        return QUERY_ERROR_CODES.get(code, code)
    shapes = {s.name: s.error_code for s in load_service_model(service).error_shapes}
    return str(shapes.get(code, code))


@pytest.mark.parametrize("service", SERVICES)
@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_errors_parse_to_the_same_code_and_message(service: str, data: st.DataObject) -> None:
    code = data.draw(st.sampled_from(_error_codes(service)), label="code")
    # An empty <Message/> reads back as None in botocore, so messages are non-empty;
    # characters XML cannot carry are covered by the test below.
    message = data.draw(st.text(XML_CHARACTERS, min_size=1), label="message")
    sender = data.draw(st.booleans(), label="sender_fault")
    error = ServiceError(message, code=code, status=data.draw(st.sampled_from([400, 403, 404, 500])), sender_fault=sender)
    response = _protocol(service).serialize_error(None, error, "req-2")
    assert response.status == error.status
    parsed = create_error(response)
    assert parsed["Error"]["Code"] == _wire_code(service, code)
    assert parsed["Error"]["Message"] == message
    assert parsed["Error"]["Type"] == ("Sender" if sender else "Receiver")
    assert parsed["ResponseMetadata"]["RequestId"] == "req-2"


def create_error(response: Any) -> dict[str, Any]:
    from botocore.parsers import create_parser

    return dict(
        create_parser("query").parse(
            {"status_code": response.status, "headers": dict(response.headers), "body": response.body}, None
        )
    )


def test_characters_xml_cannot_carry_are_replaced_not_fatal() -> None:
    error = ServiceError("bad \x00 char\r\nand <tags> & \ud800 \uffff", code="InvalidParameter")
    parsed = create_error(_protocol("sns").serialize_error(None, error, "r"))
    assert parsed["Error"]["Message"] == "bad \ufffd char\r\nand <tags> & \ufffd \ufffd"


def test_modelled_error_fields_are_written_inside_error() -> None:
    protocol = _protocol("sns")
    error = ServiceError("nope", code="VerificationException", fields={"Status": "Failed"})
    response = protocol.serialize_error(None, error, "r")
    shape = protocol.service_model.shape_for("VerificationException")
    assert botocore_parse("query", response, shape)["Status"] == "Failed"


def _form(body: str, path: str = "/", host: str = "localhost:4566") -> HttpRequest:
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8", "host": host}
    return HttpRequest("POST", path, "", headers, body.encode())


def test_legacy_sqs_form_from_the_fact_sheet() -> None:
    body = (
        "Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2Fh%2F1%2Fq&MessageBody=hi"
        "&MessageAttribute.1.Name=k&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v"
    )
    op, params = _protocol("sqs").parse(_form(body))
    assert op.name == "SendMessage"
    assert params == {
        "QueueUrl": "http://h/1/q",
        "MessageBody": "hi",
        "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
    }


def test_legacy_sqs_queue_url_may_be_the_path() -> None:
    _op, params = _protocol("sqs").parse(_form("Action=GetQueueAttributes&AttributeName.1=All", path="/000000000000/q"))
    assert params == {"QueueUrl": "http://localhost:4566/000000000000/q", "AttributeNames": ["All"]}


def test_legacy_sqs_receive_message_xml() -> None:
    protocol = _protocol("sqs")
    op = protocol.service_model.operation_model("ReceiveMessage")
    result = {
        "Messages": [
            {
                "MessageId": "m",
                "Body": "b",
                "Attributes": {"SenderId": "s"},
                "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
            }
        ]
    }
    body = protocol.serialize(op, result, "r").body.decode()
    assert '<ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ReceiveMessageResult><Message>' in body
    assert "<Attribute><Name>SenderId</Name><Value>s</Value></Attribute>" in body
    assert "<MessageAttribute><Name>k</Name><Value><StringValue>v</StringValue><DataType>String</DataType></Value></MessageAttribute>" in body


def test_get_requests_and_body_fields_are_both_read() -> None:
    request = HttpRequest("GET", "/", "Action=ListTopics&Version=2010-03-31&NextToken=abc", {}, b"")
    assert _protocol("sns").parse(request)[1] == {"NextToken": "abc"}


@pytest.mark.parametrize(("body", "code"), [("Version=1", "MissingAction"), ("Action=Nope", "InvalidAction")])
def test_missing_or_unknown_actions(body: str, code: str) -> None:
    with pytest.raises(ServiceError) as info:
        _protocol("sns").parse(_form(body))
    assert (info.value.code, info.value.status) == (code, 400)


def test_bad_values_and_constraints_are_the_services_validation_error() -> None:
    with pytest.raises(ServiceError) as info:
        _protocol("sns").parse(_form("Action=Publish&Message=m&PhoneNumber=1&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=%%%"))
    assert info.value.code == "InvalidParameter"
    with pytest.raises(ServiceError) as info:
        _protocol("sqs").parse(_form("Action=ChangeMessageVisibility&QueueUrl=q&ReceiptHandle=r&VisibilityTimeout=x"))
    assert info.value.code == "InvalidParameterValue"
