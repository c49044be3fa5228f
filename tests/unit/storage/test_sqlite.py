"""Database: group commit, savepoint isolation, migrations, readers, close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cloudlet.storage import Database, DatabaseClosedError, Migration

T = TypeVar("T")

SCHEMA = [
    Migration("0001_items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"),
    Migration("0002_tags", "CREATE TABLE tags (item INTEGER NOT NULL REFERENCES items(id), tag TEXT);"),
]


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()

    return asyncio.run(main())


async def opened(path: Path, migrations: list[Migration] = SCHEMA, **kwargs: Any) -> Database:
    db = Database(path, migrations, **kwargs)
    await db.open()
    return db


def test_write_then_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        rowid = await db.execute("INSERT INTO items (name) VALUES (?)", ("one",))
        assert rowid == 1
        row = await db.fetchone("SELECT id, name FROM items WHERE name = :n", {"n": "one"})
        assert row is not None and (row["id"], row["name"]) == (1, "one")
        assert await db.fetchone("SELECT * FROM items WHERE name = 'none'") is None
        assert [r["name"] for r in await db.fetchall("SELECT name FROM items")] == ["one"]
        await db.close()

    run(scenario)


def test_pragmas(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        journal = await db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        fks = await db.write(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0])
        sync = await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
        assert (journal, fks, sync) == ("wal", 1, 1)  # 1 = NORMAL
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
            await db.execute("INSERT INTO tags (item, tag) VALUES (42, 'x')")
        await db.close()
        durable = await opened(tmp_path / "b.db", fsync=True)
        assert await durable.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL
        await durable.close()

    run(scenario)


def test_readers_are_read_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        with pytest.raises(sqlite3.OperationalError):
            await db.read(lambda c: c.execute("INSERT INTO items (name) VALUES ('x')"))
        await db.close()

    run(scenario)


def test_group_commit_groups_concurrent_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        await asyncio.gather(
            *(db.execute("INSERT INTO items (name) VALUES (?)", (f"n{i}",)) for i in range(500))
        )
        stats = db.statistics()
        assert stats.writes == 500
        assert stats.commits < 100, stats
        assert stats.mean_group_size > 5
        assert stats.queue_depth == 0
        rows = await db.fetchone("SELECT count(*) AS n FROM items")
        assert rows is not None and rows["n"] == 500
        await db.close()

    run(scenario)


def test_failing_job_rolls_back_only_its_savepoint(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        gate = threading.Event()

        def blocker(conn: sqlite3.Connection) -> None:
            gate.wait(5)  # hold the writer so the next jobs form one group

        def good(name: str) -> Callable[[sqlite3.Connection], int]:
            return lambda c: c.execute("INSERT INTO items (name) VALUES (?)", (name,)).lastrowid or 0

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO items (name) VALUES ('doomed')")
            raise KeyError("boom")

        first = asyncio.ensure_future(db.write(blocker))
        await asyncio.sleep(0.05)
        jobs = [
            asyncio.ensure_future(db.write(good("a"))),
            asyncio.ensure_future(db.write(bad)),
            asyncio.ensure_future(db.execute("INSERT INTO items (name) VALUES ('a')")),  # unique violation
            asyncio.ensure_future(db.write(good("b"))),
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await first
        results = await asyncio.gather(*jobs, return_exceptions=True)
        assert isinstance(results[0], int)
        assert isinstance(results[1], KeyError)
        assert isinstance(results[2], sqlite3.IntegrityError)
        assert isinstance(results[3], int)
        names = {r["name"] for r in await db.fetchall("SELECT name FROM items")}
        assert names == {"a", "b"}
        stats = db.statistics()
        assert stats.failed_writes == 2
        assert stats.max_group_size == 4  # the four jobs shared one transaction
        await db.close()

    run(scenario)


def test_write_returns_the_function_result(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")

        def insert_two(conn: sqlite3.Connection) -> list[int]:
            return [
                conn.execute("INSERT INTO items (name) VALUES (?)", (n,)).lastrowid or 0 for n in "xy"
            ]

        assert await db.write(insert_two) == [1, 2]
        await db.close()

    run(scenario)


def test_migrations_apply_once_in_order_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "m.db"

    async def scenario() -> None:
        db = await opened(path)
        await db.execute("INSERT INTO items (name) VALUES ('kept')")
        await db.close()
        # Reopen with one more migration: only the new one runs; data is kept.
        more = [*SCHEMA, Migration("0003_index", "CREATE INDEX items_name ON items(name)")]
        db = await opened(path, more)
        names = [r["name"] for r in await db.fetchall("SELECT name FROM _migrations ORDER BY rowid")]
        assert names == ["0001_items", "0002_tags", "0003_index"]
        assert (await db.fetchone("SELECT count(*) AS n FROM items"))["n"] == 1  # type: ignore[index]
        await db.close()
        db = await opened(path, more)  # a third open applies nothing (CREATE would fail)
        await db.close()

    run(scenario)


def test_failed_migration_rolls_back_and_is_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    broken = [
        *SCHEMA,
        Migration("0003_broken", "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1);"),
    ]

    async def scenario() -> None:
        with pytest.raises(sqlite3.OperationalError):
            await opened(path, broken)
        db = await opened(path)
        names = [r["name"] for r in await db.fetchall("SELECT name FROM _migrations")]
        assert names == ["0001_items", "0002_tags"]
        half = await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'half'")
        assert half is None
        await db.close()

    run(scenario)


def test_readers_see_committed_data_from_many_threads(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db", readers=3)
        for i in range(20):
            await db.execute("INSERT INTO items (name) VALUES (?)", (f"n{i}",))
            counts = await asyncio.gather(
                *(db.fetchone("SELECT count(*) AS n FROM items") for _ in range(6))
            )
            assert all(c is not None and c["n"] == i + 1 for c in counts)
        assert db.statistics().readers == 3
        await db.close()

    run(scenario)


def test_close_drains_pending_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"

    async def scenario() -> None:
        db = await opened(path)
        writes = [
            asyncio.ensure_future(db.execute("INSERT INTO items (name) VALUES (?)", (f"n{i}",)))
            for i in range(200)
        ]
        await asyncio.sleep(0)  # every write is queued before close() starts
        await db.close()
        assert all(w.done() and not w.exception() for w in writes)
        with pytest.raises(DatabaseClosedError):
            await db.execute("INSERT INTO items (name) VALUES ('late')")
        with pytest.raises(DatabaseClosedError):
            await db.fetchall("SELECT 1")

    run(scenario)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 200
    # The writer and reader threads are gone.
    assert not [t for t in threading.enumerate() if t.name.startswith("sqlite-") and "a.db" in t.name]


def test_close_is_idempotent_and_reopen_works(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await opened(tmp_path / "a.db")
        await db.close()
        await db.close()
        await db.open()
        await db.execute("INSERT INTO items (name) VALUES ('again')")
        assert (await db.fetchone("SELECT count(*) AS n FROM items"))["n"] == 1  # type: ignore[index]
        await db.close()

    run(scenario)
