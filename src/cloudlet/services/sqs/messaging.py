"""Message operations: send, receive (with long polling), delete, change visibility; single and batch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.sqs import store
from cloudlet.services.sqs.base import SqsBase, now_ms
from cloudlet.services.sqs.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValue,
    MessageNotInflight,
    MissingParameter,
    TooManyEntriesInBatchRequest,
)
from cloudlet.services.sqs.messages import (
    api_attributes,
    attributes_size,
    check_body,
    md5_of_attributes,
    md5_of_body,
    normalize_attributes,
    select_attributes,
    select_system_attributes,
)
from cloudlet.services.sqs.store import NewMessage, Queue

_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_BATCH_BYTES = 1048576
#: How long a FIFO ReceiveRequestAttemptId replays its answer (at most the visibility timeout).
ATTEMPT_WINDOW_S = 300


def _int_param(params: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    number = int(value)
    if not low <= number <= high:
        raise InvalidParameterValue(
            f"Value {number} for parameter {name} is invalid. Reason: Must be between {low} and {high}, if provided."
        )
    return number


def _check_batch(entries: list[dict[str, Any]], entry_name: str) -> None:
    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {entry_name} in the request.")
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are 10. You have sent {len(entries)}."
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = str(entry.get("Id", ""))
        if not _BATCH_ID_RE.match(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def _failure(entry_id: str, error: ServiceError) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": error.code,
        "Message": error.message,
    }


class MessageOperations(SqsBase):
    # -- send ---------------------------------------------------------------

    def prepare(self, ctx: RequestContext, queue: Queue, params: dict[str, Any]) -> NewMessage:
        """Validate one message (SendMessage params or a batch entry) into what the store keeps."""
        body = check_body(params.get("MessageBody"))
        attributes = normalize_attributes(params.get("MessageAttributes"))
        size = len(body.encode()) + attributes_size(attributes)
        limit = queue.number("MaximumMessageSize")
        if size > limit:
            raise InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        delay = _int_param(params, "DelaySeconds", 0, 900)
        system: dict[str, str] = {}
        for name, value in (params.get("MessageSystemAttributes") or {}).items():
            if (
                name != "AWSTraceHeader"
                or value.get("DataType") != "String"
                or not value.get("StringValue")
            ):
                raise InvalidParameterValue(
                    f"Message system attribute name '{name}' is invalid or its value is not a non-empty String."
                )
            system[name] = str(value["StringValue"])
        group = params.get("MessageGroupId")
        dedup = params.get("MessageDeduplicationId")
        dedup_key = None
        if queue.fifo:
            if delay:
                raise InvalidParameterValue(
                    f"Value {delay} for parameter DelaySeconds is invalid. Reason: The request include parameter "
                    "that is not valid for this queue type."
                )
            if not group:
                raise MissingParameter("The request must contain the parameter MessageGroupId.")
            if not dedup:
                if not queue.content_dedup:
                    raise InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                        "provided explicitly"
                    )
                dedup = hashlib.sha256(body.encode()).hexdigest()
            scope_group = queue.attributes.get("DeduplicationScope") == "messageGroup"
            dedup_key = f"{group}\x00{dedup}" if scope_group else dedup
        elif dedup:
            raise InvalidParameterValue(
                f"Value {dedup} for parameter MessageDeduplicationId is invalid. Reason: The request includes a "
                "parameter that is not valid for this queue type."
            )
        delay_s = delay if delay is not None else queue.number("DelaySeconds")
        return NewMessage(
            message_id=str(uuid.uuid4()),
            body=body,
            attributes=attributes,
            system=system,
            md5_body=md5_of_body(body),
            md5_attributes=md5_of_attributes(attributes) if attributes else None,
            sender_id=ctx.access_key_id or ctx.account_id,
            delay_ms=delay_s * 1000,
            group_id=group,
            dedup_id=dedup if queue.fifo else None,
            dedup_key=dedup_key,
        )

    async def _store(self, queue: Queue, messages: list[NewMessage]) -> list[store.Sent]:
        now = now_ms()
        sent = await self.db.point_write(lambda conn: store.insert_messages(conn, queue, messages, now))
        self.notify(queue.id)
        return sent

    @staticmethod
    def _sent_result(message: NewMessage, sent: store.Sent) -> dict[str, Any]:
        out: dict[str, Any] = {"MD5OfMessageBody": message.md5_body, "MessageId": sent.message_id}
        if message.md5_attributes:
            out["MD5OfMessageAttributes"] = message.md5_attributes
        if message.system:
            out["MD5OfMessageSystemAttributes"] = md5_of_attributes(
                {k: {"DataType": "String", "StringValue": v} for k, v in message.system.items()}
            )
        if sent.sequence_number:
            out["SequenceNumber"] = sent.sequence_number
        return out

    async def SendMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        message = self.prepare(ctx, queue, params)
        (sent,) = await self._store(queue, [message])
        return self._sent_result(message, sent)

    async def SendMessageBatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        entries = list(params.get("Entries") or ())
        _check_batch(entries, "SendMessageBatchRequestEntry")
        total = sum(len(str(e.get("MessageBody", "")).encode()) for e in entries)
        if total > MAX_BATCH_BYTES:
            raise BatchRequestTooLong(
                f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes."
            )
        failed: list[dict[str, Any]] = []
        good: list[tuple[str, NewMessage]] = []
        for entry in entries:
            try:
                good.append((entry["Id"], self.prepare(ctx, queue, entry)))
            except ServiceError as error:
                failed.append(_failure(entry["Id"], error))
        successful = []
        if good:
            sent = await self._store(queue, [m for _, m in good])
            for (entry_id, message), result in zip(good, sent, strict=True):
                successful.append({"Id": entry_id, **self._sent_result(message, result)})
        return {"Successful": successful, "Failed": failed}

    # -- receive ------------------------------------------------------------

    async def ReceiveMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        limit = _int_param(params, "MaxNumberOfMessages", 1, 10) or 1
        wait = _int_param(params, "WaitTimeSeconds", 0, 20)
        if wait is None:
            wait = queue.number("ReceiveMessageWaitTimeSeconds")
        visibility = _int_param(params, "VisibilityTimeout", 0, 43200)
        if visibility is None:
            visibility = queue.number("VisibilityTimeout")
        system_names = select_system_attributes(
            [
                *(params.get("AttributeNames") or ()),
                *(params.get("MessageSystemAttributeNames") or ()),
            ]
        )
        attribute_names = params.get("MessageAttributeNames")
        attempt = params.get("ReceiveRequestAttemptId") if queue.fifo else None
        if attempt:
            replay = self._attempts.get((queue.id, attempt))
            if replay is not None and replay[0] > time.monotonic():
                return replay[1]
        deadline = time.monotonic() + wait
        while True:
            generation = self.generation(queue.id)
            rows, wake_at = await self._receive_once(queue, limit, visibility * 1000)
            if rows and attempt:
                result = {
                    "Messages": [
                        self._message(queue, row, system_names, attribute_names) for row in rows
                    ]
                }
                self._remember_attempt(queue.id, attempt, result, min(visibility, ATTEMPT_WINDOW_S))
                return result
            if rows:
                return {
                    "Messages": [
                        self._message(queue, row, system_names, attribute_names) for row in rows
                    ]
                }
            remaining = deadline - time.monotonic()
            if remaining <= 0 or queue.id not in self.by_id or self.stopping:
                return {}
            if generation != self.generation(queue.id):
                continue
            if wake_at is not None:
                remaining = min(remaining, max(0.0, wake_at / 1000 - time.time()) + 0.001)
            await self.wait(queue.id, remaining)

    def _remember_attempt(
        self, queue_id: int, attempt: str, result: dict[str, Any], ttl: float
    ) -> None:
        """A retried FIFO receive with the same attempt id gets the same messages (within their visibility)."""
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._attempts.items() if expires <= now]:
            del self._attempts[key]
        self._attempts[(queue_id, attempt)] = (now + ttl, result)

    async def _receive_once(
        self, queue: Queue, limit: int, visibility_ms: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        dead_letter = self.dead_letter_queue(queue)
        now = now_ms()

        def run(conn: Any) -> tuple[list[dict[str, Any]], bool, int | None]:
            rows, moved = store.receive(conn, queue, dead_letter, limit, visibility_ms, now)
            wake_at = None if rows else store.next_visible(conn, queue.id, now)
            return rows, moved, wake_at

        # A standard queue's receive is a few index look-ups: on the loop when the writer is idle.
        # A FIFO receive may skip many in-flight rows of blocked groups: the writer thread's job.
        write = self.db.write if queue.fifo else self.db.point_write
        rows, moved, wake_at = await write(run)
        if moved and dead_letter is not None:
            self.notify(dead_letter.id)
        return rows, wake_at

    @staticmethod
    def _message(
        queue: Queue, row: dict[str, Any], system_names: set[str], attribute_names: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": row["message_id"],
            "ReceiptHandle": row["receipt_handle"],
            "MD5OfBody": row["md5_body"],
            "Body": row["body"],
        }
        if system_names:
            system = json.loads(row["system"])
            available = {
                "SenderId": row["sender_id"],
                "SentTimestamp": str(row["sent_at"]),
                "ApproximateReceiveCount": str(row["receive_count"]),
                "ApproximateFirstReceiveTimestamp": str(row["first_receive_at"]),
                "SequenceNumber": row["sequence_number"],
                "MessageDeduplicationId": row["dedup_id"],
                "MessageGroupId": row["group_id"],
                "AWSTraceHeader": system.get("AWSTraceHeader"),
                "DeadLetterQueueSourceArn": system.get("DeadLetterQueueSourceArn"),
            }
            attributes = {k: v for k, v in available.items() if k in system_names and v is not None}
            if attributes:
                out["Attributes"] = attributes
        stored = json.loads(row["attributes"])
        selected = select_attributes(stored, attribute_names)
        if selected:
            # SDKs verify the digest against the attributes returned.
            out["MD5OfMessageAttributes"] = (
                row["md5_attributes"]
                if len(selected) == len(stored)
                else md5_of_attributes(selected)
            )
            out["MessageAttributes"] = api_attributes(selected)
        elif stored:
            out["MD5OfMessageAttributes"] = row["md5_attributes"]
        return out

    # -- delete / change visibility ----------------------------------------

    async def DeleteMessage(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        await self._delete(queue, params.get("ReceiptHandle"))
        return {}

    async def _delete(self, queue: Queue, handle: Any) -> None:
        if not handle:
            raise MissingParameter("The request must contain the parameter ReceiptHandle.")
        queue_id, row_id, token = store.parse_receipt(str(handle))
        if queue_id != queue.id:
            raise store.ReceiptHandleIsInvalid(
                f'The input receipt handle "{handle}" is not a valid receipt handle.'
            )
        await self.db.point_write(lambda conn: store.delete_message(conn, queue.id, row_id, token))
        if queue.fifo:
            self.notify(queue.id)  # the next message of the group may be receivable now

    async def DeleteMessageBatch(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        return await self._batch(
            params,
            "DeleteMessageBatchRequestEntry",
            lambda entry: self._delete(queue, entry.get("ReceiptHandle")),
        )

    async def ChangeMessageVisibility(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        await self._change(queue, params)
        return {}

    async def _change(self, queue: Queue, params: dict[str, Any]) -> None:
        handle = params.get("ReceiptHandle")
        if not handle:
            raise MissingParameter("The request must contain the parameter ReceiptHandle.")
        visibility = _int_param(params, "VisibilityTimeout", 0, 43200)
        if visibility is None:
            raise MissingParameter("The request must contain the parameter VisibilityTimeout.")
        queue_id, row_id, token = store.parse_receipt(str(handle))
        now = now_ms()
        outcome = await self.db.write(
            lambda conn: store.change_visibility(
                conn, queue.id, row_id, token, visibility * 1000, now
            )
        )
        if outcome == "missing" or queue_id != queue.id:
            raise InvalidParameterValue(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not "
                "available for visibility timeout change."
            )
        if outcome == "not-inflight":
            raise MessageNotInflight()
        if outcome == "too-long":
            raise InvalidParameterValue(
                f"Value {visibility} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout "
                "for the message is beyond the limit [43200 seconds]"
            )
        if visibility == 0:
            self.notify(queue.id)

    async def ChangeMessageVisibilityBatch(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        return await self._batch(
            params, "ChangeMessageVisibilityBatchRequestEntry", lambda e: self._change(queue, e)
        )

    @staticmethod
    async def _batch(
        params: dict[str, Any], entry_name: str, run: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> dict[str, Any]:
        entries = list(params.get("Entries") or ())
        _check_batch(entries, entry_name)
        outcomes = await asyncio.gather(*(run(entry) for entry in entries), return_exceptions=True)
        successful: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for entry, outcome in zip(entries, outcomes, strict=True):
            if isinstance(outcome, ServiceError):
                failed.append(_failure(entry["Id"], outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}
