"""The CloudWatch Logs provider: one method per operation, boto3's shapes.

Each method takes the request context and the parsed parameters and returns
exactly what boto3 returns (minus ``ResponseMetadata``), or raises one of the
service's errors (``errors.py``).  The protocol layer has already checked the
model's constraints (lengths, patterns, enums, ranges); the checks repeated
here are the ones that matter for direct, in-process callers, plus the rules
the model cannot express (PutLogEvents batch rules, mutually exclusive
parameters, retention values).

The provider owns one background task, started and stopped with it: the
retention sweeper, which deletes events older than their group's retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.logs.errors import (
    GROUP_NOT_FOUND,
    InvalidParameterException,
    ResourceNotFoundException,
    TooManyTagsException,
)
from cloudlet.services.logs.filters import compile_pattern
from cloudlet.services.logs.model import (
    DEFAULT_DESCRIBE_LIMIT,
    LOG_GROUP_NAME,
    LOG_STREAM_NAME,
    MAX_EVENTS_PAGE,
    MAX_RESPONSE_BYTES,
    RETENTION_DAYS,
    START,
    EventKey,
    check_batch,
    decode_token,
    encode_token,
    event_token,
    group_arn,
    group_arn_star,
    parse_event_token,
    parse_group_arn,
    sequence_token,
    stream_arn,
)
from cloudlet.services.logs.store import LogGroup, LogsStore, LogStream

log = logging.getLogger(__name__)

Result = dict[str, Any]

#: Seconds between two retention sweeps.
PURGE_INTERVAL_S = 300.0


def _validation(value: object, member: str, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _check_name(value: Any, member: str, pattern_text: str, pattern: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _validation(value, member, "Member must have length greater than or equal to 1")
    if len(value) > 512:
        raise _validation(value, member, "Member must have length less than or equal to 512")
    if not pattern.fullmatch(value):
        raise _validation(
            value, member, f"Member must satisfy regular expression pattern: {pattern_text}"
        )
    return value


def _group_name(value: Any, member: str = "logGroupName") -> str:
    return _check_name(value, member, r"[\.\-_/#A-Za-z0-9]+", LOG_GROUP_NAME)


def _stream_name(value: Any, member: str = "logStreamName") -> str:
    return _check_name(value, member, "[^:*]*", LOG_STREAM_NAME)


def _limit(params: dict[str, Any], default: int, maximum: int) -> int:
    limit = params.get("limit", default)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise _validation(limit, "limit", "Member must have value greater than or equal to 1")
    if limit > maximum:
        raise _validation(limit, "limit", f"Member must have value less than or equal to {maximum}")
    return limit


def _group_output(group: LogGroup, *, brief: bool = False) -> Result:
    out: Result = {
        "logGroupName": group.name,
        "creationTime": group.created_ms,
        "arn": group_arn_star(group.region, group.account_id, group.name),
    }
    if brief:  # what AWS answers when logGroupNamePattern is used
        return out
    if group.retention_days is not None:
        out["retentionInDays"] = group.retention_days
    out["metricFilterCount"] = 0
    out["storedBytes"] = group.stored_bytes
    if group.kms_key_id:
        out["kmsKeyId"] = group.kms_key_id
    out["logGroupClass"] = group.log_group_class
    out["logGroupArn"] = group_arn(group.region, group.account_id, group.name)
    return out


class LogsProvider:
    """CloudWatch Logs over a ``LogsStore``."""

    service_name = "logs"

    def __init__(self, store: LogsStore, *, purge_interval_s: float = PURGE_INTERVAL_S) -> None:
        self.store = store
        self.purge_interval_s = purge_interval_s
        self._sweeper: asyncio.Task[None] | None = None

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="logs-retention-sweeper")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.purge_interval_s)
            try:
                deleted = await self.store.purge_expired()
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("retention sweep failed")
            else:
                if deleted:
                    log.info("retention sweep deleted %d log events", deleted)

    # ------------------------------------------------------------- log groups

    async def CreateLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _group_name(params.get("logGroupName"))
        await self.store.create_group(
            ctx.region,
            ctx.account_id,
            name,
            kms_key_id=params.get("kmsKeyId"),
            tags=dict(params.get("tags") or {}),
            log_group_class=params.get("logGroupClass") or "STANDARD",
        )
        return {}

    async def DeleteLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        await self.store.delete_group(
            ctx.region, ctx.account_id, _group_name(params.get("logGroupName"))
        )
        return {}

    async def DescribeLogGroups(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        prefix = params.get("logGroupNamePrefix")
        pattern = params.get("logGroupNamePattern")
        identifiers = params.get("logGroupIdentifiers")
        if prefix and pattern:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
            )
        limit = _limit(params, DEFAULT_DESCRIBE_LIMIT, 50)
        if identifiers:
            return {"logGroups": await self._groups_by_identifier(ctx, identifiers)}
        after: str | None = None
        if params.get("nextToken"):
            after = decode_token(params["nextToken"], {"n": str})["n"]
        groups, more = await self.store.list_groups(
            ctx.region,
            ctx.account_id,
            prefix=prefix,
            pattern=pattern,
            log_group_class=params.get("logGroupClass"),
            after=after,
            limit=limit,
        )
        result: Result = {"logGroups": [_group_output(g, brief=bool(pattern)) for g in groups]}
        if more and groups:
            result["nextToken"] = encode_token({"n": groups[-1].name})
        return result

    async def _groups_by_identifier(
        self, ctx: RequestContext, identifiers: list[str]
    ) -> list[Result]:
        found: list[Result] = []
        for identifier in identifiers:
            try:
                name = self._resolve_identifier(ctx, identifier)
            except ResourceNotFoundException:
                continue
            group = await self.store.get_group(ctx.region, ctx.account_id, name)
            if group is not None:
                found.append(_group_output(group))
        return found

    @staticmethod
    def _resolve_identifier(ctx: RequestContext, identifier: str) -> str:
        """A log group name from a name or an ARN of this region and account."""
        if not identifier.startswith("arn:"):
            return _group_name(identifier, "logGroupIdentifier")
        parsed = parse_group_arn(identifier)
        if parsed is None:
            raise InvalidParameterException(f"Invalid log group identifier: {identifier}")
        region, account, name = parsed
        if region != ctx.region or account != ctx.account_id:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return name

    def _target_group(self, ctx: RequestContext, params: dict[str, Any]) -> str:
        """The group of a call that takes ``logGroupName`` or ``logGroupIdentifier``."""
        name = params.get("logGroupName")
        identifier = params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise InvalidParameterException(
                "LogGroup name and LogGroup ARN are mutually exclusive parameters."
            )
        if identifier is not None:
            return self._resolve_identifier(ctx, identifier)
        if name is None:
            raise InvalidParameterException(
                "Either logGroupName or logGroupIdentifier must be specified."
            )
        return _group_name(name)

    # ------------------------------------------------------------ log streams

    async def CreateLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        stream = _stream_name(params.get("logStreamName"))
        await self.store.create_stream(ctx.region, ctx.account_id, group, stream)
        return {}

    async def DeleteLogStream(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        stream = _stream_name(params.get("logStreamName"))
        await self.store.delete_stream(ctx.region, ctx.account_id, group, stream)
        return {}

    async def DescribeLogStreams(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._target_group(ctx, params)
        prefix = params.get("logStreamNamePrefix")
        order_by = params.get("orderBy") or "LogStreamName"
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise _validation(
                order_by,
                "orderBy",
                "Member must satisfy enum value set: [LogStreamName, LastEventTime]",
            )
        by_last_event = order_by == "LastEventTime"
        if by_last_event and prefix:
            raise InvalidParameterException(
                "Cannot order by LastEventTime with a logStreamNamePrefix."
            )
        limit = _limit(params, DEFAULT_DESCRIBE_LIMIT, 50)
        after: tuple[int, str] | str | None = None
        if params.get("nextToken"):
            if by_last_event:
                key = decode_token(params["nextToken"], {"t": int, "n": str})
                after = (key["t"], key["n"])
            else:
                after = decode_token(params["nextToken"], {"n": str})["n"]
        streams, more = await self.store.list_streams(
            ctx.region,
            ctx.account_id,
            group,
            prefix=prefix,
            by_last_event=by_last_event,
            descending=bool(params.get("descending")),
            after=after,
            limit=limit,
        )
        result: Result = {"logStreams": [self._stream_output(ctx, group, s) for s in streams]}
        if more and streams:
            last = streams[-1]
            token: dict[str, Any] = {"n": last.name}
            if by_last_event:
                token["t"] = -1 if last.last_event_ms is None else last.last_event_ms
            result["nextToken"] = encode_token(token)
        return result

    @staticmethod
    def _stream_output(ctx: RequestContext, group: str, stream: LogStream) -> Result:
        out: Result = {"logStreamName": stream.name, "creationTime": stream.created_ms}
        if stream.first_event_ms is not None:
            out["firstEventTimestamp"] = stream.first_event_ms
        if stream.last_event_ms is not None:
            out["lastEventTimestamp"] = stream.last_event_ms
        if stream.last_ingestion_ms is not None:
            out["lastIngestionTime"] = stream.last_ingestion_ms
        out["uploadSequenceToken"] = sequence_token(stream.upload_sequence)
        out["arn"] = stream_arn(ctx.region, ctx.account_id, group, stream.name)
        out["storedBytes"] = 0  # deprecated by AWS: always 0
        return out

    # ----------------------------------------------------------------- events

    async def PutLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        stream = _stream_name(params.get("logStreamName"))
        events: list[tuple[int, str]] = []
        for index, event in enumerate(params.get("logEvents") or []):
            timestamp, message = event.get("timestamp"), event.get("message")
            if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
                raise _validation(
                    timestamp,
                    f"logEvents.{index + 1}.member.timestamp",
                    "Member must have value greater than or equal to 0",
                )
            if not isinstance(message, str) or not message:
                raise _validation(
                    message,
                    f"logEvents.{index + 1}.member.message",
                    "Member must have length greater than or equal to 1",
                )
            events.append((timestamp, message))
        check_batch(events)
        # sequenceToken is accepted and ignored, as AWS does since 2023.
        outcome = await self.store.append_events(ctx.region, ctx.account_id, group, stream, events)
        result: Result = {"nextSequenceToken": sequence_token(outcome.sequence)}
        rejected = outcome.rejections.info() if outcome.rejections else {}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    async def GetLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._target_group(ctx, params)
        stream = _stream_name(params.get("logStreamName"))
        limit = _limit(params, MAX_EVENTS_PAGE, MAX_EVENTS_PAGE)
        token = params.get("nextToken")
        direction, position = ("f" if params.get("startFromHead") else "b"), None
        if token:
            direction, position = parse_event_token(token)
        events = await self.store.read_events(
            ctx.region,
            ctx.account_id,
            group,
            stream,
            start=params.get("startTime"),
            end=params.get("endTime"),
            after=position if direction == "f" else None,
            before=position if direction == "b" else None,
            from_head=direction == "f",
            limit=limit,
            max_bytes=MAX_RESPONSE_BYTES,
        )
        if events:
            forward, backward = events[-1].key, events[0].key
        else:
            # At either end: hand back the position that was asked for.
            forward = backward = position or START
        return {
            "events": [
                {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}
                for e in events
            ],
            "nextForwardToken": event_token("f", forward),
            "nextBackwardToken": event_token("b", backward),
        }

    async def FilterLogEvents(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._target_group(ctx, params)
        names = params.get("logStreamNames")
        prefix = params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidParameterException(
                "You cannot specify both logStreamNames and logStreamNamePrefix."
            )
        if names is not None and not names:
            raise _validation(
                "[]", "logStreamNames", "Member must have length greater than or equal to 1"
            )
        pattern = compile_pattern(params.get("filterPattern"))
        limit = _limit(params, MAX_EVENTS_PAGE, MAX_EVENTS_PAGE)
        after: EventKey | None = None
        if params.get("nextToken"):
            key = decode_token(params["nextToken"], {"t": int, "i": int})
            after = EventKey(key["t"], key["i"])
        page = await self.store.filter_events(
            ctx.region,
            ctx.account_id,
            group,
            stream_names=names,
            stream_prefix=prefix,
            start=params.get("startTime"),
            end=params.get("endTime"),
            after=after,
            pattern=pattern,
            limit=limit,
            max_bytes=MAX_RESPONSE_BYTES,
        )
        result: Result = {
            "events": [
                {
                    "logStreamName": e.stream_name,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion_time,
                    "eventId": f"{e.id:056d}",
                }
                for e in page.events
            ],
            "searchedLogStreams": [
                {"logStreamName": name, "searchedCompletely": page.next_key is None}
                for name in page.searched_streams
            ],
        }
        if page.next_key is not None:
            result["nextToken"] = encode_token(
                {"t": page.next_key.timestamp, "i": page.next_key.id}
            )
        return result

    # -------------------------------------------------------------- retention

    async def PutRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        days = params.get("retentionInDays")
        if days not in RETENTION_DAYS or isinstance(days, bool):
            allowed = ", ".join(str(d) for d in RETENTION_DAYS)
            raise _validation(
                days, "retentionInDays", f"Member must satisfy enum value set: [{allowed}]"
            )
        await self.store.set_retention(ctx.region, ctx.account_id, group, days)
        return {}

    async def DeleteRetentionPolicy(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        await self.store.set_retention(ctx.region, ctx.account_id, group, None)
        return {}

    # ------------------------------------------------------------------- tags

    async def TagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        try:
            await self.store.change_tags(
                ctx.region, ctx.account_id, group, add=dict(params["tags"])
            )
        except TooManyTagsException as exc:  # TagLogGroup does not model TooManyTags
            raise InvalidParameterException(exc.message) from exc
        return {}

    async def UntagLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        await self.store.change_tags(ctx.region, ctx.account_id, group, remove=list(params["tags"]))
        return {}

    async def ListTagsLogGroup(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = _group_name(params.get("logGroupName"))
        found = await self.store.get_group(ctx.region, ctx.account_id, group)
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {"tags": found.tags}

    def _tagged_group(self, ctx: RequestContext, arn: Any) -> str:
        parsed = parse_group_arn(arn) if isinstance(arn, str) else None
        if parsed is None:
            if isinstance(arn, str) and arn.startswith("arn:"):
                raise ResourceNotFoundException("The specified resource does not exist.")
            raise InvalidParameterException(f"Invalid resourceArn: {arn}")
        region, account, name = parsed
        if region != ctx.region or account != ctx.account_id:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return name

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._tagged_group(ctx, params.get("resourceArn"))
        await self.store.change_tags(ctx.region, ctx.account_id, group, add=dict(params["tags"]))
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._tagged_group(ctx, params.get("resourceArn"))
        await self.store.change_tags(
            ctx.region, ctx.account_id, group, remove=list(params.get("tagKeys") or [])
        )
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        group = self._tagged_group(ctx, params.get("resourceArn"))
        found = await self.store.get_group(ctx.region, ctx.account_id, group)
        if found is None:
            raise ResourceNotFoundException(GROUP_NOT_FOUND)
        return {"tags": found.tags}
