"""Run a child that acknowledges writes line by line, and SIGKILL it mid-flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def acknowledged_before_kill(script: Path, *args: str, at_least: int = 500) -> list[int]:
    """Start ``script`` (it prints ``ready``, then the id of each write whose ``await`` returned),
    kill it with SIGKILL after a second and ``at_least`` acknowledgements, and return every id it
    acknowledged — those already in the pipe included."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    acked: list[int] = []
    try:
        assert child.stdout.readline().strip() == b"ready"
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline or len(acked) < at_least:
            line = child.stdout.readline()
            if not line:
                break
            acked.append(int(line))
            if len(acked) > 200_000:
                break
        os.kill(child.pid, signal.SIGKILL)  # mid-flight: writes are still being issued
        acked.extend(int(line) for line in child.stdout.read().split())
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= at_least
    return acked
