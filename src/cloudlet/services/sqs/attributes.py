"""Queue names, URLs, ARNs and the settable queue attributes (validation and defaults).

Settable attributes are kept as the strings AWS returns; the read-only ones
(counts, timestamps, ``QueueArn``) are computed on each GetQueueAttributes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cloudlet.services.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

READ_ONLY = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")

#: Defaults of a new queue, as GetQueueAttributes returns them.
STANDARD_DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}


def _int_range(low: int, high: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return bool(re.fullmatch(r"\d+", value)) and low <= int(value) <= high

    return check


def _boolean(value: str) -> bool:
    return value.lower() in ("true", "false")


def _one_of(*choices: str) -> Callable[[str], bool]:
    return lambda value: value in choices


def _any(value: str) -> bool:
    return True


def _json_object(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "DelaySeconds": _int_range(0, 900),
    "MaximumMessageSize": _int_range(1024, 1048576),
    "MessageRetentionPeriod": _int_range(60, 1209600),
    "ReceiveMessageWaitTimeSeconds": _int_range(0, 20),
    "VisibilityTimeout": _int_range(0, 43200),
    "Policy": _json_object,
    "RedrivePolicy": _any,  # checked by redrive_policy()
    "RedriveAllowPolicy": _any,  # checked by redrive_allow_policy()
    "KmsMasterKeyId": _any,
    "KmsDataKeyReusePeriodSeconds": _int_range(60, 86400),
    "SqsManagedSseEnabled": _boolean,
    "FifoQueue": _boolean,
    "ContentBasedDeduplication": _boolean,
    "DeduplicationScope": _one_of("messageGroup", "queue"),
    "FifoThroughputLimit": _one_of("perQueue", "perMessageGroupId"),
}
SETTABLE = tuple(VALIDATORS)
ALL_NAMES = frozenset(SETTABLE + READ_ONLY)


def check_queue_name(name: str, fifo: bool) -> None:
    base = name[:-5] if name.endswith(".fifo") else name
    if fifo and not name.endswith(".fifo"):
        raise InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
            "must end with .fifo suffix and be 1 to 80 in length."
        )
    if not fifo and name.endswith(".fifo"):
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    if not _NAME_RE.match(base) or len(name) > 80:
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def normalize(attributes: Mapping[str, Any], *, fifo: bool, creating: bool) -> dict[str, str]:
    """Validated settable attributes (as strings); raises AWS's errors."""
    out: dict[str, str] = {}
    for name, raw in attributes.items():
        value = str(raw)
        if name in READ_ONLY or name not in VALIDATORS:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in FIFO_ONLY and not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if not VALIDATORS[name](value):
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        if name in ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"):
            value = value.lower()
        if name == "RedrivePolicy" and value:
            value = json.dumps(redrive_policy(value), separators=(",", ":"))
        if name == "RedriveAllowPolicy" and value:
            redrive_allow_policy(value)
        out[name] = value
    return out


def redrive_policy(value: str) -> dict[str, Any]:
    """``{"deadLetterTargetArn": arn, "maxReceiveCount": int}`` from the attribute text."""
    try:
        policy = json.loads(value)
        arn = policy["deadLetterTargetArn"]
        count = int(policy["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise InvalidAttributeValue(
            "Value "
            + value
            + " for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map."
        ) from None
    if not isinstance(arn, str) or not arn.startswith("arn:") or not 1 <= count <= 1000:
        raise InvalidAttributeValue(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: "
            f"{policy.get('maxReceiveCount')}, valid values are from 1 to 1000 both inclusive."
        )
    return {"deadLetterTargetArn": arn, "maxReceiveCount": count}


def redrive_allow_policy(value: str) -> dict[str, Any]:
    try:
        policy = json.loads(value)
        permission = policy["redrivePermission"]
    except (ValueError, KeyError, TypeError):
        raise InvalidAttributeValue(
            f"Value {value} for parameter RedriveAllowPolicy is invalid."
        ) from None
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise InvalidAttributeValue(f"Value {value} for parameter RedriveAllowPolicy is invalid.")
    sources = policy.get("sourceQueueArns") or []
    if permission == "byQueue" and not 1 <= len(sources) <= 10:
        raise InvalidAttributeValue(f"Value {value} for parameter RedriveAllowPolicy is invalid.")
    return {"redrivePermission": permission, "sourceQueueArns": sources}


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def parse_arn(arn: str) -> tuple[str, str, str]:
    """(region, account, name) of a queue ARN."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
        raise InvalidParameterValue(f"Value {arn} for parameter QueueArn is invalid.")
    return parts[3], parts[4], parts[5]


def queue_url(endpoint: str, account: str, name: str) -> str:
    return f"{endpoint.rstrip('/')}/{account}/{name}"


def parse_url(url: str, default_account: str) -> tuple[str, str]:
    """(account, name) of a queue URL (``…/<account>/<name>``); a bare name means the caller's account."""
    if "/" not in url:
        return default_account, url
    path = urlsplit(url).path if "://" in url else url
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2:
        if len(segments) == 1:
            return default_account, segments[0]
        raise InvalidParameterValue(
            f"Value {url} for parameter QueueUrl is invalid. Reason: Invalid URL."
        )
    return segments[-2], segments[-1]
