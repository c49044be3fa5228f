"""The outbox delivers what committed, retries failures, gives up, and survives a restart."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cloudlet.events import Outbox, outbox_migration
from cloudlet.events.outbox import Enqueued
from cloudlet.storage import Database, Migration

MIGRATIONS = [Migration("things-1", "CREATE TABLE things (name TEXT PRIMARY KEY)"), outbox_migration()]


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_event_commits_with_the_change_and_is_delivered(tmp_path: Path) -> None:
    delivered: list[tuple[str, dict[str, Any]]] = []

    async def deliver(kind: str, payload: dict[str, Any]) -> None:
        delivered.append((kind, payload))

    async def main() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, deliver)
        await outbox.start()

        def put(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO things VALUES ('a')")
            outbox.enqueue(conn, "created", {"name": "a"})

        def failing(conn: sqlite3.Connection) -> None:
            outbox.enqueue(conn, "created", {"name": "b"})
            conn.execute("INSERT INTO things VALUES ('a')")  # duplicate: the job fails

        await db.write(put)
        with pytest.raises(sqlite3.IntegrityError):
            await db.write(failing)
        outbox.wake()
        await _wait_for(lambda: outbox.delivered == 1)
        await asyncio.sleep(0.05)
        assert delivered == [("created", {"name": "a"})]  # the rolled-back event never leaves
        assert await outbox.pending() == 0
        await outbox.stop()
        await db.close()

    asyncio.run(main())


def test_failures_are_retried_then_given_up(tmp_path: Path) -> None:
    attempts: list[int] = []
    given_up: list[tuple[str, dict[str, Any], str]] = []

    async def deliver(kind: str, payload: dict[str, Any]) -> None:
        attempts.append(payload["n"])
        if payload["n"] == 2 or len([a for a in attempts if a == 1]) < 3:
            raise RuntimeError(f"target down for {payload['n']}")

    async def give_up(kind: str, payload: dict[str, Any], error: BaseException) -> None:
        given_up.append((kind, payload, str(error)))

    async def main() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, deliver, retry_delays=(0.01, 0.02), on_give_up=give_up)
        await outbox.start()

        def put(conn: sqlite3.Connection) -> None:
            outbox.enqueue(conn, "k", {"n": 1})
            outbox.enqueue(conn, "k", {"n": 2})

        await db.write(put)
        outbox.wake()
        await _wait_for(lambda: outbox.delivered == 1 and outbox.given_up == 1)
        assert attempts.count(1) == 3  # failed twice, delivered on the third attempt
        assert attempts.count(2) == 3  # three attempts, then given up
        assert given_up == [("k", {"n": 2}, "target down for 2")]
        assert await outbox.pending() == 0
        await outbox.stop()
        await db.close()

    asyncio.run(main())


def test_undelivered_events_survive_a_restart(tmp_path: Path) -> None:
    delivered: list[dict[str, Any]] = []

    async def never(kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("down")

    async def deliver(kind: str, payload: dict[str, Any]) -> None:
        delivered.append(payload)

    async def first_run() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, never, retry_delays=(60.0,))
        await db.write(lambda conn: outbox.enqueue(conn, "k", {"n": 1}, delay_s=0.0))
        await db.close()  # the process "dies" before the dispatcher ran

    async def second_run() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, deliver)
        await outbox.start()
        await _wait_for(lambda: delivered == [{"n": 1}])
        await outbox.stop()
        await db.close()

    asyncio.run(first_run())
    asyncio.run(second_run())


def test_delayed_events_wait_their_turn(tmp_path: Path) -> None:
    order: list[str] = []

    async def deliver(kind: str, payload: dict[str, Any]) -> None:
        order.append(kind)

    async def main() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, deliver)
        await outbox.start()

        def put(conn: sqlite3.Connection) -> None:
            outbox.enqueue(conn, "later", {}, delay_s=0.3)
            outbox.enqueue(conn, "now", {})

        await db.write(put)
        outbox.wake()
        await _wait_for(lambda: order == ["now"])
        await _wait_for(lambda: order == ["now", "later"])
        await outbox.stop()
        await db.close()

    asyncio.run(main())


def test_deliver_now_hands_over_without_a_second_delivery(tmp_path: Path) -> None:
    delivered: list[dict[str, Any]] = []

    async def deliver(kind: str, payload: dict[str, Any]) -> None:
        delivered.append(payload)

    async def main() -> None:
        db = Database(tmp_path / "t.db", MIGRATIONS)
        await db.open()
        outbox = Outbox(db, deliver)
        await outbox.start()

        def put(conn: sqlite3.Connection) -> list[Enqueued]:
            payload = {"name": "a"}
            return [Enqueued(outbox.enqueue(conn, "created", payload), "created", payload)]

        events = await db.write(put)
        outbox.deliver_now(events)
        outbox.wake()  # a dispatch pass at the same time must not deliver it again
        await _wait_for(lambda: outbox.delivered == 1)
        await asyncio.sleep(0.1)
        assert delivered == [{"name": "a"}]
        assert await outbox.pending() == 0
        await outbox.stop()
        await db.close()

    asyncio.run(main())
