"""Invoking a schedule's target, with the schedule's retry policy and dead-letter queue.

An invocation is an outbox event ``("invoke", payload)`` written in the same
transaction that advances the schedule.  The payload holds the target, the
schedule ARN, the nominal time, the execution id and the attempt number;
``Input`` placeholders (``<aws.scheduler.schedule-arn>``,
``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>``,
``<aws.scheduler.attempt-number>``) are filled when it is sent.  Without
``Input`` the target gets the default ``Scheduled Event`` notification.

Targets: Lambda (asynchronous ``Invoke``), SQS ``SendMessage`` (with
``SqsParameters.MessageGroupId``), SNS ``Publish``, EventBridge ``PutEvents``
(with ``EventBridgeParameters``) and universal targets
``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>`` whose ``Input`` is the
request.  A failure is retried with exponential backoff as a new outbox event
until ``RetryPolicy`` (``MaximumRetryAttempts`` default 185,
``MaximumEventAgeInSeconds`` default 86,400) is used up; then the input goes
to ``DeadLetterConfig.Arn`` (SQS) if set.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.events import Outbox
from cloudlet.services.events.base import event_time
from cloudlet.services.events.targets import (
    error_fields,
    put_on_bus,
    retry_delay,
    send_to_dead_letter_queue,
    send_to_target,
)
from cloudlet.storage import Database

log = logging.getLogger(__name__)

Sender = Callable[[dict[str, Any], str], Awaitable[None]]


def render_input(payload: dict[str, Any]) -> str:
    """The text the target receives for this attempt."""
    target = payload["target"]
    text = target.get("Input")
    if text is None:
        return json.dumps(
            {
                "version": "0",
                "id": payload["execution_id"],
                "detail-type": "Scheduled Event",
                "source": "aws.scheduler",
                "account": payload["account"],
                "time": event_time(payload["scheduled"]),
                "region": payload["region"],
                "resources": [payload["schedule"]],
                "detail": "{}",
            }
        )
    values = {
        "<aws.scheduler.schedule-arn>": payload["schedule"],
        "<aws.scheduler.scheduled-time>": event_time(payload["scheduled"]),
        "<aws.scheduler.execution-id>": payload["execution_id"],
        "<aws.scheduler.attempt-number>": str(int(payload.get("attempt", 0)) + 1),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return str(text)


def _pascal(action: str) -> str:
    return action[:1].upper() + action[1:]


class Invoker:
    def __init__(
        self,
        hub: Any,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
        sender: Sender | None = None,
    ) -> None:
        self.hub = hub
        self.db = db
        self.clock = clock
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.sender = sender
        self.outbox: Outbox | None = None
        self.invoked = 0
        self.dead_lettered = 0

    def endpoint(self) -> str:
        settings = getattr(self.hub, "settings", None)
        return str(getattr(settings, "endpoint", "http://127.0.0.1:4566"))

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        text = render_input(payload)
        try:
            if self.sender is not None:
                await self.sender(payload, text)
            else:
                await self.send(payload, text)
        except Exception as error:
            await self._failed(payload, text, error)
            return
        self.invoked += 1

    async def send(self, payload: dict[str, Any], text: str) -> None:
        target = payload["target"]
        arn: str = target["Arn"]
        parts = arn.split(":")
        if len(parts) < 6:
            raise ValueError(f"not a target ARN: {arn}")
        service = parts[2]
        region = parts[3] or payload["region"]
        account = parts[4] or payload["account"]
        call = self.hub.call
        if service == "scheduler" and parts[5] == "aws-sdk":
            api_service, action = parts[6], parts[7]
            await call(api_service, _pascal(action), json.loads(text), region=payload["region"], account_id=payload["account"])
        elif await send_to_target(
            call, arn, text, region=region, account=account, endpoint=self.endpoint(),
            message_group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"),
        ):  # fmt: skip
            return
        elif service == "events":
            extra = target.get("EventBridgeParameters") or {}
            entry = {
                "Source": extra.get("Source", "aws.scheduler"),
                "DetailType": extra.get("DetailType", "Scheduled Event"),
                "Detail": text,
                "Resources": [payload["schedule"]],
            }
            await put_on_bus(call, arn, entry, region=region, account=account)
        else:
            raise ValueError(f"target type {service} is not supported by Cloudlet ({arn})")

    async def _failed(self, payload: dict[str, Any], text: str, error: Exception) -> None:
        attempt = int(payload.get("attempt", 0)) + 1
        delay = retry_delay(payload["target"].get("RetryPolicy") or {}, attempt, first_at=float(payload["scheduled"]),
                            now=self.clock(), base_s=self.retry_base_s, cap_s=self.retry_cap_s)  # fmt: skip
        if delay is not None and self.outbox is not None:
            log.info("scheduler: %s attempt %d failed (%s); retry in %.1fs", payload["schedule"], attempt, error, delay)
            retry = {**payload, "attempt": attempt}
            outbox = self.outbox
            await self.db.write(lambda conn: outbox.enqueue(conn, "invoke", retry, delay_s=delay))
            outbox.wake()
            return
        await self.dead_letter(payload, text, error, attempt - 1)

    async def dead_letter(self, payload: dict[str, Any], text: str, error: Exception, retries: int) -> None:
        log.warning("scheduler: giving up on %s: %s", payload["schedule"], error)
        dlq = (payload["target"].get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return
        code, message = error_fields(error)
        attributes = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1024] or code,
            "EXECUTION_ID": payload["execution_id"],
            "RETRY_ATTEMPTS": str(retries),
            "SCHEDULE_ARN": payload["schedule"],
            "TARGET_ARN": payload["target"]["Arn"],
        }
        try:
            await send_to_dead_letter_queue(self.hub.call, dlq, text, attributes, endpoint=self.endpoint())
            self.dead_lettered += 1
        except Exception:
            log.exception("scheduler: sending to dead-letter queue %s failed", dlq)
