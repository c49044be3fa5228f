"""Every acknowledged write survives SIGKILL of the writing process.

A child Python process writes through ``Database`` (many concurrent small
writes, group-committed) and prints the id of each write as soon as its
``await`` returned.  The parent kills the child with SIGKILL while it is still
writing, reopens the database and checks every id the child acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path

import pytest
from tests.integration.storage.killing import acknowledged_before_kill

from cloudlet.storage import BlobStore, Database, Migration

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from cloudlet.storage import BlobStore, Database, Migration

    MIGRATIONS = [Migration("0001", "CREATE TABLE acks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")]

    async def writer(db, blobs, start, step):
        i = start
        while True:
            await db.execute("INSERT INTO acks (id, body) VALUES (?, ?)", (i, "x" * 100))
            if i % 50 == 0:
                await asyncio.to_thread(blobs.put, f"b/{i}", str(i).encode())
            sys.stdout.write(f"{i}\\n")
            sys.stdout.flush()
            i += step

    async def main():
        db = Database(Path(sys.argv[1]), MIGRATIONS)
        await db.open()
        blobs = BlobStore(Path(sys.argv[2]))
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        await asyncio.gather(*(writer(db, blobs, k, 8) for k in range(8)))

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db_path = tmp_path / "kill.db"
    blob_root = tmp_path / "blobs"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    acked = acknowledged_before_kill(script, str(db_path), str(blob_root))

    async def stored() -> set[int]:
        db = Database(db_path, [Migration("0001", "CREATE TABLE acks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")])
        await db.open()
        try:
            return {row["id"] for row in await db.fetchall("SELECT id FROM acks")}
        finally:
            await db.close()

    ids = asyncio.run(stored())
    missing = set(acked) - ids
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:10]}"
    blobs = BlobStore(blob_root)
    for i in acked:
        if i % 50 == 0:
            assert blobs.get(f"b/{i}") == str(i).encode()
