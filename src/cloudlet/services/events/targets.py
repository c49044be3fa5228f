"""Sending a rendered event to a Lambda, SQS or SNS target, and to an SQS dead-letter queue.

Shared by EventBridge rule targets and EventBridge Scheduler targets: both hand
the target's ARN and the text it receives to ``send_to_target``; what differs
between them (event-bus and universal targets, retry policies) stays with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[..., Awaitable[dict[str, Any]]]


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
