"""The execution engine: runs Python Lambda handlers in forked, warm workers.

``Engine.invoke(spec, request)`` is the whole public path:

1. find the warm pool of ``(function ARN, version, revision)``; a new revision
   retires the pools of older ones;
2. take its most recently used idle environment, or — within the function's
   reserved concurrency and the engine's ``max_workers`` — ask the zygote to
   fork a new one and wait for its init (``Throttled`` otherwise);
3. send the invoke frame, wait for the result within the function's timeout
   while the worker's output is collected, and wrap it in Lambda's
   ``START``/``END``/``REPORT`` lines.

A timeout kills the worker (``Sandbox.Timedout``); a worker that dies during a
call yields ``Runtime.ExitError``; either way the next call gets a fresh
environment.  A background reaper (owned by ``start``/``stop``) removes
environments idle for longer than ``keep_warm_s``.

Limits, checked before a new environment is forked: the function's reserved
concurrency, the account concurrency (``account_concurrency``, AWS's default
1000), ``max_workers`` and the global ``memory_budget_mb`` (the sum of the
MemorySize of every live environment); idle environments are evicted (least
recently used first, provisioned ones last) before anything is throttled.
``invoke(..., wait_s=…)`` queues instead of throwing (asynchronous events).
Provisioned concurrency (``provision``) keeps N initialized environments per
version; SnapStart versions fork from a snapshot worker (``snapstart.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cloudlet.engine import snapstart
from cloudlet.engine.control import ZygoteClient, ZygoteError
from cloudlet.engine.environment import BUSY, IDLE, STARTING, Environment
from cloudlet.engine.pool import Pool, pool_key, unqualified_arn
from cloudlet.engine.protocol import ProtocolError
from cloudlet.engine.types import FunctionSpec, InvokeRequest, InvokeResult, Throttled

log = logging.getLogger(__name__)

#: AWS's default account concurrency quota.
ACCOUNT_CONCURRENCY = 1000
#: Lambda's init phase limit; the function timeout is added on top.
INIT_TIMEOUT_S = 10.0
#: How long to wait for output / exit codes after a worker finished or died.
OUTPUT_GRACE_S = 2.0


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exit status 1"
    if code < 0:
        try:
            name = signal.strsignal(-code) or f"signal {-code}"
        except ValueError:
            name = f"signal {-code}"
        return f"signal: {name.lower()}"
    return f"exit status {code}"


SERVER_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _init_start_line(spec: FunctionSpec, phase: str = "INIT_START") -> str:
    runtime = spec.runtime.replace("python", "python:", 1) if spec.runtime.startswith("python") else spec.runtime
    return (
        f"{phase} Runtime Version: {runtime}.cloudlet\t"
        f"Runtime Version ARN: arn:aws:lambda:{spec.region}::runtime:cloudlet-{spec.runtime}"
    )


def runtime_note(runtime: str) -> str | None:
    """The log line saying a function's runtime runs on the server's interpreter, when they differ."""
    if runtime == SERVER_RUNTIME:
        return None
    version = sys.version.split()[0]
    return f"function runtime {runtime} runs on the server's Python {version} interpreter ({SERVER_RUNTIME})"


class _Outcome:
    """What one phase (init or invoke) of an environment produced."""

    def __init__(self, payload: bytes, *, error: bool, fatal: bool = False, platform_line: str | None = None,
                 status: str | None = None) -> None:  # fmt: skip
        self.payload = payload
        self.error = error
        self.fatal = fatal  # the environment cannot be reused
        self.platform_line = platform_line  # a line the platform adds to the log before END
        self.status = status  # REPORT "Status:" suffix for platform failures


class Engine:
    """Pools of warm execution environments forked from one runtime zygote."""

    def __init__(self, work_dir: Path, *, keep_warm_s: float = 300, max_workers: int = 64,
                 memory_budget_mb: int | None = None, account_concurrency: int = ACCOUNT_CONCURRENCY,
                 private_tmp: bool = True) -> None:  # fmt: skip
        self.work_dir = Path(work_dir)
        self.keep_warm_s = keep_warm_s
        self.max_workers = max_workers
        #: Sum of MemorySize over live environments (``None``/0: unlimited).
        self.memory_budget_mb = memory_budget_mb or None
        self.account_concurrency = account_concurrency
        #: Private ``/tmp`` mounts when permitted (``sandbox``); ``False``: private ``TMPDIR`` only.
        self.private_tmp = private_tmp
        self._waiters: list[asyncio.Future[None]] = []
        self._runtimes_noted: set[str] = set()
        self._provisioners: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._zygote: ZygoteClient | None = None
        self._zygote_lock = asyncio.Lock()
        self._pools: dict[tuple[str, str, str], Pool] = {}
        self._envs: dict[Environment, Pool] = {}
        self._by_pid: dict[int, Environment] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._socket_dir: Path | None = None
        self._counters = {"invocations": 0, "cold_starts": 0, "throttles": 0, "timeouts": 0, "crashes": 0,
                          "evictions": 0, "restores": 0}  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        (self.work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        for leftover in (self.work_dir / "tmp").iterdir():  # environments of a previous run
            shutil.rmtree(leftover, ignore_errors=True)
        await self._start_zygote()
        self._reaper = asyncio.create_task(self._reap_loop(), name="cloudlet-engine-reaper")

    def _socket_path(self) -> Path:
        path = self.work_dir / "zygote.sock"
        if len(str(path)) < 100:
            return path
        if self._socket_dir is None:  # AF_UNIX paths are limited to 108 bytes
            self._socket_dir = Path(tempfile.mkdtemp(prefix="cloudlet-"))
        return self._socket_dir / "zygote.sock"

    async def _start_zygote(self) -> None:
        first = self._zygote is None
        self._zygote = ZygoteClient(self._socket_path(), self._on_exit)
        await self._zygote.start()
        if first and self.private_tmp and not self._zygote.private_tmp:
            log.warning("mount namespaces are not permitted: functions share the host's /tmp (TMPDIR is private)")

    async def _ensure_zygote(self) -> ZygoteClient:
        async with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive:
                if self._zygote is not None:
                    await self._zygote.kill()
                await self._start_zygote()
            assert self._zygote is not None
            return self._zygote

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for task in self._provisioners.values():
            task.cancel()
        self._provisioners.clear()
        for pool in self._pools.values():
            pool.close()
            await snapstart.close(pool)
        self._pools.clear()
        envs = list(self._envs)
        for env in envs:
            self._dispose(env)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=OUTPUT_GRACE_S + 1)
        if self._zygote is not None:
            await self._zygote.stop()
        for task in list(self._tasks):
            task.cancel()
        for env in envs:
            env.close_pipe()
            shutil.rmtree(env.tmp_dir, ignore_errors=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    async def _reap_loop(self) -> None:
        interval = max(0.05, min(5.0, self.keep_warm_s / 4))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for pool in list(self._pools.values()):
                for env in pool.expired(now, self.keep_warm_s):
                    self._dispose(env)
                snapshot = pool.snapshot
                if (snapshot is not None and snapshot.ready and pool.size == 0 and not pool.provisioned
                        and now - snapshot.last_used >= self.keep_warm_s):  # fmt: skip
                    self._spawn(snapstart.close(pool))  # scale to zero: the snapshot goes too

    def _on_exit(self, pid: int, code: int) -> None:
        env = self._by_pid.get(pid)
        if env is None:
            return
        env.exit_code = code
        if env.state == IDLE:  # died between invocations: drop it
            self._dispose(env)

    # ------------------------------------------------------------------ pools

    def _pool(self, spec: FunctionSpec) -> Pool:
        key = pool_key(spec)
        pool = self._pools.get(key)
        if pool is None:
            for other_key in [k for k in self._pools if k[:2] == key[:2]]:  # older revisions
                self._close_pool(other_key)
            pool = self._pools[key] = Pool(key)
        return pool

    def _close_pool(self, key: tuple[str, str, str]) -> None:
        pool = self._pools.pop(key)
        task = self._provisioners.pop(key, None)
        if task is not None:
            task.cancel()
        for env in pool.close():
            self._dispose(env)
        if pool.snapshot is not None:
            self._spawn(snapstart.close(pool))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ capacity

    def _in_flight(self) -> int:
        return sum(1 for env in self._envs if env.state in (STARTING, BUSY))

    def memory_in_use_mb(self) -> int:
        return sum(env.spec.memory_mb for env in self._envs)

    def _evict_for(self, memory_mb: int) -> None:
        """Make room for one more environment: evict idle ones (unprovisioned, least recently used first)."""
        def over() -> bool:
            if len(self._envs) >= self.max_workers:
                return True
            budget = self.memory_budget_mb
            return budget is not None and self.memory_in_use_mb() + memory_mb > budget

        while over():
            idle = [e for e in self._envs if e.state == IDLE]
            victim = min(idle, key=lambda e: (e.provisioned, e.last_used), default=None)
            if victim is None:
                raise Throttled("ConcurrentInvocationLimitExceeded")
            self._counters["evictions"] += 1
            self._dispose(victim)

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _reserve_waiting(self, pool: Pool, spec: FunctionSpec, wait_s: float) -> Environment:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return self._reserve(pool, spec)
            except Throttled:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or pool.closed:
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            pool.queued += 1
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                pool.queued -= 1

    def _reserve(self, pool: Pool, spec: FunctionSpec) -> Environment:
        if spec.reserved_concurrency is not None:
            in_flight = sum(
                1 for env, p in self._envs.items() if env.state in (STARTING, BUSY) and p.function == pool.function
            )
            if in_flight >= spec.reserved_concurrency:
                raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        if self._in_flight() >= self.account_concurrency:
            raise Throttled("ConcurrentInvocationLimitExceeded")
        while (env := pool.take_idle()) is not None:
            if env.probe():
                return env
            self._dispose(env)  # died while idle; its exit report has not arrived yet
        return self._new_env(pool, spec)

    def _new_env(self, pool: Pool, spec: FunctionSpec) -> Environment:
        self._evict_for(spec.memory_mb)
        env = Environment(pool.key, spec, str(self.work_dir / "tmp" / uuid.uuid4().hex))
        pool.add_starting(env)
        self._envs[env] = pool
        return env

    def _dispose(self, env: Environment) -> None:
        pool = self._envs.pop(env, None)
        if pool is not None:
            pool.remove(env)
            if env.provisioned and pool.provisioned and not pool.closed:
                self._spawn(self._top_up_soon(pool, env.spec))
        env.kill()
        self._wake_waiters()
        task = asyncio.create_task(self._finalize(env))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finalize(self, env: Environment) -> None:
        """After the worker is gone: reap bookkeeping, close its pipe, remove its private tmp."""
        client = env.client or self._zygote
        if env.pid is not None and client is not None:
            if client.alive:  # a closed snapshot's fork server reports no more exits
                with contextlib.suppress(asyncio.TimeoutError, ZygoteError):
                    await asyncio.wait_for(asyncio.shield(client.exit_status(env.pid)), OUTPUT_GRACE_S)
            client.forget(env.pid)
            if self._by_pid.get(env.pid) is env:
                del self._by_pid[env.pid]
        env.close_pipe()
        await asyncio.to_thread(shutil.rmtree, env.tmp_dir, True)

    # ------------------------------------------------------------------ invoke

    async def invoke(self, spec: FunctionSpec, request: InvokeRequest, *, wait_s: float = 0.0) -> InvokeResult:
        """Run one invocation; ``wait_s`` > 0 queues for up to that long instead of throttling at once."""
        if spec.runtime not in self._runtimes_noted:
            self._runtimes_noted.add(spec.runtime)
            note = runtime_note(spec.runtime)
            if note:
                log.warning("%s", note)
        pool = self._pool(spec)
        try:
            env = await self._reserve_waiting(pool, spec, wait_s) if wait_s > 0 else self._reserve(pool, spec)
        except Throttled:
            self._counters["throttles"] += 1
            raise
        self._counters["invocations"] += 1
        try:
            result, reusable = await self._run(env, spec, request)
        except BaseException:
            self._dispose(env)
            raise
        if not (reusable and pool.release(env)):
            self._dispose(env)
        else:
            self._wake_waiters()
        return result

    async def _run(self, env: Environment, spec: FunctionSpec, request: InvokeRequest) -> tuple[InvokeResult, bool]:
        init_lines: list[tuple[int, str]] = []
        if env.init_lines:  # initialized ahead of this call (provisioned concurrency)
            init_lines, env.init_lines = env.init_lines, []
        if env.state == STARTING:
            self._counters["cold_starts"] += 1
            booted_at = int(time.time() * 1000)
            failure = await self._boot(env, spec, request)
            phase = "RESTORE_START" if env.restored else "INIT_START"
            init_lines = [(booted_at, _init_start_line(spec, phase)), *env.take_lines()]
            if env.restored and env.init_ms is not None:
                init_lines.append((int(time.time() * 1000), f"RESTORE_REPORT Restore Duration: {env.init_ms:.2f} ms"))
            if failure is not None:
                return self._result(spec, env, request, init_lines, [], failure, 0.0), False
            owner = self._envs.get(env)
            if owner is not None:
                owner.mark_busy(env)
        outcome, duration_ms = await self._call(env, spec, request)
        lines = env.take_lines()
        return self._result(spec, env, request, init_lines, lines, outcome, duration_ms), not outcome.fatal

    def _worker_spec(self, spec: FunctionSpec, env: Environment) -> dict[str, Any]:
        init_type = "on-demand"
        if env.provisioned:
            init_type = "provisioned-concurrency"
        elif spec.snap_start and spec.version != "$LATEST":
            init_type = "snap-start"
        return {
            "initialization_type": init_type,
            "private_tmp": bool(self.private_tmp and self._zygote and self._zygote.private_tmp),
            "function_name": spec.function_name,
            "version": spec.version,
            "handler": spec.handler,
            "runtime": spec.runtime,
            "code_dir": str(Path(spec.code_dir).resolve()),
            "layer_dirs": [str(Path(d).resolve()) for d in spec.layer_dirs],
            "environment": dict(spec.environment),
            "memory_mb": spec.memory_mb,
            "timeout_s": spec.timeout_s,
            "region": spec.region,
            "account_id": spec.account_id,
            "endpoint_url": spec.endpoint_url,
            "access_key_id": spec.access_key_id,
            "secret_access_key": spec.secret_access_key,
            "log_group": spec.log_group or f"/aws/lambda/{spec.function_name}",
            "log_stream": env.log_stream,
            "tmp_dir": env.tmp_dir,
            "marker": env.marker,
        }

    async def _boot(self, env: Environment, spec: FunctionSpec, request: InvokeRequest) -> _Outcome | None:
        """Fork and init a worker; an outcome describes why it failed, ``None`` means ready."""
        started = time.perf_counter()
        pool = self._envs.get(env)
        if spec.snap_start and spec.version != "$LATEST" and pool is not None:
            client, failure = await snapstart.ensure(self, pool, spec, request, env)
            if failure is not None:
                return failure
            assert client is not None
            started = time.perf_counter()
            try:
                pid, chan, out_fd = await client.fork(self._worker_spec(spec, env))
            except ZygoteError:
                await snapstart.close(pool)
                client, failure = await snapstart.ensure(self, pool, spec, request, env)
                if failure is not None or client is None:
                    return failure
                pid, chan, out_fd = await client.fork(self._worker_spec(spec, env))
            zygote = client
            self._counters["restores"] += 1
        else:
            try:
                zygote = await self._ensure_zygote()
                pid, chan, out_fd = await zygote.fork(self._worker_spec(spec, env))
            except ZygoteError:  # it died since the last fork: start a new one, once
                zygote = await self._ensure_zygote()
                pid, chan, out_fd = await zygote.fork(self._worker_spec(spec, env))
        self._by_pid[pid] = env
        env.client = zygote
        env.exited = zygote.exit_status(pid)
        await env.attach(pid, chan, out_fd)
        timeout = INIT_TIMEOUT_S + spec.timeout_s
        try:
            header, body = await env.read(timeout)
        except TimeoutError:
            env.init_ms = (time.perf_counter() - started) * 1000
            env.kill()
            await env.wait_output(None, OUTPUT_GRACE_S)
            return self._timeout_outcome(request, timeout)
        except (EOFError, ProtocolError):
            env.init_ms = (time.perf_counter() - started) * 1000
            return await self._crash_outcome(env, request)
        env.init_ms = (time.perf_counter() - started) * 1000
        await env.wait_output("init", OUTPUT_GRACE_S)
        if header.get("type") == "init_error":
            error = json.loads(body)
            return _Outcome(body, error=True, fatal=True, status=f"error\tError Type: {error.get('errorType')}")
        env.restored = bool(header.get("restored"))
        return None

    async def _call(self, env: Environment, spec: FunctionSpec, request: InvokeRequest) -> tuple[_Outcome, float]:
        header = {
            "type": "invoke",
            "request_id": request.request_id,
            "invoked_function_arn": request.invoked_function_arn,
            "deadline_ms": int(time.time() * 1000 + spec.timeout_s * 1000),
            "client_context": request.client_context,
            "cognito_identity": request.cognito_identity,
            "trace_id": request.trace_id,
        }
        started = time.perf_counter()
        try:
            await env.send(header, request.payload)
            reply, body = await env.read(spec.timeout_s)
        except TimeoutError:
            duration = (time.perf_counter() - started) * 1000
            self._counters["timeouts"] += 1
            env.read_peak_rss()
            env.kill()
            await env.wait_output(None, OUTPUT_GRACE_S)
            return self._timeout_outcome(request, spec.timeout_s), duration
        except (EOFError, ProtocolError):
            duration = (time.perf_counter() - started) * 1000
            return await self._crash_outcome(env, request), duration
        duration = (time.perf_counter() - started) * 1000
        env.maxrss_kb = int(reply.get("maxrss_kb") or env.maxrss_kb)
        await env.wait_output(request.request_id, OUTPUT_GRACE_S)
        fatal = bool(reply.get("fatal"))
        status = "error\tError Type: Runtime.OutOfMemory" if fatal else None
        return _Outcome(body, error=not reply.get("ok"), fatal=fatal, status=status), duration

    def _timeout_outcome(self, request: InvokeRequest, timeout_s: float) -> _Outcome:
        message = f"{_iso_now()} {request.request_id} Task timed out after {timeout_s:.2f} seconds"
        payload = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}).encode()
        return _Outcome(payload, error=True, fatal=True, platform_line=message, status="timeout")

    async def _crash_outcome(self, env: Environment, request: InvokeRequest) -> _Outcome:
        self._counters["crashes"] += 1
        code = env.exit_code
        client = env.client or self._zygote
        if code is None and env.pid is not None and client is not None:
            with contextlib.suppress(asyncio.TimeoutError, ZygoteError):
                code = await asyncio.wait_for(asyncio.shield(client.exit_status(env.pid)), OUTPUT_GRACE_S)
        env.kill()
        await env.wait_output(None, OUTPUT_GRACE_S)
        message = f"RequestId: {request.request_id} Error: Runtime exited with error: {_exit_reason(code)}"
        payload = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
        return _Outcome(payload, error=True, fatal=True, platform_line=message,
                        status="error\tError Type: Runtime.ExitError")  # fmt: skip

    def _result(self, spec: FunctionSpec, env: Environment, request: InvokeRequest,
                init_lines: list[tuple[int, str]], lines: list[tuple[int, str]],
                outcome: _Outcome, duration_ms: float) -> InvokeResult:  # fmt: skip
        init_ms = None
        if env.provisioned:
            env.init_reported = True  # initialized ahead of time: no Init Duration, as on AWS
        if not env.init_reported and env.init_ms is not None:
            init_ms, env.init_reported = env.init_ms, True
        rid = request.request_id
        now = int(time.time() * 1000)
        events = list(init_lines)
        events.append((lines[0][0] if lines else now, f"START RequestId: {rid} Version: {spec.version}"))
        events += lines
        if outcome.platform_line:
            events.append((now, outcome.platform_line))
        events.append((now, f"END RequestId: {rid}"))
        billed = max(1, math.ceil(duration_ms))
        used_mb = math.ceil(env.maxrss_kb / 1024) if env.maxrss_kb else 0
        if outcome.status and "OutOfMemory" in outcome.status:
            used_mb = max(used_mb, spec.memory_mb)
        report = (
            f"REPORT RequestId: {rid}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {spec.memory_mb} MB\tMax Memory Used: {used_mb} MB"
        )
        if init_ms is not None and env.restored:
            report += f"\tRestore Duration: {init_ms:.2f} ms\tBilled Restore Duration: {math.ceil(init_ms)} ms"
        elif init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if outcome.status:
            report += f"\tStatus: {outcome.status}"
        events.append((now, report))
        return InvokeResult(
            payload=outcome.payload,
            function_error="Unhandled" if outcome.error else None,
            log_events=events,
            log_stream=env.log_stream,
            duration_ms=round(duration_ms, 2),
            billed_duration_ms=billed,
            init_duration_ms=None if init_ms is None else round(init_ms, 2),
            max_memory_used_mb=used_mb,
        )

    # ------------------------------------------------------------------ management

    async def discard(self, function_arn_prefix: str) -> None:
        """Drop the warm environments of every pool whose function ARN starts with the prefix.

        The prefix must end at a ``:`` boundary (``…:function:f`` does not match ``…:function:f2``).
        """
        prefix = function_arn_prefix
        for key in list(self._pools):
            arn = key[0]
            if arn == prefix or (arn.startswith(prefix) and (prefix.endswith(":") or arn[len(prefix)] == ":")):
                self._close_pool(key)

    # ------------------------------------------------------------------ provisioned concurrency, SnapStart

    async def provision(self, spec: FunctionSpec, count: int) -> None:
        """Keep ``count`` initialized environments of this version; 0 hands them back to the reaper."""
        pool = self._pool(spec)
        pool.provisioned = max(0, count)
        pool.provision_error = None
        kept = 0
        for env in [*pool.busy, *pool.idle]:
            if env.provisioned:
                kept += 1
                env.provisioned = kept <= pool.provisioned
        if pool.provisioned == 0:
            task = self._provisioners.pop(pool.key, None)
            if task is not None:
                task.cancel()
            return
        self._start_provisioner(pool, spec)

    def provisioned_status(self, spec: FunctionSpec) -> tuple[int, int, str | None]:
        """``(requested, ready, error)`` of this version's provisioned concurrency."""
        pool = self._pools.get(pool_key(spec))
        if pool is None:
            return 0, 0, None
        stats = pool.statistics()
        return stats.provisioned, stats.provisioned_ready, pool.provision_error

    async def prepare(self, spec: FunctionSpec) -> str | None:
        """Create the SnapStart snapshot of a published version now; returns an error message or ``None``."""
        if not spec.snap_start or spec.version == "$LATEST":
            return None
        pool = self._pool(spec)
        request = InvokeRequest(request_id=str(uuid.uuid4()), payload=b"", invoked_function_arn=spec.function_arn)
        _, failure = await snapstart.ensure(self, pool, spec, request, None)
        return None if failure is None else failure.payload.decode(errors="replace")

    def _start_provisioner(self, pool: Pool, spec: FunctionSpec) -> None:
        task = self._provisioners.get(pool.key)
        if task is None or task.done():
            self._provisioners[pool.key] = asyncio.create_task(self._provision_loop(pool, spec))

    async def _top_up_soon(self, pool: Pool, spec: FunctionSpec) -> None:
        await asyncio.sleep(0)
        if not pool.closed and pool.provisioned and self._pools.get(pool.key) is pool:
            self._start_provisioner(pool, spec)

    async def _provision_loop(self, pool: Pool, spec: FunctionSpec) -> None:
        while not pool.closed and pool.provisioned:
            have = sum(1 for e in (*pool.idle, *pool.busy) if e.provisioned and e.alive)
            missing = pool.provisioned - have
            if missing <= 0:
                return
            for env in [e for e in pool.idle if not e.provisioned][:missing]:  # already initialized: adopt
                env.provisioned = True
                missing -= 1
            envs: list[Environment] = []
            for _ in range(missing):
                try:
                    envs.append(self._new_env(pool, spec))
                except Throttled:
                    break
            for env in envs:
                env.provisioned = True
            request = InvokeRequest(request_id="provisioned", payload=b"", invoked_function_arn=spec.function_arn)
            booted_at = int(time.time() * 1000)
            failures = await asyncio.gather(*(self._boot(env, spec, request) for env in envs), return_exceptions=True)
            for env, failure in zip(envs, failures, strict=True):
                if failure is None:
                    phase = "RESTORE_START" if env.restored else "INIT_START"
                    env.init_lines = [(booted_at, _init_start_line(spec, phase)), *env.take_lines()]
                    env.init_reported = True
                    if not pool.release(env):
                        self._dispose(env)
                else:
                    env.provisioned = False
                    if isinstance(failure, _Outcome):
                        pool.provision_error = failure.payload.decode(errors="replace")
                    self._dispose(env)
            self._wake_waiters()
            if pool.provision_error is not None:
                return
            if len(envs) < missing:
                await asyncio.sleep(1.0)  # out of capacity: try again shortly

    def statistics(self) -> dict[str, Any]:
        states = [env.state for env in self._envs]
        return {
            "memory_in_use_mb": self.memory_in_use_mb(),
            "memory_budget_mb": self.memory_budget_mb,
            "account_concurrency": self.account_concurrency,
            "stray_lines": sum(env.stray_lines for env in self._envs),
            "zygote_pid": self._zygote.pid if self._zygote else None,
            "zygote_boot_ms": self._zygote.boot_ms if self._zygote else None,
            "workers": len(states),
            "busy": states.count(BUSY),
            "idle": states.count(IDLE),
            "starting": states.count(STARTING),
            "max_workers": self.max_workers,
            **self._counters,
            "pools": [asdict(pool.statistics()) for pool in self._pools.values()],
            "functions": sorted({unqualified_arn(k[0]) for k in self._pools}),
        }
