"""Lambda's SQLite schema and the queries on it.

Everything is keyed by ``(region, account, function name)``.

* ``functions`` — one row per function: the ``$LATEST`` configuration as JSON
  (including ``CodeSha256``/``CodeSize``/``RevisionId``/``LastModified``), tags,
  reserved concurrency, and the next version number (numbers are never reused).
* ``versions`` — immutable snapshots taken by ``PublishVersion``.
* ``aliases`` — name → version, optional weighted second version.
* ``event_invoke_configs`` — per qualifier (``$LATEST``, version or alias).
* ``policy_statements`` — resource-based policy, per qualifier ('' = unqualified).
* ``async_events`` — the durable queue of ``Event`` invocations: a row is
  written (and committed) before the caller gets its 202 and deleted when
  delivery ends; ``async_outcomes`` records how each one ended.

Helpers named ``*_tx`` take a ``sqlite3.Connection`` and are meant to run
inside ``Database.write``/``Database.read`` so that a check and the change it
guards happen in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudlet.events import outbox_migration
from cloudlet.storage import Database, Migration

#: The outbox of async destination / dead-letter deliveries (``destinations.py``).
OUTBOX_TABLE = "lambda_outbox"

MIGRATIONS: list[Migration] = [
    Migration(
        "0001_lambda_initial",
        """
        CREATE TABLE functions (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            config TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}',
            reserved_concurrency INTEGER,
            next_version INTEGER NOT NULL DEFAULT 1,
            created_at REAL NOT NULL,
            PRIMARY KEY (region, account, name)
        );
        CREATE TABLE versions (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            config TEXT NOT NULL,
            PRIMARY KEY (region, account, name, version)
        );
        CREATE TABLE aliases (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            function_version TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            routing TEXT,
            revision_id TEXT NOT NULL,
            PRIMARY KEY (region, account, name, alias)
        );
        CREATE TABLE event_invoke_configs (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            config TEXT NOT NULL,
            last_modified REAL NOT NULL,
            PRIMARY KEY (region, account, name, qualifier)
        );
        CREATE TABLE policy_statements (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            sid TEXT NOT NULL,
            statement TEXT NOT NULL,
            PRIMARY KEY (region, account, name, qualifier, sid)
        );
        CREATE TABLE async_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT,
            invoked_arn TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            payload BLOB NOT NULL,
            enqueued_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            throttles INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL
        );
        CREATE INDEX async_events_due ON async_events (next_attempt_at);
        CREATE TABLE async_outcomes (
            request_id TEXT PRIMARY KEY,
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT,
            condition TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            executed_version TEXT,
            function_error TEXT,
            response BLOB,
            finished_at REAL NOT NULL
        );
        CREATE INDEX async_outcomes_finished ON async_outcomes (finished_at);
        """,
    ),
    Migration(
        "0002_lambda_provisioned_concurrency",
        """
        CREATE TABLE provisioned_concurrency (
            region TEXT NOT NULL,
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            requested INTEGER NOT NULL,
            endpoint TEXT NOT NULL,
            last_modified TEXT NOT NULL,
            PRIMARY KEY (region, account, name, qualifier)
        );
        """,
    ),
    outbox_migration(OUTBOX_TABLE),
]

#: Outcomes older than this are pruned when new ones are recorded.
OUTCOME_RETENTION_S = 24 * 3600.0


@dataclass(frozen=True)
class FnKey:
    region: str
    account: str
    name: str

    def params(self) -> tuple[str, str, str]:
        return (self.region, self.account, self.name)


@dataclass
class FunctionRecord:
    key: FnKey
    #: The ``$LATEST`` configuration (stored fields only, see ``config.py``).
    config: dict[str, Any]
    tags: dict[str, str]
    reserved_concurrency: int | None
    next_version: int


@dataclass
class AliasRecord:
    name: str
    function_version: str
    description: str
    #: ``AdditionalVersionWeights`` (version → weight), empty when not routed.
    weights: dict[str, float]
    revision_id: str


@dataclass
class AsyncEvent:
    id: int
    request_id: str
    key: FnKey
    qualifier: str | None
    invoked_arn: str
    endpoint: str
    payload: bytes
    enqueued_at: float
    attempts: int
    throttles: int
    next_attempt_at: float


_KEY_WHERE = "region = ? AND account = ? AND name = ?"


# -- functions -----------------------------------------------------------------


def _function(row: sqlite3.Row) -> FunctionRecord:
    return FunctionRecord(
        key=FnKey(row["region"], row["account"], row["name"]),
        config=json.loads(row["config"]),
        tags=json.loads(row["tags"]),
        reserved_concurrency=row["reserved_concurrency"],
        next_version=row["next_version"],
    )


def get_function_tx(conn: sqlite3.Connection, key: FnKey) -> FunctionRecord | None:
    row = conn.execute(f"SELECT * FROM functions WHERE {_KEY_WHERE}", key.params()).fetchone()
    return None if row is None else _function(row)


def list_functions_tx(conn: sqlite3.Connection, region: str, account: str) -> list[FunctionRecord]:
    rows = conn.execute(
        "SELECT * FROM functions WHERE region = ? AND account = ? ORDER BY name", (region, account)
    ).fetchall()
    return [_function(r) for r in rows]


def insert_function_tx(
    conn: sqlite3.Connection, key: FnKey, config: dict[str, Any], tags: dict[str, str], now: float
) -> None:
    conn.execute(
        "INSERT INTO functions (region, account, name, config, tags, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (*key.params(), json.dumps(config), json.dumps(tags), now),
    )


def update_function_tx(conn: sqlite3.Connection, record: FunctionRecord) -> None:
    conn.execute(
        f"UPDATE functions SET config = ?, tags = ?, reserved_concurrency = ?, next_version = ? "
        f"WHERE {_KEY_WHERE}",
        (
            json.dumps(record.config),
            json.dumps(record.tags),
            record.reserved_concurrency,
            record.next_version,
            *record.key.params(),
        ),
    )


def delete_function_tx(conn: sqlite3.Connection, key: FnKey) -> None:
    for table in (
        "functions",
        "versions",
        "aliases",
        "event_invoke_configs",
        "policy_statements",
        "async_events",
        "provisioned_concurrency",
    ):
        conn.execute(f"DELETE FROM {table} WHERE {_KEY_WHERE}", key.params())


def reserved_total_tx(
    conn: sqlite3.Connection, region: str, account: str, exclude: str | None
) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(reserved_concurrency), 0) FROM functions "
        "WHERE region = ? AND account = ? AND name IS NOT ?",
        (region, account, exclude),
    ).fetchone()
    return int(row[0])


def usage_tx(conn: sqlite3.Connection, region: str, account: str) -> tuple[int, int]:
    """``(function count, total code size)`` of a region of an account (``$LATEST`` + versions)."""
    count = 0
    total = 0
    for row in conn.execute(
        "SELECT config FROM functions WHERE region = ? AND account = ?", (region, account)
    ):
        count += 1
        total += int(json.loads(row[0]).get("CodeSize", 0))
    for row in conn.execute(
        "SELECT config FROM versions WHERE region = ? AND account = ?", (region, account)
    ):
        total += int(json.loads(row[0]).get("CodeSize", 0))
    return count, total


# -- versions ------------------------------------------------------------------


def get_version_tx(conn: sqlite3.Connection, key: FnKey, version: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT config FROM versions WHERE {_KEY_WHERE} AND version = ?", (*key.params(), version)
    ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def list_versions_tx(conn: sqlite3.Connection, key: FnKey) -> list[tuple[int, dict[str, Any]]]:
    rows = conn.execute(
        f"SELECT version, config FROM versions WHERE {_KEY_WHERE} ORDER BY version", key.params()
    ).fetchall()
    return [(int(r[0]), json.loads(r[1])) for r in rows]


def insert_version_tx(
    conn: sqlite3.Connection, key: FnKey, version: int, config: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO versions (region, account, name, version, config) VALUES (?, ?, ?, ?, ?)",
        (*key.params(), version, json.dumps(config)),
    )


def delete_version_tx(conn: sqlite3.Connection, key: FnKey, version: int) -> None:
    conn.execute(
        f"DELETE FROM versions WHERE {_KEY_WHERE} AND version = ?", (*key.params(), version)
    )
    for table in ("event_invoke_configs", "policy_statements", "provisioned_concurrency"):
        conn.execute(
            f"DELETE FROM {table} WHERE {_KEY_WHERE} AND qualifier = ?",
            (*key.params(), str(version)),
        )


# -- aliases -------------------------------------------------------------------


def _alias(row: sqlite3.Row) -> AliasRecord:
    return AliasRecord(
        name=row["alias"],
        function_version=row["function_version"],
        description=row["description"],
        weights=json.loads(row["routing"]) if row["routing"] else {},
        revision_id=row["revision_id"],
    )


def get_alias_tx(conn: sqlite3.Connection, key: FnKey, alias: str) -> AliasRecord | None:
    row = conn.execute(
        f"SELECT * FROM aliases WHERE {_KEY_WHERE} AND alias = ?", (*key.params(), alias)
    ).fetchone()
    return None if row is None else _alias(row)


def list_aliases_tx(conn: sqlite3.Connection, key: FnKey) -> list[AliasRecord]:
    rows = conn.execute(
        f"SELECT * FROM aliases WHERE {_KEY_WHERE} ORDER BY alias", key.params()
    ).fetchall()
    return [_alias(r) for r in rows]


def put_alias_tx(conn: sqlite3.Connection, key: FnKey, alias: AliasRecord) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO aliases (region, account, name, alias, function_version, description, "
        "routing, revision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            *key.params(),
            alias.name,
            alias.function_version,
            alias.description,
            json.dumps(alias.weights) if alias.weights else None,
            alias.revision_id,
        ),
    )


def delete_alias_tx(conn: sqlite3.Connection, key: FnKey, alias: str) -> None:
    conn.execute(f"DELETE FROM aliases WHERE {_KEY_WHERE} AND alias = ?", (*key.params(), alias))
    for table in ("event_invoke_configs", "policy_statements", "provisioned_concurrency"):
        conn.execute(
            f"DELETE FROM {table} WHERE {_KEY_WHERE} AND qualifier = ?", (*key.params(), alias)
        )


# -- event invoke configs --------------------------------------------------------


def get_eic_tx(
    conn: sqlite3.Connection, key: FnKey, qualifier: str
) -> tuple[dict[str, Any], float] | None:
    row = conn.execute(
        f"SELECT config, last_modified FROM event_invoke_configs WHERE {_KEY_WHERE} AND qualifier = ?",
        (*key.params(), qualifier),
    ).fetchone()
    return None if row is None else (json.loads(row[0]), float(row[1]))


def list_eic_tx(conn: sqlite3.Connection, key: FnKey) -> list[tuple[str, dict[str, Any], float]]:
    rows = conn.execute(
        f"SELECT qualifier, config, last_modified FROM event_invoke_configs WHERE {_KEY_WHERE} "
        "ORDER BY qualifier",
        key.params(),
    ).fetchall()
    return [(r[0], json.loads(r[1]), float(r[2])) for r in rows]


def put_eic_tx(
    conn: sqlite3.Connection, key: FnKey, qualifier: str, config: dict[str, Any], now: float
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO event_invoke_configs (region, account, name, qualifier, config, "
        "last_modified) VALUES (?, ?, ?, ?, ?, ?)",
        (*key.params(), qualifier, json.dumps(config), now),
    )


def delete_eic_tx(conn: sqlite3.Connection, key: FnKey, qualifier: str) -> int:
    cur = conn.execute(
        f"DELETE FROM event_invoke_configs WHERE {_KEY_WHERE} AND qualifier = ?",
        (*key.params(), qualifier),
    )
    return cur.rowcount


# -- provisioned concurrency -------------------------------------------------------


@dataclass
class ProvisionedRecord:
    key: FnKey
    qualifier: str
    requested: int
    endpoint: str
    last_modified: str


def _provisioned(row: sqlite3.Row) -> ProvisionedRecord:
    key = FnKey(row["region"], row["account"], row["name"])
    return ProvisionedRecord(key, row["qualifier"], row["requested"], row["endpoint"], row["last_modified"])


def get_provisioned_tx(conn: sqlite3.Connection, key: FnKey, qualifier: str) -> ProvisionedRecord | None:
    row = conn.execute(
        f"SELECT * FROM provisioned_concurrency WHERE {_KEY_WHERE} AND qualifier = ?", (*key.params(), qualifier)
    ).fetchone()
    return None if row is None else _provisioned(row)


def list_provisioned_tx(conn: sqlite3.Connection, key: FnKey | None = None) -> list[ProvisionedRecord]:
    if key is None:
        rows = conn.execute("SELECT * FROM provisioned_concurrency ORDER BY region, account, name, qualifier")
    else:
        rows = conn.execute(
            f"SELECT * FROM provisioned_concurrency WHERE {_KEY_WHERE} ORDER BY qualifier", key.params()
        )
    return [_provisioned(r) for r in rows.fetchall()]


def put_provisioned_tx(conn: sqlite3.Connection, record: ProvisionedRecord) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO provisioned_concurrency (region, account, name, qualifier, requested, endpoint, "
        "last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (*record.key.params(), record.qualifier, record.requested, record.endpoint, record.last_modified),
    )


def delete_provisioned_tx(conn: sqlite3.Connection, key: FnKey, qualifier: str) -> int:
    cur = conn.execute(
        f"DELETE FROM provisioned_concurrency WHERE {_KEY_WHERE} AND qualifier = ?", (*key.params(), qualifier)
    )
    return cur.rowcount


# -- policies --------------------------------------------------------------------


def list_statements_tx(
    conn: sqlite3.Connection, key: FnKey, qualifier: str
) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"SELECT statement FROM policy_statements WHERE {_KEY_WHERE} AND qualifier = ? ORDER BY rowid",
        (*key.params(), qualifier),
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def add_statement_tx(
    conn: sqlite3.Connection, key: FnKey, qualifier: str, sid: str, statement: dict[str, Any]
) -> bool:
    """Add a statement; ``False`` when the sid is taken."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO policy_statements (region, account, name, qualifier, sid, statement) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (*key.params(), qualifier, sid, json.dumps(statement)),
    )
    return cur.rowcount == 1


