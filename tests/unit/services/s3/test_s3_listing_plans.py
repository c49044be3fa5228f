"""S3 listings page through indexes: every statement is a range seek, and a page costs the same anywhere.

The scans of :mod:`cloudlet.services.s3.list_ops` run against the real schema
(the S3 migrations) in a file database.  Two kinds of check, both exact:

* ``EXPLAIN QUERY PLAN`` of every statement a listing ran (recorded with its
  parameters, which the planner sees as ``?``, as in production) is an index
  ``SEARCH`` constrained on the key, never a ``SCAN`` of the table or of a
  whole bucket;
* the SQLite virtual-machine instructions a page takes (counted with a
  progress handler) do not depend on where the page is in the bucket, and a
  delimiter listing does not read the keys under the prefixes it rolls up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudlet.services.s3 import list_ops
from cloudlet.services.s3.listing import Page, paginate
from cloudlet.services.s3.schema import MIGRATIONS

BUCKET = "b"
META = json.dumps({"Metadata": {}, "Checksums": {"CRC32": "AAAAAA=="}})


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS:
        conn.executescript(migration.sql)
    conn.row_factory = sqlite3.Row  # as the reader pool has it
    return conn


def _fill(conn: sqlite3.Connection, keys: list[str], versions: int = 1, delete_every: int = 0) -> None:
    """``versions`` versions of every key; every ``delete_every``-th key's latest one a delete marker."""
    rows: list[tuple[Any, ...]] = []
    seq = 0
    for index, key in enumerate(keys):
        for number in range(versions):
            seq += 1
            latest = number == versions - 1
            marker = latest and delete_every > 0 and index % delete_every == 0
            rows.append((BUCKET, key, f"v{seq:031d}", seq, int(latest), int(marker), 0, '"e"', 1.0e9 + seq, META))
    conn.execute("BEGIN")
    conn.execute("INSERT INTO buckets VALUES (?, '000000000000', 'us-east-1', 0, 'Enabled')", (BUCKET,))
    conn.executemany(
        "INSERT INTO objects (bucket, key, version_id, seq, is_latest, delete_marker, size, etag, last_modified, meta)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")


def _latest(conn: sqlite3.Connection, **options: Any) -> Page[list_ops.Listed]:
    return paginate(list_ops.scan_latest(conn, BUCKET), lambda o: o.key, **options)


def _versions(conn: sqlite3.Connection, version_marker: str | None = None,
              **options: Any) -> Page[list_ops.Listed]:
    scan = list_ops.scan_versions(conn, BUCKET, options.get("marker", ""), version_marker)
    return paginate(scan, lambda o: o.key, **options)


