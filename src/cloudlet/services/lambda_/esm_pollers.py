"""The pollers behind event source mappings: one ``Runner`` per enabled mapping.

SQS (``SqsRunner``): each worker long-polls ``ReceiveMessage`` (no busy loop on
an idle queue), gathers up to ``BatchSize`` messages or until the batching
window closes, drops (deletes) messages no filter matches, invokes the function
synchronously and deletes what succeeded — all of the batch, or all but the
``batchItemFailures`` when ``ReportBatchItemFailures`` is on.  A failed batch
is left alone: its messages reappear after the queue's visibility timeout and
the queue's redrive policy moves them to its DLQ.  The runner keeps one
permanent worker and adds one per full batch up to the mapping's maximum
concurrency; an extra worker exits after an empty long poll.

DynamoDB streams (``StreamRunner``): one task walks the stream's shards with
``GetShardIterator``/``GetRecords``, hands each batch to the function in order,
retries a failed batch (bisecting it when asked) until ``MaximumRetryAttempts``,
skips records older than ``MaximumRecordAgeInSeconds``, sends metadata of
skipped batches to the on-failure destination, and checkpoints the last handled
sequence number in SQLite after every batch, so a restart resumes after it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import time
import uuid as uuidlib
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cloudlet.errors import ServiceError
from cloudlet.services.lambda_.esm_filters import (
    matches_any,
    parse_filter_criteria,
    prepare_sqs_record,
)
from cloudlet.services.lambda_.esm_store import Mapping
from cloudlet.services.lambda_.names import function_arn

if TYPE_CHECKING:
    from cloudlet.services.lambda_.esm import EventSourceMappingOperations

log = logging.getLogger(__name__)

_FIRST_ERROR_BACKOFF_S = 0.25
#: How long stopping a runner waits for a batch being handled to finish.
STOP_GRACE_S = 2.0


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def encode_event(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Records": records}, default=_json_default).encode()


def parse_item_failures(payload: bytes, identifiers: set[str]) -> set[str] | None:
    """The failed item identifiers a ``ReportBatchItemFailures`` response names; ``None``: all failed."""
    text = payload.strip()
    if not text:
        return set()
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if body is None:
        return set()
    if not isinstance(body, dict):
        return None
    failures = body.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in identifiers:
            return None
        failed.add(ident)
    return failed


class Runner:
    """The pollers of one enabled mapping."""

    def __init__(self, host: EventSourceMappingOperations, mapping: Mapping) -> None:
        self.host = host
        self.mapping = mapping
        self.patterns = parse_filter_criteria(mapping.config.get("FilterCriteria"))
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_result: str | None = mapping.last_result
        self.stopped = False
        #: Batches being handed to the function now; ``stop`` lets them finish (briefly).
        self.busy = 0

    def start(self) -> None:
        self.spawn(self.main(), "main")

    def spawn(self, coro: Any, label: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"esm-{self.mapping.uuid}-{label}")
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "event source mapping %s task failed", self.mapping.uuid, exc_info=task.exception()
            )

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop polling; a batch being handled gets up to ``grace_s`` to finish first."""
        self.stopped = True
        deadline = time.monotonic() + grace_s
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def update(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.patterns = parse_filter_criteria(mapping.config.get("FilterCriteria"))

    def workers(self) -> int:
        return len(self.tasks)

    async def main(self) -> None:
        raise NotImplementedError

    async def call(
        self, service: str, operation: str, params: dict[str, Any], region: str, account: str
    ) -> dict[str, Any]:
        call = self.host.call
        if call is None:
            raise RuntimeError("event source mappings need the hub's client (provider.call)")
        return await call(service, operation, params, region=region, account_id=account)

    @property
    def function_arn(self) -> str:
        m = self.mapping
        return function_arn(m.region, m.account, m.function_name, m.qualifier)

    async def invoke(self, records: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        """``("ok" | "function_error" | "error", Invoke result)`` of one synchronous invocation."""
        m = self.mapping
        params = {
            "FunctionName": self.function_arn,
            "InvocationType": "RequestResponse",
            "Payload": encode_event(records),
        }
        try:
            result = await self.call("lambda", "Invoke", params, m.region, m.account)
        except ServiceError as exc:  # throttled, function gone, engine unavailable
            log.info(
                "event source mapping %s could not invoke %s: %s",
                m.uuid,
                self.function_arn,
                exc.code,
            )
            return "error", {"error": exc.code}
        if result.get("FunctionError"):
            return "function_error", result
        return "ok", result

    async def set_result(self, result: str) -> None:
        if result != self.last_result:
            self.last_result = result
            with contextlib.suppress(Exception):
                await self.host.esm_store.set_last_result(self.mapping.uuid, result)

    async def error_pause(self, delay: float) -> float:
        await asyncio.sleep(delay)
        return min(delay * 2, self.host.esm_error_backoff_s)


# -- SQS -------------------------------------------------------------------------------------


def sqs_record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    attributes = {key: str(value) for key, value in (message.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {}
        if value.get("StringValue") is not None:
            entry["stringValue"] = value["StringValue"]
        if value.get("BinaryValue") is not None:
            binary = value["BinaryValue"]
            entry["binaryValue"] = (
                base64.b64encode(binary).decode()
                if isinstance(binary, (bytes, bytearray))
                else binary
            )
        entry["stringListValues"] = list(value.get("StringListValues") or [])
        entry["binaryListValues"] = [
            base64.b64encode(b).decode() if isinstance(b, (bytes, bytearray)) else b
            for b in value.get("BinaryListValues") or []
        ]
        entry["dataType"] = value.get("DataType")
        message_attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody"),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = arn
    record["awsRegion"] = region
    return record


class SqsRunner(Runner):
    def __init__(self, host: EventSourceMappingOperations, mapping: Mapping) -> None:
        super().__init__(host, mapping)
        parts = mapping.source_arn.split(":")
        self.queue_region, self.queue_account, self.queue_name = parts[3], parts[4], parts[5]
        self.queue_url: str | None = None

    async def main(self) -> None:
        await self.worker(primary=True)

    def concurrency(self) -> int:
        scaling = self.mapping.config.get("ScalingConfig") or {}
        return int(scaling.get("MaximumConcurrency") or self.host.esm_default_sqs_concurrency)

    async def sqs(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.call("sqs", operation, params, self.queue_region, self.queue_account)

    async def url(self) -> str:
        if self.queue_url is None:
            found = await self.sqs(
                "GetQueueUrl",
                {"QueueName": self.queue_name, "QueueOwnerAWSAccountId": self.queue_account},
            )
            self.queue_url = str(found["QueueUrl"])
        return self.queue_url

    async def worker(self, *, primary: bool) -> None:
        delay = _FIRST_ERROR_BACKOFF_S
        while not self.stopped:
            try:
                url = await self.url()
                batch = await self.gather(url)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "event source mapping %s: polling %s failed: %s",
                    self.mapping.uuid,
                    self.queue_name,
                    exc,
                )
                self.queue_url = None
                if not primary:
                    return
                delay = await self.error_pause(delay)
                continue
            delay = _FIRST_ERROR_BACKOFF_S
            if not batch:
                if primary:
                    continue
                return
            if len(batch) >= self.mapping.batch_size and len(self.tasks) < self.concurrency():
                self.spawn(self.worker(primary=False), "worker")
            try:
                self.busy += 1
                try:
                    await self.process(url, batch)
                finally:
                    self.busy -= 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event source mapping %s: handling a batch failed", self.mapping.uuid)

    async def gather(self, url: str) -> list[dict[str, Any]]:
        """Up to ``BatchSize`` messages: long-poll for the first, then fill until the window closes."""
        mapping = self.mapping
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(batch) < mapping.batch_size:
            if deadline is None:
                wait = self.host.esm_sqs_wait_s
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(self.host.esm_sqs_wait_s, math.ceil(remaining))
            received = await self.sqs(
                "ReceiveMessage",
                {
                    "QueueUrl": url,
                    "MaxNumberOfMessages": min(10, mapping.batch_size - len(batch)),
                    "WaitTimeSeconds": wait,
                    "AttributeNames": ["All"],
                    "MessageSystemAttributeNames": ["All"],
                    "MessageAttributeNames": ["All"],
                },
            )
            messages = received.get("Messages") or []
            if not messages:
                if deadline is None:
                    return batch
                continue
            batch.extend(messages)
            if deadline is None:
                if mapping.window_s <= 0:
                    break
                deadline = time.monotonic() + mapping.window_s
        return batch

    async def process(self, url: str, batch: list[dict[str, Any]]) -> None:
        mapping = self.mapping
        records = [sqs_record(m, mapping.source_arn, self.queue_region) for m in batch]
        passes = [matches_any(self.patterns, prepare_sqs_record(r)) for r in records]
        keep = [r for r, ok in zip(records, passes, strict=True) if ok]
        dropped = [r for r, ok in zip(records, passes, strict=True) if not ok]
        if dropped:
            await self.delete(url, dropped)
        if not keep:
            return
        outcome, result = await self.invoke(keep)
        if outcome != "ok":
            return  # left in flight: visible again after the visibility timeout
        done = keep
        if mapping.report_failures:
            failed = parse_item_failures(
                result.get("Payload") or b"", {r["messageId"] for r in keep}
            )
            if failed is None:
                return
            done = [r for r in keep if r["messageId"] not in failed]
        if done:
            await self.delete(url, done)

    async def delete(self, url: str, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)
            ]
            try:
                result = await self.sqs("DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
            except ServiceError as exc:
                log.warning(
                    "event source mapping %s: deleting messages failed: %s", self.mapping.uuid, exc
                )
                continue
            for failure in result.get("Failed") or []:
                log.info("event source mapping %s: delete failed: %s", self.mapping.uuid, failure)


# -- DynamoDB streams ----------------------------------------------------------------------------


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _created(record: dict[str, Any]) -> float:
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return time.time()


def _iso(seconds: float, *, millis: bool) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class StreamRunner(Runner):
    def __init__(self, host: EventSourceMappingOperations, mapping: Mapping) -> None:
        super().__init__(host, mapping)
        self.region = mapping.source_arn.split(":")[3]
        self.account = mapping.source_arn.split(":")[4]
        self.shards: list[str] = []
        self.closed: set[str] = set()
        self.iterators: dict[str, str] = {}
        self.positions: dict[str, str] = {}
        self.described_at = 0.0

    async def streams(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        return await self.call("dynamodbstreams", operation, params, self.region, self.account)

    async def main(self) -> None:
        delay = _FIRST_ERROR_BACKOFF_S
        while not self.stopped:
            try:
                progressed = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "event source mapping %s: reading %s failed: %s",
                    self.mapping.uuid,
                    self.mapping.source_arn,
                    exc,
                )
                self.iterators.clear()
                delay = await self.error_pause(delay)
                continue
            delay = _FIRST_ERROR_BACKOFF_S
            if not progressed:
                await asyncio.sleep(self.host.esm_stream_poll_interval_s)

    async def describe(self) -> None:
        shards: list[str] = []
        params: dict[str, Any] = {"StreamArn": self.mapping.source_arn}
        while True:
            described = (await self.streams("DescribeStream", params))["StreamDescription"]
            shards.extend(s["ShardId"] for s in described.get("Shards") or [])
            last = described.get("LastEvaluatedShardId")
            if not last:
                break
            params["ExclusiveStartShardId"] = last
        self.shards = shards
        self.described_at = time.monotonic()

    async def poll_once(self) -> bool:
        if (
            not self.shards
            or time.monotonic() - self.described_at > 60
            or all(s in self.closed for s in self.shards)
        ):
            await self.describe()
        progressed = False
        for shard in self.shards:
            if shard in self.closed or self.stopped:
                continue
            if await self.poll_shard(shard):
                progressed = True
        return progressed

    async def iterator(self, shard: str) -> str:
        known = self.iterators.get(shard)
        if known is not None:
            return known
        position = self.positions.get(shard) or await self.host.esm_store.checkpoint(
            self.mapping.uuid, shard
        )
        base = {"StreamArn": self.mapping.source_arn, "ShardId": shard}
        if position is not None:
            try:
                found = await self.streams(
                    "GetShardIterator",
                    {
                        **base,
                        "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                        "SequenceNumber": position,
                    },
                )
                return str(found["ShardIterator"])
            except ServiceError as exc:  # trimmed away: start from the oldest record kept
                log.info(
                    "event source mapping %s: checkpoint %s unusable (%s)",
                    self.mapping.uuid,
                    position,
                    exc.code,
                )
                kind = "TRIM_HORIZON"
        else:
            kind = str(self.mapping.config.get("StartingPosition") or "LATEST")
        found = await self.streams("GetShardIterator", {**base, "ShardIteratorType": kind})
        return str(found["ShardIterator"])

    async def poll_shard(self, shard: str) -> bool:
        mapping = self.mapping
        iterator: str | None = await self.iterator(shard)
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while iterator is not None and len(batch) < mapping.batch_size:
            got = await self.streams(
                "GetRecords",
                {"ShardIterator": iterator, "Limit": min(1000, mapping.batch_size - len(batch))},
            )
            iterator = got.get("NextShardIterator")
            records = got.get("Records") or []
            batch.extend(records)
            if deadline is None:
                if not batch or mapping.window_s <= 0:
                    break
                deadline = time.monotonic() + mapping.window_s
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not records:
                await asyncio.sleep(min(remaining, self.host.esm_stream_poll_interval_s))
        if iterator is None:
            self.closed.add(shard)
            self.iterators.pop(shard, None)
        else:
            self.iterators[shard] = iterator
        if batch:
            self.busy += 1
            try:
                await self.process(shard, batch)
            finally:
                self.busy -= 1
        return bool(batch)

    def decorate(self, record: dict[str, Any]) -> dict[str, Any]:
        event = {**record, "eventSourceARN": self.mapping.source_arn}
        identity = record.get("userIdentity")
        if identity:
            # GetRecords spells it {"Type", "PrincipalId"}; Lambda events {"type", "principalId"} (TTL deletes).
            event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
        return event

    async def checkpoint(self, shard: str, record: dict[str, Any]) -> None:
        sequence = _sequence(record)
        self.positions[shard] = sequence
        await self.host.esm_store.save_checkpoint(self.mapping.uuid, shard, sequence, time.time())

    async def process(self, shard: str, raw: list[dict[str, Any]]) -> None:
        records = [self.decorate(r) for r in raw]
        kept = [r for r in records if matches_any(self.patterns, r)]
        if not kept:
            await self.checkpoint(shard, records[-1])
            return
        queue: deque[tuple[list[dict[str, Any]], int]] = deque([(kept, 0)])
        throttles = 0
        while queue and not self.stopped:
            part, attempts = queue.popleft()
            config = self.mapping.config
            max_age = int(config.get("MaximumRecordAgeInSeconds", -1))
            if max_age != -1:
                now = time.time()
                expired = 0
                while expired < len(part) and now - _created(part[expired]) > max_age:
                    expired += 1
                if expired:
                    await self.on_failure(
                        shard, part[:expired], "RecordAgeExceeded", attempts, None
                    )
                    await self.checkpoint(shard, part[expired - 1])
                    part = part[expired:]
            if not part:
                continue
            outcome, result = await self.invoke(part)
            if outcome == "error":  # not the function's fault: not an attempt
                throttles += 1
                queue.appendleft((part, attempts))
                await asyncio.sleep(
                    min(
                        self.host.esm_retry_max_s,
                        self.host.esm_retry_base_s * 2 ** min(throttles, 10),
                    )
                )
                continue
            failed_from: int | None = None
            if outcome == "function_error":
                failed_from = 0
            elif self.mapping.report_failures:
                sequences = [_sequence(r) for r in part]
                failed = parse_item_failures(result.get("Payload") or b"", set(sequences))
                if failed is None:
                    failed_from = 0
                elif failed:
                    lowest = min(failed, key=int)
                    failed_from = sequences.index(lowest)
            if failed_from is None:
                await self.checkpoint(shard, part[-1])
                await self.set_result("OK")
                continue
            await self.set_result("PROBLEM: Function call failed")
            if failed_from > 0:
                await self.checkpoint(shard, part[failed_from - 1])
            rest = part[failed_from:]
            attempts += 1
            max_retries = int(config.get("MaximumRetryAttempts", -1))
            if max_retries != -1 and attempts > max_retries:
                await self.on_failure(shard, rest, "RetryAttemptsExhausted", attempts, result)
                await self.checkpoint(shard, rest[-1])
                continue
            await asyncio.sleep(
                min(
                    self.host.esm_retry_max_s,
                    self.host.esm_retry_base_s * 2 ** min(attempts - 1, 10),
                )
            )
            if config.get("BisectBatchOnFunctionError") and len(rest) > 1:
                half = len(rest) // 2
                queue.appendleft((rest[half:], attempts))
                queue.appendleft((rest[:half], attempts))
            else:
                queue.appendleft((rest, attempts))

    async def on_failure(
        self,
        shard: str,
        records: list[dict[str, Any]],
        condition: str,
        attempts: int,
        result: dict[str, Any] | None,
    ) -> None:
        """Send the metadata of records given up on to the on-failure destination, if any."""
        target = ((self.mapping.config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        if not target:
            return
        response: dict[str, Any] = {"statusCode": 200}
        if result is not None:
            response["executedVersion"] = result.get("ExecutedVersion", "$LATEST")
            if result.get("FunctionError"):
                response["functionError"] = result["FunctionError"]
        body = {
            "requestContext": {
                "requestId": str(uuidlib.uuid4()),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": _iso(time.time(), millis=True),
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": _sequence(records[0]),
                "endSequenceNumber": _sequence(records[-1]),
                "approximateArrivalOfFirstRecord": _iso(_created(records[0]), millis=False),
                "approximateArrivalOfLastRecord": _iso(_created(records[-1]), millis=False),
                "batchSize": len(records),
                "streamArn": self.mapping.source_arn,
            },
        }
        message = json.dumps(body)
        parts = target.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        try:
            if service == "sqs":
                url = await self.call(
                    "sqs",
                    "GetQueueUrl",
                    {"QueueName": parts[5], "QueueOwnerAWSAccountId": account},
                    region,
                    account,
                )
                await self.call(
                    "sqs",
                    "SendMessage",
                    {"QueueUrl": url["QueueUrl"], "MessageBody": message},
                    region,
                    account,
                )
            elif service == "sns":
                await self.call(
                    "sns", "Publish", {"TopicArn": target, "Message": message}, region, account
                )
            else:
                log.warning(
                    "event source mapping %s: on-failure destination %s is not supported",
                    self.mapping.uuid,
                    target,
                )
        except Exception as exc:
            log.warning(
                "event source mapping %s: on-failure delivery to %s failed: %s",
                self.mapping.uuid,
                target,
                exc,
            )


def make_runner(host: EventSourceMappingOperations, mapping: Mapping) -> Runner:
    return SqsRunner(host, mapping) if mapping.kind == "sqs" else StreamRunner(host, mapping)