def remove_statement_tx(conn: sqlite3.Connection, key: FnKey, qualifier: str, sid: str) -> bool:
    cur = conn.execute(
        f"DELETE FROM policy_statements WHERE {_KEY_WHERE} AND qualifier = ? AND sid = ?",
        (*key.params(), qualifier, sid),
    )
    return cur.rowcount == 1


# -- the async queue -------------------------------------------------------------


def _event(row: sqlite3.Row) -> AsyncEvent:
    return AsyncEvent(
        id=row["id"],
        request_id=row["request_id"],
        key=FnKey(row["region"], row["account"], row["name"]),
        qualifier=row["qualifier"],
        invoked_arn=row["invoked_arn"],
        endpoint=row["endpoint"],
        payload=bytes(row["payload"]),
        enqueued_at=row["enqueued_at"],
        attempts=row["attempts"],
        throttles=row["throttles"],
        next_attempt_at=row["next_attempt_at"],
    )


def enqueue_tx(
    conn: sqlite3.Connection,
    request_id: str,
    key: FnKey,
    qualifier: str | None,
    invoked_arn: str,
    endpoint: str,
    payload: bytes,
    now: float,
) -> int:
    cur = conn.execute(
        "INSERT INTO async_events (request_id, region, account, name, qualifier, invoked_arn, endpoint, "
        "payload, enqueued_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (request_id, *key.params(), qualifier, invoked_arn, endpoint, payload, now, now),
    )
    return int(cur.lastrowid or 0)


