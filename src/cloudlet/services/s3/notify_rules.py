"""Notification configurations: validation, overlap checks and event matching (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloudlet.services.s3 import errors

EVENT_TYPES = frozenset({
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*", "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*",
    "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold", "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectAcl:Put", "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete", "s3:ObjectRetention:Put", "s3:ObjectAnnotation:*",
    "s3:ObjectAnnotation:Put", "s3:ObjectAnnotation:Delete",
})

#: (config list member, ARN member, target kind)
TARGETS = (
    ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"),
    ("QueueConfigurations", "QueueArn", "sqs"),
    ("TopicConfigurations", "TopicArn", "sns"),
)


@dataclass(frozen=True)
class Target:
    kind: str
    arn: str
    config_id: str


def _rules(config: dict[str, Any]) -> tuple[str, str]:
    prefix = suffix = ""
    seen: set[str] = set()
    for rule in ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
        name = str(rule.get("Name", "")).lower()
        if name not in ("prefix", "suffix"):
            raise errors.invalid_argument("filter rule name must be either prefix or suffix", "FilterRule.Name",
                                          rule.get("Name"))
        if name in seen:
            raise errors.invalid_argument("Cannot specify more than one prefix rule in a filter." if name == "prefix"
                                          else "Cannot specify more than one suffix rule in a filter.",
                                          "FilterRule.Name", rule.get("Name"))
        seen.add(name)
        if name == "prefix":
            prefix = rule.get("Value") or ""
        else:
            suffix = rule.get("Value") or ""
    return prefix, suffix


def _events_overlap(a: str, b: str) -> bool:
    if a == b:
        return True
    a_family, b_family = a.rsplit(":", 1)[0], b.rsplit(":", 1)[0]
    return a_family == b_family and (a.endswith(":*") or b.endswith(":*"))


def iter_configs(config: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for member, arn_member, kind in TARGETS:
        for item in config.get(member) or []:
            yield kind, arn_member, item


def validate_notification(config: dict[str, Any]) -> None:
    """Check event names, filter rules and overlaps; give every configuration an ``Id``."""
    seen: list[tuple[set[str], str, str]] = []
    for _kind, arn_member, item in iter_configs(config):
        item.setdefault("Id", str(uuid.uuid4()))
        if not item.get(arn_member):
            raise errors.malformed_xml()
        events = item.get("Events") or []
        if not events:
            raise errors.malformed_xml()
        for event in events:
            if event not in EVENT_TYPES:
                raise errors.invalid_argument("The event is not supported for notifications", "Event", event)
        prefix, suffix = _rules(item)
        for other_events, other_prefix, other_suffix in seen:
            events_clash = any(_events_overlap(a, b) for a in events for b in other_events)
            prefix_clash = prefix.startswith(other_prefix) or other_prefix.startswith(prefix)
            suffix_clash = suffix.endswith(other_suffix) or other_suffix.endswith(suffix)
            if events_clash and prefix_clash and suffix_clash:
                raise errors.invalid_argument(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    "Event", ",".join(events))
        seen.append((set(events), prefix, suffix))


def event_matches(pattern: str, event: str) -> bool:
    """Whether configured ``pattern`` (``s3:ObjectCreated:*``) covers ``event`` (``ObjectCreated:Put``)."""
    name = pattern[3:] if pattern.startswith("s3:") else pattern
    if name.endswith(":*"):
        return event.startswith(name[:-1])
    return name == event


def targets_for(config: dict[str, Any] | None, event: str, key: str) -> list[Target]:
    if not config:
        return []
    out: list[Target] = []
    for kind, arn_member, item in iter_configs(config):
        if not any(event_matches(p, event) for p in item.get("Events") or []):
            continue
        prefix, suffix = _rules(item)
        if key.startswith(prefix) and key.endswith(suffix):
            out.append(Target(kind, item[arn_member], item.get("Id") or ""))
    return out
