"""The Python runtime inside one execution environment (a forked worker).

``run_worker`` is called in the child right after the zygote forked it and
never returns.  It turns the zygote's copy-on-write image into a Lambda
sandbox: own session, Lambda's environment variables, a private ``/tmp``
(mount namespace) or at least ``TMPDIR``, the code and layer directories on
``sys.path``, stdout/stderr on the engine's log pipe, a memory limit (see
``sandbox``).  Then it imports the handler module once (init) and serves
invocations one at a time over its frame socket (``protocol``).  With
SnapStart the initialized worker instead becomes a fork server
(``zygote.Zygote``) whose children run the ``snapshot_restore_py``
after-restore hooks and serve (``restore_worker``).

Faults use the runtime's namespaced error types (``Runtime.ImportModuleError``,
``Runtime.HandlerNotFound`` …) and one payload shape:
``{"errorMessage", "errorType", "requestId", "stackTrace": [str, …]}``.
When an invocation arrives the worker writes a begin marker on stdout, and
after it an end marker, so the engine knows which lines belong to the call
and that every one of them has arrived before it writes ``END``/``REPORT``.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import importlib
import io
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, NoReturn

from cloudlet.engine import sandbox, snapshot_restore
from cloudlet.engine.protocol import recv_frame, send_frame

#: Packages the zygote preloads; a function that bundles its own copy gets its copy.
PRELOADED_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
#: Exit status of a worker that ran out of memory (the engine reports ``Runtime.OutOfMemory``).
EXIT_OUT_OF_MEMORY = 137
#: An unused boto3 session built by the zygote; becomes ``boto3.DEFAULT_SESSION`` in each worker.
#: Building one costs ~10-20 ms, and nothing in it depends on the environment until first use.
PREBUILT_SESSION: Any = None


class FaultError(Exception):
    """A runtime-detected fault with a namespaced ``errorType``."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.cognito_identity_id: str | None = data.get("cognitoIdentityId") or data.get("cognito_identity_id")
        self.cognito_identity_pool_id: str | None = data.get("cognitoIdentityPoolId") or data.get(
            "cognito_identity_pool_id"
        )


class Client:
    def __init__(self, data: dict[str, Any]) -> None:
        self.installation_id: str | None = data.get("installation_id")
        self.app_title: str | None = data.get("app_title")
        self.app_version_name: str | None = data.get("app_version_name")
        self.app_version_code: str | None = data.get("app_version_code")
        self.app_package_name: str | None = data.get("app_package_name")


class ClientContext:
    def __init__(self, data: dict[str, Any]) -> None:
        client = data.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else None
        self.custom: Any = data.get("custom")
        self.env: Any = data.get("env")


def _client_context(encoded: str | None) -> ClientContext | None:
    if not encoded:
        return None
    try:
        data = json.loads(base64.b64decode(encoded))
    except ValueError:
        return None
    return ClientContext(data) if isinstance(data, dict) else None


