"""Event notifications: configuration, the event record, outbox enqueue and delivery.

An event is enqueued in the outbox inside the same transaction as the change
that caused it (``emit`` is called from the object write jobs), so an
acknowledged PUT's notification survives ``kill -9``.  Delivery goes through
``hub.call``: Lambda ``Invoke`` (``Event``), SQS ``SendMessage``, SNS
``Publish``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from cloudlet.context import RequestContext
from cloudlet.errors import NotImplementedOperation, ServiceError
from cloudlet.events.outbox import Enqueued
from cloudlet.services.s3 import errors
from cloudlet.services.s3.base import Bucket, ObjectRow, owner_id
from cloudlet.services.s3.notify_rules import iter_configs, targets_for, validate_notification
from cloudlet.services.s3.objects import ObjectsMixin

log = logging.getLogger(__name__)


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource name) of a lambda/sqs/sns ARN."""
    parts = arn.split(":")
    if len(parts) < 6:
        raise ValueError(arn)
    name = parts[6] if parts[2] == "lambda" and len(parts) > 6 else parts[5]
    return parts[3], parts[4], name


def event_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def build_record(ctx: RequestContext, bucket: Bucket, event: str, obj: ObjectRow, config_id: str,
                 now: float) -> dict[str, Any]:
    details: dict[str, Any] = {"key": quote_plus(obj.key, safe="/")}
    if event.startswith("ObjectCreated"):
        details["size"] = obj.size
        details["eTag"] = obj.etag.strip('"')
    if bucket.versioning is not None or obj.version_id != "null":
        details["versionId"] = obj.version_id
    details["sequencer"] = f"{obj.seq:016X}"
    principal = "s3.amazonaws.com" if event.startswith("Lifecycle") else (ctx.access_key_id or "Anonymous")
    return {
        "eventVersion": "2.3" if event.startswith(("ObjectTagging", "LifecycleExpiration")) else "2.1",
        "eventSource": "aws:s3",
        "awsRegion": bucket.region,
        "eventTime": event_time(now),
        "eventName": event,
        "userIdentity": {"principalId": f"AWS:{principal}"},
        "requestParameters": {"sourceIPAddress": ctx.headers.get("x-forwarded-for", "127.0.0.1")},
        "responseElements": {"x-amz-request-id": ctx.request_id.replace("-", "")[:16].upper(),
                             "x-amz-id-2": ctx.request_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": config_id,
            "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": owner_id(bucket.account_id)[:14]},
                       "arn": f"arn:aws:s3:::{bucket.name}"},
            "object": details,
        },
    }


