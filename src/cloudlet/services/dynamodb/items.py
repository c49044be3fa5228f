"""Single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

Expressions are parsed on the event loop; the read-check-write runs as one
job in the database's writer thread, so a condition and the write it guards
are atomic.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb import legacy, store
from cloudlet.services.dynamodb.base import (
    Base,
    ConditionalCheckFailed,
    check_item_size,
    consumed,
    read_units,
    write_units,
)
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.expressions.evaluate import (
    apply_update,
    check_overlaps,
    evaluate,
    project,
)
from cloudlet.services.dynamodb.expressions.parser import parse_update
from cloudlet.services.dynamodb.schema import TableDef, invalid
from cloudlet.services.dynamodb.types import Item, item_size, normalize_item

_RETURN_VALUES = {
    "PutItem": ("NONE", "ALL_OLD"),
    "DeleteItem": ("NONE", "ALL_OLD"),
    "UpdateItem": ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"),
}


def check_return_values(operation: str, value: str | None) -> str:
    value = value or "NONE"
    if value not in _RETURN_VALUES[operation]:
        raise ValidationError("Return values set to invalid value")
    return value


@dataclass
class Write:
    """One prepared item write: everything a writer-thread job needs."""

    table: TableDef
    h: bytes
    r: bytes
    key: Item
    condition: ast.Condition | None = None
    item: Item | None = None  # Put
    update: ast.Update | None = None  # Update
    delete: bool = False
    check_only: bool = False
    return_old_on_failure: bool = False
    #: Cancellation reason code when the condition fails inside a transaction.
    failure_code: str = "ConditionalCheckFailed"

    def run(self, conn: sqlite3.Connection) -> tuple[Item | None, Item | None]:
        old = store.read_item(conn, self.table.tid, self.h, self.r)
        self.check(old)
        if self.check_only:
            return old, old
        new = self.new_item(old)
        store.apply_change(conn, self.table, self.h, self.r, old, new)
        return old, new

    def check(self, old: Item | None) -> None:
        if self.condition is not None and not evaluate(self.condition, old):
            raise ConditionalCheckFailed(old if self.return_old_on_failure else None)

    def new_item(self, old: Item | None) -> Item | None:
        if self.delete:
            return None
        if self.item is not None:
            return self.item
        assert self.update is not None
        base = old if old is not None else dict(self.key)
        new = apply_update(base, self.update)
        check_item_size(new, "Item size to update has exceeded the maximum allowed size")
        self.table.check_item_key(new)
        return new


def collection_metrics(params: dict[str, Any], write: Write) -> dict[str, Any]:
    """``ItemCollectionMetrics`` for tables with local secondary indexes, when asked for."""
    if params.get("ReturnItemCollectionMetrics") != "SIZE":
        return {}
    if not any(index.kind == "LSI" for index in write.table.indexes.values()):
        return {}
    hash_name = write.table.hash.name
    return {"ItemCollectionMetrics": {"ItemCollectionKey": {hash_name: write.key[hash_name]}, "SizeEstimateRangeGB": [0.0, 1.0]}}


class ItemsMixin(Base):
    def prepare_put(self, ctx: RequestContext, params: dict[str, Any], *, in_transaction: bool = False) -> Write:
        table = self.table(ctx, params["TableName"])
        item = normalize_item(params["Item"])
        h, r = table.check_item_key(item)
        check_item_size(item)
        ph = self.placeholders(params)
        condition = self.condition(params, ph)
        ph.check_unused()
        return Write(table, h, r, table.key_of(item), condition=condition, item=item,
                     return_old_on_failure=params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")

    def prepare_delete(self, ctx: RequestContext, params: dict[str, Any]) -> Write:
        table = self.table(ctx, params["TableName"])
        key = normalize_item(params["Key"])
        h, r = table.check_key(key)
        ph = self.placeholders(params)
        condition = self.condition(params, ph)
        ph.check_unused()
        return Write(table, h, r, key, condition=condition, delete=True,
                     return_old_on_failure=params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")

    def prepare_update(self, ctx: RequestContext, params: dict[str, Any]) -> Write:
        table = self.table(ctx, params["TableName"])
        key = normalize_item(params["Key"])
        h, r = table.check_key(key)
        ph = self.placeholders(params)
        text = params.get("UpdateExpression")
        if text is not None:
            update = parse_update(text, ph)
        else:
            update = legacy.attribute_updates(params.get("AttributeUpdates") or {})
        condition = self.condition(params, ph)
        ph.check_unused()
        check_overlaps(update)
        for action in update.actions:
            name = action.path.elements[0]
            if name in table.key_names:
                raise invalid(f"Cannot update attribute {name}. This attribute is part of the key")
        return Write(table, h, r, key, condition=condition, update=update,
                     return_old_on_failure=params.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")

    async def PutItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        returns = check_return_values("PutItem", params.get("ReturnValues"))
        write = self.prepare_put(ctx, params)
        old, new = await self.db.write(write.run)
        result: dict[str, Any] = {}
        if returns == "ALL_OLD" and old is not None:
            result["Attributes"] = old
        units = write_units(max(item_size(new or {}), item_size(old or {})))
        result.update(consumed(params, write.table.name, units, kind="Write"))
        result.update(collection_metrics(params, write))
        return result

    async def DeleteItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        returns = check_return_values("DeleteItem", params.get("ReturnValues"))
        write = self.prepare_delete(ctx, params)
        old, _ = await self.db.write(write.run)
        result: dict[str, Any] = {}
        if returns == "ALL_OLD" and old is not None:
            result["Attributes"] = old
        result.update(consumed(params, write.table.name, write_units(item_size(old or {})), kind="Write"))
        result.update(collection_metrics(params, write))
        return result

    async def UpdateItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        returns = check_return_values("UpdateItem", params.get("ReturnValues"))
        write = self.prepare_update(ctx, params)
        old, new = await self.db.write(write.run)
        result: dict[str, Any] = {}
        assert write.update is not None
        paths = [action.path for action in write.update.actions]
        attributes: Item | None = None
        if returns == "ALL_OLD":
            attributes = old
        elif returns == "ALL_NEW":
            attributes = new
        elif returns == "UPDATED_OLD":
            attributes = project(old, paths) if old is not None else None
        elif returns == "UPDATED_NEW":
            attributes = project(new, paths) if new is not None else None
        if attributes:
            result["Attributes"] = attributes
        units = write_units(max(item_size(new or {}), item_size(old or {})))
        result.update(consumed(params, write.table.name, units, kind="Write"))
        result.update(collection_metrics(params, write))
        return result

    async def GetItem(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        table = self.table(ctx, params["TableName"])
        key = normalize_item(params["Key"])
        h, r = table.check_key(key)
        ph = self.placeholders(params)
        paths = self.projection(params, ph)
        ph.check_unused()
        item = await self.db.point_read(lambda conn: store.read_item(conn, table.tid, h, r))
        result: dict[str, Any] = {}
        if item is not None:
            result["Item"] = project(item, paths) if paths is not None else item
        units = read_units(item_size(item or {}), bool(params.get("ConsistentRead")))
        result.update(consumed(params, table.name, units, kind="Read"))
        return result
