"""SQLite schema and queries of event source mappings (tables ``esm_*`` in ``lambda.db``).

* ``esm_mappings`` — one row per mapping: its owner (region, account), the
  function it invokes (name + optional qualifier), the event source ARN, its
  kind (``sqs`` or ``dynamodb``), the configuration as AWS reports it (JSON),
  whether it is enabled, its last-modified time and ``LastProcessingResult``.
* ``esm_checkpoints`` — for stream mappings, the last sequence number handed
  to the function successfully (or given up on), per shard, so a restarted
  server resumes where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from cloudlet.storage import Database, Migration

ESM_MIGRATIONS: list[Migration] = [
    Migration(
        "esm_0001_initial",
        """
        CREATE TABLE esm_mappings (
            uuid TEXT PRIMARY KEY,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            function_name TEXT NOT NULL,
            qualifier TEXT,
            source_arn TEXT NOT NULL,
            kind TEXT NOT NULL,
            config TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            last_modified REAL NOT NULL,
            last_result TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX esm_mappings_function ON esm_mappings (region, account, function_name);
        CREATE INDEX esm_mappings_source ON esm_mappings (source_arn);
        CREATE TABLE esm_checkpoints (
            uuid TEXT NOT NULL,
            shard_id TEXT NOT NULL,
            sequence_number TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (uuid, shard_id)
        );
        """,
    )
]


@dataclass(frozen=True)
class Mapping:
    """One stored event source mapping."""

    uuid: str
    region: str
    account: str
    function_name: str
    qualifier: str | None
    source_arn: str
    kind: str
    config: dict[str, Any]
    enabled: bool
    last_modified: float
    last_result: str | None

    @property
    def batch_size(self) -> int:
        return int(self.config["BatchSize"])

    @property
    def window_s(self) -> float:
        return float(self.config.get("MaximumBatchingWindowInSeconds") or 0)

    @property
    def report_failures(self) -> bool:
        return "ReportBatchItemFailures" in (self.config.get("FunctionResponseTypes") or [])


def _mapping(row: sqlite3.Row) -> Mapping:
    return Mapping(
        uuid=row["uuid"],
        region=row["region"],
        account=row["account"],
        function_name=row["function_name"],
        qualifier=row["qualifier"],
        source_arn=row["source_arn"],
        kind=row["kind"],
        config=json.loads(row["config"]),
        enabled=bool(row["enabled"]),
        last_modified=float(row["last_modified"]),
        last_result=row["last_result"],
    )


def get_tx(conn: sqlite3.Connection, uuid: str) -> Mapping | None:
    row = conn.execute("SELECT * FROM esm_mappings WHERE uuid = ?", (uuid,)).fetchone()
    return _mapping(row) if row is not None else None


def find_duplicate_tx(
    conn: sqlite3.Connection, region: str, account: str, function_name: str, source_arn: str
) -> Mapping | None:
    row = conn.execute(
        "SELECT * FROM esm_mappings WHERE region = ? AND account = ? AND function_name = ?"
        " AND source_arn = ?",
        (region, account, function_name, source_arn),
    ).fetchone()
    return _mapping(row) if row is not None else None


def put_tx(conn: sqlite3.Connection, mapping: Mapping, created_at: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO esm_mappings (uuid, region, account, function_name, qualifier,"
        " source_arn, kind, config, enabled, last_modified, last_result, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            mapping.uuid,
            mapping.region,
            mapping.account,
            mapping.function_name,
            mapping.qualifier,
            mapping.source_arn,
            mapping.kind,
            json.dumps(mapping.config),
            int(mapping.enabled),
            mapping.last_modified,
            mapping.last_result,
            created_at,
        ),
    )


def delete_tx(conn: sqlite3.Connection, uuid: str) -> None:
    conn.execute("DELETE FROM esm_mappings WHERE uuid = ?", (uuid,))
    conn.execute("DELETE FROM esm_checkpoints WHERE uuid = ?", (uuid,))


class EsmStore:
    """Async queries on the ``esm_*`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, uuid: str) -> Mapping | None:
        return await self.db.read(lambda conn: get_tx(conn, uuid))

    async def all(self) -> list[Mapping]:
        rows = await self.db.fetchall("SELECT * FROM esm_mappings ORDER BY created_at, uuid", ())
        return [_mapping(row) for row in rows]

    async def page(
        self,
        region: str,
        account: str,
        *,
        function_name: str | None,
        qualifier: str | None,
        source_arn: str | None,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[tuple[Mapping, float]]:
        sql = "SELECT * FROM esm_mappings WHERE region = ? AND account = ?"
        args: list[Any] = [region, account]
        if function_name is not None:
            sql += " AND function_name = ?"
            args.append(function_name)
            if qualifier is not None:
                sql += " AND qualifier IS ?"
                args.append(qualifier)
        if source_arn is not None:
            sql += " AND source_arn = ?"
            args.append(source_arn)
        if after is not None:
            sql += " AND (created_at > ? OR (created_at = ? AND uuid > ?))"
            args.extend([after[0], after[0], after[1]])
        sql += " ORDER BY created_at, uuid LIMIT ?"
        args.append(limit)
        rows = await self.db.fetchall(sql, tuple(args))
        return [(_mapping(row), float(row["created_at"])) for row in rows]

    async def set_last_result(self, uuid: str, result: str) -> None:
        await self.db.execute(
            "UPDATE esm_mappings SET last_result = ? WHERE uuid = ?", (result, uuid)
        )

    async def checkpoint(self, uuid: str, shard_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT sequence_number FROM esm_checkpoints WHERE uuid = ? AND shard_id = ?",
            (uuid, shard_id),
        )
        return str(row["sequence_number"]) if row is not None else None

    async def save_checkpoint(self, uuid: str, shard_id: str, sequence: str, now: float) -> None:
        def run(conn: sqlite3.Connection) -> None:
            # A mapping deleted meanwhile must not get a checkpoint back.
            if conn.execute("SELECT 1 FROM esm_mappings WHERE uuid = ?", (uuid,)).fetchone():
                conn.execute(
                    "INSERT OR REPLACE INTO esm_checkpoints (uuid, shard_id, sequence_number,"
                    " updated_at) VALUES (?, ?, ?, ?)",
                    (uuid, shard_id, sequence, now),
                )

        await self.db.write(run)
