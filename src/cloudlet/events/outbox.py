"""A durable outbox: events commit with the change that caused them, then are delivered.

A service that must tell another service about a change (an S3 notification,
an SNS delivery, an async Lambda destination) writes the event into its own
database *in the same transaction* as the change::

    def put(conn):
        conn.execute("INSERT INTO objects …")
        outbox.enqueue(conn, "notify", {"bucket": …})
    await db.write(put)
    outbox.wake()

If the server dies after the commit, the event is still in the table and is
delivered after the restart.  A dispatcher task delivers due events with
``deliver(kind, payload)``; an exception schedules a retry after the next
delay of ``retry_delays``; when they are used up ``on_give_up`` is awaited and
the event is dropped.  Delivery is at-least-once, as on AWS: the row is
deleted only after ``deliver`` returned.

Rows are read in ``(due_at, id)`` order through an index, so the cost of a
pass does not grow with the number of events waiting for a later time.

A producer that knows its events committed can skip the dispatcher's read:
``deliver_now(events)`` (the ``Enqueued`` that ``enqueue`` returned, handed
over after ``db.write`` returned) starts their delivery at once.  The row is
still the record: an event that does not fit in the concurrency, or whose
delivery fails, is found by the dispatcher like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple

from cloudlet.events.waiting import wait_for_wake
from cloudlet.storage import Database, Migration

log = logging.getLogger(__name__)

Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]
GiveUp = Callable[[str, dict[str, Any], BaseException], Awaitable[None]]

DEFAULT_RETRY_DELAYS = (0.2, 1.0, 5.0, 30.0, 120.0)
#: Events delivered concurrently by one outbox.
DEFAULT_CONCURRENCY = 16
#: Longest sleep of an idle dispatcher; ``wake()`` cuts it short.
IDLE_POLL_S = 5.0


class Enqueued(NamedTuple):
    """An event as ``enqueue`` wrote it (for ``deliver_now`` once its transaction committed)."""

    id: int
    kind: str
    payload: dict[str, Any]


def outbox_migration(table: str = "outbox") -> Migration:
    """The table (and its due-time index) an ``Outbox`` named ``table`` uses."""
    _check_name(table)
    return Migration(
        f"{table}-1",
        f"""
        CREATE TABLE {table} (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            due_at REAL NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX {table}_due ON {table} (due_at, id);
        """,
    )


def _check_name(table: str) -> None:
    if not table.replace("_", "").isalnum():
        raise ValueError(f"invalid outbox table name {table!r}")


class Outbox:
    """Durable at-least-once delivery of events stored in ``db``'s ``table``."""

    def __init__(
        self,
        db: Database,
        deliver: Deliver,
        *,
        table: str = "outbox",
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        max_attempts: int | None = None,
        on_give_up: GiveUp | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        _check_name(table)
        self.db = db
        self.deliver = deliver
        self.table = table
        self.retry_delays = tuple(retry_delays)
        self.max_attempts = max_attempts if max_attempts is not None else len(self.retry_delays) + 1
        self.on_give_up = on_give_up
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        #: Events ``deliver_now`` started since the current dispatch pass began reading:
        #: the pass may still see their rows (read before the delivery deleted them).
        self._handed: set[int] = set()
        self._running: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed_attempts = 0
        self.given_up = 0

    # -- producing ----------------------------------------------------------

    def enqueue(self, conn: sqlite3.Connection, kind: str, payload: dict[str, Any], *, delay_s: float = 0.0) -> int:
        """Add an event inside the caller's write job (same transaction); returns its id."""
        now = time.time()
        cursor = conn.execute(
            f"INSERT INTO {self.table} (kind, payload, due_at, created_at) VALUES (?, ?, ?, ?)",
            (kind, json.dumps(payload, separators=(",", ":")), now + delay_s, now),
        )
        return int(cursor.lastrowid or 0)

    def wake(self) -> None:
        """Look for due events now (call after a write that enqueued committed)."""
        self._wake.set()

    def deliver_now(self, events: Iterable[Enqueued]) -> None:
        """Start delivering events that are due now and whose transaction has committed.

        Call it only after ``db.write`` returned (never from inside the write job):
        an event of a job that failed is not in the table and must not go out.
        """
        if self._task is None:  # not dispatching (stopped): the rows wait for the next start
            return
        for event in events:
            if event.id in self._in_flight:
                continue
            if len(self._running) >= self.concurrency:
                self._wake.set()  # the dispatcher takes the rest from the table
                return
            self._handed.add(event.id)
            self._start(event.id, event.kind, event.payload, 0)

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox:{self.db.path.name}:{self.table}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = list(self._running)
        for t in running:
            t.cancel()
        for t in running:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def pending(self) -> int:
        """Events not yet delivered (including those waiting for a retry)."""
        row = await self.db.fetchone(f"SELECT COUNT(*) FROM {self.table}")
        return int(row[0]) if row else 0

    # -- dispatching --------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_due = await self._dispatch_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is closing or broken: back off, never die
                log.exception("outbox %s: dispatch pass failed", self.table)
                next_due = time.time() + 1.0
            timeout = IDLE_POLL_S if next_due is None else max(0.0, min(IDLE_POLL_S, next_due - time.time()))
            if timeout > 0:
                await wait_for_wake(self._wake, timeout)

    async def _dispatch_due(self) -> float | None:
        """Start delivering every due event (up to the concurrency); return the next due time."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            return time.time()
        now = time.time()
        skip = tuple(self._in_flight)
        marks = ",".join("?" * len(skip))
        exclude = f"AND id NOT IN ({marks})" if skip else ""
        self._handed.clear()
        rows = await self.db.fetchall(
            f"SELECT id, kind, payload, attempts FROM {self.table} WHERE due_at <= ? {exclude} ORDER BY due_at, id LIMIT ?",
            (now, *skip, free),
        )
        for row in rows:
            # Started meanwhile by ``deliver_now``, or even delivered and deleted already.
            if row["id"] in self._in_flight or row["id"] in self._handed:
                continue
            self._start(row["id"], row["kind"], json.loads(row["payload"]), row["attempts"])
        if len(rows) == free:
            return now  # maybe more are due: come straight back
        later = await self.db.fetchone(
            f"SELECT due_at FROM {self.table} WHERE due_at > ? ORDER BY due_at, id LIMIT 1", (now,)
        )
        return float(later[0]) if later else None

    def _start(self, event_id: int, kind: str, payload: dict[str, Any], attempts: int) -> None:
        self._in_flight.add(event_id)
        task = asyncio.create_task(self._deliver_one(event_id, kind, payload, attempts))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _deliver_one(self, event_id: int, kind: str, payload: dict[str, Any], attempts: int) -> None:
        try:
            try:
                await self.deliver(kind, payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._failed(event_id, kind, payload, attempts + 1, error)
                return
            await self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (event_id,))
            self.delivered += 1
        finally:
            self._in_flight.discard(event_id)
            self._wake.set()

    async def _failed(self, event_id: int, kind: str, payload: dict[str, Any], attempts: int, error: Exception) -> None:
        self.failed_attempts += 1
        if attempts < self.max_attempts:
            delay = self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)] if self.retry_delays else 0.0
            log.info("outbox %s: %s event %d failed (%s); retry %d in %.1fs", self.table, kind, event_id, error, attempts, delay)
            await self.db.execute(
                f"UPDATE {self.table} SET attempts = ?, due_at = ? WHERE id = ?",
                (attempts, time.time() + delay, event_id),
            )
            return
        log.warning("outbox %s: giving up on %s event %d after %d attempts: %s", self.table, kind, event_id, attempts, error)
        if self.on_give_up is not None:
            try:
                await self.on_give_up(kind, payload, error)
            except Exception:
                log.exception("outbox %s: on_give_up failed for event %d", self.table, event_id)
        await self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (event_id,))
        self.given_up += 1
