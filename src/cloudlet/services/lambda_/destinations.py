"""Where asynchronous invocations report how they ended: destinations and dead-letter queues.

When an async event ends (``invoke.InvokeOps._finish``) the deliveries it
causes are written to the provider's durable outbox (``lambda_outbox``) in the
same transaction that removes the event from the queue, so a crash can
neither lose them nor deliver them for an event still queued:

* ``OnSuccess`` / ``OnFailure`` of the event invoke config get AWS's
  invocation record (``record``): ``version`` "1.0", ``timestamp``,
  ``requestContext`` {requestId, functionArn, condition, approximateInvokeCount},
  ``requestPayload``, ``responseContext`` {statusCode, executedVersion,
  functionError}, ``responsePayload``;
* the function's ``DeadLetterConfig`` (SQS queue or SNS topic) gets the
  original event as the message body with the ``RequestID``, ``ErrorCode``
  and ``ErrorMessage`` message attributes, after the last failed attempt.

Targets by ARN service: ``lambda`` (an async ``Invoke`` through this
provider), ``sqs`` (``GetQueueUrl`` + ``SendMessage``), ``sns`` (``Publish``)
and ``events`` (``PutEvents``) — the last three through the hub's ``call``,
so they work as soon as those providers exist.  A failed delivery is retried
by the outbox and logged when it gives up.
"""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.engine.types import InvokeResult
from cloudlet.events import Outbox
from cloudlet.services.lambda_.base import ProviderCore
from cloudlet.services.lambda_.names import LATEST
from cloudlet.services.lambda_.store import OUTBOX_TABLE, AsyncEvent

log = logging.getLogger(__name__)

#: ``hub.call``: ``await call(service, operation, params, region=…, account_id=…, endpoint=…)``.
Call = Callable[..., Awaitable[dict[str, Any]]]
DELIVERY_RETRY_DELAYS = (0.2, 1.0, 5.0, 30.0, 120.0)
FAILURE_CONDITIONS = ("RetriesExhausted", "EventAgeExceeded")


def _iso(ts: float) -> str:
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")


def record(event: AsyncEvent, condition: str, attempts: int, version: str | None,
           result: InvokeResult | None, now: float) -> dict[str, Any]:  # fmt: skip
    """AWS's asynchronous invocation record."""
    function_arn = event.invoked_arn if event.qualifier else f"{event.invoked_arn}:{LATEST}"
    out: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _iso(now),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(event.payload),
    }
    if result is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": version or LATEST}
        if result.function_error:
            context["functionError"] = result.function_error
        out["responseContext"] = context
        out["responsePayload"] = _json_or_text(result.payload)
    return out


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """``(service, region, account, resource)`` of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn}")
    return parts[2], parts[3], parts[4], parts[5]


class DestinationOps(ProviderCore):
    call: Call | None = None
    outbox: Outbox

    def _init_destinations(self, call: Call | None) -> None:
        self.call = call
        self.outbox = Outbox(
            self.db, self._deliver_outbox, table=OUTBOX_TABLE, retry_delays=DELIVERY_RETRY_DELAYS,
            on_give_up=self._gave_up,
        )  # fmt: skip

    def enqueue_endings(self, event: AsyncEvent, condition: str, attempts: int, version: str | None,
                        result: InvokeResult | None, settings: dict[str, Any],
                        dead_letter: str | None, now: float) -> Callable[[sqlite3.Connection], None] | None:  # fmt: skip
        """The outbox writes for an ended event (to run in the transaction that ends it), or ``None``."""
        destinations = settings.get("DestinationConfig") or {}
        target = None
        if condition == "Success":
            target = (destinations.get("OnSuccess") or {}).get("Destination")
        elif condition in FAILURE_CONDITIONS:
            target = (destinations.get("OnFailure") or {}).get("Destination")
        dlq = dead_letter if condition in FAILURE_CONDITIONS else None
        if not target and not dlq:
            return None
        base = {"region": event.key.region, "account": event.key.account, "endpoint": event.endpoint}
        jobs: list[dict[str, Any]] = []
        if target:
            body = record(event, condition, attempts, version, result, now)
            jobs.append({**base, "target": target, "kind": "destination", "condition": condition,
                         "function_arn": body["requestContext"]["functionArn"], "body": json.dumps(body)})  # fmt: skip
        if dlq:
            message = "Function error" if result is not None and result.function_error else condition
            if result is not None and result.function_error:
                error = _json_or_text(result.payload)
                if isinstance(error, dict) and error.get("errorMessage"):
                    message = str(error["errorMessage"])
            jobs.append({**base, "target": dlq, "kind": "dead-letter", "body": event.payload.decode("utf-8", "replace"),
                         "attributes": {"RequestID": event.request_id, "ErrorCode": "200",
                                        "ErrorMessage": message[:1024]}})  # fmt: skip

        def write(conn: sqlite3.Connection) -> None:
            for job in jobs:
                self.outbox.enqueue(conn, job["kind"], job)

        return write

    async def _deliver_outbox(self, kind: str, job: dict[str, Any]) -> None:
        await self.deliver_to(job["target"], job, dead_letter=kind == "dead-letter")

    async def deliver_to(self, target: str, job: dict[str, Any], *, dead_letter: bool) -> None:
        service, region, account, resource = _arn_parts(target)
        body: str = job["body"]
        attributes = {
            name: {"DataType": "Number" if name == "ErrorCode" else "String", "StringValue": value}
            for name, value in (job.get("attributes") or {}).items()
        }
        if service == "lambda":
            ctx = RequestContext(
                request_id=str(uuid.uuid4()), service="lambda", operation="Invoke", region=region,
                account_id=account, access_key_id=None, endpoint=job.get("endpoint") or "",
            )  # fmt: skip
            invoke = getattr(self, "Invoke")  # noqa: B009 - provided by InvokeOps
            await invoke(ctx, {"FunctionName": target, "InvocationType": "Event", "Payload": body.encode()})
            return
        if self.call is None:
            raise RuntimeError(f"no route to {service} for {target}")
        where = {"region": region, "account_id": account}
        if service == "sqs":
            url = (await self.call("sqs", "GetQueueUrl", {"QueueName": resource, "QueueOwnerAWSAccountId": account},
                                   **where))["QueueUrl"]  # fmt: skip
            params: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
            if attributes:
                params["MessageAttributes"] = attributes
            await self.call("sqs", "SendMessage", params, **where)
        elif service == "sns":
            params = {"TopicArn": target, "Message": body}
            if attributes:
                params["MessageAttributes"] = attributes
            await self.call("sns", "Publish", params, **where)
        elif service == "events":
            outcome = "Success" if job.get("condition") == "Success" else "Failure"
            entry = {"Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {outcome}",
                     "Detail": body, "EventBusName": target, "Resources": [job.get("function_arn", "")]}  # fmt: skip
            await self.call("events", "PutEvents", {"Entries": [entry]}, **where)
        else:
            raise ValueError(f"unsupported destination {target}")

    async def _gave_up(self, kind: str, job: dict[str, Any], error: BaseException) -> None:
        log.warning("giving up delivering the async %s to %s: %r", kind, job.get("target"), error)
