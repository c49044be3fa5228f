"""Pure pieces of CloudWatch Logs shared by the store and the provider.

Limits and valid values, ARNs, the opaque pagination tokens, and the
classification of a PutLogEvents batch into rejected and accepted events.
Nothing here touches the database.

Tokens
------
Pagination tokens are opaque to clients but stable: the same position always
gives the same token.  List tokens (DescribeLogGroups/Streams,
FilterLogEvents) are URL-safe base64 of a small JSON document holding the
last key returned.  GetLogEvents tokens keep AWS's visible shape,
``f/<56 digits>/s`` (read forward) and ``b/<56 digits>/s`` (read backward);
the digits are the 20-digit timestamp and 36-digit id of the event the
position sits at, so a token also works after more events arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cloudlet.services.logs.errors import InvalidParameterException

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000

#: PutLogEvents: events per batch, bytes per batch (UTF-8 message + 26 each).
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
#: Largest single event (message + overhead); AWS raised it from 256 KB to 1 MB.
MAX_EVENT_BYTES = 1_048_576
#: A batch may not span more than this from its first to its last event.
MAX_BATCH_SPAN_MS = DAY_MS
#: Events further in the future / past than this are rejected (not an error).
TOO_NEW_MS = 2 * HOUR_MS
TOO_OLD_MS = 14 * DAY_MS

#: GetLogEvents / FilterLogEvents: default (and maximum) page size and bytes.
MAX_EVENTS_PAGE = 10_000
MAX_RESPONSE_BYTES = 1_048_576
#: Describe* default page size.
DEFAULT_DESCRIBE_LIMIT = 50
#: Tags per log group.
MAX_TAGS = 50

RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

LOG_GROUP_NAME = re.compile(r"[\.\-_/#A-Za-z0-9]+")
LOG_STREAM_NAME = re.compile(r"[^:*]*")
_GROUP_ARN = re.compile(r"arn:[\w-]+:logs:([\w-]*):(\d*):log-group:([\.\-_/#A-Za-z0-9]+)(?::\*)?")
_EVENT_TOKEN = re.compile(r"([fb])/(\d{20})(\d{36})/s")


# -------------------------------------------------------------------- ARNs


def group_arn(region: str, account_id: str, name: str) -> str:
    """The ``logGroupArn`` form (no trailing ``:*``), used for tagging."""
    return f"arn:aws:logs:{region}:{account_id}:log-group:{name}"


def group_arn_star(region: str, account_id: str, name: str) -> str:
    """The ``arn`` form DescribeLogGroups returns, which ends in ``:*``."""
    return group_arn(region, account_id, name) + ":*"


def stream_arn(region: str, account_id: str, group: str, stream: str) -> str:
    return f"{group_arn(region, account_id, group)}:log-stream:{stream}"


def parse_group_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, group name) of a log group ARN, or ``None``."""
    match = _GROUP_ARN.fullmatch(arn)
    if match is None:
        return None
    return match.group(1), match.group(2), match.group(3)


# ------------------------------------------------------------------ tokens

INVALID_TOKEN = "The specified nextToken is invalid."


def encode_token(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, fields: dict[str, type]) -> dict[str, Any]:
    """Decode a list token; every field in ``fields`` must be present with that type."""
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameterException(INVALID_TOKEN) from exc
    if not isinstance(key, dict):
        raise InvalidParameterException(INVALID_TOKEN)
    for name, kind in fields.items():
        value = key.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidParameterException(INVALID_TOKEN)
    return key


@dataclass(frozen=True, order=True)
class EventKey:
    """A position in a stream: events sort by (timestamp, id)."""

    timestamp: int
    id: int


#: The position before every event.
START = EventKey(0, 0)


def event_token(direction: str, key: EventKey) -> str:
    return f"{direction}/{key.timestamp:020d}{key.id:036d}/s"


def parse_event_token(token: str) -> tuple[str, EventKey]:
    match = _EVENT_TOKEN.fullmatch(token)
    if match is None:
        raise InvalidParameterException(INVALID_TOKEN)
    return match.group(1), EventKey(int(match.group(2)), int(match.group(3)))


def sequence_token(sequence: int) -> str:
    """A stream's upload sequence token: 56 digits, like AWS's."""
    return f"{sequence:056d}"


# ---------------------------------------------------------- PutLogEvents


@dataclass(frozen=True)
class Rejections:
    """Which events of a batch are rejected; the accepted ones are ``[first, stop)``."""

    first: int
    stop: int
    too_new_start: int | None = None
    too_old_end: int | None = None
    expired_end: int | None = None

    def info(self) -> dict[str, int]:
        """The ``rejectedLogEventsInfo`` member (empty when nothing was rejected)."""
        info: dict[str, int] = {}
        if self.too_new_start is not None:
            info["tooNewLogEventStartIndex"] = self.too_new_start
        if self.too_old_end is not None:
            info["tooOldLogEventEndIndex"] = self.too_old_end
        if self.expired_end is not None:
            info["expiredLogEventEndIndex"] = self.expired_end
        return info


def classify(timestamps: list[int], now_ms: int, retention_days: int | None) -> Rejections:
    """Split a chronological batch into too old / expired / accepted / too new.

    Because the batch is sorted, rejected events form a prefix (too old or
    older than the group's retention) and a suffix (more than two hours ahead).
    """
    too_old_end: int | None = None
    expired_end: int | None = None
    too_new_start: int | None = None
    oldest_allowed = now_ms - TOO_OLD_MS
    retention_floor = now_ms - retention_days * DAY_MS if retention_days else None
    newest_allowed = now_ms + TOO_NEW_MS
    for index, ts in enumerate(timestamps):
        if ts < oldest_allowed:
            too_old_end = index
        if retention_floor is not None and ts < retention_floor:
            expired_end = index
        if ts > newest_allowed and too_new_start is None:
            too_new_start = index
    first = (
        max(-1 if too_old_end is None else too_old_end, -1 if expired_end is None else expired_end)
        + 1
    )
    stop = len(timestamps) if too_new_start is None else too_new_start
    return Rejections(first, max(first, stop), too_new_start, too_old_end, expired_end)


def check_batch(events: list[tuple[int, str]]) -> None:
    """Raise ``InvalidParameterException`` for a batch AWS refuses as a whole."""
    if not events:
        raise InvalidParameterException(
            "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        )
    if len(events) > MAX_BATCH_EVENTS:
        raise InvalidParameterException(
            f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_BATCH_EVENTS}"
        )
    total = 0
    for _, message in events:
        size = len(message.encode("utf-8")) + EVENT_OVERHEAD_BYTES
        if size > MAX_EVENT_BYTES:
            raise InvalidParameterException(
                f"Log event too large: {size} bytes exceeds limit of {MAX_EVENT_BYTES}"
            )
        total += size
    if total > MAX_BATCH_BYTES:
        raise InvalidParameterException(
            f"Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )
    previous = events[0][0]
    for ts, _ in events:
        if ts < previous:
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        previous = ts
    if events[-1][0] - events[0][0] > MAX_BATCH_SPAN_MS:
        raise InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
        )
