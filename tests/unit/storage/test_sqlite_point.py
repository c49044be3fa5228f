"""Database: point reads and point writes on the event loop, and the generation of cached reads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cloudlet.storage import Database, Migration
from cloudlet.storage.sqlite import CHECKPOINT_AFTER_POINT_WRITES

T = TypeVar("T")

SCHEMA = [Migration("0001_items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, body BLOB)")]


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())


async def opened(path: Path, **kwargs: Any) -> Database:
    db = Database(path, SCHEMA, **kwargs)
    await db.open()
    return db


def insert(name: str, body: bytes = b"") -> Callable[[sqlite3.Connection], int]:
    return lambda conn: conn.execute("INSERT INTO items (name, body) VALUES (?, ?)", (name, body)).lastrowid or 0


def names(conn: sqlite3.Connection) -> set[str]:
    return {row["name"] for row in conn.execute("SELECT name FROM items")}


def test_point_write_commits_on_the_loop_when_the_writer_is_idle(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        on_loop: list[bool] = []

        def job(conn: sqlite3.Connection) -> int:
            on_loop.append(threading.current_thread() is threading.main_thread())
            return insert("one")(conn)

        assert await db.point_write(job) > 0
        assert on_loop == [True]
        assert await db.point_read(names) == {"one"}
        assert await db.read(names) == {"one"}
        stats = db.statistics()
        assert (stats.writes, stats.commits, stats.loop_writes, stats.queue_depth) == (1, 1, 1, 0)
        await db.close()

    run(scenario)


def test_failing_point_write_rolls_back_and_raises(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        await db.point_write(insert("one"))

        def doomed(conn: sqlite3.Connection) -> None:
            insert("two")(conn)
            raise KeyError("boom")

        with pytest.raises(KeyError):
            await db.point_write(doomed)
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.sleep(0)  # a new loop iteration: this one runs on the loop too
            await db.point_write(insert("one"))
        await asyncio.sleep(0)
        assert await db.point_write(insert("three")) > 0
        assert await db.read(names) == {"one", "three"}
        assert db.statistics().failed_writes == 2
        await db.close()

    run(scenario)


def test_point_write_queues_behind_a_busy_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        gate = threading.Event()
        first = asyncio.ensure_future(db.write(lambda conn: gate.wait(5)))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(db.point_write(insert("after")))
        await asyncio.sleep(0.05)
        assert not queued.done()  # it waits for the writer, in order
        gate.set()
        await first
        await queued
        assert db.statistics().loop_writes == 0
        assert await db.read(names) == {"after"}
        await db.close()

    run(scenario)


def test_a_burst_of_point_writes_is_group_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        await asyncio.gather(*(db.point_write(insert(f"n{i}")) for i in range(300)))
        stats = db.statistics()
        assert stats.writes == 300
        assert stats.commits < 60, stats
        assert len(await db.read(names)) == 300
        await db.close()

    run(scenario)


def test_with_fsync_point_writes_go_to_the_writer_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db", fsync=True)
        await db.point_write(insert("one"))
        assert db.statistics().loop_writes == 0
        assert await db.point_read(names) == {"one"}
        await db.close()

    run(scenario)


def test_loop_side_commits_leave_checkpoints_to_the_writer_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        body = b"x" * 3000
        for i in range(CHECKPOINT_AFTER_POINT_WRITES * 10):
            await db.point_write(insert(f"n{i}", body))
            await asyncio.sleep(0)
        assert db.statistics().loop_writes > CHECKPOINT_AFTER_POINT_WRITES * 5
        # Without checkpoints the WAL would hold every page written (over 30 MB here).
        await asyncio.sleep(0.2)
        assert (tmp_path / "a.db-wal").stat().st_size < 12_000_000
        await db.close()

    run(scenario)


def test_point_reads_see_each_commit_and_cannot_write(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        for i in range(5):
            await db.write(insert(f"n{i}"))
            assert len(await db.point_read(names)) == i + 1
        with pytest.raises(sqlite3.OperationalError):
            await db.point_read(insert("sneaky"))
        assert db.statistics().point_reads >= 5
        await db.close()

    run(scenario)


def test_generation_moves_only_with_writes_that_invalidate(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        start = db.generation()
        assert start is not None
        await db.write(insert("queue-only"), invalidates=False)
        await db.point_write(insert("queue-only-too"), invalidates=False)
        assert db.generation() == start
        await db.point_write(insert("state"))
        after_point = db.generation()
        assert after_point is not None and after_point > start

        gate = threading.Event()
        blocked = asyncio.ensure_future(db.write(lambda conn: gate.wait(5)))
        await asyncio.sleep(0.05)
        assert db.generation() is None  # in flight: nothing read now may be cached
        gate.set()
        await blocked
        final = db.generation()
        assert final is not None and final > after_point
        await db.close()

    run(scenario)
