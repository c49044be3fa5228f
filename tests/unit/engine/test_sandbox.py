"""Worker isolation helpers that need no fork: /tmp bookkeeping, SnapStart hooks, output capture."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from cloudlet.engine import snapshot_restore
from cloudlet.engine.environment import (
    MAX_LINE_BYTES,
    MAX_PHASE_LOG_BYTES,
    Environment,
    _OutputReader,
)
from cloudlet.engine.sandbox import paths_to_keep, tmp_top
from cloudlet.engine.types import FunctionSpec


def test_tmp_top_and_paths_to_keep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tmp_top("/var/lib/cloudlet/engine/tmp/x") == ""
    assert tmp_top("/tmp/pytest-of-root/a/b") == "/tmp/pytest-of-root"
    inner = Path("/tmp") / f"cloudlet-keep-{tmp_path.name}"
    (inner / "code").mkdir(parents=True, exist_ok=True)
    try:
        monkeypatch.setattr(sys, "path", ["/usr/lib/python3"])
        kept = paths_to_keep([str(inner / "code"), str(inner), "/usr", "/tmp"])
        assert str(inner) in kept and str(inner / "code") not in kept  # outermost only; /tmp itself never
        assert "/usr" not in kept and "/tmp" not in kept
    finally:
        (inner / "code").rmdir()
        inner.rmdir()


def test_snapshot_restore_hooks_register_as_calls_and_decorators() -> None:
    snapshot_restore.reset()
    seen: list[str] = []

    @snapshot_restore.register_before_snapshot
    def before() -> None:
        seen.append("before")

    snapshot_restore.register_after_restore(seen.append, "after")
    assert before.__name__ == "before"  # the decorator returns the function
    snapshot_restore.run_before_snapshot()
    snapshot_restore.run_after_restore()
    assert seen == ["before", "after"]
    assert len(snapshot_restore.get_before_snapshot()) == len(snapshot_restore.get_after_restore()) == 1
    snapshot_restore.reset()


def _env() -> Environment:
    spec = FunctionSpec("f", "arn:aws:lambda:us-east-1:1:function:f", "$LATEST", "r", "app.h", "python3.12", Path("."))
    return Environment(("a", "b", "c"), spec, "/nonexistent")


def test_output_is_attributed_by_markers_and_capped() -> None:
    async def main() -> None:
        env = _env()
        reader = _OutputReader(env)
        marker = env.marker.encode()
        reader.data_received(b"init line\n\n" + marker + b"init\n")
        assert [line for _, line in env.take_lines()] == ["init line"]
        reader.data_received(b"stray between calls\n")  # nobody's line: dropped
        reader.data_received(b"partial-" + marker + b"begin\n" + b"mine\n")
        reader.data_received(b"z" * (MAX_LINE_BYTES + 10) + b"tail\n")
        reader.data_received(b"\n" + marker + b"req-1\n" + b"after end\n")
        lines = [line for _, line in env.take_lines()]
        assert lines[0] == "mine" and lines[1] == "z" * MAX_LINE_BYTES
        assert "truncated: 14 bytes dropped" in lines[-1] and len(lines) == 3
        assert env.stray_lines == 3  # "stray between calls", "partial-", "after end"
        reader.data_received(marker + b"begin\n")
        for _ in range(MAX_PHASE_LOG_BYTES // 1000 + 10):
            reader.data_received(b"x" * 999 + b"\n")
        lines = [line for _, line in env.take_lines()]
        assert sum(len(line) + 1 for line in lines[:-1]) <= MAX_PHASE_LOG_BYTES
        assert "log output truncated" in lines[-1]

    asyncio.run(main())
