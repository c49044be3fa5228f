"""Delivering matched events to targets (Lambda, SQS, SNS, another event bus), with retries and DLQ.

Each delivery is an outbox event ``("target", payload)`` written in the same
transaction as the ``PutEvents`` call (or the scheduled firing) that caused
it.  The payload carries everything needed to send it — the target ARN, the
rendered input, the target's ``RetryPolicy`` and ``DeadLetterConfig`` — so a
delivery after a restart needs no look-up.

A failed send is retried with exponential backoff (``retry_base_s`` doubling
up to ``retry_cap_s``) as a *new* outbox event carrying the attempt number,
until ``MaximumRetryAttempts`` (default 185) or ``MaximumEventAgeInSeconds``
(default 86,400) is used up; then the input goes to the dead-letter queue if
the target has one, with the message attributes EventBridge sets
(``RULE_ARN``, ``TARGET_ARN``, ``ERROR_CODE``, ``ERROR_MESSAGE``), else it is
dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.events import Outbox
from cloudlet.services.events.targets import (
    error_fields,
    put_on_bus,
    retry_delay,
    send_to_dead_letter_queue,
    send_to_target,
)
from cloudlet.storage import Database

log = logging.getLogger(__name__)

Sender = Callable[[dict[str, Any]], Awaitable[None]]


class Unsupported(Exception):
    """A target type Cloudlet does not deliver to."""


class Deliverer:
    """Sends one target payload through the hub, retrying and dead-lettering per the target."""

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
        self.sent = 0
        self.dead_lettered = 0

    def endpoint(self, payload: dict[str, Any]) -> str:
        endpoint = payload.get("endpoint")
        if endpoint:
            return str(endpoint)
        settings = getattr(self.hub, "settings", None)
        return str(getattr(settings, "endpoint", "http://127.0.0.1:4566"))

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            await self.send(payload)
        except Unsupported as error:
            log.warning("events: %s", error)
            return
        except Exception as error:
            await self._failed(payload, error)
            return
        self.sent += 1

    async def send(self, payload: dict[str, Any]) -> None:
        if self.sender is not None:
            await self.sender(payload)
            return
        arn: str = payload["arn"]
        parts = arn.split(":")
        if len(parts) < 6:
            raise Unsupported(f"not a target ARN: {arn}")
        service, region, account = parts[2], parts[3] or payload["region"], parts[4] or payload["account"]
        text: str = payload["input"]
        call = self.hub.call
        group = (payload.get("sqs") or {}).get("MessageGroupId")
        endpoint = self.endpoint(payload)
        if await send_to_target(call, arn, text, region=region, account=account, endpoint=endpoint, message_group_id=group):
            return
        if service == "events" and ":event-bus/" in arn:
            event = json.loads(text)
            entry = {
                "Source": event.get("source"),
                "DetailType": event.get("detail-type"),
                "Detail": json.dumps(event.get("detail", {})),
                "Resources": event.get("resources") or [],
            }
            await put_on_bus(call, arn, entry, region=region, account=account)
        else:
            raise Unsupported(f"target type {service} is not supported ({arn})")

    async def _failed(self, payload: dict[str, Any], error: Exception) -> None:
        attempt = int(payload.get("attempt", 0)) + 1
        now = self.clock()
        delay = retry_delay(payload.get("retry") or {}, attempt, first_at=float(payload.get("first_at", now)),
                            now=now, base_s=self.retry_base_s, cap_s=self.retry_cap_s)  # fmt: skip
        if delay is not None and self.outbox is not None:
            log.info("events: delivery to %s failed (%s); retry %d in %.1fs", payload["arn"], error, attempt, delay)
            retry = {**payload, "attempt": attempt}
            outbox = self.outbox
            await self.db.write(lambda conn: outbox.enqueue(conn, "target", retry, delay_s=delay))
            outbox.wake()
            return
        await self.dead_letter(payload, error)

    async def dead_letter(self, payload: dict[str, Any], error: Exception) -> None:
        dlq = (payload.get("dlq") or {}).get("Arn")
        log.warning("events: giving up on delivery to %s: %s", payload["arn"], error)
        if not dlq:
            return
        code, message = error_fields(error)
        attributes = {
            "RULE_ARN": payload.get("rule", ""),
            "TARGET_ARN": payload["arn"],
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1024],
        }
        try:
            body = payload["input"]
            kept = {k: v for k, v in attributes.items() if v}
            await send_to_dead_letter_queue(self.hub.call, dlq, body, kept, endpoint=self.endpoint(payload))
            self.dead_lettered += 1
        except Exception:
            log.exception("events: sending to dead-letter queue %s failed", dlq)
