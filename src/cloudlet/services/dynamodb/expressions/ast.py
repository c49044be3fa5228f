"""The syntax tree shared by every DynamoDB expression (and the legacy parameters).

Names and values are already substituted: a ``Path`` holds real attribute
names, a ``Value`` the attribute value (with its placeholder kept for
messages).  ``render`` writes a tree back as expression text; the parser
reading that text again gives an equal tree (tested with Hypothesis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Path:
    elements: tuple[str | int, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(str(e) for e in self.elements) + "]"


@dataclass(frozen=True)
class Value:
    value: dict[str, Any]
    placeholder: str = field(default="", compare=False)


@dataclass(frozen=True)
class Size:
    path: Path


@dataclass(frozen=True)
class IfNotExists:
    path: Path
    default: Operand


@dataclass(frozen=True)
class ListAppend:
    first: Operand
    second: Operand


@dataclass(frozen=True)
class Arithmetic:
    op: str  # "+" | "-"
    left: Operand
    right: Operand


Operand = Path | Value | Size | IfNotExists | ListAppend | Arithmetic


@dataclass(frozen=True)
class Compare:
    op: str  # = <> < <= > >=
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class Function:
    name: str  # attribute_exists attribute_not_exists attribute_type begins_with contains
    args: tuple[Operand, ...]


Condition = Compare | Between | In | And | Or | Not | Function


@dataclass(frozen=True)
class Action:
    kind: str  # SET REMOVE ADD DELETE
    path: Path
    value: Operand | None = None


@dataclass(frozen=True)
class Update:
    actions: tuple[Action, ...]


# -- rendering (names/values written as placeholders from the given maps) ------------


class Renderer:
    """Writes trees as expression text, inventing ``#nN``/``:vN`` placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}

    def name(self, name: str) -> str:
        for key, existing in self.names.items():
            if existing == name:
                return key
        key = f"#n{len(self.names)}"
        self.names[key] = name
        return key

    def path(self, path: Path) -> str:
        text = ""
        for element in path.elements:
            if isinstance(element, int):
                text += f"[{element}]"
            else:
                text += ("." if text else "") + self.name(element)
        return text

    def operand(self, node: Operand) -> str:
        if isinstance(node, Path):
            return self.path(node)
        if isinstance(node, Value):
            key = node.placeholder or f":v{len(self.values)}"
            self.values[key] = node.value
            return key
        if isinstance(node, Size):
            return f"size({self.path(node.path)})"
        if isinstance(node, IfNotExists):
            return f"if_not_exists({self.path(node.path)}, {self.operand(node.default)})"
        if isinstance(node, ListAppend):
            return f"list_append({self.operand(node.first)}, {self.operand(node.second)})"
        return f"{self.operand(node.left)} {node.op} {self.operand(node.right)}"

    def condition(self, node: Condition) -> str:
        if isinstance(node, Compare):
            return f"{self.operand(node.left)} {node.op} {self.operand(node.right)}"
        if isinstance(node, Between):
            return f"{self.operand(node.operand)} BETWEEN {self.operand(node.low)} AND {self.operand(node.high)}"
        if isinstance(node, In):
            options = ", ".join(self.operand(o) for o in node.options)
            return f"{self.operand(node.operand)} IN ({options})"
        if isinstance(node, And):
            return f"({self.condition(node.left)}) AND ({self.condition(node.right)})"
        if isinstance(node, Or):
            return f"({self.condition(node.left)}) OR ({self.condition(node.right)})"
        if isinstance(node, Not):
            return f"NOT ({self.condition(node.operand)})"
        return f"{node.name}(" + ", ".join(self.operand(a) for a in node.args) + ")"

    def update(self, node: Update) -> str:
        clauses: dict[str, list[str]] = {}
        for action in node.actions:
            text = self.path(action.path)
            if action.kind == "SET":
                assert action.value is not None
                text += f" = {self.operand(action.value)}"
            elif action.value is not None:
                text += f" {self.operand(action.value)}"
            clauses.setdefault(action.kind, []).append(text)
        return " ".join(f"{kind} {', '.join(items)}" for kind, items in clauses.items())