class LambdaStore:
    """Async reads and the queue operations the delivery loop needs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def due_events(self, now: float, exclude: set[int], limit: int) -> list[AsyncEvent]:
        def run(conn: sqlite3.Connection) -> list[AsyncEvent]:
            rows = conn.execute(
                "SELECT * FROM async_events WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
                (now, limit + len(exclude)),
            ).fetchall()
            return [e for e in map(_event, rows) if e.id not in exclude][:limit]

        return await self.db.read(run)

    async def next_due_at(self) -> float | None:
        row = await self.db.fetchone("SELECT MIN(next_attempt_at) FROM async_events")
        return None if row is None or row[0] is None else float(row[0])

    async def reschedule(self, event_id: int, *, attempts: int, throttles: int, at: float) -> None:
        # The async-event queue is no cached read's input (Database.generation).
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE async_events SET attempts = ?, throttles = ?, next_attempt_at = ? WHERE id = ?",
                (attempts, throttles, at, event_id),
            ),
            invalidates=False,
        )

    async def finish(
        self,
        event: AsyncEvent,
        *,
        condition: str,
        attempts: int,
        executed_version: str | None,
        function_error: str | None,
        response: bytes | None,
        now: float,
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Delete a delivered (or abandoned) event and record how it ended, in one transaction.

        ``also`` runs in that transaction too (it enqueues destination / dead-letter deliveries).
        """

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM async_events WHERE id = ?", (event.id,))
            if also is not None:
                also(conn)
            conn.execute(
                "INSERT OR REPLACE INTO async_outcomes (request_id, region, account, name, qualifier, "
                "condition, attempts, executed_version, function_error, response, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event.request_id,
                    *event.key.params(),
                    event.qualifier,
                    condition,
                    attempts,
                    executed_version,
                    function_error,
                    response,
                    now,
                ),
            )
            conn.execute(
                "DELETE FROM async_outcomes WHERE finished_at < ?", (now - OUTCOME_RETENTION_S,)
            )

        await self.db.write(run, invalidates=False)  # queue and outcome rows only

    async def outcome(self, request_id: str) -> dict[str, Any] | None:
        """How an async invocation ended (``None`` while it is still queued or unknown)."""
        row = await self.db.fetchone(
            "SELECT * FROM async_outcomes WHERE request_id = ?", (request_id,)
        )
        return None if row is None else {k: row[k] for k in row.keys()}  # noqa: SIM118

    async def pending_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM async_events")
        return 0 if row is None else int(row[0])
