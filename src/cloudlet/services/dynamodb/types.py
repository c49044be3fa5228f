"""DynamoDB attribute values: validation, numbers, canonical forms, sizes, key order.

Attribute values are kept in their wire form (``{"S": "x"}``, ``{"N": "1"}``,
``{"B": b"..."}`` — the JSON protocol has already turned base64 into bytes).

Numbers follow DynamoDB: up to 38 significant digits, magnitude between
1E-130 and 9.99…E+125, returned normalized (``"01.50"`` is stored as ``"1.5"``).
All arithmetic runs in a ``decimal`` context of 38 digits that traps inexact
results, which is how DynamoDB reports an ``ADD`` that loses precision.

Key values are encoded to bytes whose ``memcmp`` order is DynamoDB's key order
(N numeric, S by UTF-8 bytes, B by unsigned bytes), so SQLite's BLOB
comparison serves Query's sort-key ranges straight from an index.
"""

from __future__ import annotations

import base64
import decimal
import json
from typing import Any

from cloudlet.errors import ValidationError

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

TYPES = ("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS")
SET_TYPES = {"SS": "S", "NS": "N", "BS": "B"}
MAX_DEPTH = 32
MAX_ITEM_SIZE = 400 * 1024

CONTEXT = decimal.Context(
    prec=38,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=126,
    Emin=-130,
    traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow, decimal.Underflow],
)
_WIDE = decimal.Context(prec=200, Emax=999999, Emin=-999999, traps=[decimal.InvalidOperation])


class NumberError(ValidationError):
    pass


def parse_number(text: Any) -> decimal.Decimal:
    """A DynamoDB number from its text, or ValidationException as DynamoDB words it."""
    if not isinstance(text, str):
        raise NumberError("The parameter cannot be converted to a numeric value")
    stripped = text.strip()
    try:
        value = _WIDE.create_decimal(stripped)
    except decimal.InvalidOperation:
        raise NumberError(f"The parameter cannot be converted to a numeric value: {text}") from None
    if not value.is_finite() or not stripped or stripped != text:
        raise NumberError(f"The parameter cannot be converted to a numeric value: {text}")
    return check_number(value)


