"""Recursive-descent parser for DynamoDB's expression languages.

One ``Placeholders`` object holds a request's ExpressionAttributeNames and
ExpressionAttributeValues and records which ones each expression used, so
the request can be checked for unused placeholders once all its expressions
are parsed (``check_unused``).

Grammar (keywords case-insensitive)::

    condition  := disjunct (OR disjunct)*
    disjunct   := conjunct (AND conjunct)*
    conjunct   := NOT conjunct | '(' condition ')' | function | comparison
    comparison := operand (comparator operand | BETWEEN operand AND operand
                                              | IN '(' operand (',' operand)* ')')
    operand    := path | :value | size '(' path ')'
    path       := name ('.' name | '[' digits ']')*
    update     := (SET set (',' set)* | REMOVE path (',' path)*
                   | ADD path :value (',' …)* | DELETE path :value (',' …)*)+
    set        := path '=' term (('+' | '-') term)?
    term       := operand | if_not_exists '(' path ',' term ')' | list_append '(' term ',' term ')'
"""

from __future__ import annotations

from typing import Any

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.expressions.lexer import Token, syntax_error, tokenize
from cloudlet.services.dynamodb.expressions.reserved import is_reserved
from cloudlet.services.dynamodb.types import SET_TYPES, TYPES, normalize_value

COMPARATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})
CONDITION_FUNCTIONS = frozenset({"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"})
UPDATE_FUNCTIONS = frozenset({"if_not_exists", "list_append"})
MAX_EXPRESSION_BYTES = 4096


class Placeholders:
    """ExpressionAttributeNames/Values of one request and what used them."""

    def __init__(self, names: dict[str, str] | None, values: dict[str, Any] | None) -> None:
        self.names = names
        self.values = values
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()
        self.normalized: dict[str, dict[str, Any]] = {}

    def check_unused(self) -> None:
        if self.names:
            unused = sorted(set(self.names) - self.used_names)
            if unused:
                raise ValidationError(f"Value provided in ExpressionAttributeNames unused in expressions: keys: {{{', '.join(unused)}}}")
        if self.values:
            unused = sorted(set(self.values) - self.used_values)
            if unused:
                raise ValidationError(f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{', '.join(unused)}}}")


