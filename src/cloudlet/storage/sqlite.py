"""SQLite behind an async façade: one writer thread with group commit, a reader pool.

Design
------
A ``Database`` owns one SQLite file in WAL mode and three kinds of connection:

* **One writer connection**, used only by a dedicated writer thread.  Callers
  hand it *jobs* (``write(fn)``) through a queue.  Each time the thread wakes
  up it takes every job that is pending (up to ``MAX_GROUP``), opens one
  transaction, runs each job inside its own ``SAVEPOINT`` and commits once.
  A job that raises rolls back only its savepoint; its exception goes to its
  own caller while the other jobs of the group still commit.  Callers are
  answered only after ``COMMIT`` returned, so an acknowledged write is in the
  WAL file: with ``synchronous=NORMAL`` (the default) it survives ``kill -9``
  of the process; with ``fsync=True`` (``synchronous=FULL``) it survives power
  loss too.  Grouping is what makes many small concurrent writes cheap: while
  one group commits, the next one queues up.

  A group of one job runs without the savepoint (a failure rolls back the
  whole transaction, which holds only that job), and the callers of a group
  are answered with one ``loop.call_soon_threadsafe`` per event loop, not one
  per job.

* **A pool of reader connections** (``PRAGMA query_only``), one per thread of
  a small thread pool.  ``read(fn)`` runs ``fn`` inside a read transaction, so
  every query of one ``fn`` sees the same committed snapshot; WAL lets readers
  run while the writer writes.

* **One point-read connection** used on the event loop itself.
  ``point_read(fn)`` is for a few indexed look-ups (typically one statement
  that fetches one row): handing such a look-up to a reader thread and back
  costs many times the look-up.  In WAL mode a reader never waits for the
  writer, so this does not stall the loop behind writes; ``fn`` runs in one
  read transaction like ``read(fn)``.  The connection's busy timeout is tiny:
  if the database is busy anyway (recovery after a crash), ``fn`` is run again
  through ``read`` instead of blocking the loop.  Anything that scans belongs
  in ``read``.

* **Point writes on the event loop.**  ``point_write(fn)`` is ``write(fn)``
  for a job of a few indexed statements.  When the writer thread is idle
  (nothing queued or running) and the database was opened without ``fsync``,
  the job runs right there on the loop, on the writer connection, in its own
  ``BEGIN IMMEDIATE … COMMIT``: the two thread hand-offs cost more than such
  a job.  The caller is still answered only after ``COMMIT`` returned, with
  the same ``synchronous`` setting, so it is as durable as any write.
  Otherwise — the writer busy, or another point write already ran on the
  loop in the same iteration (a burst is cheaper as one group) — it queues
  like ``write``.  So that a loop-side ``COMMIT`` never runs a checkpoint
  (which syncs files), the writer connection's automatic checkpoint is off
  and switched on only around the writer thread's own commits; after
  ``CHECKPOINT_AFTER_POINT_WRITES`` loop-side commits the writer thread is
  asked to run a passive checkpoint.

Reads cached by callers: ``generation()`` counts the finished writes that may
change what a read sees, or is ``None`` while such a write is queued or
running.  A read started after ``generation()`` returned ``g`` and cached
under ``g`` is current as long as ``generation()`` still returns ``g``.  A
write submitted with ``invalidates=False`` (one that only touches a work queue
no cached read looks at) does not count.

Jobs must not manage transactions themselves (no ``commit()``, ``BEGIN`` or
``executescript``): the writer thread owns the transaction.

Migrations are named SQL scripts applied in list order, each in its own
transaction, and recorded in ``_migrations(name, applied_at)`` so that each
runs once per database file, however often the database is reopened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Params = Sequence[Any] | Mapping[str, Any]

#: Most jobs committed in one transaction; bounds the latency of the first job of a group.
MAX_GROUP = 1000
#: Milliseconds a connection waits on a lock held by another connection before failing.
BUSY_TIMEOUT_MS = 5000
#: WAL pages after which a commit of the writer thread checkpoints (SQLite's default).
AUTOCHECKPOINT_PAGES = 1000
#: Point writes committed on the event loop before the writer thread is asked to checkpoint.
CHECKPOINT_AFTER_POINT_WRITES = 200
#: Seconds the event loop's point-read connection waits on a lock before handing over to a reader thread.
POINT_READ_TIMEOUT_S = 0.005
#: SQLite's primary result codes that mean "try again later".
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


@dataclass(frozen=True)
class Migration:
    """A named schema change; ``sql`` is a script of one or more statements."""

    name: str
    sql: str


@dataclass(frozen=True)
class DatabaseStatistics:
    """A snapshot of the database's activity since ``open()``."""

    #: Write jobs finished (committed or failed).
    writes: int
    #: Write jobs whose function raised (rolled back to their savepoint).
    failed_writes: int
    #: Transactions committed by the writer thread.
    commits: int
    #: Jobs per commit on average (``writes / commits``); > 1 means group commit is working.
    mean_group_size: float
    #: Largest group committed at once.
    max_group_size: int
    #: Write jobs waiting for the writer thread right now.
    queue_depth: int
    #: Size of the reader connection pool.
    readers: int
    #: Read calls finished.
    reads: int
    #: Point reads run on the event loop (``point_read``).
    point_reads: int = 0
    #: Point reads handed to a reader thread because the database was busy.
    point_read_fallbacks: int = 0
    #: Write jobs committed on the event loop (``point_write`` while the writer was idle).
    loop_writes: int = 0


