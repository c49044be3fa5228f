"""The asynchronous invocation record sent to destinations (AWS's shape)."""

from __future__ import annotations

import json

from cloudlet.engine.types import InvokeResult
from cloudlet.services.lambda_.destinations import record
from cloudlet.services.lambda_.store import AsyncEvent, FnKey

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def event(qualifier: str | None = None) -> AsyncEvent:
    invoked = f"{ARN}:{qualifier}" if qualifier else ARN
    return AsyncEvent(7, "req-1", FnKey("us-east-1", "000000000000", "fn"), qualifier, invoked, "http://x",
                      b'{"a": 1}', 1000.0, 0, 0, 1000.0)  # fmt: skip


def result(payload: bytes, error: str | None) -> InvokeResult:
    return InvokeResult(payload, error, [], "stream", 1.0, 1, None, 40)


def test_failure_record() -> None:
    out = record(event(), "RetriesExhausted", 3, "$LATEST", result(b'{"errorMessage": "boom"}', "Unhandled"), 0.5)
    assert out == {
        "version": "1.0",
        "timestamp": "1970-01-01T00:00:00.500Z",
        "requestContext": {"requestId": "req-1", "functionArn": f"{ARN}:$LATEST", "condition": "RetriesExhausted",
                           "approximateInvokeCount": 3},
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom"},
    }  # fmt: skip
    json.dumps(out)


def test_success_record_of_an_alias_and_age_out_without_response() -> None:
    ok = record(event("live"), "Success", 1, "3", result(b'"done"', None), 0.0)
    assert ok["requestContext"]["functionArn"] == f"{ARN}:live"
    assert ok["responseContext"] == {"statusCode": 200, "executedVersion": "3"}
    assert ok["responsePayload"] == "done"
    aged = record(event(), "EventAgeExceeded", 0, None, None, 0.0)
    assert "responseContext" not in aged and "responsePayload" not in aged
