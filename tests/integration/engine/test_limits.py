"""Engine limits, isolation, pools, provisioned concurrency, SnapStart and log capture (issue 3).

Real zygote, real forked workers.  One shared engine per module for the tests
that need no special limits; the others start their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.engine.test_engine import (
    Loop,
    alive,
    between_start_and_end,
    call,
    lines,
    own_entries,
    spec,
    wait_dead,
)

from cloudlet.engine import Engine, FunctionSpec, InvokeRequest, InvokeResult, Throttled

ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    runner = Loop()
    yield runner
    runner.loop.close()


@pytest.fixture(scope="module")
def engine(loop: Loop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(tmp_path_factory.mktemp("engine"), keep_warm_s=300, max_workers=32)
    loop.run(eng.start())
    yield eng
    loop.run(eng.stop())


def own_engine(loop: Loop, path: Path, **kwargs: Any) -> Engine:
    eng = Engine(path, **kwargs)
    loop.run(eng.start())
    return eng


def request(fn: FunctionSpec, payload: bytes = b"{}") -> InvokeRequest:
    return InvokeRequest(str(uuid.uuid4()), payload, fn.function_arn)


def report(result: InvokeResult) -> str:
    return next(line for line in lines(result) if line.startswith("REPORT "))


# --------------------------------------------------------------------------- crashes


def test_segfault_is_runtime_exit_error_and_harms_nothing(loop: Loop, engine: Engine) -> None:
    fn, other = spec("hostile"), spec("echo")
    _, bystander = call(loop, engine, other, {})
    _, before = call(loop, engine, fn, {})
    result, body = call(loop, engine, fn, {"mode": "segfault"})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: \S+ Error: Runtime exited with error: signal: segmentation fault", body["errorMessage"])
    assert "Status: error\tError Type: Runtime.ExitError" in report(result)
    assert "about to crash" in between_start_and_end(result)
    after, fresh = call(loop, engine, fn, {})
    assert after.function_error is None and fresh["pid"] != before["pid"] and after.init_duration_ms is not None
    _, same = call(loop, engine, other, {})
    assert same["pid"] == bystander["pid"]  # the other function's warm environment is untouched


def test_worker_killed_mid_invocation_gives_exit_error(loop: Loop, engine: Engine) -> None:
    fn = spec("hostile", timeout_s=10)
    _, warm = call(loop, engine, fn, {})

    async def killed() -> InvokeResult:
        task = asyncio.ensure_future(engine.invoke(fn, request(fn, b'{"mode": "sleep", "seconds": 5}')))
        await asyncio.sleep(0.3)
        os.kill(warm["pid"], signal.SIGKILL)
        return await task

    started = time.monotonic()
    result = loop.run(killed())
    assert time.monotonic() - started < 3
    assert result.function_error == "Unhandled"
    assert b"Runtime.ExitError" in result.payload and b"signal: killed" in result.payload
    again, body = call(loop, engine, fn, {})
    assert again.function_error is None and body["pid"] != warm["pid"]


def test_leaked_thread_harms_nothing_and_its_output_between_calls_is_dropped(loop: Loop, engine: Engine) -> None:
    fn = spec("hostile")
    started = time.monotonic()
    call(loop, engine, fn, {"mode": "leak_thread"})
    assert time.monotonic() - started < 2  # the response does not wait for the thread
    loop.run(asyncio.sleep(0.3))  # the thread prints ~30 lines while the environment is idle
    second, body = call(loop, engine, fn, {})
    assert second.function_error is None and body["pid"]
    strays = [line for line in between_start_and_end(second) if line.startswith("stray")]
    assert len(strays) <= 2  # at most what it printed *during* the second call
    assert engine.statistics()["stray_lines"] >= 10
    loop.run(engine.discard(fn.function_arn))


# --------------------------------------------------------------------------- log capture


def test_megabytes_of_output_neither_block_nor_exhaust_memory(loop: Loop, engine: Engine) -> None:
    fn = spec("hostile", timeout_s=20)
    started = time.monotonic()
    result, body = call(loop, engine, fn, {"mode": "print_lines", "count": 20000})  # 20 MB
    assert body == "printed" and time.monotonic() - started < 10
    logged = between_start_and_end(result)
    assert sum(len(line) for line in logged) <= 4 * 1024 * 1024 + 2048
    assert "log output truncated" in logged[-1]
    long, body = call(loop, engine, fn, {"mode": "print_long", "bytes": 3 * 1024 * 1024})
    logged = between_start_and_end(long)
    assert body == "printed"
    assert len(logged[0]) == 256 * 1024 and set(logged[0]) == {"y"}
    assert "after long line" in logged
    small, _ = call(loop, engine, fn, {})
    assert not any("truncated" in line for line in lines(small))


# --------------------------------------------------------------------------- memory


def test_memory_size_is_enforced_beyond_the_runtime_baseline(loop: Loop, engine: Engine) -> None:
    fn = spec("hostile", memory_mb=128)
    ok, size = call(loop, engine, fn, {"mode": "alloc", "mb": 100})
    assert ok.function_error is None and size == 100 * 1024 * 1024
    assert ok.max_memory_used_mb >= 100  # peak resident set: what the handler really touched is in it
    over, body = call(loop, engine, fn, {"mode": "alloc", "mb": 250})  # > MemorySize + allowance
    assert over.function_error == "Unhandled" and body["errorType"] == "Runtime.OutOfMemory"
    big = spec("hostile", memory_mb=512)
    fine, size = call(loop, engine, big, {"mode": "alloc", "mb": 400})
    assert fine.function_error is None and size == 400 * 1024 * 1024


# --------------------------------------------------------------------------- /tmp


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
def test_tmp_is_a_private_mount_per_environment(loop: Loop, engine: Engine, tmp_path: Path) -> None:
    host_file = Path("/tmp") / f"cloudlet-host-{uuid.uuid4().hex}"
    host_file.write_text("host")
    try:
        one, two = spec("hostile"), spec("hostile")
        _, a = call(loop, engine, one, {"mode": "tmp", "name": "a"})
        _, b = call(loop, engine, two, {"mode": "tmp", "name": "b"})
        assert a["tmpdir"] == b["tmpdir"] == "/tmp"
        assert own_entries(a["tmp"], engine) == ["a"] and own_entries(b["tmp"], engine) == ["b"]
        assert host_file.name not in a["tmp"]
        assert not (Path("/tmp") / "a").exists()  # nothing leaks to the host's /tmp
        assert list((engine.work_dir / "tmp").glob("*/a"))  # it lives in the environment's own directory
    finally:
        host_file.unlink()


@pytest.mark.skipif(not ROOT, reason="only a root server has capabilities to drop")
def test_handler_cannot_undo_the_sandbox(loop: Loop, engine: Engine) -> None:
    result, body = call(loop, engine, spec("hostile"), {"mode": "escape"})
    assert result.function_error is None
    assert body == {"unmounted": False, "raised_limit": False}


@pytest.mark.skipif(not ROOT, reason="mount namespaces need root")
def test_code_under_tmp_stays_visible(loop: Loop, engine: Engine, tmp_path: Path) -> None:
    code = tmp_path / "code-in-tmp"
    code.mkdir()
    (code / "app.py").write_text("import os\ndef handler(event, context):\n    return sorted(os.listdir('/tmp'))\n")
    assert str(code).startswith("/tmp/")
    result, listing = call(loop, engine, spec("echo", code_dir=code), {})
    assert result.function_error is None
    assert isinstance(listing, list)


def test_older_runtime_names_run_and_the_server_log_says_so(loop: Loop, engine: Engine,
                                                             caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="cloudlet.engine.engine")
    result, body = call(loop, engine, spec("echo", runtime="python3.9"), {})
    assert result.function_error is None
    assert body["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.9"
    assert lines(result)[0].startswith("INIT_START Runtime Version: python:3.9")
    assert any("python3.9 runs on the server's Python" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- pools and limits


def test_64_concurrent_with_reserved_4(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", max_workers=64)
    try:
        fn = spec("hostile", reserved_concurrency=4, timeout_s=10)
        payload = b'{"mode": "sleep", "seconds": 0.3}'

        async def sync_burst() -> list[Any]:
            return list(await asyncio.gather(*(eng.invoke(fn, request(fn, payload)) for _ in range(64)),
                                             return_exceptions=True))  # fmt: skip

        outcomes = loop.run(sync_burst())
        done = [o for o in outcomes if isinstance(o, InvokeResult)]
        throttled = [o for o in outcomes if isinstance(o, Throttled)]
        assert len(done) == 4 and len(throttled) == 60
        assert {t.reason for t in throttled} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
        assert eng.statistics()["workers"] == 4

        seen_queued: list[int] = []

        async def queued_burst() -> list[Any]:
            tasks = [asyncio.ensure_future(eng.invoke(fn, request(fn, b'{"mode": "sleep", "seconds": 0.05}'), wait_s=30))
                     for _ in range(64)]  # fmt: skip
            await asyncio.sleep(0.05)
            seen_queued.append(eng.statistics()["pools"][0]["queued"])
            return list(await asyncio.gather(*tasks))

        results = loop.run(queued_burst())
        assert all(r.function_error is None for r in results)
        assert seen_queued[0] >= 50
        stats = eng.statistics()
        assert stats["workers"] == 4 and stats["pools"][0]["idle"] == 4 and stats["pools"][0]["queued"] == 0
        assert sum(1 for r in results if r.init_duration_ms is not None) == 0  # all warm: the 4 from before
    finally:
        loop.run(eng.stop())


def test_account_concurrency_limit(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", account_concurrency=2)
    try:
        fns = [spec("hostile", timeout_s=5) for _ in range(3)]

        async def burst() -> list[Any]:
            calls = [eng.invoke(f, request(f, b'{"mode": "sleep", "seconds": 0.3}')) for f in fns]
            return list(await asyncio.gather(*calls, return_exceptions=True))

        outcomes = loop.run(burst())
        throttled = [o for o in outcomes if isinstance(o, Throttled)]
        assert len(throttled) == 1 and throttled[0].reason == "ConcurrentInvocationLimitExceeded"
        assert eng.statistics()["account_concurrency"] == 2
    finally:
        loop.run(eng.stop())


def test_memory_budget_evicts_idle_first_then_throttles(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", memory_budget_mb=512)
    try:
        a, b, c = (spec("hostile", memory_mb=256, timeout_s=5) for _ in range(3))
        _, first = call(loop, eng, a, {})
        call(loop, eng, b, {})
        assert eng.statistics()["memory_in_use_mb"] == 512
        call(loop, eng, c, {})  # a (least recently used, idle) makes room
        assert wait_dead(first["pid"])
        stats = eng.statistics()
        assert stats["memory_in_use_mb"] == 512 and stats["evictions"] == 1

        async def all_busy() -> list[Any]:
            calls = [eng.invoke(f, request(f, b'{"mode": "sleep", "seconds": 0.3}')) for f in (b, c, a)]
            return list(await asyncio.gather(*calls, return_exceptions=True))

        outcomes = loop.run(all_busy())
        assert [type(o).__name__ for o in outcomes] == ["InvokeResult", "InvokeResult", "Throttled"]
    finally:
        loop.run(eng.stop())


def test_idle_environments_expire_and_the_next_call_reports_init(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", keep_warm_s=0.2)
    try:
        fn = spec("hostile")
        call(loop, eng, fn, {})
        loop.run(asyncio.sleep(0.6))
        assert eng.statistics()["workers"] == 0
        result, _ = call(loop, eng, fn, {})
        assert "\tInit Duration: " in report(result)
    finally:
        loop.run(eng.stop())


def test_timeout_kills_only_that_environment(loop: Loop, engine: Engine) -> None:
    fn = spec("hostile", timeout_s=0.5)
    other = spec("echo")
    _, bystander = call(loop, engine, other, {})

    async def two() -> list[InvokeResult]:
        slow = engine.invoke(fn, request(fn, b'{"mode": "sleep", "seconds": 5}'))
        quick = engine.invoke(fn, request(fn, b'{"mode": "sleep", "seconds": 0.05}'))
        return list(await asyncio.gather(slow, quick))

    slow, quick = loop.run(two())
    assert b"Sandbox.Timedout" in slow.payload and quick.function_error is None
    pools = [p for p in engine.statistics()["pools"] if p["function_arn"] == fn.function_arn]
    assert pools[0]["idle"] == 1  # the quick call's environment survived
    _, again = call(loop, engine, other, {})
    assert again["pid"] == bystander["pid"] and alive(bystander["pid"])


# --------------------------------------------------------------------------- provisioned concurrency


def wait_for(predicate: Any, loop: Loop, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        loop.run(asyncio.sleep(0.02))


def test_provisioned_concurrency_keeps_environments_initialized(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", keep_warm_s=0.2)
    try:
        fn = spec("hostile", version="1")
        loop.run(eng.provision(fn, 2))
        wait_for(lambda: eng.provisioned_status(fn)[1] == 2, loop)
        loop.run(asyncio.sleep(0.5))  # longer than keep-warm: provisioned environments stay
        assert eng.provisioned_status(fn) == (2, 2, None)
        result, body = call(loop, eng, fn, {})
        assert result.init_duration_ms is None and body["init"] == "provisioned-concurrency"
        assert lines(result)[0].startswith("INIT_START ")  # its init log comes with its first call
        os.kill(body["pid"], signal.SIGKILL)  # a lost environment is replaced
        assert wait_dead(body["pid"])
        loop.run(asyncio.sleep(0.1))
        wait_for(lambda: eng.provisioned_status(fn)[1] == 2, loop)
        loop.run(eng.provision(fn, 0))
        wait_for(lambda: eng.statistics()["workers"] == 0, loop)
    finally:
        loop.run(eng.stop())


# --------------------------------------------------------------------------- SnapStart


def test_snapstart_forks_restored_environments_from_an_initialized_snapshot(loop: Loop, engine: Engine) -> None:
    fn = spec("snapstart", version="1", snap_start=True, timeout_s=5)
    assert loop.run(engine.prepare(fn)) is None

    async def two() -> list[InvokeResult]:
        return list(await asyncio.gather(*(engine.invoke(fn, request(fn)) for _ in range(2))))

    results = loop.run(two())
    bodies = [__import__("json").loads(r.payload) for r in results]
    assert bodies[0]["pid"] != bodies[1]["pid"]
    assert bodies[0]["init_pid"] == bodies[1]["init_pid"] != bodies[0]["pid"]  # init ran once, in the snapshot
    for body in bodies:
        assert body["state"] == {"before": 1, "after": 1, "seed": "reseeded"}
        assert body["init_type"] == "snap-start"
    assert bodies[0]["draw"] != bodies[1]["draw"]  # the after-restore hook re-seeded each copy
    for result in results:
        text = lines(result)
        assert text[0].startswith("RESTORE_START Runtime Version: ")
        assert any(line.startswith("RESTORE_REPORT Restore Duration: ") for line in text)
        assert "\tRestore Duration: " in report(result) and "Init Duration" not in report(result)
    if ROOT:
        assert own_entries(bodies[0]["tmp"], engine) == own_entries(bodies[1]["tmp"], engine) == []
    warm, body = call(loop, engine, fn, {})
    assert warm.init_duration_ms is None and body["pid"] in {b["pid"] for b in bodies}
    snapshot_pid = bodies[0]["init_pid"]
    loop.run(engine.discard(fn.function_arn))
    assert wait_dead(snapshot_pid)


def test_unused_snapshot_scales_to_zero_and_is_recreated(loop: Loop, tmp_path: Path) -> None:
    eng = own_engine(loop, tmp_path / "engine", keep_warm_s=0.2)
    try:
        fn = spec("snapstart", version="1", snap_start=True)
        _, body = call(loop, eng, fn, {})
        assert eng.statistics()["pools"][0]["snapshot"] == "ready"
        wait_for(lambda: eng.statistics()["pools"][0]["snapshot"] is None, loop)
        assert wait_dead(body["init_pid"]) and wait_dead(body["pid"])
        again, fresh = call(loop, eng, fn, {})
        assert "\tRestore Duration: " in report(again) and fresh["init_pid"] != body["init_pid"]
    finally:
        loop.run(eng.stop())