class Recorder:
    """A connection that records each statement with its parameters (the planner sees ``?``, not values)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self.seen.append((sql, params))
        return self.conn.execute(sql, params)

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)


class RecordingCursor:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.cursor = recorder.conn.cursor()

    @property
    def row_factory(self) -> Any:
        return self.cursor.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self.cursor.row_factory = factory

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self.recorder.seen.append((sql, params))
        return self.cursor.execute(sql, params)


def _steps(conn: sqlite3.Connection, run: Callable[[], object]) -> int:
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 1)
    try:
        run()
    finally:
        conn.set_progress_handler(None, 1)
    return count


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sqlite3.Connection]:
    """A few folders, several versions per key, some delete markers, and tiny batches (so scans resume)."""
    monkeypatch.setattr(list_ops, "BATCH", 3)
    conn = _open(tmp_path / "s3.db")
    keys = sorted([f"{top}/{sub}/{n}" for top in "abc" for sub in "xy" for n in range(4)] + ["a", "d-1", "d-2"])
    _fill(conn, keys, versions=3, delete_every=4)
    yield conn
    conn.close()


def _middle_version(conn: sqlite3.Connection, key: str) -> str:
    rows = conn.execute("SELECT version_id FROM objects WHERE bucket = ? AND key = ? ORDER BY seq", (BUCKET, key))
    return str(rows.fetchall()[1]["version_id"])


SCENARIOS: dict[str, Callable[[Any], object]] = {
    "all": lambda c: _latest(c, max_keys=1000),
    "prefix": lambda c: _latest(c, prefix="b/", max_keys=1000),
    "delimiter": lambda c: _latest(c, delimiter="/", max_keys=1000),
    "prefix+delimiter": lambda c: _latest(c, prefix="a/", delimiter="/", max_keys=1000),
    "start-after": lambda c: _latest(c, marker="b/x/2", max_keys=5),
    "start-after+delimiter": lambda c: _latest(c, marker="a/", delimiter="/", max_keys=5),
    "versions": lambda c: _versions(c, max_keys=1000),
    "versions+delimiter": lambda c: _versions(c, delimiter="/", prefix="c/", max_keys=1000),
    "versions+key-marker": lambda c: _versions(c, marker="b/y/1", max_keys=7),
    "versions+version-marker": lambda c: _versions(c, _middle_version(c, "b/y/1"), marker="b/y/1", max_keys=7),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_listing_statement_is_an_index_range_seek(small: sqlite3.Connection, scenario: str) -> None:
    recorder = Recorder(small)
    SCENARIOS[scenario](recorder)
    assert recorder.seen
    for sql, params in recorder.seen:
        plan = [row["detail"] for row in small.execute("EXPLAIN QUERY PLAN " + sql, params)]
        searches = [step for step in plan if step.startswith("SEARCH objects USING")]
        assert searches, (sql, plan)
        for step in plan:
            assert not step.startswith("SCAN"), (sql, plan)
            # The versions order (key, newest first) sorts only the versions of one key at a time.
            assert not step.startswith("USE TEMP B-TREE FOR ORDER BY"), (sql, plan)
        for step in searches:
            if "(bucket=? AND key=? AND version_id=?)" not in step:  # the version-id-marker look-up
                assert "key>" in step or "key=" in step, (sql, plan)


def test_small_listings_find_what_the_rows_say(small: sqlite3.Connection) -> None:
    page = _latest(small, prefix="a/", delimiter="/", max_keys=1000)
    assert page.prefixes == ["a/x/", "a/y/"] and not page.entries
    keys = [o.key for o in _latest(small, max_keys=1000).entries]
    assert keys == sorted(keys) and len(keys) == 27 - 7  # every 4th key ends in a delete marker
    assert "a" not in keys and "a/x/3" not in keys
    versions = [(o.key, o.seq) for o in _versions(small, marker="b/y/1", max_keys=10).entries]
    assert versions == sorted(versions, key=lambda v: (v[0], -v[1]))
    assert [key for key, _ in versions] == ["b/y/2"] * 3 + ["b/y/3"] * 3 + ["c/x/0"] * 3 + ["c/x/1"]


@pytest.fixture
def big(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """20,000 keys: 100 folders of 200 keys each."""
    conn = _open(tmp_path / "big.db")
    _fill(conn, [f"f{folder:03d}/k{n:04d}" for folder in range(100) for n in range(200)], versions=2)
    yield conn
    conn.close()


def test_a_page_costs_the_same_anywhere_in_the_bucket(big: sqlite3.Connection) -> None:
    first = _steps(big, lambda: _latest(big, max_keys=1000))
    middle = _steps(big, lambda: _latest(big, marker="f050/k0100", max_keys=1000))
    near_end = _steps(big, lambda: _latest(big, marker="f099/k0000", prefix="f099/", max_keys=1000))
    assert middle < first * 1.2
    assert near_end < first / 2  # 199 keys left under the prefix


def test_a_version_page_costs_the_same_anywhere_in_the_bucket(big: sqlite3.Connection) -> None:
    first = _steps(big, lambda: _versions(big, max_keys=1000))
    middle = _steps(big, lambda: _versions(big, marker="f050/k0100", max_keys=1000))
    row = big.execute("SELECT version_id FROM objects WHERE key = 'f070/k0007' AND is_latest = 1").fetchone()
    by_version = _steps(big, lambda: _versions(big, row["version_id"], marker="f070/k0007", max_keys=1000))
    assert middle < first * 1.2
    assert by_version < first * 1.2


def test_a_delimiter_listing_does_not_read_the_keys_it_rolls_up(big: sqlite3.Connection) -> None:
    rolled = _steps(big, lambda: _latest(big, delimiter="/", max_keys=1000))
    assert _latest(big, delimiter="/", max_keys=1000).prefixes == [f"f{n:03d}/" for n in range(100)]
    # 100 prefixes over 20,000 keys cost less than listing 1,000 plain keys.
    assert rolled < _steps(big, lambda: _latest(big, max_keys=1000))