class DatabaseClosedError(RuntimeError):
    """The database is not open (never opened, or closed)."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    invalidates: bool


_STOP = object()
#: Asks the writer thread for a passive checkpoint (after point writes committed on the loop).
_CHECKPOINT = object()


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # Runs on the event loop; the caller may have been cancelled meanwhile.
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _resolve_all(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in answers:
        _resolve(future, ok, value)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Database:
    """One SQLite database file: serialized group-committed writes, pooled reads."""

    def __init__(
        self,
        path: Path,
        migrations: Sequence[Migration],
        *,
        readers: int = 4,
        fsync: bool = False,
    ) -> None:
        if readers < 1:
            raise ValueError("readers must be at least 1")
        names = [m.name for m in migrations]
        if len(set(names)) != len(names):
            raise ValueError("migration names must be unique")
        self.path = Path(path)
        self.migrations = tuple(migrations)
        self.readers = readers
        self.fsync = fsync
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader_conns: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_reader_conns: list[sqlite3.Connection] = []
        self._open = False
        self._lock = threading.Lock()
        self._pending = 0
        self._pending_invalidating = 0
        self._generation = 0
        self._writes = 0
        self._failed = 0
        self._commits = 0
        self._max_group = 0
        self._reads = 0
        self._point_conn: sqlite3.Connection | None = None
        #: The writer connection while point writes may use it from the loop (never with ``fsync``).
        self._writer_conn: sqlite3.Connection | None = None
        #: Held by whoever uses the writer connection: the writer thread for a group, or a point write.
        self._conn_lock = threading.Lock()
        self._loop_writes_since_checkpoint = 0
        #: A point write already ran on the loop in this iteration: the next ones queue (and group).
        self._loop_write_this_tick = False
        self._loop_writes = 0
        self._point_reads = 0
        self._point_fallbacks = 0

    # ----------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Create the file if needed, switch to WAL, apply pending migrations, start threads."""
        if self._open:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(ready,), name=f"sqlite-writer:{self.path.name}", daemon=True
        )
        self._writer.start()
        try:
            await asyncio.wrap_future(ready)
        except BaseException:
            await asyncio.to_thread(self._writer.join)
            self._writer = None
            raise
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.readers, thread_name_prefix=f"sqlite-reader:{self.path.name}"
        )
        for _ in range(self.readers):
            conn = self._connect(read_only=True)
            self._all_reader_conns.append(conn)
            self._reader_conns.put(conn)
        self._point_conn = self._connect(read_only=True, timeout_s=POINT_READ_TIMEOUT_S)
        self._open = True

    async def close(self) -> None:
        """Finish every write already submitted, then stop the threads and close connections."""
        if not self._open:
            return
        self._open = False  # refuse new work; jobs already queued still run
        self._writer_conn = None
        self._queue.put(_STOP)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader_pool is not None:
            pool = self._reader_pool
            self._reader_pool = None
            await asyncio.to_thread(pool.shutdown, wait=True)
        if self._point_conn is not None:
            self._point_conn.close()
            self._point_conn = None
        for conn in self._all_reader_conns:
            conn.close()
        self._all_reader_conns.clear()
        self._reader_conns = queue.SimpleQueue()

    @property
    def is_open(self) -> bool:
        return self._open

    # ------------------------------------------------------------------- writes

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, invalidates: bool = True) -> T:
        """Run ``fn(conn)`` on the writer thread; return its result once committed.

        If ``fn`` raises, only its own changes are rolled back and the exception
        is raised here.  ``fn`` must not commit, begin or end transactions.
        ``invalidates=False`` promises that ``fn`` changes nothing a cached read
        depends on (see ``generation``), e.g. it only queues or dequeues work.
        """
        if not self._open:
            raise DatabaseClosedError(f"database {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._pending += 1
            if invalidates:
                self._pending_invalidating += 1
        self._queue.put(_Job(fn, loop, future, invalidates))
        return await future

    async def point_write(self, fn: Callable[[sqlite3.Connection], T], *, invalidates: bool = True) -> T:
        """``write(fn)`` for a job of a few indexed statements: on the event loop when the writer is idle.

        Same result, errors and durability as ``write``; see the module docstring.
        """
        conn = self._writer_conn
        if (
            conn is not None
            and not self._pending
            and not self._loop_write_this_tick
            and self._conn_lock.acquire(blocking=False)
        ):
            try:
                if not self._pending and self._begin_here(conn):
                    return self._run_here(conn, fn, invalidates)
            finally:
                self._conn_lock.release()
        return await self.write(fn, invalidates=invalidates)

    @staticmethod
    def _begin_here(conn: sqlite3.Connection) -> bool:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False  # locked by someone else: wait in the queue instead of on the loop
        return True

    def _run_here(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any], invalidates: bool) -> Any:
        committed = False
        try:
            result = fn(conn)
            conn.execute("COMMIT")
            committed = True
            return result
        finally:
            if not committed:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            with self._lock:
                self._writes += 1
                self._loop_writes += 1
                if invalidates:
                    self._generation += 1
                if committed:
                    self._commits += 1
                else:
                    self._failed += 1
                self._max_group = max(self._max_group, 1)
            self._loop_writes_since_checkpoint += 1
            if self._loop_writes_since_checkpoint >= CHECKPOINT_AFTER_POINT_WRITES:
                self._loop_writes_since_checkpoint = 0
                self._queue.put(_CHECKPOINT)
            self._loop_write_this_tick = True
            asyncio.get_running_loop().call_soon(self._end_tick)

    def _end_tick(self) -> None:
        self._loop_write_this_tick = False

    def generation(self) -> int | None:
        """Finished writes that may invalidate cached reads; ``None`` while one is queued or running.

        A read that starts after this returned ``g`` may be cached under ``g``
        and used as long as ``generation()`` returns ``g`` again.
        """
        with self._lock:
            return None if self._pending_invalidating else self._generation

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one writing statement; return the cursor's ``lastrowid`` (0 if none)."""

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(sql, params).lastrowid or 0

        return await self.write(run)

    # -------------------------------------------------------------------- reads

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on a reader thread, inside one read transaction (one snapshot)."""
        pool = self._reader_pool
        if not self._open or pool is None:
            raise DatabaseClosedError(f"database {self.path} is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, self._run_read, fn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return await self.read(lambda conn: conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = await self.read(lambda conn: conn.execute(sql, params).fetchone())
        return row

    async def point_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` — a few indexed look-ups, no scans — on the event loop, in one snapshot.

        Same result as ``read(fn)`` without the round trip to a reader thread.
        Should the database be busy (a lock held during crash recovery), ``fn``
        runs again through ``read`` rather than holding up the loop, so ``fn``
        must only read.
        """
        conn = self._point_conn
        if conn is None:
            return await self.read(fn)
        try:
            conn.execute("BEGIN")
            try:
                result = fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES:
                raise
            self._point_fallbacks += 1
            return await self.read(fn)
        self._point_reads += 1
        return result

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # The pool has exactly one thread per connection, so ``get`` never waits.
        conn = self._reader_conns.get()
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        finally:
            self._reader_conns.put(conn)
            with self._lock:
                self._reads += 1

    # --------------------------------------------------------------- statistics

    def statistics(self) -> DatabaseStatistics:
        with self._lock:
            return DatabaseStatistics(
                writes=self._writes,
                failed_writes=self._failed,
                commits=self._commits,
                mean_group_size=self._writes / self._commits if self._commits else 0.0,
                max_group_size=self._max_group,
                queue_depth=self._pending,
                readers=self.readers if self._open else 0,
                reads=self._reads,
                point_reads=self._point_reads,
                point_read_fallbacks=self._point_fallbacks,
                loop_writes=self._loop_writes,
            )

    # ------------------------------------------------------------ connections

    def _connect(self, *, read_only: bool, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> sqlite3.Connection:
        # isolation_level=None: the sqlite3 module never opens transactions
        # behind our back; the writer thread issues BEGIN/SAVEPOINT/COMMIT itself.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout_s)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {round(timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        else:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"could not switch {self.path} to WAL (got {mode})")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.fsync else 'NORMAL'}")
            # Checkpoints run only on the writer thread (see ``_commit``), never in a loop-side commit.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        return conn

    # ----------------------------------------------------------- writer thread

    def _writer_main(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = self._connect(read_only=False)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        try:
            self._migrate(conn)
        except BaseException as exc:
            conn.close()
            ready.set_exception(exc)
            return
        if not self.fsync:
            self._writer_conn = conn
        ready.set_result(None)
        try:
            self._serve(conn)
        finally:
            conn.close()
            self._fail_leftovers()

    def _fail_leftovers(self) -> None:
        # A write that raced with close() and landed behind the stop marker.
        leftovers: list[_Job] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                leftovers.append(item)
        if leftovers:
            error = DatabaseClosedError(f"database {self.path} is closed")
            self._finish(leftovers, [(False, error)] * len(leftovers), committed=False)

    def _serve(self, conn: sqlite3.Connection) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Job] = []
            checkpoint = False
            # Everything already queued joins this group (close() drains too).
            while True:
                if item is _STOP:
                    stopping = True
                elif item is _CHECKPOINT:
                    checkpoint = True
                else:
                    assert isinstance(item, _Job)
                    batch.append(item)
                if len(batch) >= MAX_GROUP:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            with self._conn_lock:
                if batch:
                    self._run_group(conn, batch)  # its commit checkpoints if the WAL is long
                elif checkpoint:
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error:
                        log.warning("checkpoint of %s failed", self.path, exc_info=True)

    def _run_group(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._finish(batch, [(False, exc)] * len(batch), committed=False)
            return
        if len(batch) == 1:
            self._run_alone(conn, batch)
            return
        for job in batch:
            try:
                conn.execute("SAVEPOINT job")
            except sqlite3.Error as exc:
                outcomes.append((False, exc))
                continue
            try:
                result = job.fn(conn)
            except Exception as exc:
                outcomes.append((False, exc))
                if not self._rollback_savepoint(conn):
                    # The failure aborted the whole transaction (e.g. disk full):
                    # the earlier jobs of the group are lost with it.
                    outcomes = [(False, exc)] * len(outcomes)
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("BEGIN IMMEDIATE")
                continue
            try:
                conn.execute("RELEASE job")
            except sqlite3.Error as exc:
                outcomes.append((False, exc))
                continue
            outcomes.append((True, result))
        committed = False
        try:
            if conn.in_transaction:
                self._commit(conn)
            committed = True
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, exc if ok else value) for ok, value in outcomes]
        self._finish(batch, outcomes, committed=committed)

    def _run_alone(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        # The transaction holds only this job: it needs no savepoint of its own.
        try:
            result = batch[0].fn(conn)
        except Exception as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            self._finish(batch, [(False, exc)], committed=False)
            return
        try:
            if conn.in_transaction:
                self._commit(conn)
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            self._finish(batch, [(False, exc)], committed=False)
            return
        self._finish(batch, [(True, result)], committed=True)

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        # The writer thread's commits checkpoint as SQLite would by default: that
        # syncs files, which must never happen in a commit on the event loop.
        conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        try:
            conn.execute("COMMIT")
        finally:
            conn.execute("PRAGMA wal_autocheckpoint = 0")

    @staticmethod
    def _rollback_savepoint(conn: sqlite3.Connection) -> bool:
        if not conn.in_transaction:
            return False
        try:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False
        return True

    def _finish(self, batch: list[_Job], outcomes: list[tuple[bool, Any]], *, committed: bool) -> None:
        invalidating = sum(1 for job in batch if job.invalidates)
        with self._lock:
            self._pending -= len(batch)
            self._pending_invalidating -= invalidating
            self._writes += len(batch)
            if invalidating:
                self._generation += 1
            self._failed += sum(1 for ok, _ in outcomes if not ok)
            if committed:
                self._commits += 1
            self._max_group = max(self._max_group, len(batch))
        # One wake-up of each caller's loop for the whole group.
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            answers.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, items in answers.items():
            try:
                loop.call_soon_threadsafe(_resolve_all, items)
            except RuntimeError:
                # The caller's loop is closed; nobody is left to tell.
                log.debug("dropping results of %d writes whose event loop is closed", len(items))

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        for migration in self.migrations:
            if migration.name in applied:
                continue
            log.info("applying migration %s to %s", migration.name, self.path)
            # executescript cannot bind parameters, hence the quoted literals; the
            # whole script and its record commit (or roll back) together.
            script = (
                "BEGIN IMMEDIATE;\n"
                f"{migration.sql.strip().rstrip(';')};\n"
                f"INSERT INTO _migrations (name, applied_at) VALUES ({_sql_literal(migration.name)}, {time.time()!r});\n"
                "COMMIT;"
            )
            try:
                conn.executescript(script)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
