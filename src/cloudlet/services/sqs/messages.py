"""Pure message logic: validation, sizes and AWS's MD5 digests.

``MD5OfMessageAttributes`` follows AWS's binary encoding: attributes sorted
by name; for each, the 4-byte big-endian length and UTF-8 bytes of the name,
the same for the data type, one transport byte (1 for String/Number and their
custom subtypes, 2 for Binary), then the length-prefixed value (UTF-8 text or
raw bytes); the hex MD5 of the concatenation.  List values (never used by
AWS in practice) use transport bytes 3/4 with each element length-prefixed.

Stored form of message attributes (JSON in SQLite): ``{name: {"DataType":
…, "StringValue": …}}`` or ``{"BinaryValue": <base64>}``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudlet.services.sqs.errors import (
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
)

MAX_ATTRIBUTES = 10
SYSTEM_ATTRIBUTE_NAMES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")
_INVALID_BODY_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_of_body(body: str) -> str:
    return md5_hex(body.encode("utf-8"))


def _chunk(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _binary(value: Any) -> bytes:
    if isinstance(value, str):
        return base64.b64decode(value)
    return bytes(value)


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    """AWS's MD5 of message attributes (API shape or stored shape; binary as bytes or base64)."""
    out = bytearray()
    for name in sorted(attributes):
        value = attributes[name]
        data_type = str(value["DataType"])
        out += _chunk(name.encode()) + _chunk(data_type.encode())
        if value.get("StringValue") is not None:
            out += b"\x01" + _chunk(str(value["StringValue"]).encode())
        elif value.get("BinaryValue") is not None:
            out += b"\x02" + _chunk(_binary(value["BinaryValue"]))
        elif value.get("StringListValues"):
            out += b"\x03" + b"".join(_chunk(str(v).encode()) for v in value["StringListValues"])
        elif value.get("BinaryListValues"):
            out += b"\x04" + b"".join(_chunk(_binary(v)) for v in value["BinaryListValues"])
    return md5_hex(bytes(out))


def check_body(body: str | None) -> str:
    """The body, if AWS would accept it (non-empty, allowed characters only)."""
    if body is None:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    if body == "":
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be at least one character."
        )
    bad = _INVALID_BODY_RE.search(body)
    if bad is not None:
        raise InvalidMessageContents(
            f"Invalid binary character '#x{ord(bad.group()):X}' was found in the message body, the set of allowed "
            "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )
    return body


def normalize_attributes(
    attributes: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Validate message attributes; return the stored form (binary as base64 text)."""
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_ATTRIBUTES}]."
        )
    stored: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        _check_attribute_name(name)
        data_type = value.get("DataType")
        if not data_type:
            raise InvalidParameterValue(
                f"The message attribute '{name}' must contain non-empty message attribute type."
            )
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise InvalidParameterValue(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                "supported type prefixes: Binary, Number, String."
            )
        entry: dict[str, Any] = {"DataType": data_type}
        if base == "Binary":
            raw = value.get("BinaryValue")
            if raw is None:
                raise InvalidParameterValue(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                )
            entry["BinaryValue"] = base64.b64encode(_as_bytes(raw)).decode()
        else:
            text = value.get("StringValue")
            if text is None or text == "":
                raise InvalidParameterValue(
                    f"The message attribute '{name}' must contain non-empty message attribute value for message "
                    f"attribute type '{base}'."
                )
            if base == "Number":
                _check_number(name, text)
            entry["StringValue"] = text
        stored[name] = entry
    return stored


def _as_bytes(raw: Any) -> bytes:
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _check_attribute_name(name: str) -> None:
    lowered = name.lower()
    if (
        not _NAME_RE.match(name)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
        or lowered.startswith("aws.")
        or lowered.startswith("amazon.")
    ):
        raise InvalidParameterValue(f"Message (user) attribute name '{name}' is invalid.")


def _check_number(name: str, text: str) -> None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise InvalidParameterValue(
            f"Can't cast the value of message (user) attribute '{name}' to a number."
        )


def attributes_size(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    size = 0
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value["DataType"]).encode())
        if "StringValue" in value:
            size += len(str(value["StringValue"]).encode())
        elif "BinaryValue" in value:
            size += len(base64.b64decode(value["BinaryValue"]))
    return size


def api_attributes(stored: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored attributes in the shape boto3 returns (binary as bytes)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in stored.items():
        if "BinaryValue" in value:
            out[name] = {
                "BinaryValue": base64.b64decode(value["BinaryValue"]),
                "DataType": value["DataType"],
            }
        else:
            out[name] = {"StringValue": value["StringValue"], "DataType": value["DataType"]}
    return out


def select_attributes(stored: Mapping[str, Any], names: Iterable[str] | None) -> dict[str, Any]:
    """The message attributes a ReceiveMessage asked for (``All``, ``.*``, names, ``prefix.*``)."""
    wanted = list(names or ())
    if not wanted or not stored:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(stored)
    exact = {n for n in wanted if not n.endswith(".*")}
    prefixes = tuple(n[:-1] for n in wanted if n.endswith(".*"))
    return {k: v for k, v in stored.items() if k in exact or (prefixes and k.startswith(prefixes))}


def select_system_attributes(names: Iterable[str] | None) -> set[str]:
    wanted = set(names or ())
    if "All" in wanted:
        return set(SYSTEM_ATTRIBUTE_NAMES)
    return wanted & set(SYSTEM_ATTRIBUTE_NAMES)
