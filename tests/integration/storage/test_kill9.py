"""Every acknowledged write survives SIGKILL of the writing process.

A child Python process writes through ``Database`` (many concurrent small
writes, group-committed) and prints the id of each write as soon as its
``await`` returned.  The parent kills the child with SIGKILL while it is still
writing, reopens the database and checks every id the child acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

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
    src = Path(__file__).resolve().parents[3] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, str(script), str(db_path), str(blob_root)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    acked: list[int] = []
    try:
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline or len(acked) < 500:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(int(line))
            if len(acked) > 200_000:
                break
        os.kill(child.pid, signal.SIGKILL)  # mid-flight: writes are still being issued
        # Acknowledgements already in the pipe count too.
        acked.extend(int(line) for line in child.stdout.read().split())
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 500

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