class LambdaContext:
    """The ``context`` argument of a handler (same attributes as the AWS Python runtime's)."""

    def __init__(self, header: dict[str, Any]) -> None:
        env = os.environ
        self.aws_request_id: str = header["request_id"]
        self.invoked_function_arn: str = header.get("invoked_function_arn", "")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = CognitoIdentity(header.get("cognito_identity"))
        self.client_context = _client_context(header.get("client_context"))
        self.tenant_id: str | None = None
        self._deadline_ms = int(header["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, msg: str) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class LambdaLogHandler(logging.StreamHandler):
    """``[LEVEL]\\t<UTC ISO time>Z\\t<request id>\\t<message>``, one record per line."""

    def __init__(self, request_ids: _RequestIdFilter) -> None:
        super().__init__(sys.stdout)
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
        self.setFormatter(formatter)
        self.addFilter(request_ids)

    def format(self, record: logging.LogRecord) -> str:
        # Multi-line records stay one log event, as with Lambda's runtime.
        return super().format(record).replace("\n", "\r")

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


# --------------------------------------------------------------------------- setup


def _set_parent_death_signal() -> None:
    """Die with the parent (zygote), so a killed server leaves no orphans (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _redirect_output(out_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
            write_through=True,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _function_environment(spec: dict[str, Any], tmp_dir: str) -> dict[str, str]:
    version = sys.version_info
    runtime = spec.get("runtime") or f"python{version.major}.{version.minor}"
    code_dir = spec["code_dir"]
    libs = [os.path.join(code_dir, "lib")] + [os.path.join(d, "lib") for d in spec["layer_dirs"]]
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "LD_LIBRARY_PATH": os.pathsep.join(libs),
        # The host's ~/.aws must not leak profiles or regions into functions.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.update(spec.get("environment") or {})
    region = spec["region"]
    env.update(
        {
            "_HANDLER": spec["handler"],
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec["function_name"],
            "AWS_LAMBDA_FUNCTION_VERSION": spec["version"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory_mb"]),
            "AWS_LAMBDA_LOG_GROUP_NAME": spec["log_group"],
            "AWS_LAMBDA_LOG_STREAM_NAME": spec["log_stream"],
            "AWS_LAMBDA_INITIALIZATION_TYPE": spec.get("initialization_type") or "on-demand",
            "AWS_ACCESS_KEY_ID": spec["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": spec["secret_access_key"],
            "LAMBDA_TASK_ROOT": code_dir,
            "LAMBDA_RUNTIME_DIR": os.path.dirname(os.path.abspath(__file__)),
            "TZ": ":UTC",
            "TMPDIR": tmp_dir,
            "TEMP": tmp_dir,
            "TMP": tmp_dir,
        }
    )
    if spec.get("endpoint_url"):
        env["AWS_ENDPOINT_URL"] = spec["endpoint_url"]
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def _set_sys_path(code_dir: str, layer_dirs: list[str]) -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    front = [code_dir]
    for layer in layer_dirs:
        front += [os.path.join(layer, "python"), os.path.join(layer, "python", "lib", version, "site-packages")]
    rest = [p for p in sys.path if p not in ("", ".") and p not in front and p != os.getcwd()]
    sys.path[:] = front + rest
    # A package bundled with the function wins over the preloaded copy, as on AWS.
    for name in PRELOADED_PACKAGES:
        if any(os.path.isdir(os.path.join(d, name)) for d in front):
            for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[mod]
    importlib.invalidate_caches()


def _reset_sdk_state() -> None:
    """Forget SDK state derived from the zygote's environment (credentials, region, endpoint)."""
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = PREBUILT_SESSION  # type: ignore[attr-defined]
    tempfile.tempdir = None


def _install_logging(request_ids: _RequestIdFilter) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(LambdaLogHandler(request_ids))
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    root.setLevel(level.upper() if level else logging.WARNING)


# --------------------------------------------------------------------------- handler


_IMPORTLIB = os.path.dirname(importlib.__file__ or "importlib")


def _stack_trace(tb: TracebackType | None) -> list[str]:
    frames = [
        f
        for f in traceback.extract_tb(tb)
        if f.filename != __file__ and not f.filename.startswith(_IMPORTLIB) and "importlib._bootstrap" not in f.filename
    ]
    return traceback.format_list(frames)


def load_handler(handler: str) -> Callable[[Any, Any], Any]:
    """Import the handler's module; the exceptions mirror the AWS Python runtime's faults."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from exc
    if modname.split("/")[0].split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {modname} as a handler module"
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise FaultError("Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}") from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace
        ) from exc
    function = getattr(module, fname, None)
    if function is None:
        raise FaultError("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")
    return function


def error_payload(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    if isinstance(exc, FaultError):
        error_type, message, trace = exc.error_type, exc.message, exc.trace
    else:
        error_type, message, trace = type(exc).__name__, str(exc), _stack_trace(exc.__traceback__)
    payload: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if request_id:
        payload["requestId"] = request_id
    payload["stackTrace"] = trace
    return payload


def _log_error(payload: dict[str, Any]) -> None:
    lines = [f"[ERROR] {payload['errorType']}: {payload['errorMessage']}"]
    if payload["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines += [frame.rstrip("\n") for frame in payload["stackTrace"]]
    sys.stdout.write("\r".join(lines).replace("\n", "\r") + "\n")


def _decimal_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _invoke(handler: Callable[[Any, Any], Any], header: dict[str, Any], body: bytes) -> tuple[bool, bytes]:
    request_id = header["request_id"]
    try:
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from exc
        result = handler(event, LambdaContext(header))
        try:
            return True, json.dumps(result, default=_decimal_default).encode()
        except (TypeError, ValueError) as exc:
            raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc
    except MemoryError:
        raise
    except BaseException as exc:  # a handler may raise SystemExit/KeyboardInterrupt too
        payload = error_payload(exc, request_id)
        _log_error(payload)
        return False, json.dumps(payload).encode()


def _serve(chan: socket.socket, handler: Callable[[Any, Any], Any], marker: str, request_ids: _RequestIdFilter) -> NoReturn:
    begin = f"{marker}begin\n".encode()
    while True:
        try:
            header, body = recv_frame(chan)
        except (EOFError, OSError):
            os._exit(0)
        if header.get("type") != "invoke":
            os._exit(2)
        os.write(1, begin)  # output from here on belongs to this invocation
        request_id = header["request_id"]
        request_ids.request_id = request_id
        if header.get("trace_id"):
            os.environ["_X_AMZN_TRACE_ID"] = header["trace_id"]
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        fatal = False
        try:
            ok, result = _invoke(handler, header, body)
        except MemoryError:
            ok, fatal = False, True
            result = json.dumps(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                    "errorType": "Runtime.OutOfMemory",
                }
            ).encode()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os.write(1, f"\n{marker}{request_id}\n".encode())
        header = {"type": "result", "ok": ok, "maxrss_kb": sandbox.peak_rss_kb(), "fatal": fatal}
        send_frame(chan, header, result)
        if fatal:
            os._exit(EXIT_OUT_OF_MEMORY)


#: Whether this process runs with a private ``/tmp`` (a snapshot worker's children re-cover it).
_PRIVATE_TMP = False


def _enter(spec: dict[str, Any], chan_fd: int, out_fd: int) -> socket.socket:
    """Common start of a worker: own session, clean signals, output on the engine's pipe."""
    os.setsid()
    _set_parent_death_signal()
    _reset_signals()
    _redirect_output(out_fd)
    os.set_inheritable(chan_fd, False)  # subprocesses of the handler must not hold it
    return socket.socket(fileno=chan_fd)


def _isolate_tmp(spec: dict[str, Any], *, restored: bool = False) -> str:
    """Create the environment's tmp dir and make it its private ``/tmp`` (see ``sandbox``); returns ``TMPDIR``."""
    global _PRIVATE_TMP
    tmp_dir = spec["tmp_dir"]
    if restored and _PRIVATE_TMP:  # forked by a snapshot worker: the real path is covered, use the stash
        tmp_dir = os.path.join(sandbox.STASH, os.path.basename(tmp_dir))
    elif restored:
        os.makedirs(tmp_dir, exist_ok=True)
        return tmp_dir
    os.makedirs(tmp_dir, exist_ok=True)
    if not spec.get("private_tmp"):
        return tmp_dir
    keep = sandbox.paths_to_keep([spec["code_dir"], *spec["layer_dirs"], sandbox.tmp_top(spec["tmp_dir"])])
    stash = os.path.dirname(tmp_dir) if spec.get("snapshot") else None
    try:
        _PRIVATE_TMP = sandbox.private_tmp(tmp_dir, keep, stash)
    except OSError as exc:
        print(f"cloudlet: private /tmp unavailable ({exc}); using TMPDIR only", file=sys.stderr)
        _PRIVATE_TMP = False
    return "/tmp" if _PRIVATE_TMP else tmp_dir


def _setup(spec: dict[str, Any], *, hard_limit: bool = True) -> _RequestIdFilter:
    tmp_dir = _isolate_tmp(spec)
    env = _function_environment(spec, tmp_dir)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(spec["code_dir"])
    _set_sys_path(spec["code_dir"], list(spec["layer_dirs"]))
    _reset_sdk_state()
    sys.modules["snapshot_restore_py"] = snapshot_restore
    request_ids = _RequestIdFilter()
    _install_logging(request_ids)
    sandbox.limit_memory(int(spec["memory_mb"]), hard=hard_limit)
    if hard_limit:  # a snapshot worker keeps them: the environments it forks still need to mount /tmp
        sandbox.drop_capabilities()
    return request_ids


def _init_failed(chan: socket.socket, marker: str, exc: BaseException) -> NoReturn:
    payload = error_payload(exc, None)
    _log_error(payload)
    sys.stdout.flush()
    os.write(1, f"\n{marker}init\n".encode())
    send_frame(chan, {"type": "init_error", "pid": os.getpid()}, json.dumps(payload).encode())
    os._exit(1)


def run_worker(spec: dict[str, Any], chan_fd: int, out_fd: int) -> NoReturn:
    """Become the execution environment described by ``spec``; never returns.

    With ``spec["snapshot"]`` (SnapStart) the worker runs init and the
    before-snapshot hooks, reports ready and then serves as a fork parent (a
    zygote on ``spec["snapshot"]``) whose children are restored environments.
    """
    try:
        started = time.perf_counter()
        chan = _enter(spec, chan_fd, out_fd)
        snapshot = spec.get("snapshot")
        server = None
        if snapshot:  # bind the fork server's socket while its path (maybe under /tmp) is still visible
            from cloudlet.engine.zygote import Zygote

            server = Zygote(snapshot)
        request_ids = _setup(spec, hard_limit=not snapshot)
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    try:
        handler = load_handler(spec["handler"])
        if snapshot:
            try:
                snapshot_restore.run_before_snapshot()
            except Exception as exc:
                raise FaultError("Runtime.BeforeSnapshotError", f"before-snapshot hook failed: {exc!r}") from exc
    except BaseException as exc:
        _init_failed(chan, spec["marker"], exc)
    init_ms = (time.perf_counter() - started) * 1000
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os.write(1, f"\n{spec['marker']}init\n".encode())
    if server is None:
        send_frame(chan, {"type": "ready", "pid": os.getpid(), "init_ms": init_ms})
        _serve(chan, handler, spec["marker"], request_ids)
    _become_snapshot(server, chan, handler, init_ms)


def _become_snapshot(zygote: Any, chan: socket.socket, handler: Callable[[Any, Any], Any],
                     init_ms: float) -> NoReturn:  # fmt: skip
    def restore(child: dict[str, Any], chan_fd: int, out_fd: int) -> NoReturn:
        restore_worker(child, chan_fd, out_fd, handler)

    zygote.worker = restore
    send_frame(chan, {"type": "ready", "pid": os.getpid(), "init_ms": init_ms})
    zygote.keep.append(chan)
    zygote.serve()
    os._exit(0)


def restore_worker(spec: dict[str, Any], chan_fd: int, out_fd: int, handler: Callable[[Any, Any], Any]) -> NoReturn:
    """A SnapStart environment: forked from an initialized snapshot worker, restored, then serving."""
    try:
        started = time.perf_counter()
        chan = _enter(spec, chan_fd, out_fd)
        tmp_dir = _isolate_tmp(spec, restored=True)
        os.environ.update(_function_environment(spec, tmp_dir))
        tempfile.tempdir = None
        request_ids = _RequestIdFilter()
        _install_logging(request_ids)
        sandbox.limit_memory(int(spec["memory_mb"]))
        sandbox.drop_capabilities()
    except BaseException:
        traceback.print_exc()
        os._exit(70)
    try:
        snapshot_restore.run_after_restore()
    except BaseException as exc:
        _init_failed(chan, spec["marker"], FaultError("Runtime.AfterRestoreError", f"after-restore hook failed: {exc!r}"))
    restore_ms = (time.perf_counter() - started) * 1000
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    os.write(1, f"\n{spec['marker']}init\n".encode())
    send_frame(chan, {"type": "ready", "pid": os.getpid(), "init_ms": restore_ms, "restored": True})
    _serve(chan, handler, spec["marker"], request_ids)
