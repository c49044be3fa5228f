"""PartiQL for DynamoDB: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction.

The subset DynamoDB applications use::

    SELECT * | path, ... FROM "table"[."index"] [WHERE condition]
    INSERT INTO "table" VALUE {'pk': 'a', 'n': 1}
    UPDATE "table" SET path = value [, ...] [REMOVE path [, ...]] WHERE key-equalities [AND condition]
    DELETE FROM "table" WHERE key-equalities [AND condition]

Literals are 'strings', numbers, TRUE/FALSE, NULL, [lists], {'maps': ...},
<<sets>> and ``?`` parameters.  WHERE conditions are parsed into the same
tree as ConditionExpression (``IS [NOT] MISSING`` becomes
``attribute_not_exists``/``attribute_exists``) and evaluated by the same code;
a SELECT whose WHERE fixes the partition key runs as a Query.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb.base import ConditionalCheckFailed
from cloudlet.services.dynamodb.batch import BatchMixin
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.items import Write
from cloudlet.services.dynamodb.query import Plan, QueryMixin
from cloudlet.services.dynamodb.schema import TableDef
from cloudlet.services.dynamodb.types import (
    SET_TYPES,
    canonical_number,
    dump_item,
    encode_key,
    load_item,
    normalize_item,
    normalize_value,
    value_type,
)


class DuplicateItem(ServiceError):
    code = "DuplicateItemException"


_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "INSERT", "INTO", "VALUE", "UPDATE", "SET", "REMOVE", "DELETE", "AND", "OR", "NOT",
    "BETWEEN", "IN", "IS", "MISSING", "NULL", "TRUE", "FALSE",
}
_SYMBOLS = ("<<", ">>", "<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "*", "+", "-", "?")


def _malformed(detail: str) -> ValidationError:
    return ValidationError(f"Statement wasn't well formed, can't be processed: {detail}")


@dataclass
class Tok:
    kind: str  # ID QID STR NUM KW SYM EOF
    text: str


def _tokenize(text: str) -> list[Tok]:
    tokens: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            j, parts = i + 1, []
            while True:
                if j >= n:
                    raise _malformed("unterminated quoted text")
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:
                        parts.append(ch)
                        j += 2
                        continue
                    break
                parts.append(text[j])
                j += 1
            tokens.append(Tok("STR" if ch == "'" else "QID", "".join(parts)))
            i = j + 1
        elif ch.isdigit():
            j = i
            while j < n and (text[j].isdigit() or text[j] in ".eE" or (text[j] in "+-" and text[j - 1] in "eE")):
                j += 1
            tokens.append(Tok("NUM", text[i:j]))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            tokens.append(Tok("KW", word.upper()) if word.upper() in _KEYWORDS else Tok("ID", word))
            i = j
        else:
            for symbol in _SYMBOLS:
                if text.startswith(symbol, i):
                    tokens.append(Tok("SYM", symbol))
                    i += len(symbol)
                    break
            else:
                raise _malformed(f"unexpected character {ch!r}")
    tokens.append(Tok("EOF", ""))
    return tokens


@dataclass
class Statement:
    kind: str
    table: str
    index: str | None = None
    projection: list[ast.Path] | None = None
    where: ast.Condition | None = None
    item: dict[str, Any] | None = None
    actions: list[ast.Action] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, parameters: list[dict[str, Any]]) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.parameters = parameters
        self.used = 0

    def peek(self, offset: int = 0) -> Tok:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Tok:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token.kind in ("KW", "SYM") and token.text == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise _malformed(f"expected {text}, found {self.peek().text or 'end of statement'}")

    def statement(self) -> Statement:
        if self.accept("SELECT"):
            projection: list[ast.Path] | None = None
            if not self.accept("*"):
                projection = [self.path()]
                while self.accept(","):
                    projection.append(self.path())
            self.expect("FROM")
            table, index = self.table_name(allow_index=True)
            stmt = Statement("SELECT", table, index, projection)
        elif self.accept("INSERT"):
            self.expect("INTO")
            table, _ = self.table_name()
            self.expect("VALUE")
            value = self.value()
            if "M" not in value:
                raise _malformed("INSERT requires a map value")
            stmt = Statement("INSERT", table, item=value["M"])
        elif self.accept("UPDATE"):
            table, _ = self.table_name()
            stmt = Statement("UPDATE", table)
            while True:
                if self.accept("SET"):
                    stmt.actions.append(self.set_action())
                    while self.accept(","):
                        stmt.actions.append(self.set_action())
                elif self.accept("REMOVE"):
                    stmt.actions.append(ast.Action("REMOVE", self.path()))
                    while self.accept(","):
                        stmt.actions.append(ast.Action("REMOVE", self.path()))
                else:
                    break
            if not stmt.actions:
                raise _malformed("UPDATE requires SET or REMOVE")
        elif self.accept("DELETE"):
            self.expect("FROM")
            table, _ = self.table_name()
            stmt = Statement("DELETE", table)
        else:
            raise _malformed(f"unexpected {self.peek().text or 'end of statement'}")
        if self.accept("WHERE"):
            stmt.where = self.condition()
        if self.peek().kind != "EOF":
            raise _malformed(f"unexpected {self.peek().text}")
        if self.used != len(self.parameters):
            raise ValidationError(
                "Number of parameters in request and statement don't match."
            )
        return stmt

    def table_name(self, allow_index: bool = False) -> tuple[str, str | None]:
        token = self.take()
        if token.kind not in ("ID", "QID"):
            raise _malformed("expected a table name")
        index = None
        if allow_index and self.accept("."):
            index_token = self.take()
            if index_token.kind not in ("ID", "QID"):
                raise _malformed("expected an index name")
            index = index_token.text
        return token.text, index

    def path(self) -> ast.Path:
        token = self.take()
        if token.kind not in ("ID", "QID"):
            raise _malformed(f"expected an attribute name, found {token.text or 'end of statement'}")
        elements: list[str | int] = [token.text]
        while True:
            if self.accept("."):
                name = self.take()
                if name.kind not in ("ID", "QID"):
                    raise _malformed("expected an attribute name")
                elements.append(name.text)
            elif self.peek().text == "[" and self.peek(1).kind == "NUM":
                self.pos += 1
                elements.append(int(self.take().text))
                self.expect("]")
            else:
                return ast.Path(tuple(elements))

    def value(self) -> dict[str, Any]:
        token = self.take()
        if token.kind == "SYM" and token.text == "?":
            if self.used >= len(self.parameters):
                raise ValidationError("Number of parameters in request and statement don't match.")
            value = normalize_value(self.parameters[self.used])
            self.used += 1
            return value
        if token.kind == "STR":
            return {"S": token.text}
        if token.kind == "NUM" or (token.kind == "SYM" and token.text == "-" and self.peek().kind == "NUM"):
            text = token.text if token.kind == "NUM" else "-" + self.take().text
            return {"N": canonical_number(text)}
        if token.kind == "KW" and token.text in ("TRUE", "FALSE"):
            return {"BOOL": token.text == "TRUE"}
        if token.kind == "KW" and token.text == "NULL":
            return {"NULL": True}
        if token.kind == "SYM" and token.text == "[":
            items = [] if self.accept("]") else self._sequence("]")
            return {"L": items}
        if token.kind == "SYM" and token.text == "<<":
            elements = self._sequence(">>")
            kinds = {value_type(m) for m in elements}
            if len(kinds) != 1 or next(iter(kinds)) not in ("S", "N", "B"):
                raise _malformed("set members must all be strings, numbers or binaries")
            kind = next(iter(kinds))
            set_kind = next(k for k, v in SET_TYPES.items() if v == kind)
            return normalize_value({set_kind: [m[kind] for m in elements]})
        if token.kind == "SYM" and token.text == "{":
            members: dict[str, Any] = {}
            if not self.accept("}"):
                while True:
                    name = self.take()
                    if name.kind not in ("STR", "QID", "ID"):
                        raise _malformed("expected a map key")
                    self.expect(":")
                    members[name.text] = self.value()
                    if self.accept("}"):
                        break
                    self.expect(",")
            return {"M": members}
        raise _malformed(f"unexpected {token.text or 'end of statement'}")

    def _sequence(self, closing: str) -> list[dict[str, Any]]:
        items = [self.value()]
        while self.accept(","):
            items.append(self.value())
        self.expect(closing)
        return items

    def set_action(self) -> ast.Action:
        path = self.path()
        self.expect("=")
        left = self.operand()
        if self.peek().text in ("+", "-") and self.peek().kind == "SYM":
            op = self.take().text
            return ast.Action("SET", path, ast.Arithmetic(op, left, self.operand()))
        return ast.Action("SET", path, left)

    def operand(self) -> ast.Operand:
        token = self.peek()
        if token.kind in ("ID", "QID") and not (token.kind == "ID" and self.peek(1).text == "("):
            return self.path()
        if token.kind == "ID" and token.text.lower() == "size":
            self.pos += 1
            self.expect("(")
            path = self.path()
            self.expect(")")
            return ast.Size(path)
        return ast.Value(self.value())

    # conditions ------------------------------------------------------------------------------

    def condition(self) -> ast.Condition:
        node = self.conjunction()
        while self.accept("OR"):
            node = ast.Or(node, self.conjunction())
        return node

    def conjunction(self) -> ast.Condition:
        node = self.negation()
        while self.accept("AND"):
            node = ast.And(node, self.negation())
        return node

    def negation(self) -> ast.Condition:
        if self.accept("NOT"):
            return ast.Not(self.negation())
        if self.accept("("):
            node = self.condition()
            self.expect(")")
            return node
        token = self.peek()
        if token.kind == "ID" and self.peek(1).text == "(" and token.text.lower() != "size":
            name = token.text.lower()
            if name not in ("begins_with", "contains", "attribute_type", "attribute_exists", "attribute_not_exists"):
                raise _malformed(f"unsupported function {token.text}")
            self.pos += 2
            args = [self.operand()]
            while self.accept(","):
                args.append(self.operand())
            self.expect(")")
            return ast.Function(name, tuple(args))
        left = self.operand()
        if self.accept("IS"):
            negated = self.accept("NOT")
            test: ast.Condition
            if self.accept("MISSING"):
                test = ast.Function("attribute_not_exists", (left,))
            else:
                self.expect("NULL")
                test = ast.Function("attribute_type", (left, ast.Value({"S": "NULL"})))
            return ast.Not(test) if negated else test
        if self.accept("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            return ast.Between(left, low, self.operand())
        if self.accept("IN"):
            closing = "]" if self.accept("[") else None
            if closing is None:
                self.expect("(")
                closing = ")"
            options = [self.operand()]
            while self.accept(","):
                options.append(self.operand())
            self.expect(closing)
            return ast.In(left, tuple(options))
        token = self.take()
        if token.kind != "SYM" or token.text not in ("=", "<>", "!=", "<", "<=", ">", ">="):
            raise _malformed(f"unexpected {token.text or 'end of statement'}")
        return ast.Compare("<>" if token.text == "!=" else token.text, left, self.operand())


def _conjuncts(node: ast.Condition | None) -> list[ast.Condition]:
    if node is None:
        return []
    if isinstance(node, ast.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _equalities(node: ast.Condition | None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in _conjuncts(node):
        if isinstance(part, ast.Compare) and part.op == "=":
            path, value = part.left, part.right
            if isinstance(value, ast.Path):
                path, value = value, path
            if isinstance(path, ast.Path) and isinstance(value, ast.Value) and len(path.elements) == 1:
                found[str(path.elements[0])] = value.value
    return found


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(dump_item(key).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        return load_item(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, json.JSONDecodeError):
        raise ValidationError("Invalid NextToken") from None


class PartiqlMixin(BatchMixin, QueryMixin):
    async def ExecuteStatement(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        stmt = _Parser(params["Statement"], list(params.get("Parameters") or [])).statement()
        table = self.table(ctx, stmt.table)
        if stmt.kind == "SELECT":
            return await self._select_statement(table, stmt, params)
        await self._write_statement(table, stmt)
        return {}

    async def BatchExecuteStatement(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        responses: list[dict[str, Any]] = []
        for request in params["Statements"]:
            response: dict[str, Any] = {}
            try:
                stmt = _Parser(request["Statement"], list(request.get("Parameters") or [])).statement()
                table = self.table(ctx, stmt.table)
                response["TableName"] = table.name
                if stmt.kind == "SELECT":
                    items = (await self._select_statement(table, stmt, {}))["Items"]
                    if items:
                        response["Item"] = items[0]
                else:
                    await self._write_statement(table, stmt)
            except ServiceError as exc:
                code = {
                    "ConditionalCheckFailedException": "ConditionalCheckFailed",
                    "DuplicateItemException": "DuplicateItem",
                    "ResourceNotFoundException": "ResourceNotFound",
                }.get(exc.code, "ValidationError")
                response["Error"] = {"Code": code, "Message": exc.message}
            responses.append(response)
        return {"Responses": responses}

    async def _select_statement(self, table: TableDef, stmt: Statement, params: dict[str, Any]) -> dict[str, Any]:
        index = None
        if stmt.index is not None:
            index = table.indexes.get(stmt.index)
            if index is None:
                raise ValidationError(f"The table does not have the specified index: {stmt.index}")
        plan = Plan(table, index, filter=stmt.where, paths=stmt.projection)
        plan.select = "SPECIFIC_ATTRIBUTES" if stmt.projection is not None else "ALL_ATTRIBUTES"
        plan.where, plan.args = ["tid = ?"], [table.tid]
        if index is not None:
            plan.where.append("idx = ?")
            plan.args.append(index.name)
            plan.order = ["ih", "ir", "h", "r"]
            plan.fetch_full = index.projection != "ALL" and index.kind == "LSI"
        else:
            plan.order = ["h", "r"]
        hash_part = index.hash if index is not None else table.hash
        equal = _equalities(stmt.where).get(hash_part.name)
        if equal is not None and value_type(equal) == hash_part.type:
            plan.where.append("ih = ?" if index is not None else "h = ?")
            plan.args.append(encode_key(equal))
        plan.limit = params.get("Limit")
        if params.get("NextToken"):
            self._start_key(plan, _decode_token(params["NextToken"]))
        result = await self._execute(plan, {})
        out: dict[str, Any] = {"Items": result.get("Items", [])}
        if "LastEvaluatedKey" in result:
            out["NextToken"] = _encode_token(result["LastEvaluatedKey"])
            out["LastEvaluatedKey"] = result["LastEvaluatedKey"]
        return out

    def _key_from_where(self, table: TableDef, stmt: Statement) -> tuple[dict[str, Any], ast.Condition | None]:
        equal = _equalities(stmt.where)
        key = {name: equal[name] for name in table.key_names if name in equal}
        if len(key) != len(table.key_names):
            raise ValidationError("Where clause does not contain a mandatory equality on all key attributes")
        rest = [p for p in _conjuncts(stmt.where) if not _is_key_equality(p, table)]
        condition: ast.Condition | None = None
        for part in rest:
            condition = part if condition is None else ast.And(condition, part)
        return key, condition

    def _statement_write(self, table: TableDef, stmt: Statement) -> Write:
        """The item write a non-SELECT statement performs, with its guarding condition."""
        exists = ast.Function("attribute_exists", (ast.Path((table.hash.name,)),))
        if stmt.kind == "INSERT":
            assert stmt.item is not None
            item = normalize_item(stmt.item)
            h, r = table.check_item_key(item)
            missing = ast.Function("attribute_not_exists", (ast.Path((table.hash.name,)),))
            return Write(table, h, r, table.key_of(item), item=item, condition=missing, failure_code="DuplicateItem")
        key, condition = self._key_from_where(table, stmt)
        h, r = table.check_key(key)
        if stmt.kind == "UPDATE":
            update = ast.Update(tuple(stmt.actions))
            for action in update.actions:
                if action.path.elements[0] in table.key_names:
                    raise ValidationError(
                        f"One or more parameter values were invalid: Cannot update attribute {action.path.elements[0]}. "
                        "This attribute is part of the key"
                    )
            full: ast.Condition = exists if condition is None else ast.And(exists, condition)
            return Write(table, h, r, key, condition=full, update=update)
        return Write(table, h, r, key, condition=condition, delete=True)

    async def _write_statement(self, table: TableDef, stmt: Statement) -> None:
        write = self._statement_write(table, stmt)
        try:
            await self.db.write(write.run)
        except ConditionalCheckFailed:
            if write.failure_code == "DuplicateItem":
                raise DuplicateItem("Duplicate primary key exists in table") from None
            raise

    async def ExecuteTransaction(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        parsed = []
        for request in params["TransactStatements"]:
            stmt = _Parser(request["Statement"], list(request.get("Parameters") or [])).statement()
            parsed.append((self.table(ctx, stmt.table), stmt, request))
        kinds = {stmt.kind == "SELECT" for _, stmt, _ in parsed}
        if len(kinds) > 1:
            raise ValidationError("Transaction must contain either all reads or all writes")
        if kinds == {True}:
            responses = []
            for table, stmt, _ in parsed:
                items = (await self._select_statement(table, stmt, {}))["Items"]
                responses.append({"Item": items[0]} if items else {})
            return {"Responses": responses}
        writes = []
        seen: set[tuple[int, bytes, bytes]] = set()
        for table, stmt, request in parsed:
            write = self._statement_write(table, stmt)
            write.return_old_on_failure = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            if (table.tid, write.h, write.r) in seen:
                raise ValidationError("Transaction request cannot include multiple operations on one item")
            seen.add((table.tid, write.h, write.r))
            writes.append(write)
        await self.run_transaction(ctx, writes, params)
        return {}


def _is_key_equality(node: ast.Condition, table: TableDef) -> bool:
    if not isinstance(node, ast.Compare) or node.op != "=":
        return False
    for side in (node.left, node.right):
        if isinstance(side, ast.Path) and len(side.elements) == 1 and side.elements[0] in table.key_names:
            return True
    return False
