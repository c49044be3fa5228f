"""Validation of SNS names, topic/subscription attributes and message attributes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from cloudlet.services.sns import filter_policy
from cloudlet.services.sns.errors import InvalidParameter, InvalidParameterValue

_TOPIC_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
PROTOCOLS = (
    "http",
    "https",
    "email",
    "email-json",
    "sms",
    "sqs",
    "application",
    "lambda",
    "firehose",
)
CONFIRM_AT_ONCE = ("sqs", "lambda", "firehose", "application", "sms")

TOPIC_ATTRIBUTES = frozenset(
    {
        "DisplayName",
        "Policy",
        "DeliveryPolicy",
        "KmsMasterKeyId",
        "TracingConfig",
        "SignatureVersion",
        "FifoTopic",
        "ContentBasedDeduplication",
        "FifoThroughputScope",
        "ArchivePolicy",
        "DataProtectionPolicy",
        "MaximumMessageSize",
    }
)
_FEEDBACK_RE = re.compile(
    r"^(HTTP|Firehose|Lambda|Application|SQS)(SuccessFeedbackRoleArn|SuccessFeedbackSampleRate|FailureFeedbackRoleArn)$"
)
SUBSCRIPTION_ATTRIBUTES = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
DEFAULT_MAX_MESSAGE_SIZE = 262144
MAX_MESSAGE_ATTRIBUTES = 10
_ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")


def check_topic_name(name: str, fifo: bool) -> None:
    base = name[:-5] if name.endswith(".fifo") else name
    if fifo != name.endswith(".fifo") or not _TOPIC_NAME_RE.match(base) or len(name) > 256:
        if fifo or name.endswith(".fifo"):
            raise InvalidParameter(
                "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
                "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
            )
        raise InvalidParameter("Topic Name")


def topic_attribute(name: str, value: str, *, creating: bool) -> str:
    if name not in TOPIC_ATTRIBUTES and not _FEEDBACK_RE.match(name):
        raise InvalidParameter("AttributeName")
    if name == "FifoTopic" and not creating:
        raise InvalidParameter("AttributeName")
    if name in ("FifoTopic", "ContentBasedDeduplication"):
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(f"Attributes Reason: {name}: Invalid value [{value}]")
        return value.lower()
    if name in ("Policy", "DeliveryPolicy", "DataProtectionPolicy", "ArchivePolicy") and value:
        try:
            json.loads(value)
        except ValueError:
            raise InvalidParameter(f"Attributes Reason: {name}: failed to parse JSON") from None
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise InvalidParameter("Attributes Reason: SignatureVersion: Invalid value")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise InvalidParameter("Attributes Reason: TracingConfig: Invalid value")
    if name == "FifoThroughputScope" and value not in ("Topic", "MessageGroup"):
        raise InvalidParameter("Attributes Reason: FifoThroughputScope: Invalid value")
    if name == "MaximumMessageSize" and not (value.isdigit() and 1024 <= int(value) <= 1048576):
        raise InvalidParameter("Attributes Reason: MaximumMessageSize: Invalid value")
    return value


def subscription_attribute(
    name: str, value: str, protocol: str, attributes: Mapping[str, str]
) -> str:
    """The normalized value; checks the filter policy against the scope it will be evaluated with."""
    if name not in SUBSCRIPTION_ATTRIBUTES:
        raise InvalidParameter("AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(
                "Attributes Reason: RawMessageDelivery: Invalid value ["
                + value
                + "]. Must be true or false."
            )
        if protocol not in ("sqs", "http", "https", "firehose"):
            raise InvalidParameter(
                "Attributes Reason: Delivery protocol ["
                + protocol
                + "] does not support raw message delivery."
            )
        return value.lower()
    if name == "FilterPolicy":
        check_filter_policy(value, attributes.get("FilterPolicyScope", "MessageAttributes"))
    elif name == "FilterPolicyScope":
        if value not in ("MessageAttributes", "MessageBody"):
            raise InvalidParameter(
                f"Attributes Reason: FilterPolicyScope: Invalid value [{value}]. Please use either MessageBody or MessageAttributes"
            )
        if attributes.get("FilterPolicy"):
            check_filter_policy(attributes["FilterPolicy"], value)
    elif name == "RedrivePolicy" and value:
        try:
            policy = json.loads(value)
            target = policy["deadLetterTargetArn"]
        except (ValueError, KeyError, TypeError):
            raise InvalidParameter(
                "RedrivePolicy: Redrive policy is not a valid JSON map or deadLetterTargetArn is missing"
            ) from None
        if not str(target).startswith("arn:aws:sqs:"):
            raise InvalidParameter("RedrivePolicy: Invalid deadLetterTargetArn")
    elif name == "DeliveryPolicy" and value:
        try:
            json.loads(value)
        except ValueError:
            raise InvalidParameter("DeliveryPolicy: failed to parse JSON") from None
    return value


def check_filter_policy(text: str, scope: str) -> None:
    try:
        filter_policy.parse(text, scope)
    except filter_policy.FilterPolicyError as error:
        raise InvalidParameter(f"FilterPolicy: {error}") from None


def message_attributes(
    attributes: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, str]]:
    """SNS message attributes in the stored form ``{name: {"Type", "Value"}}`` (binary as base64)."""
    out: dict[str, dict[str, str]] = {}
    if attributes and len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in (attributes or {}).items():
        if (
            not _ATTRIBUTE_NAME_RE.match(name)
            or ".." in name
            or name.startswith(".")
            or name.endswith(".")
            or (name.lower().startswith(("aws.", "amazon.")))
        ):
            raise InvalidParameterValue(f"The message attribute name '{name}' is invalid.")
        data_type = str(value.get("DataType") or "")
        if not data_type:
            raise InvalidParameterValue(
                f"The message attribute '{name}' must contain non-empty message attribute type."
            )
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise InvalidParameterValue(
                f"The message attribute '{name}' has an invalid message attribute type, the set of supported type "
                "prefixes is Binary, Number, and String."
            )
        if base == "Binary":
            raw = value.get("BinaryValue")
            if raw is None:
                raise InvalidParameterValue(
                    f"The message attribute '{name}' with type 'Binary' must use field 'Binary'."
                )
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
            out[name] = {"Type": data_type, "Value": base64.b64encode(data).decode()}
            continue
        text = value.get("StringValue")
        if text is None or text == "":
            raise InvalidParameterValue(
                f"The message attribute '{name}' must contain non-empty message attribute value for message "
                f"attribute type '{base}'."
            )
        if data_type == "String.Array":
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, list):
                raise InvalidParameter(
                    f"Message attributes Reason: The message attribute '{name}' with type 'String.Array' "
                    "has an invalid value"
                )
        if base == "Number":
            try:
                float(text)
            except ValueError:
                raise InvalidParameterValue(
                    f"Could not cast message attribute '{name}' value to number."
                ) from None
        out[name] = {"Type": data_type, "Value": str(text)}
    return out


def attributes_size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    return sum(
        len(k.encode()) + len(v["Type"].encode()) + len(v["Value"].encode())
        for k, v in attributes.items()
    )