def check_number(value: decimal.Decimal) -> decimal.Decimal:
    if value.is_zero():
        return decimal.Decimal(0)
    value = value.normalize(_WIDE)
    digits = len(value.as_tuple().digits)
    if digits > 38:
        raise NumberError("Attempting to store more than 38 significant digits in a Number")
    magnitude = value.adjusted()
    if magnitude > 125:
        raise NumberError("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if magnitude < -130:
        raise NumberError("Number underflow. Attempting to store a number with magnitude smaller than supported range")
    return value


def format_number(value: decimal.Decimal) -> str:
    """DynamoDB's canonical text: no exponent, no trailing zeros."""
    if value.is_zero():
        return "0"
    text = format(value.normalize(_WIDE), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def canonical_number(text: str) -> str:
    return format_number(parse_number(text))


def add_numbers(a: str, b: str, *, subtract: bool = False) -> str:
    x, y = parse_number(a), parse_number(b)
    try:
        result = CONTEXT.subtract(x, y) if subtract else CONTEXT.add(x, y)
    except decimal.Inexact:
        raise NumberError("Number overflow. Attempting to store a number with more than 38 significant digits") from None
    except (decimal.Overflow, decimal.Underflow):
        raise NumberError("Number overflow. Attempting to store a number with magnitude larger than supported range") from None
    return format_number(check_number(result))


# -- validation ------------------------------------------------------------------


def value_type(value: AttributeValue) -> str:
    return next(iter(value))


def _invalid(message: str) -> ValidationError:
    return ValidationError(f"One or more parameter values were invalid: {message}")


def normalize_value(value: Any, depth: int = 1) -> AttributeValue:
    """Validate a wire attribute value and return its canonical form (numbers normalized)."""
    if not isinstance(value, dict) or not value:
        raise ValidationError("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    present = [k for k, v in value.items() if v is not None]
    if len(present) > 1:
        raise ValidationError(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
        )
    if not present:
        raise ValidationError("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    kind = present[0]
    raw = value[kind]
    if depth > MAX_DEPTH:
        raise ValidationError("Nesting Levels have exceeded supported limits")
    if kind == "S":
        return {"S": raw}
    if kind == "N":
        return {"N": canonical_number(raw)}
    if kind == "B":
        return {"B": bytes(raw)}
    if kind == "BOOL":
        return {"BOOL": bool(raw)}
    if kind == "NULL":
        if raw is not True:
            raise ValidationError("One or more parameter values were invalid: Null attribute value types must have the value of true")
        return {"NULL": True}
    if kind == "M":
        return {"M": {k: normalize_value(v, depth + 1) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [normalize_value(v, depth + 1) for v in raw]}
    if kind in SET_TYPES:
        return {kind: _normalize_set(kind, raw)}
    raise ValidationError("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")


_SET_WORDS = {"SS": "string", "NS": "number", "BS": "binary"}


def _normalize_set(kind: str, raw: list[Any]) -> list[Any]:
    if not raw:
        raise _invalid(f"An {_SET_WORDS[kind]} set  may not be empty")
    members: list[Any]
    if kind == "NS":
        members = [canonical_number(v) for v in raw]
        keys = [parse_number(v) for v in members]
    elif kind == "BS":
        members = [bytes(v) for v in raw]
        keys = list(members)
    else:
        members = list(raw)
        keys = list(members)
    if len(set(keys)) != len(keys):
        shown = ", ".join(str(v) for v in raw)
        raise _invalid(f"Input collection [{shown}] contains duplicates.")
    return members


def normalize_item(item: Any) -> Item:
    if not isinstance(item, dict):
        raise ValidationError("Item must be a map")
    return {name: normalize_value(value) for name, value in item.items()}


# -- sizes -----------------------------------------------------------------------


def number_size(text: str) -> int:
    value = parse_number(text)
    if value.is_zero():
        return 1
    digits = value.as_tuple().digits
    return (len(digits) + 1) // 2 + 1


def value_size(value: AttributeValue) -> int:
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in raw)
    if kind == "NS":
        return sum(number_size(v) for v in raw)
    if kind == "BS":
        return sum(len(v) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    return 0


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


# -- equality and ordering ------------------------------------------------------


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    ka, kb = value_type(a), value_type(b)
    if ka != kb:
        return False
    ra, rb = a[ka], b[kb]
    if ka == "N":
        return parse_number(ra) == parse_number(rb)
    if ka == "NS":
        return {parse_number(v) for v in ra} == {parse_number(v) for v in rb}
    if ka in ("SS", "BS"):
        return set(ra) == set(rb)
    if ka == "L":
        return len(ra) == len(rb) and all(values_equal(x, y) for x, y in zip(ra, rb, strict=True))
    if ka == "M":
        return ra.keys() == rb.keys() and all(values_equal(ra[k], rb[k]) for k in ra)
    return bool(ra == rb)


def compare_scalars(a: AttributeValue, b: AttributeValue) -> int | None:
    """-1/0/1 for two S, N or B values of the same type; None when not comparable."""
    ka, kb = value_type(a), value_type(b)
    if ka != kb or ka not in ("S", "N", "B"):
        return None
    if ka == "N":
        x, y = parse_number(a["N"]), parse_number(b["N"])
    elif ka == "S":
        x, y = a["S"].encode(), b["S"].encode()
    else:
        x, y = a["B"], b["B"]
    return (x > y) - (x < y)


def encode_number_key(value: decimal.Decimal) -> bytes:
    """Bytes whose memcmp order is numeric order."""
    if value.is_zero():
        return b"\x01"
    sign, digits, exponent = value.normalize(_WIDE).as_tuple()
    assert isinstance(exponent, int)
    magnitude = len(digits) + exponent + 400  # value = 0.d1d2... * 10^(len+exp); always positive here
    if not sign:
        return b"\x02" + magnitude.to_bytes(2, "big") + bytes(0x30 + d for d in digits)
    return b"\x00" + (0xFFFF - magnitude).to_bytes(2, "big") + bytes(0x39 - d for d in digits) + b"\xff"


def encode_key(value: AttributeValue) -> bytes:
    kind = value_type(value)
    if kind == "S":
        return bytes(value["S"].encode())
    if kind == "B":
        return bytes(value["B"])
    return encode_number_key(parse_number(value["N"]))


# -- storage form ------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get("__b"), str):
        return base64.b64decode(obj["__b"])
    return obj


def dump_item(item: Item) -> str:
    return json.dumps(_to_json(item), separators=(",", ":"), ensure_ascii=False)


def load_item(text: str) -> Item:
    # Most items hold no binary: skip the (slow) object hook for them.
    loaded: Item = json.loads(text, object_hook=_hook) if '"__b"' in text else json.loads(text)
    return loaded
