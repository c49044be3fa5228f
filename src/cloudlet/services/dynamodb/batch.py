"""BatchGetItem, BatchWriteItem, TransactGetItems and TransactWriteItems.

Batches run as one database job (reads in one snapshot, writes in one
transaction), so nothing is ever left unprocessed; ``UnprocessedItems`` and
``UnprocessedKeys`` are empty except when a BatchGetItem response would pass
16 MB.  A transaction checks every condition first, then applies every
write; any failure cancels all of it with reasons in request order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb import store
from cloudlet.services.dynamodb.base import ConditionalCheckFailed, consumed
from cloudlet.services.dynamodb.expressions.evaluate import project
from cloudlet.services.dynamodb.items import ItemsMixin, Write
from cloudlet.services.dynamodb.types import Item, item_size, normalize_item

MAX_BATCH_GET_BYTES = 16 * 1024 * 1024
TOKEN_TTL_S = 600
_REASON_MESSAGES = {
    "ConditionalCheckFailed": "The conditional request failed",
    "DuplicateItem": "Duplicate primary key exists in table",
}


class TransactionCanceled(ServiceError):
    code = "TransactionCanceledException"


class IdempotentParameterMismatch(ServiceError):
    code = "IdempotentParameterMismatchException"


def _key_id(write_table: str, h: bytes, r: bytes) -> tuple[str, bytes, bytes]:
    return (write_table, h, r)


class BatchMixin(ItemsMixin):
    async def BatchWriteItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        request_items: dict[str, list[dict[str, Any]]] = params["RequestItems"]
        total = sum(len(requests) for requests in request_items.values())
        if total > 25:
            raise ValidationError("Too many items requested for the BatchWriteItem call")
        writes: list[Write] = []
        seen: set[tuple[str, bytes, bytes]] = set()
        for table_name, requests in request_items.items():
            for request in requests:
                if "PutRequest" in request:
                    write = self.prepare_put(ctx, {"TableName": table_name, "Item": request["PutRequest"]["Item"]})
                elif "DeleteRequest" in request:
                    write = self.prepare_delete(ctx, {"TableName": table_name, "Key": request["DeleteRequest"]["Key"]})
                else:
                    raise ValidationError("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
                ident = _key_id(write.table.name, write.h, write.r)
                if ident in seen:
                    raise ValidationError("Provided list of item keys contains duplicates")
                seen.add(ident)
                writes.append(write)

        def job(conn: sqlite3.Connection) -> None:
            for write in writes:
                write.run(conn)

        await self.db.write(job)
        result: dict[str, Any] = {"UnprocessedItems": {}}
        if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
            result["ConsumedCapacity"] = [
                consumed(params, name, float(len(reqs)), kind="Write")["ConsumedCapacity"] for name, reqs in request_items.items()
            ]
        return result

    async def BatchGetItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        request_items: dict[str, dict[str, Any]] = params["RequestItems"]
        total = sum(len(spec.get("Keys") or []) for spec in request_items.values())
        if total > 100:
            raise ValidationError("Too many items requested for the BatchGetItem call")
        plans = []
        for table_name, spec in request_items.items():
            table = self.table(ctx, table_name)
            ph = self.placeholders(spec)
            paths = self.projection(spec, ph)
            ph.check_unused()
            keys = []
            seen: set[tuple[bytes, bytes]] = set()
            for key in spec["Keys"]:
                h, r = table.check_key(normalize_item(key))
                if (h, r) in seen:
                    raise ValidationError("Provided list of item keys contains duplicates")
                seen.add((h, r))
                keys.append((h, r, key))
            plans.append((table_name, table, paths, keys, spec))

        def job(conn: sqlite3.Connection) -> tuple[dict[str, list[Item]], dict[str, Any]]:
            responses: dict[str, list[Item]] = {}
            unprocessed: dict[str, Any] = {}
            size = 0
            for table_name, table, paths, keys, spec in plans:
                found = responses.setdefault(table_name, [])
                for h, r, key in keys:
                    if size > MAX_BATCH_GET_BYTES:
                        left = unprocessed.setdefault(table_name, {k: v for k, v in spec.items() if k != "Keys"})
                        left.setdefault("Keys", []).append(key)
                        continue
                    item = store.read_item(conn, table.tid, h, r)
                    if item is not None:
                        size += item_size(item)
                        found.append(project(item, paths) if paths is not None else item)
            return responses, unprocessed

        responses, unprocessed = await self.db.read(job)
        result: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
        if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
            result["ConsumedCapacity"] = [
                consumed(params, name, float(len(spec["Keys"])), kind="Read")["ConsumedCapacity"] for name, spec in request_items.items()
            ]
        return result

    # -- transactions -------------------------------------------------------------------------

    async def TransactWriteItems(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        actions = params["TransactItems"]
        if len(actions) > 100:
            raise ValidationError("Member must have length less than or equal to 100")
        writes: list[Write] = []
        seen: set[tuple[str, bytes, bytes]] = set()
        for action in actions:
            (kind, spec), = action.items()
            if kind == "Put":
                write = self.prepare_put(ctx, spec)
            elif kind == "Delete":
                write = self.prepare_delete(ctx, spec)
            elif kind == "Update":
                write = self.prepare_update(ctx, spec)
            else:  # ConditionCheck
                write = self.prepare_delete(ctx, spec)
                write.delete = False
                write.check_only = True
                if write.condition is None:
                    raise ValidationError("ConditionExpression must be provided for ConditionCheck")
            ident = _key_id(write.table.name, write.h, write.r)
            if ident in seen:
                raise ValidationError("Transaction request cannot include multiple operations on one item")
            seen.add(ident)
            writes.append(write)
        await self.run_transaction(ctx, writes, params)
        result: dict[str, Any] = {}
        if params.get("ReturnConsumedCapacity", "NONE") != "NONE":
            tables = sorted({w.table.name for w in writes})
            result["ConsumedCapacity"] = [
                consumed(params, name, 2.0 * sum(1 for w in writes if w.table.name == name), kind="Write")["ConsumedCapacity"]
                for name in tables
            ]
        return result

    async def run_transaction(self, ctx: RequestContext, writes: list[Write], params: dict[str, Any]) -> None:
        """Check every condition, then apply every write, in one database transaction."""
        token = params.get("ClientRequestToken")
        digest = hashlib.sha256(json.dumps({k: v for k, v in params.items() if k != "ClientRequestToken"}, sort_keys=True, default=repr).encode()).hexdigest()

        def job(conn: sqlite3.Connection) -> bool:
            if token:
                row = conn.execute(
                    "SELECT digest, created FROM tx_tokens WHERE account = ? AND region = ? AND token = ?",
                    (ctx.account_id, ctx.region, token),
                ).fetchone()
                if row is not None and row[1] > time.time() - TOKEN_TTL_S:
                    if row[0] != digest:
                        raise IdempotentParameterMismatch(
                            "Specified idempotent token was used with different request parameters within the last 10 minutes"
                        )
                    return False
            olds = []
            reasons: list[dict[str, Any]] = []
            failed = False
            for write in writes:
                old = store.read_item(conn, write.table.tid, write.h, write.r)
                olds.append(old)
                try:
                    write.check(old)
                    reasons.append({"Code": "None"})
                except ConditionalCheckFailed as exc:
                    failed = True
                    reason: dict[str, Any] = {"Code": write.failure_code, "Message": _REASON_MESSAGES[write.failure_code]}
                    if exc.item is not None:
                        reason["Item"] = exc.item
                    reasons.append(reason)
            if failed:
                codes = ", ".join(r["Code"] for r in reasons)
                raise TransactionCanceled(
                    f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                    fields={"CancellationReasons": reasons},
                )
            for write, old in zip(writes, olds, strict=True):
                if write.check_only:
                    continue
                store.apply_change(conn, write.table, write.h, write.r, old, write.new_item(old))
            if token:
                conn.execute(
                    "INSERT OR REPLACE INTO tx_tokens (account, region, token, digest, created) VALUES (?, ?, ?, ?, ?)",
                    (ctx.account_id, ctx.region, token, digest, time.time()),
                )
            return True

        await self.db.write(job)

    async def TransactGetItems(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        gets = []
        for action in params["TransactItems"]:
            spec = action["Get"]
            table = self.table(ctx, spec["TableName"])
            h, r = table.check_key(normalize_item(spec["Key"]))
            ph = self.placeholders(spec)
            paths = self.projection(spec, ph)
            ph.check_unused()
            gets.append((table, h, r, paths))

        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            responses: list[dict[str, Any]] = []
            for table, h, r, paths in gets:
                item = store.read_item(conn, table.tid, h, r)
                if item is None:
                    responses.append({})
                else:
                    responses.append({"Item": project(item, paths) if paths is not None else item})
            return responses

        return {"Responses": await self.db.read(job)}
