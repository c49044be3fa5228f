"""Evaluating expression trees against items: conditions, projections, updates.

Items are plain wire dicts.  ``apply_update`` never mutates its input: it
returns the new item, and every right-hand side is evaluated against the
item as it was before the update (DynamoDB's semantics).
"""

from __future__ import annotations

import copy
from typing import Any

from cloudlet.errors import ValidationError
from cloudlet.services.dynamodb.expressions import ast
from cloudlet.services.dynamodb.types import (
    SET_TYPES,
    AttributeValue,
    Item,
    add_numbers,
    check_number,
    compare_scalars,
    parse_number,
    value_type,
    values_equal,
)


def resolve(item: Item | None, path: ast.Path) -> AttributeValue | None:
    if item is None:
        return None
    first = path.elements[0]
    current: Any = item.get(first) if isinstance(first, str) else None
    for element in path.elements[1:]:
        if current is None:
            return None
        if isinstance(element, int):
            items = current.get("L")
            current = items[element] if items is not None and element < len(items) else None
        else:
            members = current.get("M")
            current = members.get(element) if members is not None else None
    return current


def operand_value(item: Item | None, node: ast.Operand) -> AttributeValue | None:
    if isinstance(node, ast.Path):
        return resolve(item, node)
    if isinstance(node, ast.Value):
        return node.value
    if isinstance(node, ast.Size):
        found = resolve(item, node.path)
        if found is None:
            return None
        kind, raw = next(iter(found.items()))
        if kind in ("N", "BOOL", "NULL"):
            raise ValidationError(
                f"Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: {kind}"
            )
        return {"N": str(len(raw))}
    raise ValidationError("Invalid expression: unsupported operand")


def evaluate(node: ast.Condition, item: Item | None) -> bool:
    if isinstance(node, ast.And):
        return evaluate(node.left, item) and evaluate(node.right, item)
    if isinstance(node, ast.Or):
        return evaluate(node.left, item) or evaluate(node.right, item)
    if isinstance(node, ast.Not):
        return not evaluate(node.operand, item)
    if isinstance(node, ast.Compare):
        left, right = operand_value(item, node.left), operand_value(item, node.right)
        if left is None or right is None:
            return node.op == "<>"
        if node.op == "=":
            return values_equal(left, right)
        if node.op == "<>":
            return not values_equal(left, right)
        order = compare_scalars(left, right)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[node.op]
    if isinstance(node, ast.Between):
        value = operand_value(item, node.operand)
        low, high = operand_value(item, node.low), operand_value(item, node.high)
        if value is None or low is None or high is None:
            return False
        a, b = compare_scalars(value, low), compare_scalars(value, high)
        return a is not None and b is not None and a >= 0 and b <= 0
    if isinstance(node, ast.In):
        value = operand_value(item, node.operand)
        if value is None:
            return False
        for option in node.options:
            candidate = operand_value(item, option)
            if candidate is not None and values_equal(value, candidate):
                return True
        return False
    return _function(node, item)


def _function(node: ast.Function, item: Item | None) -> bool:
    name = node.name
    if name == "attribute_exists":
        return operand_value(item, node.args[0]) is not None
    if name == "attribute_not_exists":
        return operand_value(item, node.args[0]) is None
    target = operand_value(item, node.args[0])
    argument = operand_value(item, node.args[1])
    if target is None or argument is None:
        return False
    kind = value_type(target)
    if name == "attribute_type":
        return argument.get("S") == kind
    if name == "begins_with":
        other = value_type(argument)
        if kind == "S" and other == "S":
            return bool(target["S"].startswith(argument["S"]))
        if kind == "B" and other == "B":
            return bool(target["B"].startswith(argument["B"]))
        return False
    # contains
    other = value_type(argument)
    if kind == "S" and other == "S":
        return argument["S"] in target["S"]
    if kind == "B" and other == "B":
        return argument["B"] in target["B"]
    if kind in SET_TYPES:
        if SET_TYPES[kind] != other:
            return False
        if kind == "NS":
            wanted = parse_number(argument["N"])
            return any(parse_number(v) == wanted for v in target["NS"])
        return argument[other] in target[kind]
    if kind == "L":
        return any(values_equal(element, argument) for element in target["L"])
    return False


# -- projection --------------------------------------------------------------------------


def project(item: Item, paths: list[ast.Path]) -> Item:
    """The parts of ``item`` named by ``paths`` (lists keep only the indexed elements, in order)."""
    result: Item = {}
    for path in paths:
        value = resolve(item, path)
        if value is None:
            continue
        _merge(result, path.elements, value)
    return _compact_lists(result)


def _merge(target: dict[str, Any], elements: tuple[str | int, ...], value: AttributeValue) -> None:
    # Build a sparse structure; lists are dicts keyed by index until compacted.
    container: Any = target
    for i, element in enumerate(elements):
        last = i == len(elements) - 1
        if last:
            container[element] = copy.deepcopy(value)
            return
        nxt = elements[i + 1]
        kind = "L" if isinstance(nxt, int) else "M"
        slot = container.get(element)
        if slot is None:
            slot = {kind: {}, "_sparse": True}
            container[element] = slot
        if slot.get("_sparse") is None:
            return  # an ancestor is already projected whole
        container = slot[kind]