class NotificationsMixin(ObjectsMixin):
    hub: Any = None

    def emit(self, conn: sqlite3.Connection, ctx: RequestContext, bucket: Bucket, event: str,
             obj: ObjectRow) -> list[Enqueued]:
        if self.outbox is None:
            return []
        row = conn.execute("SELECT value FROM bucket_config WHERE bucket = ? AND kind = 'notification'",
                           (bucket.name,)).fetchone()
        if row is None:
            return []
        targets = targets_for(json.loads(row["value"]), event, obj.key)
        now = time.time()
        out = []
        for target in targets:
            record = build_record(ctx, bucket, event, obj, target.config_id, now)
            payload = {"arn": target.arn, "event": {"Records": [record]}, "endpoint": ctx.endpoint,
                       "bucket": bucket.name}
            out.append(Enqueued(self.outbox.enqueue(conn, target.kind, payload), target.kind, payload))
        return out

    async def deliver(self, kind: str, payload: dict[str, Any]) -> None:
        arn = payload["arn"]
        region, account, name = _arn_parts(arn)
        body = json.dumps(payload["event"])
        endpoint = payload.get("endpoint")
        if kind == "lambda":
            bucket = payload.get("bucket") or ""
            if bucket and not await self._lambda_allows(bucket, arn):
                # As on AWS: without a resource policy letting S3 invoke it, the event is lost.
                log.warning("S3 may not invoke %s (no lambda:InvokeFunction permission for bucket %s); "
                            "dropping the event", arn, bucket)
                return
            await self.hub.call("lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event",
                                                     "Payload": body.encode()},
                                region=region, account_id=account, endpoint=endpoint)
        elif kind == "sqs":
            found = await self.hub.call("sqs", "GetQueueUrl", {"QueueName": name, "QueueOwnerAWSAccountId": account},
                                        region=region, account_id=account, endpoint=endpoint)
            await self.hub.call("sqs", "SendMessage", {"QueueUrl": found["QueueUrl"], "MessageBody": body},
                                region=region, account_id=account, endpoint=endpoint)
        elif kind == "sns":
            await self.hub.call("sns", "Publish", {"TopicArn": arn, "Message": body,
                                                   "Subject": "Amazon S3 Notification"},
                                region=region, account_id=account, endpoint=endpoint)

    async def give_up(self, kind: str, payload: dict[str, Any], error: BaseException) -> None:
        log.warning("dropping S3 notification to %s after retries: %s", payload.get("arn"), error)

    # -- configuration ---------------------------------------------------------

    async def _lambda_allows(self, bucket: str, arn: str) -> bool:
        region, account, _ = _arn_parts(arn)
        try:
            found = await self.hub.call("lambda", "GetPolicy", {"FunctionName": arn}, region=region,
                                        account_id=account)
        except ServiceError:
            return False
        document = json.loads(found.get("Policy") or "{}")
        bucket_arn = f"arn:aws:s3:::{bucket}"
        for statement in document.get("Statement") or []:
            principal = statement.get("Principal")
            service = principal.get("Service") if isinstance(principal, dict) else principal
            services = service if isinstance(service, list) else [service]
            if statement.get("Effect") != "Allow" or not any(s in ("s3.amazonaws.com", "*") for s in services):
                continue
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
                continue
            condition = statement.get("Condition") or {}
            source = (condition.get("ArnLike") or {}).get("AWS:SourceArn") or (
                condition.get("ArnEquals") or {}).get("AWS:SourceArn")
            if source is None or source == bucket_arn or (source.endswith("*") and bucket_arn.startswith(source[:-1])):
                return True
        return False

    async def _destination_ok(self, bucket: Bucket, kind: str, arn: str) -> bool:
        try:
            region, account, name = _arn_parts(arn)
        except ValueError:
            return False
        if kind == "lambda":
            return await self._lambda_allows(bucket.name, arn)
        try:
            if kind == "sqs":
                await self.hub.call("sqs", "GetQueueUrl", {"QueueName": name, "QueueOwnerAWSAccountId": account},
                                    region=region, account_id=account)
            else:
                await self.hub.call("sns", "GetTopicAttributes", {"TopicArn": arn}, region=region,
                                    account_id=account)
        except NotImplementedOperation:
            return True  # the service has not landed yet: store, deliver once it has
        except ServiceError:
            return False
        return True

    async def PutBucketNotificationConfiguration(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = dict(params.get("NotificationConfiguration") or {})
        validate_notification(config)
        if not params.get("SkipDestinationValidation"):
            failed = [item[arn_member] for kind, arn_member, item in iter_configs(config)
                      if not await self._destination_ok(bucket, kind, item[arn_member])]
            if failed:
                raise errors.invalid_argument("Unable to validate the following destination configurations",
                                              failed[0], "Permissions on the destination are not sufficient")

        test_targets = [(kind, item[arn_member]) for kind, arn_member, item in iter_configs(config)
                        if kind in ("sqs", "sns")]
        now = time.time()

        def put(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO bucket_config (bucket, kind, value) VALUES (?, 'notification', ?)",
                         (bucket.name, json.dumps(config)))
            if self.outbox is None:
                return
            for kind, arn in test_targets:
                event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": event_time(now),
                         "Bucket": bucket.name, "RequestId": uuid.uuid4().hex[:16].upper(),
                         "HostId": ctx.request_id}
                self.outbox.enqueue(conn, kind, {"arn": arn, "event": event, "endpoint": ctx.endpoint})

        await self.db.write(put)
        self.after_write([])
        return {}

    async def GetBucketNotificationConfiguration(self, ctx: RequestContext,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        bucket = await self.authorize(ctx, params["Bucket"])
        config = await self.bucket_config(bucket.name, "notification")
        return dict(config or {})
