"""SnapStart: environments of a published version fork from a worker that already ran init.

The *snapshot worker* of a pool is forked by the runtime zygote like any
environment, with ``spec["snapshot"] = <socket path>``.  It imports the
handler module (init), runs the ``snapshot_restore_py`` before-snapshot hooks,
reports ``ready`` and then serves fork requests on that socket with the same
protocol as the zygote (``zygote.Zygote``).  Each child it forks is a
*restored* environment: it takes its own session, log pipe, private ``/tmp``
and environment variables, runs the after-restore hooks and serves
invocations; its ``REPORT`` shows ``Restore Duration`` instead of
``Init Duration``.  Copy-on-write fork is Cloudlet's snapshot: restoring costs
a fork, not a re-import.

A snapshot whose init fails yields that failure for the invocation that asked
for it and is retried on the next one.  A snapshot nothing was restored from
for ``keep_warm_s``, with no environments left, is dropped by the reaper.  Closing the pool closes the snapshot's
control socket, which kills the snapshot worker and every environment it forked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlet.engine.control import ZygoteClient, ZygoteError
from cloudlet.engine.environment import Environment
from cloudlet.engine.protocol import ProtocolError
from cloudlet.engine.types import FunctionSpec, InvokeRequest

if TYPE_CHECKING:
    from cloudlet.engine.engine import Engine, _Outcome
    from cloudlet.engine.pool import Pool


class Snapshot:
    """The snapshot worker of one pool and the fork client connected to it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.ready = False
        self.client: ZygoteClient | None = None
        self.env: Environment | None = None
        self.socket_dir: Path | None = None  # a private temp dir when the work dir path is too long
        self.socket_path: Path | None = None
        self.init_ms: float | None = None
        #: When an environment was last restored from it (the reaper drops unused snapshots).
        self.last_used = time.monotonic()


def _socket_path(engine: Engine, snap: Snapshot) -> Path:
    name = f"snap-{uuid.uuid4().hex[:12]}.sock"
    path = engine.work_dir / name
    if len(str(path)) >= 100:
        snap.socket_dir = Path(tempfile.mkdtemp(prefix="cloudlet-snap-"))
        path = snap.socket_dir / name
    return path


async def ensure(engine: Engine, pool: Pool, spec: FunctionSpec, request: InvokeRequest,
                 target: Environment | None) -> tuple[ZygoteClient | None, _Outcome | None]:  # fmt: skip
    """The fork client of the pool's snapshot, creating the snapshot if needed; or why that failed.

    On failure the snapshot's init log is handed to ``target`` (the environment that wanted it).
    """
    snap = pool.snapshot
    if snap is None:
        snap = pool.snapshot = Snapshot()
    async with snap.lock:
        if snap.ready and snap.client is not None and snap.client.alive:
            snap.last_used = time.monotonic()
            return snap.client, None
        await _teardown(snap)
        failure, lines = await _create(engine, snap, spec, request)
        if failure is not None:
            if target is not None:
                target._lines[:0] = lines
            await _teardown(snap)
            return None, failure
        return snap.client, None


async def _create(engine: Engine, snap: Snapshot, spec: FunctionSpec,
                  request: InvokeRequest) -> tuple[_Outcome | None, list[tuple[int, str]]]:  # fmt: skip
    from cloudlet.engine.engine import INIT_TIMEOUT_S, OUTPUT_GRACE_S, _Outcome

    zygote = await engine._ensure_zygote()
    env = Environment(("snapshot", spec.function_arn, spec.revision), spec,
                      str(engine.work_dir / "tmp" / uuid.uuid4().hex))  # fmt: skip
    snap.env = env
    path = snap.socket_path = _socket_path(engine, snap)
    worker_spec: dict[str, Any] = engine._worker_spec(spec, env)
    worker_spec["snapshot"] = str(path)
    worker_spec["initialization_type"] = "snap-start"
    pid, chan, out_fd = await zygote.fork(worker_spec)
    env.client = zygote
    env.exited = zygote.exit_status(pid)
    await env.attach(pid, chan, out_fd)
    timeout = INIT_TIMEOUT_S + spec.timeout_s
    try:
        header, body = await env.read(timeout)
    except TimeoutError:
        env.kill()
        await env.wait_output(None, OUTPUT_GRACE_S)
        return engine._timeout_outcome(request, timeout), env.take_lines()
    except (EOFError, ProtocolError):
        return await engine._crash_outcome(env, request), env.take_lines()
    await env.wait_output("init", OUTPUT_GRACE_S)
    lines = env.take_lines()
    if header.get("type") == "init_error":
        error = json.loads(body)
        status = f"error\tError Type: {error.get('errorType')}"
        return _Outcome(body, error=True, fatal=True, status=status), lines
    client = ZygoteClient(path, engine._on_exit)
    try:
        await client.connect(pid)
    except OSError:
        return await engine._crash_outcome(env, request), lines
    snap.client, snap.ready = client, True
    snap.last_used = time.monotonic()
    snap.init_ms = float(header.get("init_ms") or 0.0)
    return None, lines


async def _teardown(snap: Snapshot) -> None:
    snap.ready = False
    client, snap.client = snap.client, None
    if client is not None:
        with contextlib.suppress(ZygoteError, OSError):
            await client.stop()  # the snapshot worker kills its children and exits
    env, snap.env = snap.env, None
    if env is not None:
        env.kill()
        env.close_pipe()
        if env.client is not None and env.pid is not None:
            env.client.forget(env.pid)
        await asyncio.to_thread(shutil.rmtree, env.tmp_dir, True)
    if snap.socket_path is not None:
        with contextlib.suppress(OSError):
            snap.socket_path.unlink()
        snap.socket_path = None
    if snap.socket_dir is not None:
        shutil.rmtree(snap.socket_dir, ignore_errors=True)
        snap.socket_dir = None


async def close(pool: Pool) -> None:
    """Drop the pool's snapshot (and with it every environment forked from it)."""
    snap, pool.snapshot = pool.snapshot, None
    if snap is not None:
        async with snap.lock:
            await _teardown(snap)
