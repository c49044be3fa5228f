"""Point writes committed on the event loop survive SIGKILL of the writing process, like any write.

A child process writes through ``Database.point_write``: one writer alone
(so every job commits on the loop) and a few at once (so some queue for the
writer thread).  It prints each id as soon as its ``await`` returned; the
parent kills it with SIGKILL mid-flight and checks every acknowledged id.
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

from cloudlet.storage import Database, Migration

MIGRATION = Migration("0001", "CREATE TABLE acks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from cloudlet.storage import Database, Migration

    async def writer(db, start, step):
        i = start
        while True:
            await db.point_write(lambda conn, i=i: conn.execute("INSERT INTO acks VALUES (?, ?)", (i, "x" * 100)))
            sys.stdout.write(f"{i}\\n")
            sys.stdout.flush()
            i += step

    async def main():
        db = Database(Path(sys.argv[1]), [Migration("0001", "CREATE TABLE acks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")])
        await db.open()
        sys.stdout.write("ready\\n")
        sys.stdout.flush()
        if sys.argv[2] == "alone":
            await writer(db, 0, 1)
        else:
            await asyncio.gather(*(writer(db, k, 4) for k in range(4)))

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("mode", ["alone", "concurrent"])
def test_acknowledged_point_writes_survive_kill_9(tmp_path: Path, mode: str) -> None:
    db_path = tmp_path / "kill.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    src = Path(__file__).resolve().parents[3] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, str(script), str(db_path), mode], stdout=subprocess.PIPE, env=env)
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
        os.kill(child.pid, signal.SIGKILL)  # mid-flight: writes are still being issued
        acked.extend(int(line) for line in child.stdout.read().split())
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 500

    async def stored() -> set[int]:
        db = Database(db_path, [MIGRATION])
        await db.open()
        try:
            return {row["id"] for row in await db.fetchall("SELECT id FROM acks")}
        finally:
            await db.close()

    missing = set(acked) - asyncio.run(stored())
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:10]}"