def _compact_lists(value: Any) -> Any:
    if isinstance(value, dict):
        if value.pop("_sparse", None):
            if "L" in value:
                return {"L": [_compact_lists(value["L"][k]) for k in sorted(value["L"])]}
            return {"M": {k: _compact_lists(v) for k, v in value["M"].items()}}
        return {k: _compact_lists(v) if isinstance(v, dict) and "_sparse" in v else v for k, v in value.items()}
    return value


# -- updates ------------------------------------------------------------------------------


def _invalid_path() -> ValidationError:
    return ValidationError("The document path provided in the update expression is invalid for update")


def _bad_operand() -> ValidationError:
    return ValidationError("An operand in the update expression has an incorrect data type")


def check_overlaps(update: ast.Update) -> None:
    paths = [action.path for action in update.actions]
    for i, one in enumerate(paths):
        for two in paths[i + 1:]:
            shorter = min(len(one.elements), len(two.elements))
            if one.elements[:shorter] == two.elements[:shorter]:
                raise ValidationError(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; "
                    f"path one: {one}, path two: {two}"
                )


def _term(old: Item, node: ast.Operand) -> AttributeValue:
    if isinstance(node, ast.IfNotExists):
        found = resolve(old, node.path)
        return found if found is not None else _term(old, node.default)
    if isinstance(node, ast.ListAppend):
        first, second = _term(old, node.first), _term(old, node.second)
        if "L" not in first or "L" not in second:
            raise _bad_operand()
        return {"L": first["L"] + second["L"]}
    if isinstance(node, ast.Arithmetic):
        left, right = _term(old, node.left), _term(old, node.right)
        if "N" not in left or "N" not in right:
            raise _bad_operand()
        return {"N": add_numbers(left["N"], right["N"], subtract=node.op == "-")}
    if isinstance(node, ast.Path):
        found = resolve(old, node)
        if found is None:
            raise ValidationError("The provided expression refers to an attribute that does not exist in the item")
        return found
    if isinstance(node, ast.Value):
        return node.value
    raise _bad_operand()


def apply_update(old: Item, update: ast.Update) -> Item:
    new = copy.deepcopy(old)
    removals: list[ast.Path] = []
    for action in update.actions:
        if action.kind == "SET":
            assert action.value is not None
            _set(new, action.path, copy.deepcopy(_term(old, action.value)))
        elif action.kind == "REMOVE":
            removals.append(action.path)
        else:
            assert isinstance(action.value, ast.Value)
            _add_or_delete(new, action.kind, action.path, action.value.value)
    # Remove list elements from the highest index down so earlier indexes stay valid.
    for path in sorted(removals, key=lambda p: [(-e if isinstance(e, int) else 0) for e in p.elements]):
        _remove(new, path)
    return new


def _parent(item: Item, path: ast.Path) -> Any:
    """The container holding the last element of ``path`` (a dict of names or a list)."""
    container: Any = item
    for element in path.elements[:-1]:
        if isinstance(element, int):
            if not isinstance(container, list) or element >= len(container):
                raise _invalid_path()
            value = container[element]
        else:
            if not isinstance(container, dict) or element not in container:
                raise _invalid_path()
            value = container[element]
        if "M" in value:
            container = value["M"]
        elif "L" in value:
            container = value["L"]
        else:
            raise _invalid_path()
    return container


def _set(item: Item, path: ast.Path, value: AttributeValue) -> None:
    container = _parent(item, path)
    last = path.elements[-1]
    if isinstance(last, int):
        if not isinstance(container, list):
            raise _invalid_path()
        if last < len(container):
            container[last] = value
        else:
            container.append(value)
    else:
        if not isinstance(container, dict):
            raise _invalid_path()
        container[last] = value


def _remove(item: Item, path: ast.Path) -> None:
    try:
        container = _parent(item, path)
    except ValidationError:
        return
    last = path.elements[-1]
    if isinstance(last, int):
        if isinstance(container, list) and last < len(container):
            del container[last]
    elif isinstance(container, dict):
        container.pop(last, None)


def _add_or_delete(item: Item, kind: str, path: ast.Path, value: AttributeValue) -> None:
    current = resolve(item, path)
    vkind = value_type(value)
    if kind == "ADD":
        if current is None:
            _set(item, path, copy.deepcopy(value))
            return
        ckind = value_type(current)
        if ckind != vkind:
            raise _bad_operand()
        if vkind == "N":
            _set(item, path, {"N": add_numbers(current["N"], value["N"])})
            return
        _set(item, path, {vkind: _union(vkind, current[vkind], value[vkind])})
        return
    if current is None:
        return
    ckind = value_type(current)
    if ckind != vkind:
        raise _bad_operand()
    remaining = _difference(vkind, current[vkind], value[vkind])
    if remaining:
        _set(item, path, {vkind: remaining})
    else:
        _remove(item, path)


def _union(kind: str, a: list[Any], b: list[Any]) -> list[Any]:
    if kind == "NS":
        seen = {parse_number(v) for v in a}
        result = list(a)
        for v in b:
            if check_number(parse_number(v)) not in seen:
                result.append(v)
                seen.add(parse_number(v))
        return result
    return list(a) + [v for v in b if v not in set(a)]


def _difference(kind: str, a: list[Any], b: list[Any]) -> list[Any]:
    if kind == "NS":
        drop = {parse_number(v) for v in b}
        return [v for v in a if parse_number(v) not in drop]
    drop_set = set(b)
    return [v for v in a if v not in drop_set]


def top_level_names(update: ast.Update) -> set[str]:
    return {str(action.path.elements[0]) for action in update.actions}
