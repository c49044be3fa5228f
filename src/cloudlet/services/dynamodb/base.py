"""State and request helpers shared by the DynamoDB operation mixins.

Table metadata is cached in memory (``TableDef`` per account/region/name) and
written through to SQLite; counters (ItemCount, TableSizeBytes) live only in
SQLite, maintained by the item write path.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb import legacy
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.expressions.parser import (
    Placeholders,
    parse_condition,
    parse_projection,
)
from cloudlet.services.dynamodb.schema import ResourceNotFound, TableDef
from cloudlet.services.dynamodb.types import MAX_ITEM_SIZE, Item, item_size
from cloudlet.storage import Database


class ConditionalCheckFailed(ServiceError):
    code = "ConditionalCheckFailedException"

    def __init__(self, item: Item | None = None) -> None:
        super().__init__("The conditional request failed", fields={"Item": item} if item is not None else None)
        self.item = item


_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")
_EXPRESSION_PARAMS = (
    "ConditionExpression", "FilterExpression", "KeyConditionExpression", "ProjectionExpression", "UpdateExpression",
)
_LEGACY_FOR = {
    "ConditionExpression": ("Expected",),
    "FilterExpression": ("QueryFilter", "ScanFilter"),
    "KeyConditionExpression": ("KeyConditions",),
    "ProjectionExpression": ("AttributesToGet",),
    "UpdateExpression": ("AttributeUpdates",),
}


class Base:
    db: Database

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str, str], TableDef] = {}
        self.by_tid: dict[int, TableDef] = {}

    async def load_tables(self) -> None:
        rows = await self.db.fetchall("SELECT tid, account, region, meta FROM tables", ())
        for row in rows:
            table = TableDef(row["tid"], row["account"], row["region"], json.loads(row["meta"]))
            self.tables[(table.account, table.region, table.name)] = table
            self.by_tid[table.tid] = table

    def table(self, ctx: RequestContext, name: str) -> TableDef:
        table = self.tables.get((ctx.account_id, ctx.region, _table_name(name)))
        if table is None:
            raise ResourceNotFound("Requested resource not found")
        return table

    # -- expressions ------------------------------------------------------------------

    @staticmethod
    def placeholders(params: dict[str, Any]) -> Placeholders:
        names = params.get("ExpressionAttributeNames")
        values = params.get("ExpressionAttributeValues")
        if names is not None and not names:
            raise ValidationError("ExpressionAttributeNames must not be empty")
        if values is not None and not values:
            raise ValidationError("ExpressionAttributeValues must not be empty")
        for label, mapping, sigil in (("Names", names, "#"), ("Values", values, ":")):
            for key in mapping or {}:
                if not _PLACEHOLDER.fullmatch(key) or not key.startswith(sigil):
                    raise ValidationError(f'ExpressionAttribute{label} contains invalid key: Syntax error; key: "{key}"')
        used = [p for p in _EXPRESSION_PARAMS if params.get(p) is not None]
        for expression in used:
            for old in _LEGACY_FOR[expression]:
                if params.get(old) is not None:
                    raise ValidationError(
                        "Can not use both expression and non-expression parameters in the same request: "
                        f"Non-expression parameters: {{{old}}} Expression parameters: {{{expression}}}"
                    )
        if not used:
            if names is not None:
                raise ValidationError("ExpressionAttributeNames can only be specified when using expressions")
            if values is not None:
                raise ValidationError("ExpressionAttributeValues can only be specified when using expressions")
        return Placeholders(names, values)

    @staticmethod
    def condition(params: dict[str, Any], ph: Placeholders) -> ast.Condition | None:
        text = params.get("ConditionExpression")
        if text is not None:
            return parse_condition(text, "ConditionExpression", ph)
        return legacy.expected(params)

    @staticmethod
    def projection(params: dict[str, Any], ph: Placeholders) -> list[ast.Path] | None:
        text = params.get("ProjectionExpression")
        if text is not None:
            return parse_projection(text, ph)
        names = params.get("AttributesToGet")
        return legacy.attributes_to_get(names) if names else None


def _table_name(name: str) -> str:
    # Item operations accept a table ARN as TableName.
    if name.startswith("arn:"):
        return name.rsplit("/", 1)[-1] if "/" in name else name
    return name


def check_item_size(item: Item, message: str = "Item size has exceeded the maximum allowed size") -> int:
    size = item_size(item)
    if size > MAX_ITEM_SIZE:
        raise ValidationError(message)
    return size


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def consumed(params: dict[str, Any], table: str, units: float, *, kind: str, indexes: dict[str, float] | None = None) -> dict[str, Any]:
    """The ``ConsumedCapacity`` member of a response, if the request asked for it."""
    mode = params.get("ReturnConsumedCapacity") or "NONE"
    if mode == "NONE":
        return {}
    capacity: dict[str, Any] = {"TableName": table, "CapacityUnits": units, f"{kind}CapacityUnits": units}
    if mode == "INDEXES":
        capacity["Table"] = {"CapacityUnits": units, f"{kind}CapacityUnits": units}
        if indexes:
            capacity["GlobalSecondaryIndexes"] = {
                name: {"CapacityUnits": u, f"{kind}CapacityUnits": u} for name, u in indexes.items()
            }
    return {"ConsumedCapacity": capacity}
