"""Publish and PublishBatch: validate, deduplicate (FIFO), filter, and enqueue one delivery per subscriber.

Filter policies are evaluated at publish time; the deliveries of one publish
(one batch) commit in one transaction with the FIFO deduplication record, so
an acknowledged publish is delivered even if the server dies right after.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError
from cloudlet.services.sns import filter_policy, store
from cloudlet.services.sns.base import SnsBase, timestamp
from cloudlet.services.sns.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameter,
    TooManyEntriesInBatchRequest,
)
from cloudlet.services.sns.store import Subscription, Topic
from cloudlet.services.sns.validation import (
    DEFAULT_MAX_MESSAGE_SIZE,
    attributes_size,
    message_attributes,
)

_BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass
class Outgoing:
    """A validated message of one Publish (or one batch entry)."""

    message_id: str
    message: str
    per_protocol: dict[str, str]
    subject: str | None
    attributes: dict[str, dict[str, str]]
    group_id: str | None
    dedup_key: str | None
    dedup_id: str | None
    sequence: str | None = None
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class PublishOperations(SnsBase):
    def _prepare(self, topic: Topic | None, params: dict[str, Any]) -> Outgoing:
        message = params.get("Message")
        if message is None or message == "":
            raise InvalidParameter("Empty message")
        message = str(message)
        subject = params.get("Subject")
        if subject is not None and (
            not subject or len(subject) >= 100 or "\n" in subject or "\r" in subject
        ):
            raise InvalidParameter("Subject")
        per_protocol: dict[str, str] = {}
        if params.get("MessageStructure") is not None:
            if params["MessageStructure"] != "json":
                raise InvalidParameter("MessageStructure")
            try:
                structure = json.loads(message)
            except ValueError:
                raise InvalidParameter(
                    "Message Structure - JSON message body failed to parse"
                ) from None
            if not isinstance(structure, dict) or not isinstance(structure.get("default"), str):
                raise InvalidParameter("Message Structure - No default entry in JSON message body")
            per_protocol = {k: str(v) for k, v in structure.items()}
            message = per_protocol["default"]
        attributes = message_attributes(params.get("MessageAttributes"))
        limit = int(
            (topic.attributes if topic else {}).get("MaximumMessageSize", DEFAULT_MAX_MESSAGE_SIZE)
        )
        if len(str(params["Message"]).encode()) + attributes_size(attributes) > limit:
            raise InvalidParameter("Message too long")
        group = params.get("MessageGroupId")
        dedup = params.get("MessageDeduplicationId")
        dedup_key = None
        if topic is not None and topic.fifo:
            if not group:
                raise InvalidParameter("The MessageGroupId parameter is required for FIFO topics")
            if not dedup:
                if topic.attributes.get("ContentBasedDeduplication") != "true":
                    raise InvalidParameter(
                        "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                        "provided explicitly"
                    )
                dedup = hashlib.sha256(str(params["Message"]).encode()).hexdigest()
            dedup_key = (
                f"{group}\x00{dedup}"
                if topic.attributes.get("FifoThroughputScope") == "MessageGroup"
                else dedup
            )
        elif dedup:
            raise InvalidParameter(
                "MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not "
                "valid for this topic type"
            )
        return Outgoing(
            str(uuid.uuid4()), message, per_protocol, subject, attributes, group, dedup_key, dedup
        )

    def _deliveries(self, ctx: RequestContext, topic: Topic, out: Outgoing) -> list[dict[str, Any]]:
        """One outbox payload per confirmed subscription whose filter policy lets the message through."""
        payloads = []
        for sub in list(self.by_topic.get(topic.arn, {}).values()):
            if not sub.confirmed or not _passes(sub, out):
                continue
            message = (
                out.per_protocol.get(sub.protocol, out.message) if out.per_protocol else out.message
            )
            redrive = sub.attributes.get("RedrivePolicy")
            payloads.append(
                {
                    "sub": sub.arn,
                    "protocol": sub.protocol,
                    "endpoint": sub.endpoint,
                    "raw": sub.raw,
                    "topic": topic.arn,
                    "fifo": topic.fifo,
                    "id": out.message_id,
                    "message": message,
                    "subject": out.subject,
                    "ts": timestamp(),
                    "attrs": out.attributes,
                    "group": out.group_id,
                    "dedup": out.dedup_id,
                    "seq": out.sequence,
                    "region": topic.region,
                    "account": topic.account,
                    "url": ctx.endpoint,
                    "sigv": topic.attributes.get("SignatureVersion", "1"),
                    "dlq": json.loads(redrive).get("deadLetterTargetArn") if redrive else None,
                }
            )
        return payloads

    async def _commit(self, ctx: RequestContext, topic: Topic, messages: list[Outgoing]) -> None:
        """Deduplicate and enqueue the deliveries of ``messages`` in one transaction."""
        now = time.time()
        if not topic.fifo:
            payloads = [
                payload for out in messages for payload in self._deliveries(ctx, topic, out)
            ]
            if not payloads:
                return  # nobody to deliver to: nothing to make durable

            def enqueue(conn: Any) -> None:
                for payload in payloads:
                    self.outbox.enqueue(conn, "deliver", payload)

            await self.db.write(enqueue)
            self.outbox.wake()
            return

        def write(conn: Any) -> None:
            for out in messages:
                if out.dedup_key is not None:
                    message_id, seq, duplicate = store.deduplicate(
                        conn, topic.arn, out.dedup_key, out.message_id, now
                    )
                    out.message_id = message_id
                    out.sequence = f"{10000000000000000000 + seq}"
                    if duplicate:
                        continue
                for payload in self._deliveries(ctx, topic, out):
                    self.fifo_outbox.enqueue(conn, "deliver", payload)

        await self.db.write(write)
        self.fifo_outbox.wake()

    async def Publish(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn and params.get("PhoneNumber"):
            self._prepare(None, params)
            return {"MessageId": str(uuid.uuid4())}  # SMS is accepted and not sent
        topic = self.topic(ctx, arn, parameter="TopicArn or TargetArn")
        out = self._prepare(topic, params)
        await self._commit(ctx, topic, [out])
        result = {"MessageId": out.message_id}
        if out.sequence:
            result["SequenceNumber"] = out.sequence
        return result

    async def PublishBatch(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        topic = self.topic(ctx, params.get("TopicArn"))
        entries = list(params.get("PublishBatchRequestEntries") or ())
        if not entries:
            raise EmptyBatchRequest("The batch request doesn't contain any entries")
        if len(entries) > 10:
            raise TooManyEntriesInBatchRequest(
                "The batch request contains more entries than permissible"
            )
        ids = [str(e.get("Id", "")) for e in entries]
        if len(set(ids)) != len(ids):
            raise BatchEntryIdsNotDistinct(
                "Two or more batch entries in the request have the same Id"
            )
        if any(not _BATCH_ID_RE.match(i) for i in ids):
            raise InvalidBatchEntryId(
                "The Id of a batch entry in a batch request doesn't abide by the specification"
            )
        limit = int(topic.attributes.get("MaximumMessageSize", DEFAULT_MAX_MESSAGE_SIZE))
        if sum(len(str(e.get("Message", "")).encode()) for e in entries) > limit:
            raise BatchRequestTooLong(
                "The length of all the messages put together is more than the limit."
            )
        good: list[tuple[str, Outgoing]] = []
        failed: list[dict[str, Any]] = []
        for entry in entries:
            try:
                good.append((entry["Id"], self._prepare(topic, entry)))
            except ServiceError as error:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": error.code,
                        "Message": error.message,
                        "SenderFault": error.sender_fault,
                    }
                )
        if good:
            await self._commit(ctx, topic, [out for _, out in good])
        successful = []
        for entry_id, out in good:
            item = {"Id": entry_id, "MessageId": out.message_id}
            if out.sequence:
                item["SequenceNumber"] = out.sequence
            successful.append(item)
        return {"Successful": successful, "Failed": failed}


def _passes(sub: Subscription, out: Outgoing) -> bool:
    text = sub.attributes.get("FilterPolicy")
    if not text:
        return True
    scope = sub.attributes.get("FilterPolicyScope", "MessageAttributes")
    try:
        policy = filter_policy.parse(text, scope)
    except filter_policy.FilterPolicyError:
        return False
    return filter_policy.matches(policy, scope, out.attributes, out.message)