class Parser:
    def __init__(self, text: str, kind_name: str, placeholders: Placeholders) -> None:
        self.text = text
        self.kind_name = kind_name
        self.placeholders = placeholders
        if not text.strip():
            raise ValidationError(f"Invalid {kind_name}: The expression can not be empty;")
        if len(text.encode()) > MAX_EXPRESSION_BYTES:
            raise ValidationError(f"Invalid {kind_name}: Expression size has exceeded the maximum allowed size;")
        self.tokens = tokenize(text, kind_name)
        self.pos = 0
        #: Semantic errors found while parsing; raised only if the syntax is right.
        self.deferred: ValidationError | None = None

    # -- token helpers --------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self) -> ValidationError:
        previous = self.tokens[self.pos - 1] if self.pos > 0 else None
        following = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        return syntax_error(self.kind_name, self.text, self.token, previous, following)

    def accept(self, text: str) -> bool:
        token = self.token
        if (token.kind == "PUNCT" and token.text == text) or (token.kind == "KEYWORD" and token.upper == text):
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.fail()

    def defer(self, message: str) -> None:
        if self.deferred is None:
            self.deferred = ValidationError(f"Invalid {self.kind_name}: {message}")

    def finish(self) -> None:
        if self.token.kind != "EOF":
            raise self.fail()
        if self.deferred is not None:
            raise self.deferred

    # -- names, values, paths --------------------------------------------------------

    def name(self) -> str:
        token = self.token
        if token.kind == "NAMEREF":
            self.pos += 1
            names = self.placeholders.names or {}
            if token.text not in names:
                self.defer(f"An expression attribute name used in the document path is not defined; attribute name: {token.text}")
                return token.text
            self.placeholders.used_names.add(token.text)
            return names[token.text]
        if token.kind == "NAME" and not token.text[0].isdigit():
            self.pos += 1
            if is_reserved(token.text):
                self.defer(f"Attribute name is a reserved keyword; reserved keyword: {token.text}")
            return token.text
        raise self.fail()

    def path(self) -> ast.Path:
        elements: list[str | int] = [self.name()]
        while True:
            if self.accept("."):
                elements.append(self.name())
            elif self.accept("["):
                if self.token.kind != "NUMBER":
                    raise self.fail()
                elements.append(int(self.advance().text))
                self.expect("]")
            else:
                return ast.Path(tuple(elements))

    def value(self) -> ast.Value:
        token = self.advance()
        values = self.placeholders.values or {}
        if token.text not in values:
            self.defer(f"An expression attribute value used in expression is not defined; attribute value: {token.text}")
            return ast.Value({"NULL": True}, token.text)
        self.placeholders.used_values.add(token.text)
        cached = self.placeholders.normalized.get(token.text)
        if cached is None:
            try:
                cached = normalize_value(values[token.text])
            except ValidationError as exc:
                raise ValidationError(f"ExpressionAttributeValues contains invalid value: {exc.message} for key {token.text}") from None
            self.placeholders.normalized[token.text] = cached
        return ast.Value(cached, token.text)

    # -- conditions -------------------------------------------------------------------

    def condition(self) -> ast.Condition:
        node = self.disjunct()
        while self.accept("OR"):
            node = ast.Or(node, self.disjunct())
        return node

    def disjunct(self) -> ast.Condition:
        node = self.conjunct()
        while self.accept("AND"):
            node = ast.And(node, self.conjunct())
        return node

    def conjunct(self) -> ast.Condition:
        if self.accept("NOT"):
            return ast.Not(self.conjunct())
        if self.accept("("):
            node = self.condition()
            self.expect(")")
            return node
        token = self.token
        if token.kind == "NAME" and self.tokens[self.pos + 1].text == "(" and token.text != "size":
            return self.function()
        return self.comparison()

    def function(self) -> ast.Function:
        token = self.advance()
        name = token.text
        if name not in CONDITION_FUNCTIONS:
            if name in UPDATE_FUNCTIONS:
                raise ValidationError(f"Invalid {self.kind_name}: The function is not allowed to be used this way in an expression; function: {name}")
            raise ValidationError(f"Invalid {self.kind_name}: Invalid function name; function: {name}")
        self.expect("(")
        args = [self.operand()]
        while self.accept(","):
            args.append(self.operand())
        self.expect(")")
        self.check_function(name, args)
        return ast.Function(name, tuple(args))

    def check_function(self, name: str, args: list[ast.Operand]) -> None:
        wanted = 1 if name in ("attribute_exists", "attribute_not_exists") else 2
        if len(args) != wanted:
            raise ValidationError(
                f"Invalid {self.kind_name}: Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {len(args)}"
            )
        if not isinstance(args[0], ast.Path) and name != "contains":
            raise ValidationError(f"Invalid {self.kind_name}: Operator or function requires a document path; operator or function: {name}")
        second = args[1] if len(args) > 1 else None
        if isinstance(second, ast.Value) and self.deferred is None:
            kind = next(iter(second.value))
            if name == "begins_with" and kind not in ("S", "B"):
                raise ValidationError(
                    f"Invalid {self.kind_name}: Incorrect operand type for operator or function; operator or function: {name}, operand type: {kind}"
                )
            if name == "attribute_type":
                if kind != "S":
                    raise ValidationError(
                        f"Invalid {self.kind_name}: Incorrect operand type for operator or function; operator or function: {name}, operand type: {kind}"
                    )
                if second.value["S"] not in TYPES:
                    raise ValidationError(
                        f"Invalid {self.kind_name}: Invalid attribute type name found; type: {second.value['S']}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                    )

    def comparison(self) -> ast.Condition:
        left = self.operand()
        token = self.token
        if token.kind == "PUNCT" and token.text in COMPARATORS:
            self.pos += 1
            return ast.Compare(token.text, left, self.operand())
        if self.accept("BETWEEN"):
            low = self.operand()
            self.expect("AND")
            high = self.operand()
            self.check_between(low, high)
            return ast.Between(left, low, high)
        if self.accept("IN"):
            self.expect("(")
            options = [self.operand()]
            while self.accept(","):
                options.append(self.operand())
            self.expect(")")
            if len(options) > 100:
                raise ValidationError(
                    f"Invalid {self.kind_name}: The IN operator is provided with too many operands; number of operands: {len(options)}"
                )
            return ast.In(left, tuple(options))
        raise self.fail()

    def check_between(self, low: ast.Operand, high: ast.Operand) -> None:
        from cloudlet.services.dynamodb.types import compare_scalars

        if isinstance(low, ast.Value) and isinstance(high, ast.Value) and self.deferred is None:
            order = compare_scalars(low.value, high.value)
            if order is not None and order > 0:
                raise ValidationError(
                    f"Invalid {self.kind_name}: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                    f"lower bound operand: AttributeValue: {_show(low.value)}, upper bound operand: AttributeValue: {_show(high.value)}"
                )

    def operand(self) -> ast.Operand:
        token = self.token
        if token.kind == "VALUEREF":
            return self.value()
        if token.kind == "NAME" and self.tokens[self.pos + 1].text == "(":
            if token.text == "size":
                self.pos += 2
                path = self.path()
                self.expect(")")
                return ast.Size(path)
            if token.text in CONDITION_FUNCTIONS or token.text in UPDATE_FUNCTIONS:
                raise ValidationError(
                    f"Invalid {self.kind_name}: The function is not allowed to be used this way in an expression; function: {token.text}"
                )
            raise ValidationError(f"Invalid {self.kind_name}: Invalid function name; function: {token.text}")
        if token.kind in ("NAME", "NAMEREF"):
            return self.path()
        raise self.fail()

    # -- update ---------------------------------------------------------------------------

    def update(self) -> ast.Update:
        actions: list[ast.Action] = []
        seen: set[str] = set()
        while self.token.kind != "EOF":
            token = self.token
            clause = token.upper if token.kind == "KEYWORD" else ""
            if clause not in ("SET", "REMOVE", "ADD", "DELETE"):
                raise self.fail()
            self.pos += 1
            if clause in seen:
                raise ValidationError(
                    f'Invalid {self.kind_name}: The "{clause}" section can only be used once in an update expression;'
                )
            seen.add(clause)
            while True:
                actions.append(self.action(clause))
                if not self.accept(","):
                    break
        return ast.Update(tuple(actions))

    def action(self, clause: str) -> ast.Action:
        path = self.path()
        if clause == "SET":
            self.expect("=")
            value = self.term()
            token = self.token
            if token.kind == "PUNCT" and token.text in "+-" and token.text:
                self.pos += 1
                value = ast.Arithmetic(token.text, value, self.term())
            return ast.Action("SET", path, value)
        if clause == "REMOVE":
            return ast.Action("REMOVE", path)
        if self.token.kind != "VALUEREF":
            if self.token.kind in ("NAME", "NAMEREF"):
                self.path()
                raise ValidationError(
                    f"Invalid {self.kind_name}: Incorrect operand type for operator or function; operator: {clause}, operand type: PATH"
                )
            raise self.fail()
        value_node = self.value()
        if self.deferred is None:
            kind = next(iter(value_node.value))
            allowed = ("N", *SET_TYPES) if clause == "ADD" else tuple(SET_TYPES)
            if kind not in allowed:
                raise ValidationError(
                    f"Invalid {self.kind_name}: Incorrect operand type for operator or function; operator: {clause}, operand type: {_TYPE_WORDS.get(kind, kind)}"
                )
        return ast.Action(clause, path, value_node)

    def term(self) -> ast.Operand:
        token = self.token
        if token.kind == "NAME" and self.tokens[self.pos + 1].text == "(" and token.text in UPDATE_FUNCTIONS:
            self.pos += 2
            if token.text == "if_not_exists":
                if self.token.kind not in ("NAME", "NAMEREF"):
                    raise ValidationError(
                        f"Invalid {self.kind_name}: Operator or function requires a document path; operator or function: if_not_exists"
                    )
                path = self.path()
                self.expect(",")
                default = self.term()
                self.expect(")")
                return ast.IfNotExists(path, default)
            first = self.term()
            self.expect(",")
            second = self.term()
            self.expect(")")
            return ast.ListAppend(first, second)
        if token.kind == "NAME" and self.tokens[self.pos + 1].text == "(" and token.text == "size":
            raise ValidationError(
                f"Invalid {self.kind_name}: The function is not allowed in an update expression; function: size"
            )
        return self.operand()


_TYPE_WORDS = {"S": "STRING", "B": "BINARY", "BOOL": "BOOLEAN", "NULL": "NULL", "L": "LIST", "M": "MAP", "N": "NUMBER"}


def _show(value: dict[str, Any]) -> str:
    kind, raw = next(iter(value.items()))
    return f"{{{kind}:{raw}}}"


def parse_condition(text: str, kind_name: str, placeholders: Placeholders) -> ast.Condition:
    parser = Parser(text, kind_name, placeholders)
    node = parser.condition()
    parser.finish()
    return node


def parse_projection(text: str, placeholders: Placeholders) -> list[ast.Path]:
    parser = Parser(text, "ProjectionExpression", placeholders)
    paths = [parser.path()]
    while parser.accept(","):
        paths.append(parser.path())
    parser.finish()
    return paths


def parse_update(text: str, placeholders: Placeholders) -> ast.Update:
    parser = Parser(text, "UpdateExpression", placeholders)
    node = parser.update()
    parser.finish()
    return node
