"""The execution engine against real workers: a real zygote forks real Python handlers.

Each test uses its own function names, so warm environments left by one test
never serve another.  Engines live in one event loop per module (no
pytest-asyncio); tests that need special limits start their own engine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cloudlet.engine import Engine, FunctionSpec, InvokeRequest, InvokeResult, Throttled, sandbox

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def own_entries(listing: list[str], engine: Engine) -> list[str]:
    """A private /tmp listing minus the trees that stay visible in it (``sandbox.paths_to_keep``).

    Where the work dir, the function code or ``sys.path`` entries (a checkout) live under the real
    ``/tmp``, their top directory is bind-mounted back into the private ``/tmp``.
    """
    paths = [str(engine.work_dir), str(FUNCTIONS), *sys.path, sys.prefix]
    tops = {Path(sandbox.tmp_top(p)).name for p in paths if p and sandbox.tmp_top(p)}
    return [name for name in listing if name not in tops]
ACCOUNT = "123456789012"
T = TypeVar("T")


class Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    runner = Loop()
    yield runner
    runner.loop.close()


@pytest.fixture(scope="module")
def engine(loop: Loop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(tmp_path_factory.mktemp("engine"), keep_warm_s=300, max_workers=16)
    loop.run(eng.start())
    yield eng
    loop.run(eng.stop())


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def spec(code: str, *, name: str | None = None, handler: str = "app.handler", **kwargs: Any) -> FunctionSpec:
    name = name or f"{code}-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "function_name": name,
        "function_arn": arn(name),
        "version": "$LATEST",
        "revision": "r1",
        "handler": handler,
        "runtime": "python3.12",
        "code_dir": FUNCTIONS / code,
        "region": "us-east-1",
        "account_id": ACCOUNT,
        "endpoint_url": "http://127.0.0.1:4566",
        "access_key_id": "test",
        "secret_access_key": "test",
        "log_group": f"/aws/lambda/{name}",
    }
    values.update(kwargs)
    return FunctionSpec(**values)


def call(loop: Loop, engine: Engine, fn: FunctionSpec, payload: Any = None, **kwargs: Any) -> tuple[InvokeResult, Any]:
    request = InvokeRequest(
        request_id=str(uuid.uuid4()),
        payload=b"" if payload is None else json.dumps(payload).encode(),
        invoked_function_arn=fn.function_arn,
        **kwargs,
    )
    result = loop.run(engine.invoke(fn, request))
    return result, json.loads(result.payload)


def lines(result: InvokeResult) -> list[str]:
    return [line for _, line in result.log_events]


def between_start_and_end(result: InvokeResult) -> list[str]:
    text = lines(result)
    start = next(i for i, line in enumerate(text) if line.startswith("START RequestId: "))
    end = next(i for i, line in enumerate(text) if line.startswith("END RequestId: "))
    return text[start + 1 : end]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


REPORT = re.compile(
    r"^REPORT RequestId: (?P<id>[0-9a-f-]+)\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: (?P<mem>\d+) MB\tMax Memory Used: (?P<used>\d+) MB(\tInit Duration: \d+\.\d\d ms)?"
)


# --------------------------------------------------------------------------- results and context


def test_echo_gets_event_context_and_lambda_environment(loop: Loop, engine: Engine) -> None:
    fn = spec("echo", memory_mb=256, timeout_s=3.0, environment={"GREETING": "hi", "AWS_REGION": "nope"})
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    result, body = call(loop, engine, fn, {"a": [1, 2]}, client_context=context,
                        cognito_identity={"cognitoIdentityId": "id-1"})  # fmt: skip

    assert result.function_error is None
    assert body["event"] == {"a": [1, 2]}
    assert body["function_name"] == fn.function_name
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == fn.function_arn
    assert body["memory_limit_in_mb"] == "256"
    assert body["log_group_name"] == f"/aws/lambda/{fn.function_name}"
    assert body["log_stream_name"] == result.log_stream
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", result.log_stream)
    assert 0 < body["remaining_ms"] <= 3000
    assert body["client_custom"] == {"k": "v"}
    assert body["identity_id"] == "id-1"
    assert body["cwd"] == str(FUNCTIONS / "echo")
    env = body["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"  # reserved: user value ignored
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn.function_name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_ACCESS_KEY_ID"] == "test"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == str(FUNCTIONS / "echo")
    assert env["TZ"] == ":UTC"
    assert "AWS_SESSION_TOKEN" not in env
    assert body["tmpdir"] == env["TMPDIR"]

    text = lines(result)
    assert text[0].startswith("INIT_START Runtime Version: python:3.12")
    assert text[1].startswith("START RequestId: ") and text[1].endswith(" Version: $LATEST")
    assert text[-2].startswith("END RequestId: ")
    report = REPORT.match(text[-1])
    assert report and report["mem"] == "256" and int(report["used"]) > 0
    assert result.init_duration_ms is not None and result.init_duration_ms > 0
    assert "Init Duration" in text[-1]
    assert result.billed_duration_ms >= 1 and result.max_memory_used_mb == int(report["used"])


def test_warm_environment_is_reused(loop: Loop, engine: Engine) -> None:
    fn = spec("echo")
    first, one = call(loop, engine, fn, {"n": 1})
    second, two = call(loop, engine, fn, {"n": 2})
    assert one["pid"] == two["pid"]
    assert two["invocations"] == 2  # module globals survive between calls
    assert second.init_duration_ms is None and "Init Duration" not in lines(second)[-1]
    assert first.log_stream == second.log_stream


def test_handler_exception_becomes_unhandled_error(loop: Loop, engine: Engine) -> None:
    result, body = call(loop, engine, spec("raises"), {"x": 7})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad value: 7"
    assert isinstance(body["stackTrace"], list) and len(body["stackTrace"]) == 2
    assert 'raises/app.py", line 6, in helper' in body["stackTrace"][1]
    assert all("cloudlet" not in frame for frame in body["stackTrace"])
    logged = between_start_and_end(result)
    assert logged[0].startswith("[ERROR] ValueError: bad value: 7\nTraceback (most recent call last):")


def test_prints_and_logging_go_to_the_invocation_log(loop: Loop, engine: Engine) -> None:
    fn = spec("prints")
    result, body = call(loop, engine, fn, {"n": 5})
    assert body == "done"
    assert lines(result)[0].startswith("INIT_START Runtime Version: python:3.12")
    assert lines(result)[1] == "init line"  # init output comes before START
    logged = between_start_and_end(result)
    assert logged[:2] == ["hello from print", "to stderr"]
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\tinfo 5", logged[2])
    assert logged[2].split("\t")[2] in lines(result)[-1]
    assert logged[3:] == ["no newline at end"]
    again, _ = call(loop, engine, fn, {"n": 6})
    assert "init line" not in lines(again) and lines(again)[0].startswith("START RequestId: ")
    assert between_start_and_end(again)[0] == "hello from print"
    tail = again.log_tail()
    assert tail.startswith("START RequestId:") and tail.rstrip("\n").split("\n")[-1].startswith("REPORT")


def test_boto3_in_handler_talks_to_cloudlet(loop: Loop, engine: Engine) -> None:
    result, body = call(loop, engine, spec("boto", endpoint_url="http://127.0.0.1:9999"))
    assert result.function_error is None, body
    assert body["endpoint"] == "http://127.0.0.1:9999"
    assert body["client_endpoint"] == "http://127.0.0.1:9999"
    assert body["region"] == "us-east-1"
    assert body["access_key"] == "test"
    assert body["session_token"] is None


@pytest.mark.parametrize(
    ("code", "handler", "error_type", "message"),
    [
        ("init_error", "app.handler", "RuntimeError", "boom at import"),
        ("echo", "app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
        ("echo", "nomodule.handler", "Runtime.ImportModuleError", "Unable to import module 'nomodule': No module named 'nomodule'"),
        ("echo", "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
    ],
)  # fmt: skip
def test_init_failures(loop: Loop, engine: Engine, code: str, handler: str, error_type: str, message: str) -> None:
    fn = spec(code, handler=handler)
    result, body = call(loop, engine, fn, {})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    assert any(line.startswith(f"[ERROR] {error_type}: ") for line in lines(result))
    assert result.init_duration_ms is not None
    again, body2 = call(loop, engine, fn, {})  # init is retried on the next call, as on AWS
    assert body2["errorType"] == error_type and again.init_duration_ms is not None


# --------------------------------------------------------------------------- failures of the sandbox


def test_timeout_kills_the_worker_and_next_call_gets_a_fresh_one(loop: Loop, engine: Engine) -> None:
    fn = spec("sleeps", timeout_s=0.5)
    _, warm = call(loop, engine, fn, {"seconds": 0})
    started = time.monotonic()
    result, body = call(loop, engine, fn, {"seconds": 30})
    assert time.monotonic() - started < 3
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f-]{36} Task timed out after 0\.50 seconds", body["errorMessage"])
    logged = between_start_and_end(result)
    assert logged == ["going to sleep", body["errorMessage"]]
    assert result.duration_ms >= 500
    assert wait_dead(warm["pid"])
    after, fresh = call(loop, engine, fn, {"seconds": 0})
    assert after.function_error is None and fresh["pid"] != warm["pid"]
    assert after.init_duration_ms is not None


def test_worker_exit_is_runtime_exit_error_and_next_call_works(loop: Loop, engine: Engine) -> None:
    fn = spec("exits")
    _, before = call(loop, engine, fn, {})
    result, body = call(loop, engine, fn, {"exit": True, "code": 3})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: exit status 3", body["errorMessage"])
    assert between_start_and_end(result) == ["about to exit", body["errorMessage"]]
    after, fresh = call(loop, engine, fn, {})
    assert after.function_error is None and fresh["pid"] != before["pid"]


def test_memory_limit_gives_out_of_memory_error(loop: Loop, engine: Engine) -> None:
    fn = spec("memory", memory_mb=128)
    ok, size = call(loop, engine, fn, {"mb": 16})
    assert ok.function_error is None and size == 16 * 1024 * 1024
    result, body = call(loop, engine, fn, {"mb": 4096})
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert result.max_memory_used_mb == 128
    again, size = call(loop, engine, fn, {"mb": 1})
    assert again.function_error is None and again.init_duration_ms is not None


def test_idle_worker_that_dies_is_dropped(loop: Loop, engine: Engine) -> None:
    fn = spec("echo")
    _, first = call(loop, engine, fn, {})
    os.kill(first["pid"], signal.SIGKILL)
    assert wait_dead(first["pid"])
    time.sleep(0.05)
    result, second = call(loop, engine, fn, {})
    assert result.function_error is None and second["pid"] != first["pid"]


def test_tmp_is_private_per_environment(loop: Loop, engine: Engine) -> None:
    fn = spec("tmpfile")
    _, first = call(loop, engine, fn, {"name": "one"})
    _, again = call(loop, engine, fn, {"name": "two"})
    assert own_entries(again["files"], engine) == ["one", "two"] and again["tmpdir"] == first["tmpdir"]
    # Private /tmp (mount namespace) when permitted, else a private TMPDIR under the work dir.
    assert first["tmpdir"] == "/tmp" or Path(first["tmpdir"]).is_relative_to(engine.work_dir)
    [host_dir] = [p.parent for p in (engine.work_dir / "tmp").glob("*/one")]
    loop.run(engine.discard(fn.function_arn))
    _, fresh = call(loop, engine, fn, {"name": "three"})
    assert own_entries(fresh["files"], engine) == ["three"]
    deadline = time.monotonic() + 3
    while host_dir.exists() and time.monotonic() < deadline:
        loop.run(asyncio.sleep(0.02))
    assert not host_dir.exists()


# --------------------------------------------------------------------------- pools and limits


def test_reserved_concurrency_throttles_the_second_concurrent_call(loop: Loop, engine: Engine) -> None:
    fn = spec("sleeps", reserved_concurrency=1, timeout_s=5)

    async def two_calls() -> list[Any]:
        requests = [InvokeRequest(str(uuid.uuid4()), b'{"seconds": 0.5}', fn.function_arn) for _ in range(2)]
        return await asyncio.gather(*(engine.invoke(fn, r) for r in requests), return_exceptions=True)

    outcomes = loop.run(two_calls())
    throttled = [o for o in outcomes if isinstance(o, Throttled)]
    done = [o for o in outcomes if isinstance(o, InvokeResult)]
    assert len(throttled) == 1 and len(done) == 1
    assert throttled[0].reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert done[0].function_error is None
    blocked = spec("echo", reserved_concurrency=0)
    with pytest.raises(Throttled) as info:
        call(loop, engine, blocked, {})
    assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_discard_and_new_revision_replace_warm_environments(loop: Loop, engine: Engine) -> None:
    fn = spec("echo")
    other = spec("echo", name=fn.function_name + "x")  # shares the ARN prefix, not the function
    _, first = call(loop, engine, fn, {})
    _, other_first = call(loop, engine, other, {})
    loop.run(engine.discard(fn.function_arn))
    assert wait_dead(first["pid"])
    _, second = call(loop, engine, fn, {})
    assert second["pid"] != first["pid"]
    _, other_again = call(loop, engine, other, {})
    assert other_again["pid"] == other_first["pid"]

    updated = spec("echo", name=fn.function_name, revision="r2", environment={"GREETING": "new"})
    _, third = call(loop, engine, updated, {})
    assert third["pid"] != second["pid"] and third["env"]["GREETING"] == "new"
    assert wait_dead(second["pid"])
    stats = engine.statistics()
    assert [p["revision"] for p in stats["pools"] if p["function_arn"] == fn.function_arn] == ["r2"]


def test_max_workers_throttles_and_evicts_idle(loop: Loop, tmp_path: Path) -> None:
    eng = Engine(tmp_path / "engine", keep_warm_s=300, max_workers=1)
    loop.run(eng.start())
    try:
        slow = spec("sleeps", timeout_s=5)
        quick = spec("echo")

        async def concurrently() -> list[Any]:
            first = asyncio.ensure_future(eng.invoke(slow, InvokeRequest("a" * 36, b'{"seconds": 0.5}', slow.function_arn)))
            await asyncio.sleep(0.2)
            second = eng.invoke(quick, InvokeRequest("b" * 36, b"{}", quick.function_arn))
            return list(await asyncio.gather(first, second, return_exceptions=True))

        slow_result, quick_result = loop.run(concurrently())
        assert isinstance(slow_result, InvokeResult) and slow_result.function_error is None
        assert isinstance(quick_result, Throttled)
        assert quick_result.reason == "ConcurrentInvocationLimitExceeded"
        _, slept = call(loop, eng, slow, {"seconds": 0})
        result, _ = call(loop, eng, quick, {})  # the idle "slow" environment is evicted to make room
        assert result.function_error is None
        assert wait_dead(slept["pid"])
        assert eng.statistics()["workers"] == 1
    finally:
        loop.run(eng.stop())


def test_idle_environments_are_reaped_after_keep_warm(loop: Loop, tmp_path: Path) -> None:
    eng = Engine(tmp_path / "engine", keep_warm_s=0.3)
    loop.run(eng.start())
    try:
        fn = spec("echo")
        _, first = call(loop, eng, fn, {})
        assert eng.statistics()["idle"] == 1
        loop.run(asyncio.sleep(0.8))
        assert eng.statistics()["workers"] == 0
        assert wait_dead(first["pid"])
        result, second = call(loop, eng, fn, {})
        assert second["pid"] != first["pid"] and result.init_duration_ms is not None
    finally:
        loop.run(eng.stop())


def test_stop_leaves_no_processes(loop: Loop, tmp_path: Path) -> None:
    eng = Engine(tmp_path / "engine")
    loop.run(eng.start())
    zygote_pid = eng.statistics()["zygote_pid"]
    pids = [call(loop, eng, spec("echo"), {})[1]["pid"] for _ in range(3)]

    async def busy_call() -> Any:
        fn = spec("sleeps", timeout_s=30)
        task = asyncio.ensure_future(eng.invoke(fn, InvokeRequest("c" * 36, b'{"seconds": 20}', fn.function_arn)))
        await asyncio.sleep(0.3)
        await eng.stop()
        return await asyncio.gather(task, return_exceptions=True)

    loop.run(busy_call())
    assert zygote_pid is not None and wait_dead(zygote_pid)
    for pid in pids:
        assert wait_dead(pid)
    assert not list((tmp_path / "engine" / "tmp").iterdir())


def test_large_payloads_round_trip(loop: Loop, engine: Engine) -> None:
    data = "x" * (5 * 1024 * 1024)
    result, body = call(loop, engine, spec("echo"), {"data": data})
    assert result.function_error is None
    assert body["event"]["data"] == data


def test_engine_survives_zygote_death(loop: Loop, tmp_path: Path) -> None:
    eng = Engine(tmp_path / "engine")
    loop.run(eng.start())
    try:
        fn = spec("echo")
        _, first = call(loop, eng, fn, {})
        zygote_pid = eng.statistics()["zygote_pid"]
        os.kill(zygote_pid, signal.SIGKILL)
        assert wait_dead(zygote_pid)
        assert wait_dead(first["pid"])  # workers die with their zygote
        result, second = call(loop, eng, fn, {})
        assert result.function_error is None and second["pid"] != first["pid"]
        assert eng.statistics()["zygote_pid"] != zygote_pid
    finally:
        loop.run(eng.stop())


def test_exit_is_detected_while_a_grandchild_holds_the_socket(loop: Loop, engine: Engine) -> None:
    started = time.monotonic()
    _, body = call(loop, engine, spec("forks", timeout_s=10), {})
    assert time.monotonic() - started < 5
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("exit status 5")
