"""The runtime zygote: a warm Python process that forks execution environments.

Started by ``Engine.start()`` as ``python -m cloudlet.engine.zygote <socket>``.
It imports the preload set once (boto3/botocore with their service models
loaded, the stdlib modules handlers use), freezes the heap for copy-on-write
sharing, prints ``READY <boot ms>`` and then serves its control socket
(``SOCK_SEQPACKET``, one JSON object per packet, protocol in ``protocol.py``):

    zygote → engine  READY <boot ms> private_tmp=<0|1>   (on stdout, once)
    engine → zygote  {"op": "fork", "id", "spec"} + fds [worker socket, log pipe]
    zygote → engine  {"type": "forked", "id", "pid"}
                     {"type": "exit", "pid", "code"}      code < 0: killed by signal -code

The zygote stays single-threaded (forking a threaded process is unsafe),
reaps every child on ``SIGCHLD`` and survives any child crash.  When the
engine closes the control socket (or the server dies) it kills its children
and exits.
"""

from __future__ import annotations

import array
import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from cloudlet.engine.protocol import decode_packet, encode_packet

PACKET_MAX = 1 << 20
#: Clients created once so their service models sit in the shared loader cache.
WARM_SERVICES = ("lambda", "s3", "dynamodb", "sqs", "sns", "logs")
PRELOAD_MODULES = (
    "asyncio", "base64", "collections", "concurrent.futures", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "email", "functools", "gzip", "hashlib", "hmac", "http.client", "io", "itertools",
    "json", "logging", "math", "pathlib", "random", "re", "shutil", "ssl", "string", "subprocess", "tempfile",
    "threading", "traceback", "typing", "urllib.parse", "urllib.request", "uuid", "zipfile", "zlib",
    "boto3", "boto3.session", "botocore", "botocore.session", "botocore.client", "botocore.config",
    "botocore.exceptions", "s3transfer", "cloudlet.engine.runtime",
)


def _share_botocore_loader() -> None:
    """Make every botocore session reuse one loader, so models parsed here are free in workers."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string:
            return original(search_path_string)
        # boto3 appends its data path to the loader of each new session; keep the list short.
        paths = shared.search_paths
        paths[:] = list(dict.fromkeys(paths))
        return shared

    botocore.session.create_loader = create_loader


def _cache_handler_inspection() -> None:
    """Each new botocore session inspects ~150 handler signatures; the answers never change."""
    import weakref

    import botocore.hooks

    inspect = botocore.hooks.accepts_kwargs
    known: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

    def accepts_kwargs(func: Any) -> bool:
        key = getattr(func, "__func__", func)
        with contextlib.suppress(KeyError, TypeError):
            return known[key]
        value = bool(inspect(func))
        with contextlib.suppress(TypeError):
            known[key] = value
        return value

    botocore.hooks.accepts_kwargs = accepts_kwargs


def _isolate_from_host_aws_config() -> None:
    """The host's AWS settings (profiles, keys, regions) must not shape the warm SDK state."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def preload() -> None:
    import importlib

    _isolate_from_host_aws_config()

    for name in PRELOAD_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    try:
        _share_botocore_loader()
        _cache_handler_inspection()
        import boto3

        from cloudlet.engine import runtime

        session = boto3.session.Session(
            aws_access_key_id="preload", aws_secret_access_key="preload", region_name="us-east-1"
        )
        for service in WARM_SERVICES:
            session.client(service, endpoint_url="http://127.0.0.1:9")
        session.resource("s3", endpoint_url="http://127.0.0.1:9")
        runtime.PREBUILT_SESSION = boto3.session.Session()
    except Exception as exc:  # a broken SDK must not stop plain handlers from running
        print(f"cloudlet zygote: SDK warm-up failed: {exc!r}", file=sys.stderr)
    gc.collect()
    gc.freeze()


def _set_parent_death_signal() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Zygote:
    """Fork server on a control socket; ``worker(spec, chan_fd, out_fd)`` is what each child becomes.

    The runtime zygote's children are fresh environments (``runtime.run_worker``);
    a SnapStart snapshot worker runs the same server with ``runtime.restore_worker``.
    """

    def __init__(self, path: str, worker: Callable[[dict[str, Any], int, int], Any] | None = None) -> None:
        self.path = path
        self.worker = worker
        #: Sockets of the serving process that its children must not inherit.
        self.keep: list[socket.socket] = []
        self.children: set[int] = set()
        self.conn: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if os.path.exists(path):
            os.unlink(path)
        self.listener.bind(path)
        self.listener.listen(4)

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._terminate)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "signal")
        while True:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    self._accept()
                elif key.data == "signal":
                    self._drain_wakeup()
                    self._reap()
                else:
                    self._on_packet()

    def _terminate(self, *_: Any) -> None:
        self.shutdown(0)

    def shutdown(self, status: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os._exit(status)

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        if self.conn is not None:
            self.selector.unregister(self.conn)
            self.conn.close()
        self.conn = conn
        self.selector.register(conn, selectors.EVENT_READ, "conn")

    def _drain_wakeup(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self._send({"type": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def _send(self, message: dict[str, Any]) -> None:
        if self.conn is None:
            return
        with contextlib.suppress(OSError):
            self.conn.sendall(encode_packet(message))

    def _on_packet(self) -> None:
        assert self.conn is not None
        fds = array.array("i")
        try:
            data, ancdata, _, _ = self.conn.recvmsg(PACKET_MAX, socket.CMSG_SPACE(2 * fds.itemsize))
        except OSError:
            data, ancdata = b"", []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        if not data:  # the engine went away: so do its environments
            self.shutdown(0)
        message = decode_packet(data)
        if message.get("op") == "fork" and len(fds) == 2:
            self._fork(message, fds[0], fds[1])
        else:
            for fd in fds:
                os.close(fd)

    def _fork(self, message: dict[str, Any], chan_fd: int, out_fd: int) -> None:
        pid = os.fork()
        if pid == 0:
            self._become_worker(message["spec"], chan_fd, out_fd)
        os.close(chan_fd)
        os.close(out_fd)
        self.children.add(pid)
        self._send({"type": "forked", "id": message["id"], "pid": pid})

    def _become_worker(self, spec: dict[str, Any], chan_fd: int, out_fd: int) -> None:
        try:
            self.selector.close()
            self.listener.close()
            if self.conn is not None:
                self.conn.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            for sock in self.keep:
                sock.close()
            if self.worker is not None:
                self.worker(spec, chan_fd, out_fd)
            from cloudlet.engine.runtime import run_worker

            run_worker(spec, chan_fd, out_fd)
        finally:
            os._exit(70)


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    if len(argv) != 1:
        print("usage: python -m cloudlet.engine.zygote <control-socket-path>", file=sys.stderr)
        raise SystemExit(2)
    _set_parent_death_signal()
    preload()
    from cloudlet.engine.sandbox import namespaces_supported

    private_tmp = int(namespaces_supported())
    zygote = Zygote(argv[0])
    boot_ms = (time.perf_counter() - started) * 1000
    sys.stdout.write(f"READY {boot_ms:.1f} private_tmp={private_tmp}\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # nobody reads the ready pipe any more
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
