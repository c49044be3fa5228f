"""The ``json`` protocol against botocore, in both directions, for every operation.

* request: botocore's JSON serializer -> our ``parse`` gives back the params;
* response: our ``serialize`` -> botocore's JSON parser gives back the result;
* errors: our ``serialize_error`` -> botocore gives back ``Error.Code`` and
  ``Error.Message`` (the query-era code for SQS, as AWS sends it).

JSON carries every generated value exactly (timestamps are whole seconds and
compare as aware datetimes, floats are finite), so values are compared with
plain ``==``: no normalisation is needed.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from botocore.model import OperationModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudlet.errors import ServiceError
from cloudlet.protocols import load_service_model, protocol_named
from cloudlet.protocols.json import JsonProtocol
from cloudlet.protocols.sqs import QUERY_ERROR_CODES
from tests.protocols.wire import botocore_parse, botocore_request, inputs_for, outputs_for

SERVICES = ("dynamodb", "sqs")
CASES = [(s, op) for s in SERVICES for op in load_service_model(s).operation_names]
IDS = [f"{s}.{op}" for s, op in CASES]

SETTINGS = settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _protocol(service: str) -> JsonProtocol:
    protocol = protocol_named(service, "json")
    assert isinstance(protocol, JsonProtocol)
    return protocol


def _operation(service: str, name: str) -> OperationModel:
    return _protocol(service).service_model.operation_model(name)


@pytest.mark.parametrize(("service", "operation"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_botocore_request_parses_to_the_same_params(service: str, operation: str, data: st.DataObject) -> None:
    op = _operation(service, operation)
    params = data.draw(inputs_for(op), label="params")
    request = botocore_request("json", op, params)
    parsed_op, parsed = _protocol(service).parse(request)
    assert parsed_op.name == operation
    assert parsed == params


@pytest.mark.parametrize(("service", "operation"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_our_response_parses_to_the_same_result(service: str, operation: str, data: st.DataObject) -> None:
    op = _operation(service, operation)
    result = data.draw(outputs_for(op), label="result")
    response = _protocol(service).serialize(op, result, "req-1")
    assert response.status == 200
    assert response.header("x-amzn-RequestId") == "req-1"
    assert response.header("Content-Type") == "application/x-amz-json-1.0"
    assert botocore_parse("json", response, op.output_shape) == result


def _error_codes(service: str) -> list[str]:
    model = load_service_model(service)
    return [shape.error_code for shape in model.error_shapes] + ["ValidationException", "InternalFailure"]


def _expected_code(service: str, code: str) -> str:
    # SQS is awsQueryCompatible: boto3's Error.Code is the query-era code.
    return QUERY_ERROR_CODES.get(code, code) if service == "sqs" else code


@pytest.mark.parametrize("service", SERVICES)
@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data())
def test_errors_parse_to_the_same_code_and_message(service: str, data: st.DataObject) -> None:
    code = data.draw(st.sampled_from(_error_codes(service)), label="code")
    message = data.draw(st.text(), label="message")
    sender = data.draw(st.booleans(), label="sender_fault")
    error = ServiceError(message, code=code, status=data.draw(st.sampled_from([400, 404, 500])), sender_fault=sender)
    response = _protocol(service).serialize_error(None, error, "req-2")
    assert response.status == error.status
    parsed = botocore_parse("json", response, None)
    assert parsed["Error"]["Code"] == _expected_code(service, code)
    assert parsed["Error"]["Message"] == message


def test_sqs_errors_name_the_shape_and_carry_the_query_code() -> None:
    protocol = _protocol("sqs")
    error = ServiceError("The specified queue does not exist.", code="AWS.SimpleQueueService.NonExistentQueue")
    response = protocol.serialize_error(None, error, "r")
    assert response.header("x-amzn-query-error") == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    parsed = botocore_parse("json", response, None)
    # botocore keeps the shape name here; it picks the modelled exception class from it.
    assert parsed["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert parsed["Error"]["Type"] == "Sender"
    # The shape name is accepted from providers too, and answered the same way.
    same = protocol.serialize_error(None, ServiceError(error.message, code="QueueDoesNotExist"), "r")
    assert same.body == response.body
    assert same.header("x-amzn-query-error") == response.header("x-amzn-query-error")


def test_modelled_error_fields_reach_botocore() -> None:
    protocol = _protocol("dynamodb")
    op = protocol.service_model.operation_model("PutItem")
    error = ServiceError(
        "The conditional request failed",
        code="ConditionalCheckFailedException",
        fields={"Item": {"pk": {"S": "1"}, "b": {"B": b"\x00\x01"}}},
    )
    response = protocol.serialize_error(op, error, "r")
    body = json.loads(response.body)
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
    shape = protocol.service_model.shape_for("ConditionalCheckFailedException")
    modelled = botocore_parse("json", response, shape)
    assert modelled["Item"] == {"pk": {"S": "1"}, "b": {"B": b"\x00\x01"}}
    assert modelled["message"] == "The conditional request failed"


def test_dynamodb_sends_the_crc32_of_the_body() -> None:
    protocol = _protocol("dynamodb")
    response = protocol.serialize(protocol.service_model.operation_model("ListTables"), {"TableNames": ["a"]}, "r")
    assert response.header("x-amz-crc32") == str(zlib.crc32(response.body))
    assert _protocol("sqs").serialize(_operation("sqs", "ListQueues"), {}, "r").header("x-amz-crc32") is None


def test_logs_uses_json_1_1() -> None:
    protocol = protocol_named("logs", "json")
    response = protocol.serialize(protocol.service_model.operation_model("DeleteLogGroup"), {}, "r")
    assert response.header("Content-Type") == "application/x-amz-json-1.1"
    assert response.body == b"{}"


def _raw(target: str | None, body: bytes) -> Any:
    from cloudlet.protocols.base import HttpRequest

    headers = {"content-type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["x-amz-target"] = target
    return HttpRequest("POST", "/", "", headers, body)


@pytest.mark.parametrize("target", [None, "DynamoDB_20120810.NoSuchThing", "Other_1.ListTables", "ListTables"])
def test_unknown_operations_are_rejected(target: str | None) -> None:
    with pytest.raises(ServiceError) as info:
        _protocol("dynamodb").parse(_raw(target, b"{}"))
    assert info.value.code == "UnknownOperationException"
    assert info.value.status == 400


@pytest.mark.parametrize("body", [b"{", b"[1]", b"\xff", b'{"TableName": 5}', b'{"Limit": "x"}'])
def test_malformed_bodies_are_serialization_exceptions(body: bytes) -> None:
    with pytest.raises(ServiceError) as info:
        _protocol("dynamodb").parse(_raw("DynamoDB_20120810.ListTables" if b"Limit" in body else "DynamoDB_20120810.DescribeTable", body))
    assert info.value.code == "SerializationException"


def test_empty_body_is_an_empty_object_and_constraints_are_validated() -> None:
    op, params = _protocol("dynamodb").parse(_raw("DynamoDB_20120810.ListTables", b""))
    assert (op.name, params) == ("ListTables", {})
    with pytest.raises(ServiceError) as info:
        _protocol("dynamodb").parse(_raw("DynamoDB_20120810.ListTables", b'{"Limit": 0}'))
    assert info.value.code == "ValidationException"
    assert info.value.message.startswith("1 validation error detected: Value '0' at 'limit'")
