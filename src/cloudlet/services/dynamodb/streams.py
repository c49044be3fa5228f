"""DynamoDB Streams API and the TTL sweeper.

Stream records are written by ``store.apply_change`` in the same transaction
as the item change; their global ``seq`` (an SQLite AUTOINCREMENT) is the
sequence number, so records are strictly increasing and never reused.  Each
stream has a single shard.  A shard iterator is an opaque token holding the
stream ARN, the last sequence number already returned and its issue time.

The TTL sweeper deletes items whose TTL attribute (epoch seconds) is in the
past, every ``interval`` seconds, writing REMOVE records with the service's
identity; it also drops stream records older than 24 hours.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import sqlite3
import time
import zlib
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.errors import ServiceError, ValidationError
from cloudlet.services.dynamodb import store
from cloudlet.services.dynamodb.base import Base
from cloudlet.services.dynamodb.schema import ResourceNotFound
from cloudlet.services.dynamodb.types import load_item

log = logging.getLogger(__name__)

ITERATOR_TTL_S = 15 * 60
RETENTION_S = 24 * 3600


class ExpiredIterator(ServiceError):
    code = "ExpiredIteratorException"


class TrimmedDataAccess(ServiceError):
    code = "TrimmedDataAccessException"


def shard_id(arn: str, created: float) -> str:
    return f"shardId-{int(created * 1000):020d}-{zlib.crc32(arn.encode()):08x}"


def _encode_iterator(arn: str, after: int) -> str:
    raw = json.dumps({"a": arn, "s": after, "t": time.time()}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_iterator(token: str) -> tuple[str, int, float]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(data["a"]), int(data["s"]), float(data["t"])
    except (ValueError, KeyError, TypeError):
        raise ValidationError("Invalid ShardIterator") from None


def lambda_record(record: dict[str, Any], event_source_arn: str) -> dict[str, Any]:
    """A GetRecords record as a Lambda event record (JSON-ready: binaries base64, ``userIdentity`` in camel case)."""

    def jsonable(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: jsonable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [jsonable(v) for v in value]
        return value

    event: dict[str, Any] = jsonable({k: v for k, v in record.items() if k != "userIdentity"})
    identity = record.get("userIdentity")
    if identity:
        event["userIdentity"] = {"type": identity["Type"], "principalId": identity["PrincipalId"]}
    event["eventSourceARN"] = event_source_arn
    return event


class StreamsCore(Base):
    """Stream reads shared by the ``dynamodbstreams`` provider."""

    async def _stream_row(self, ctx: RequestContext, arn: str) -> Any:
        row = await self.db.fetchone("SELECT * FROM streams WHERE arn = ?", (arn,))
        if row is None or row["account"] != ctx.account_id:
            raise ResourceNotFound(f"Requested resource not found: Stream: {arn} not found")
        return row

    async def list_streams(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        sql = "SELECT arn, table_name, label FROM streams WHERE account = ? AND region = ?"
        args: list[Any] = [ctx.account_id, ctx.region]
        if params.get("TableName"):
            sql += " AND table_name = ?"
            args.append(params["TableName"])
        if params.get("ExclusiveStartStreamArn"):
            sql += " AND arn > ?"
            args.append(params["ExclusiveStartStreamArn"])
        limit = int(params.get("Limit") or 100)
        rows = await self.db.fetchall(sql + " ORDER BY arn LIMIT ?", (*args, limit + 1))
        streams = [{"StreamArn": r["arn"], "TableName": r["table_name"], "StreamLabel": r["label"]} for r in rows[:limit]]
        result: dict[str, Any] = {"Streams": streams}
        if len(rows) > limit:
            result["LastEvaluatedStreamArn"] = streams[-1]["StreamArn"]
        return result

    async def describe_stream(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._stream_row(ctx, params["StreamArn"])
        bounds = await self.db.fetchone(
            "SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM stream_records WHERE arn = ?", (row["arn"],)
        )
        start = bounds["lo"] if bounds and bounds["lo"] is not None else 1
        sequence_range: dict[str, str] = {"StartingSequenceNumber": store.format_sequence(start)}
        if not row["enabled"]:
            sequence_range["EndingSequenceNumber"] = store.format_sequence(bounds["hi"] if bounds and bounds["hi"] else start)
        shard = {"ShardId": shard_id(row["arn"], row["created"]), "SequenceNumberRange": sequence_range}
        exclusive = params.get("ExclusiveStartShardId")
        return {
            "StreamDescription": {
                "StreamArn": row["arn"],
                "StreamLabel": row["label"],
                "StreamStatus": "ENABLED" if row["enabled"] else "DISABLED",
                "StreamViewType": row["view_type"],
                "CreationRequestDateTime": row["created"],
                "TableName": row["table_name"],
                "KeySchema": json.loads(row["key_schema"]),
                "Shards": [] if exclusive == shard["ShardId"] else [shard],
            }
        }

    async def get_shard_iterator(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._stream_row(ctx, params["StreamArn"])
        if params["ShardId"] != shard_id(row["arn"], row["created"]):
            raise ResourceNotFound("Requested resource not found: Shard does not exist")
        kind = params["ShardIteratorType"]
        arn = row["arn"]
        if kind == "TRIM_HORIZON":
            after = 0
        elif kind == "LATEST":
            latest = await self.db.fetchone("SELECT MAX(seq) AS hi FROM stream_records WHERE arn = ?", (arn,))
            after = int(latest["hi"] or 0) if latest else 0
        else:
            number = params.get("SequenceNumber")
            if not number or not str(number).isdigit():
                raise ValidationError(f"Invalid SequenceNumber for ShardIteratorType: {kind}")
            seq = int(number)
            found = await self.db.fetchone("SELECT seq FROM stream_records WHERE arn = ? AND seq = ?", (arn, seq))
            if found is None:
                oldest = await self.db.fetchone("SELECT MIN(seq) AS lo FROM stream_records WHERE arn = ?", (arn,))
                if oldest and oldest["lo"] is not None and seq < oldest["lo"]:
                    raise TrimmedDataAccess("Requested sequence number is beyond the trim horizon")
                raise ValidationError(f"Invalid SequenceNumber: {number} for stream {arn}")
            after = seq - 1 if kind == "AT_SEQUENCE_NUMBER" else seq
        return {"ShardIterator": _encode_iterator(arn, after)}

    async def get_records(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn, after, issued = _decode_iterator(params["ShardIterator"])
        if time.time() - issued > ITERATOR_TTL_S:
            raise ExpiredIterator("Iterator expired. The iterator was created over 15 minutes ago.")
        row = await self._stream_row(ctx, arn)
        limit = int(params.get("Limit") or 1000)
        rows = await self.db.fetchall(
            "SELECT seq, record FROM stream_records WHERE arn = ? AND seq > ? ORDER BY seq LIMIT ?", (arn, after, limit)
        )
        records = []
        last = after
        for record_row in rows:
            record = load_item(record_row["record"])
            record["dynamodb"]["SequenceNumber"] = store.format_sequence(record_row["seq"])
            records.append(record)
            last = record_row["seq"]
        result: dict[str, Any] = {"Records": records}
        if row["enabled"] or rows:
            result["NextShardIterator"] = _encode_iterator(arn, last)
        return result


class TtlSweeper:
    """Background deletion of expired items (owned by the provider's start/stop)."""

    def __init__(self, core: Base, interval: float) -> None:
        self.core = core
        self.interval = interval
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop(), name="dynamodb-ttl")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:  # a failed sweep is retried next interval
                log.exception("TTL sweep failed")

    async def sweep(self, now: float | None = None) -> int:
        moment = time.time() if now is None else now
        rows = await self.core.db.fetchall(
            "SELECT tid, h, r FROM items WHERE expires IS NOT NULL AND expires <= ? LIMIT 1000", (moment,)
        )
        by_tid = self.core.by_tid

        def job(conn: sqlite3.Connection) -> int:
            deleted = 0
            for row in rows:
                table = by_tid.get(row["tid"])
                if table is None:
                    continue
                old = store.read_item(conn, table.tid, row["h"], row["r"])
                expires = store.expires_of(table, old) if old is not None else None
                if old is None or expires is None or expires > moment:
                    continue
                store.apply_change(conn, table, row["h"], row["r"], old, None, user_identity=store.TTL_IDENTITY)
                deleted += 1
            conn.execute("DELETE FROM stream_records WHERE created < ?", (moment - RETENTION_S,))
            return deleted

        return await self.core.db.write(job)
