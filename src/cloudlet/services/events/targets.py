"""Sending a rendered event to a Lambda, SQS or SNS target, and to an SQS dead-letter queue.

Shared by EventBridge rule targets and EventBridge Scheduler targets: both hand
the target's ARN and the text it receives to ``send_to_target``, put events on
a bus with ``put_on_bus``, decide retries with ``retry_delay`` (both follow a
target's ``RetryPolicy``) and describe a failure with ``error_fields``; what
differs between them (payload shapes, dead-letter attributes) stays with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.errors import ServiceError

Call = Callable[..., Awaitable[dict[str, Any]]]

#: A target's ``RetryPolicy`` defaults (EventBridge and Scheduler alike).
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_AGE_S = 86400


def retry_delay(
    policy: dict[str, Any], attempt: int, *, first_at: float, now: float, base_s: float, cap_s: float
) -> float | None:
    """Seconds until attempt ``attempt`` (1 = the first retry) under ``policy``; None when it is used up.

    The delay doubles from ``base_s`` up to ``cap_s``; a retry is allowed while
    ``attempt`` is within ``MaximumRetryAttempts`` and the event, when retried,
    is no older than ``MaximumEventAgeInSeconds``.
    """
    max_attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS))
    max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
    delay = min(cap_s, base_s * 2 ** (attempt - 1))
    if attempt <= max_attempts and now + delay - first_at <= max_age:
        return delay
    return None


def error_fields(error: Exception) -> tuple[str, str]:
    """(error code, message) of a failed delivery, as dead-letter attributes report them."""
    if isinstance(error, ServiceError):
        return error.code, error.message
    return type(error).__name__, str(error)


async def put_on_bus(call: Call, arn: str, entry: dict[str, Any], *, region: str, account: str) -> None:
    """``PutEvents`` of one entry to the event bus ``arn``; raises when the bus refused it."""
    result = await call("events", "PutEvents", {"Entries": [{**entry, "EventBusName": arn}]},
                        region=region, account_id=account)  # fmt: skip
    if result.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents to {arn} failed: {result['Entries'][0].get('ErrorMessage')}")


def queue_url(arn: str, endpoint: str) -> str:
    parts = arn.split(":")
    return f"{endpoint.rstrip('/')}/{parts[4]}/{parts[5]}"


async def send_to_target(
    call: Call, arn: str, text: str, *, region: str, account: str, endpoint: str, message_group_id: str | None = None
) -> bool:
    """Deliver ``text`` to a Lambda (async Invoke), SQS or SNS target; False for any other service."""
    service = arn.split(":")[2]
    where: dict[str, Any] = {"region": region, "account_id": account, "endpoint": endpoint}
    if service == "lambda":
        params: dict[str, Any] = {"FunctionName": arn, "InvocationType": "Event", "Payload": text.encode()}
        await call("lambda", "Invoke", params, **where)
    elif service == "sqs":
        params = {"QueueUrl": queue_url(arn, endpoint), "MessageBody": text}
        if message_group_id:
            params["MessageGroupId"] = message_group_id
        await call("sqs", "SendMessage", params, **where)
    elif service == "sns":
        await call("sns", "Publish", {"TopicArn": arn, "Message": text}, **where)
    else:
        return False
    return True


async def send_to_dead_letter_queue(
    call: Call, dlq_arn: str, body: str, attributes: dict[str, str], *, endpoint: str
) -> None:
    """Send a failed event's input to an SQS dead-letter queue with string message attributes."""
    parts = dlq_arn.split(":")
    await call(
        "sqs", "SendMessage",
        {
            "QueueUrl": queue_url(dlq_arn, endpoint),
            "MessageBody": body,
            "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        },
        region=parts[3], account_id=parts[4], endpoint=endpoint,
    )  # fmt: skip
