"""Query and Scan: key conditions to index ranges, pages of 1 MB / Limit, filters, Select.

A Query becomes one SQL range scan over ``items`` (table) or ``index_items``
(secondary index), ordered by the encoded sort key, so its first page costs
the same whatever the size of the partition.  Rows are pulled lazily from the
cursor until ``Limit`` items or 1 MB have been evaluated.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb import legacy
from cloudlet.services.dynamodb.base import Base, consumed, read_units
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.expressions.evaluate import evaluate, project
from cloudlet.services.dynamodb.expressions.parser import parse_condition
from cloudlet.services.dynamodb.schema import IndexDef, KeyPart, TableDef, invalid
from cloudlet.services.dynamodb.types import Item, encode_key, load_item, value_type

PAGE_BYTES = 1024 * 1024


@dataclass
class Plan:
    table: TableDef
    index: IndexDef | None
    where: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    forward: bool = True
    limit: int | None = None
    filter: ast.Condition | None = None
    paths: list[ast.Path] | None = None
    select: str = "ALL_ATTRIBUTES"
    fetch_full: bool = False

    @property
    def source(self) -> str:
        return "index_items" if self.index is not None else "items"

    def key_parts(self) -> tuple[KeyPart, KeyPart | None]:
        if self.index is not None:
            return self.index.hash, self.index.range
        return self.table.hash, self.table.range

    def sql(self) -> str:
        direction = "ASC" if self.forward else "DESC"
        order = ", ".join(f"{column} {direction}" for column in self.order)
        return f"SELECT h, r, item, size FROM {self.source} WHERE {' AND '.join(self.where)} ORDER BY {order}"

    def last_key(self, item: Item) -> Item:
        names = list(self.table.key_names)
        if self.index is not None:
            names += [n for n in self.index.key_names() if n not in names]
        return {n: item[n] for n in names if n in item}


def _next_prefix(prefix: bytes) -> bytes | None:
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


class QueryMixin(Base):
    def _plan(self, ctx: RequestContext, params: dict[str, Any], *, scan: bool) -> tuple[Plan, Any]:
        table = self.table(ctx, params["TableName"])
        index: IndexDef | None = None
        if params.get("IndexName"):
            index = table.indexes.get(params["IndexName"])
            if index is None:
                raise ValidationError(f"The table does not have the specified index: {params['IndexName']}")
            if index.kind == "GSI" and params.get("ConsistentRead"):
                raise ValidationError("Consistent reads are not supported on global secondary indexes")
        plan = Plan(table, index)
        plan.where = ["tid = ?"]
        plan.args = [table.tid]
        if index is not None:
            plan.where.append("idx = ?")
            plan.args.append(index.name)
            plan.order = ["ih", "ir", "h", "r"]
        else:
            plan.order = ["h", "r"]
        ph = self.placeholders(params)
        key_condition: ast.Condition | None = None
        if not scan:
            text = params.get("KeyConditionExpression")
            if text is not None:
                key_condition = parse_condition(text, "KeyConditionExpression", ph)
            elif params.get("KeyConditions"):
                key_condition = legacy.filters(params["KeyConditions"], "AND")
            else:
                raise ValidationError("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
        text = params.get("FilterExpression")
        if text is not None:
            plan.filter = parse_condition(text, "FilterExpression", ph)
        else:
            plan.filter = legacy.filters(params.get("QueryFilter" if not scan else "ScanFilter"), params.get("ConditionalOperator"))
        plan.paths = self.projection(params, ph)
        ph.check_unused()
        if key_condition is not None:
            self._key_ranges(plan, key_condition)
            if plan.filter is not None and params.get("FilterExpression") is not None:
                _check_filter_keys(plan, plan.filter)
        plan.forward = params.get("ScanIndexForward", True) is not False or scan
        plan.limit = params.get("Limit")
        self._select(plan, params)
        if scan:
            segment, total = params.get("Segment"), params.get("TotalSegments")
            if (segment is None) != (total is None):
                missing = "TotalSegments" if total is None else "Segment"
                present = "Segment" if total is None else "TotalSegments"
                raise ValidationError(
                    f"The {missing} parameter is required but was not present in the request when {present} parameter is present"
                )
            if segment is not None:
                if segment >= total:
                    raise ValidationError(
                        f"The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {segment} is not less than TotalSegments: {total}"
                    )
                plan.where.append("seg % ? = ?")
                plan.args += [total, segment]
        self._start_key(plan, params.get("ExclusiveStartKey"))
        return plan, key_condition

    def _key_ranges(self, plan: Plan, condition: ast.Condition) -> None:
        parts: list[ast.Condition] = []

        def flatten(node: ast.Condition) -> None:
            if isinstance(node, ast.And):
                flatten(node.left)
                flatten(node.right)
            elif isinstance(node, ast.Or | ast.Not):
                raise ValidationError(f"Invalid operator used in KeyConditionExpression: {'OR' if isinstance(node, ast.Or) else 'NOT'}")
            else:
                parts.append(node)

        flatten(condition)
        if len(parts) > 2:
            raise ValidationError("Conditions can be of length 1 or 2 only")
        hash_part, range_part = plan.key_parts()
        hash_column, range_column = ("ih", "ir") if plan.index is not None else ("h", "r")
        by_name: dict[str, tuple[ast.Condition, str]] = {}
        for part in parts:
            name = _condition_attribute(part)
            if name in by_name:
                raise ValidationError("KeyConditionExpressions must only contain one condition per key")
            by_name[name] = (part, name)
        if hash_part.name not in by_name:
            raise ValidationError(f"Query condition missed key schema element: {hash_part.name}")
        for name in by_name:
            if name != hash_part.name and (range_part is None or name != range_part.name):
                if range_part is not None:
                    raise ValidationError(f"Query condition missed key schema element: {range_part.name}")
                raise ValidationError("Query key condition not supported")
        hash_condition = by_name[hash_part.name][0]
        if not isinstance(hash_condition, ast.Compare) or hash_condition.op != "=":
            raise ValidationError("Query key condition not supported")
        plan.where.append(f"{hash_column} = ?")
        plan.args.append(encode_key(_typed(_compare_value(hash_condition), hash_part)))
        if range_part is None or range_part.name not in by_name:
            return
        node = by_name[range_part.name][0]
        if isinstance(node, ast.Compare):
            if node.op == "<>":
                raise ValidationError("Unsupported operator on KeyConditionExpression: operator: <>")
            op = node.op
            value = encode_key(_typed(_compare_value(node), range_part))
            if isinstance(node.right, ast.Path):  # ":v < sk" reads as "sk > :v"
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            plan.where.append(f"{range_column} {op} ?")
            plan.args.append(value)
        elif isinstance(node, ast.Between):
            low, high = node.low, node.high
            assert isinstance(low, ast.Value) and isinstance(high, ast.Value)
            plan.where.append(f"{range_column} BETWEEN ? AND ?")
            plan.args += [encode_key(_typed(low.value, range_part)), encode_key(_typed(high.value, range_part))]
        elif isinstance(node, ast.Function) and node.name == "begins_with":
            argument = node.args[1]
            assert isinstance(argument, ast.Value)
            if range_part.type == "N" or value_type(argument.value) == "N":
                raise ValidationError(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
                )
            prefix = encode_key(_typed(argument.value, range_part))
            plan.where.append(f"{range_column} >= ?")
            plan.args.append(prefix)
            upper = _next_prefix(prefix)
            if upper is not None:
                plan.where.append(f"{range_column} < ?")
                plan.args.append(upper)
        else:
            name = node.name if isinstance(node, ast.Function) else "IN"
            raise ValidationError(f"Invalid operator used in KeyConditionExpression: {name}")

    def _select(self, plan: Plan, params: dict[str, Any]) -> None:
        select = params.get("Select")
        if select is None:
            select = "SPECIFIC_ATTRIBUTES" if plan.paths is not None else (
                "ALL_PROJECTED_ATTRIBUTES" if plan.index is not None else "ALL_ATTRIBUTES"
            )
        if select == "SPECIFIC_ATTRIBUTES" and plan.paths is None:
            raise ValidationError("ProjectionExpression or AttributesToGet must be specified when Select is SPECIFIC_ATTRIBUTES")
        if select in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "COUNT") and plan.paths is not None:
            raise ValidationError(f"Cannot specify the ProjectionExpression when choosing to get {select}")
        if select == "ALL_PROJECTED_ATTRIBUTES" and plan.index is None:
            raise ValidationError("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
        index = plan.index
        if index is not None and index.projection != "ALL":
            if select == "ALL_ATTRIBUTES":
                if index.kind == "GSI":
                    raise invalid(
                        f"Select type ALL_ATTRIBUTES is not supported for global secondary index {index.name} because its projection type is not ALL"
                    )
                plan.fetch_full = True
            if select == "SPECIFIC_ATTRIBUTES" and index.kind == "LSI":
                plan.fetch_full = True
            if plan.filter is not None and index.kind == "LSI":
                plan.fetch_full = True
        plan.select = select

    def _start_key(self, plan: Plan, start: Item | None) -> None:
        if not start:
            return
        table = plan.table
        try:
            h, r = table.check_key({k: start[k] for k in table.key_names if k in start})
        except ValidationError:
            raise ValidationError("The provided starting key is invalid: The provided key element does not match the schema") from None
        op = ">" if plan.forward else "<"
        if plan.index is None:
            if len(start) != len(table.key_names):
                raise ValidationError("The provided starting key is invalid: The provided key element does not match the schema")
            plan.where.append(f"(h, r) {op} (?, ?)")
            plan.args += [h, r]
            return
        key = table.index_key(plan.index, start)
        if key is None:
            raise ValidationError("The provided starting key is invalid: The provided key element does not match the schema")
        plan.where.append(f"(ih, ir, h, r) {op} (?, ?, ?, ?)")
        plan.args += [key[0], key[1], h, r]

    async def _execute(self, plan: Plan, params: dict[str, Any]) -> dict[str, Any]:
        def job(conn: sqlite3.Connection) -> tuple[list[Item], int, int, Item | None]:
            cursor = conn.execute(plan.sql(), plan.args)
            matched: list[Item] = []
            scanned = 0
            size = 0
            for h, r, text, row_size in cursor:
                item = load_item(text)
                scanned += 1
                size += row_size
                last = item
                if plan.fetch_full:
                    full = conn.execute("SELECT item FROM items WHERE tid = ? AND h = ? AND r = ?", (plan.table.tid, h, r)).fetchone()
                    if full is not None:
                        item = load_item(full[0])
                if plan.filter is None or evaluate(plan.filter, item):
                    matched.append(item)
                if (plan.limit is not None and scanned >= plan.limit) or size >= PAGE_BYTES:
                    more = cursor.fetchone() is not None
                    return matched, scanned, size, plan.last_key(last) if more else None
            return matched, scanned, size, None

        matched, scanned, size, last_key = await self.db.read(job)
        result: dict[str, Any] = {"Count": len(matched), "ScannedCount": scanned}
        if plan.select != "COUNT":
            if plan.paths is not None:
                matched = [project(item, plan.paths) for item in matched]
            result["Items"] = matched
        if last_key is not None:
            result["LastEvaluatedKey"] = last_key
        units = read_units(size, bool(params.get("ConsistentRead")))
        indexes = {plan.index.name: units} if plan.index is not None and plan.index.kind == "GSI" else None
        result.update(consumed(params, plan.table.name, units, kind="Read", indexes=indexes))
        return result

    async def Query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan, _ = self._plan(ctx, params, scan=False)
        return await self._execute(plan, params)

    async def Scan(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        plan, _ = self._plan(ctx, params, scan=True)
        return await self._execute(plan, params)


def _condition_attribute(node: ast.Condition) -> str:
    path: ast.Operand | None = None
    if isinstance(node, ast.Compare):
        path = node.left if isinstance(node.left, ast.Path) else node.right
        other = node.right if path is node.left else node.left
        if not isinstance(other, ast.Value):
            raise ValidationError("Invalid KeyConditionExpression: KeyConditionExpressions must only contain one condition per key")
    elif isinstance(node, ast.Between):
        path = node.operand
    elif isinstance(node, ast.Function):
        if node.name != "begins_with":
            raise ValidationError(f"Invalid operator used in KeyConditionExpression: {node.name}")
        path = node.args[0]
    elif isinstance(node, ast.In):
        raise ValidationError("Invalid operator used in KeyConditionExpression: IN")
    if not isinstance(path, ast.Path):
        raise ValidationError("Invalid KeyConditionExpression: Operator or function requires a document path")
    if len(path.elements) != 1:
        raise ValidationError("Invalid KeyConditionExpression: Key conditions cannot use nested attributes")
    return str(path.elements[0])


def _compare_value(node: ast.Compare) -> dict[str, Any]:
    value = node.right if isinstance(node.right, ast.Value) else node.left
    assert isinstance(value, ast.Value)
    return value.value


def _typed(value: dict[str, Any], part: KeyPart) -> dict[str, Any]:
    if value_type(value) != part.type:
        raise invalid("Condition parameter type does not match schema type")
    return value


def _check_filter_keys(plan: Plan, node: ast.Condition) -> None:
    keys = set(plan.index.key_names() if plan.index is not None else plan.table.key_names)

    def paths(n: Any) -> list[ast.Path]:
        if isinstance(n, ast.Path):
            return [n]
        if isinstance(n, ast.Size):
            return [n.path]
        found: list[ast.Path] = []
        for attr in ("left", "right", "operand", "low", "high"):
            if hasattr(n, attr):
                found += paths(getattr(n, attr))
        for attr in ("args", "options"):
            for child in getattr(n, attr, ()):
                found += paths(child)
        return found

    for path in paths(node):
        if path.elements[0] in keys:
            raise ValidationError(f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {path.elements[0]}")
