"""Queue operations: create, look up, list, attributes, purge, delete, tags, dead-letter sources, move tasks."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.sqs import store
from cloudlet.services.sqs.attributes import (
    ALL_NAMES,
    FIFO_DEFAULTS,
    STANDARD_DEFAULTS,
    check_queue_name,
    normalize,
    queue_url,
    redrive_allow_policy,
    redrive_policy,
)
from cloudlet.services.sqs.base import SqsBase, now_ms
from cloudlet.services.sqs.errors import (
    InvalidAttributeName,
    InvalidParameterValue,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    ResourceNotFound,
)
from cloudlet.services.sqs.store import Queue

PURGE_INTERVAL_S = 60.0


class QueueOperations(SqsBase):
    async def CreateQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not name:
            raise MissingParameter("The request must contain the parameter QueueName.")
        given = dict(params.get("Attributes") or {})
        fifo = str(given.get("FifoQueue", "false")).lower() == "true"
        check_queue_name(name, fifo)
        attributes = normalize(given, fifo=fifo, creating=True)
        existing = self.queues.get((ctx.account_id, ctx.region, name))
        if existing is not None:
            for key, value in attributes.items():
                current = existing.attributes.get(
                    key, (FIFO_DEFAULTS | STANDARD_DEFAULTS).get(key, "")
                )
                if current != value:
                    raise QueueNameExists(
                        f"A queue already exists with the same name and a different value for attribute {key}"
                    )
            return {"QueueUrl": self.url(ctx, existing)}
        self._check_redrive(ctx, name, fifo, attributes)
        now = int(time.time())
        queue = Queue(
            id=0,
            account=ctx.account_id,
            region=ctx.region,
            name=name,
            fifo=fifo,
            attributes={**STANDARD_DEFAULTS, **(FIFO_DEFAULTS if fifo else {}), **attributes},
            tags=dict(params.get("tags") or {}),
            created=now,
            modified=now,
        )
        try:
            queue.id = await self.db.write(lambda conn: store.insert_queue(conn, queue))
        except sqlite3.IntegrityError:
            # A concurrent CreateQueue of the same name won the race.
            winner = self.queues.get((ctx.account_id, ctx.region, name))
            if winner is None or any(winner.attributes.get(k) != v for k, v in attributes.items()):
                raise QueueNameExists(
                    "A queue already exists with the same name and a different value for attribute"
                ) from None
            return {"QueueUrl": self.url(ctx, winner)}
        self.remember(queue)
        return {"QueueUrl": self.url(ctx, queue)}

    def _check_redrive(
        self, ctx: RequestContext, name: str, fifo: bool, attributes: dict[str, str]
    ) -> None:
        text = attributes.get("RedrivePolicy")
        if not text:
            return
        policy = redrive_policy(text)
        target = self.queue_by_arn(policy["deadLetterTargetArn"])
        if target is None:
            raise InvalidParameterValue(
                f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
            )
        if target.fifo != fifo:
            raise InvalidParameterValue(
                f"Value {text} for parameter RedrivePolicy is invalid. Reason: Dead-letter target owner should be "
                "same as the source and type of the target must match the source queue type."
            )
        allow_text = target.attributes.get("RedriveAllowPolicy")
        if allow_text:
            allow = redrive_allow_policy(allow_text)
            source_arn = f"arn:aws:sqs:{ctx.region}:{ctx.account_id}:{name}"
            permission = allow["redrivePermission"]
            if permission == "denyAll" or (
                permission == "byQueue" and source_arn not in allow["sourceQueueArns"]
            ):
                raise InvalidParameterValue(
                    f"Value {text} for parameter RedrivePolicy is invalid. Reason: Queue {source_arn} is not allowed "
                    "to use the dead-letter queue by its redrive allow policy."
                )

    async def GetQueueUrl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        queue = self.queues.get((account, ctx.region, params.get("QueueName", "")))
        if queue is None:
            raise QueueDoesNotExist()
        return {"QueueUrl": self.url(ctx, queue)}

    async def ListQueues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("QueueNamePrefix") or ""
        names = sorted(
            q.name
            for (account, region, name), q in self.queues.items()
            if account == ctx.account_id and region == ctx.region and name.startswith(prefix)
        )
        return _page(
            names, params, lambda n: queue_url(ctx.endpoint, ctx.account_id, n), "QueueUrls"
        )

    async def DeleteQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        await self.db.write(lambda conn: store.delete_queue(conn, queue.id))
        self.forget(queue)
        return {}

    async def GetQueueAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        names = set(params.get("AttributeNames") or ())
        for name in names:
            if name != "All" and name not in ALL_NAMES:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if not names:
            return {}
        want_all = "All" in names
        out: dict[str, str] = {}
        for key, value in queue.attributes.items():
            if want_all or key in names:
                out[key] = value
        if want_all or names & {
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        }:
            now = now_ms()
            visible, inflight, delayed = await self.db.read(
                lambda conn: store.counts(conn, queue.id, now)
            )
            out["ApproximateNumberOfMessages"] = str(visible)
            out["ApproximateNumberOfMessagesNotVisible"] = str(inflight)
            out["ApproximateNumberOfMessagesDelayed"] = str(delayed)
        out["CreatedTimestamp"] = str(queue.created)
        out["LastModifiedTimestamp"] = str(queue.modified)
        out["QueueArn"] = queue.arn
        if not want_all:
            out = {k: v for k, v in out.items() if k in names}
        return {"Attributes": out} if out else {}

    async def SetQueueAttributes(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        attributes = normalize(params.get("Attributes") or {}, fifo=queue.fifo, creating=False)
        self._check_redrive(ctx, queue.name, queue.fifo, attributes)
        merged = dict(queue.attributes)
        for key, value in attributes.items():
            if value == "" and key in (
                "RedrivePolicy",
                "RedriveAllowPolicy",
                "Policy",
                "KmsMasterKeyId",
            ):
                merged.pop(key, None)
            else:
                merged[key] = value
        updated = Queue(**{**queue.__dict__, "attributes": merged, "modified": int(time.time())})
        await self.db.write(lambda conn: store.update_queue(conn, updated))
        queue.attributes = merged
        queue.modified = updated.modified
        self.notify(queue.id)
        return {}

    async def PurgeQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        now = time.time()
        if now - queue.last_purge < PURGE_INTERVAL_S:
            raise PurgeQueueInProgress(
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds."
            )
        updated = Queue(**{**queue.__dict__, "last_purge": now})
        await self.db.write(lambda conn: store.purge(conn, updated))
        queue.last_purge = now
        return {}

    # -- tags ---------------------------------------------------------------

    async def TagQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        tags = {**queue.tags, **(params.get("Tags") or {})}
        if len(tags) > 50:
            raise InvalidParameterValue("Too many tags added for queue " + queue.name + ".")
        await self._save_tags(queue, tags)
        return {}

    async def UntagQueue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        drop = set(params.get("TagKeys") or ())
        await self._save_tags(queue, {k: v for k, v in queue.tags.items() if k not in drop})
        return {}

    async def ListQueueTags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        return {"Tags": dict(queue.tags)} if queue.tags else {}

    async def _save_tags(self, queue: Queue, tags: dict[str, str]) -> None:
        updated = Queue(**{**queue.__dict__, "tags": tags})
        await self.db.write(lambda conn: store.update_queue(conn, updated))
        queue.tags = tags

    # -- permissions (statements of the queue's Policy) -----------------------

    async def AddPermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        label = str(params.get("Label") or "")
        policy = json.loads(queue.attributes.get("Policy") or "null") or {
            "Version": "2012-10-17",
            "Id": f"{queue.arn}/SQSDefaultPolicy",
            "Statement": [],
        }
        if any(s.get("Sid") == label for s in policy.get("Statement", [])):
            raise InvalidParameterValue(
                f"Value {label} for parameter Label is invalid. Reason: Already exists."
            )
        principals = [
            f"arn:aws:iam::{account}:root" for account in params.get("AWSAccountIds") or ()
        ]
        actions = [f"SQS:{action}" for action in params.get("Actions") or ()]
        policy.setdefault("Statement", []).append(
            {
                "Sid": label,
                "Effect": "Allow",
                "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                "Action": actions[0] if len(actions) == 1 else actions,
                "Resource": queue.arn,
            }
        )
        await self._set_policy(queue, policy)
        return {}

    async def RemovePermission(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_for(ctx, params)
        label = str(params.get("Label") or "")
        policy = json.loads(queue.attributes.get("Policy") or "null") or {"Statement": []}
        statements = [s for s in policy.get("Statement", []) if s.get("Sid") != label]
        if len(statements) == len(policy.get("Statement", [])):
            raise InvalidParameterValue(
                f"Value {label} for parameter Label is invalid. Reason: can't find label on existing policy."
            )
        policy["Statement"] = statements
        await self._set_policy(queue, policy if statements else None)
        return {}

    async def _set_policy(self, queue: Queue, policy: dict[str, Any] | None) -> None:
        attributes = dict(queue.attributes)
        if policy is None:
            attributes.pop("Policy", None)
        else:
            attributes["Policy"] = json.dumps(policy, separators=(",", ":"))
        updated = Queue(
            **{**queue.__dict__, "attributes": attributes, "modified": int(time.time())}
        )
        await self.db.write(lambda conn: store.update_queue(conn, updated))
        queue.attributes = attributes
        queue.modified = updated.modified

    # -- dead-letter queues -------------------------------------------------

    async def ListDeadLetterSourceQueues(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        target = self.queue_for(ctx, params)
        names = sorted(
            q.name
            for q in self.queues.values()
            if q.account == target.account
            and q.region == target.region
            and (policy := q.redrive) is not None
            and policy["deadLetterTargetArn"] == target.arn
        )
        return _page(
            names,
            params,
            lambda n: queue_url(ctx.endpoint, target.account, n),
            "queueUrls",
            always=True,
        )

    async def StartMessageMoveTask(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        source_arn = params.get("SourceArn") or ""
        source = self.queue_by_arn(source_arn)
        if source is None:
            raise ResourceNotFound(
                "The resource that you specified for the SourceArn parameter doesn't exist."
            )
        if not any(
            (p := q.redrive) and p["deadLetterTargetArn"] == source.arn
            for q in self.queues.values()
        ):
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        destination = None
        if params.get("DestinationArn"):
            destination = self.queue_by_arn(params["DestinationArn"])
            if destination is None:
                raise ResourceNotFound(
                    "The resource that you specified for the DestinationArn parameter doesn't exist."
                )
        targets = {q.arn: q for q in self.queues.values()}
        handle = base64.b64encode(
            f'{{"taskId":"{uuid.uuid4()}","sourceArn":"{source_arn}"}}'.encode()
        ).decode()
        now = now_ms()

        def run(conn: Any) -> int:
            moved = store.move_messages(conn, source, targets, destination, now)
            conn.execute(
                "INSERT INTO move_tasks (handle, source_arn, destination_arn, rate, status, moved, to_move, started) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    handle,
                    source_arn,
                    params.get("DestinationArn"),
                    params.get("MaxNumberOfMessagesPerSecond"),
                    "COMPLETED",
                    moved,
                    moved,
                    now,
                ),
            )
            return moved

        await self.db.write(run)
        for queue in self.queues.values():
            self.notify(queue.id)
        return {"TaskHandle": handle}

    async def ListMessageMoveTasks(
        self, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        source_arn = params.get("SourceArn") or ""
        if self.queue_by_arn(source_arn) is None:
            raise ResourceNotFound(
                "The resource that you specified for the SourceArn parameter doesn't exist."
            )
        limit = int(params.get("MaxResults") or 1)
        rows = await self.db.fetchall(
            "SELECT * FROM move_tasks WHERE source_arn = ? ORDER BY started DESC LIMIT ?",
            (source_arn, limit),
        )
        results = []
        for row in rows:
            entry: dict[str, Any] = {
                "Status": row["status"],
                "SourceArn": row["source_arn"],
                "ApproximateNumberOfMessagesMoved": row["moved"],
                "ApproximateNumberOfMessagesToMove": row["to_move"],
                "StartedTimestamp": row["started"],
            }
            if row["destination_arn"]:
                entry["DestinationArn"] = row["destination_arn"]
            if row["rate"] is not None:
                entry["MaxNumberOfMessagesPerSecond"] = row["rate"]
            results.append(entry)
        return {"Results": results}


def _page(
    names: list[str], params: dict[str, Any], to_url: Any, key: str, *, always: bool = False
) -> dict[str, Any]:
    """One page of queue URLs: all (up to 1,000) without MaxResults, else MaxResults with a NextToken."""
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except ValueError:
            raise InvalidParameterValue("Invalid NextToken value.") from None
        start = next((i for i, n in enumerate(names) if n > after), len(names))
    limit = params.get("MaxResults")
    size = int(limit) if limit else 1000
    if limit is not None and not 1 <= size <= 1000:
        raise InvalidParameterValue(
            "Value for parameter MaxResults is invalid. Reason: must be between 1 and 1000."
        )
    page = names[start : start + size]
    out: dict[str, Any] = {}
    if page or always:
        out[key] = [to_url(n) for n in page]
    if limit and start + size < len(names):
        out["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    return out
