"""Point writes committed on the event loop survive SIGKILL of the writing process, like any write.

A child process writes through ``Database.point_write``: one writer alone
(so every job commits on the loop) and a few at once (so some queue for the
writer thread).  It prints each id as soon as its ``await`` returned; the
parent kills it with SIGKILL mid-flight and checks every acknowledged id.
"""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path

import pytest
from tests.integration.storage.killing import acknowledged_before_kill

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
    acked = acknowledged_before_kill(script, str(db_path), mode)

    async def stored() -> set[int]:
        db = Database(db_path, [MIGRATION])
        await db.open()
        try:
            return {row["id"] for row in await db.fetchall("SELECT id FROM acks")}
        finally:
            await db.close()

    missing = set(acked) - asyncio.run(stored())
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:10]}"
