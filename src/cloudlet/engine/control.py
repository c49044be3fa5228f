"""Engine side of the zygote: start it, ask it to fork, hear about exits.

``ZygoteClient.start()`` launches ``python -m cloudlet.engine.zygote`` in its
own session, waits for its ``READY`` line and connects to the control socket
(``SOCK_SEQPACKET``).  ``fork()`` hands the zygote a fresh socketpair end and
log-pipe write end (``SCM_RIGHTS``) together with the worker spec and returns
the child's pid plus the engine's ends.  Exit reports arrive asynchronously
and resolve ``exit_status(pid)`` futures; ``on_exit`` lets the engine drop
environments that die while idle.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudlet
from cloudlet.engine.protocol import decode_packet, encode_packet

#: How long the zygote may take to import the preload set.
BOOT_TIMEOUT_S = 60.0
FORK_TIMEOUT_S = 10.0


class ZygoteError(Exception):
    """The zygote could not be started or is gone."""


class ZygoteClient:
    def __init__(self, socket_path: Path, on_exit: Callable[[int, int], None]) -> None:
        self.socket_path = socket_path
        self.on_exit = on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.boot_ms: float = 0.0
        #: Whether workers can get a private ``/tmp`` mount (probed by the zygote at boot).
        self.private_tmp = False
        self.alive = False
        self._pid: int | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else self._pid

    async def start(self) -> float:
        """Launch the zygote; returns its boot time in ms (preload included)."""
        env = dict(os.environ)
        src = str(Path(cloudlet.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloudlet.engine.zygote", str(self.socket_path),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), BOOT_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if not line.startswith(b"READY"):
            await self.kill()
            raise ZygoteError(f"zygote failed to start (said {line!r})")
        words = line.decode(errors="replace").split()
        self.boot_ms = float(words[1])
        self.private_tmp = "private_tmp=1" in words
        await self.connect()
        return self.boot_ms

    async def connect(self, pid: int | None = None) -> None:
        """Connect to the control socket (of the zygote just started, or of a snapshot worker ``pid``)."""
        if pid is not None:
            self._pid = pid
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, str(self.socket_path))
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_readable)
        self.alive = True

    def _on_readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            message = decode_packet(data)
            if message.get("type") == "forked":
                future = self._pending.pop(int(message["id"]), None)
                if future is not None and not future.done():
                    future.set_result(int(message["pid"]))
            elif message.get("type") == "exit":
                pid, code = int(message["pid"]), int(message["code"])
                exit_future = self.exit_status(pid)
                if not exit_future.done():
                    exit_future.set_result(code)
                self.on_exit(pid, code)

    def _lost(self) -> None:
        self.alive = False
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ZygoteError("zygote exited"))
        self._pending.clear()
        # Its workers die with it (parent-death signal SIGKILL); nobody will report their exits.
        for exit_future in self._exits.values():
            if not exit_future.done():
                exit_future.set_result(-signal.SIGKILL)

    def exit_status(self, pid: int) -> asyncio.Future[int]:
        """Resolves with the exit code of worker ``pid`` (negative: killed by that signal)."""
        future = self._exits.get(pid)
        if future is None:
            future = self._exits[pid] = asyncio.get_running_loop().create_future()
        return future

    def forget(self, pid: int) -> None:
        self._exits.pop(pid, None)

    async def fork(self, spec: dict[str, Any]) -> tuple[int, socket.socket, int]:
        """Fork a worker; returns (pid, engine end of its socket, read end of its log pipe)."""
        if not self.alive or self.sock is None:
            raise ZygoteError("zygote is not running")
        engine_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        request_id = next(self._ids)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        packet = encode_packet({"op": "fork", "id": request_id, "spec": spec})
        fds = array.array("i", [worker_end.fileno(), out_w])
        try:
            while True:
                try:
                    self.sock.sendmsg([packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                except OSError as exc:  # the zygote died and nobody noticed yet
                    self._lost()
                    raise ZygoteError(f"zygote is gone: {exc}") from exc
        except BaseException:
            self._pending.pop(request_id, None)
            engine_end.close()
            os.close(out_r)
            raise
        finally:
            worker_end.close()
            os.close(out_w)
        try:
            pid = await asyncio.wait_for(future, FORK_TIMEOUT_S)
        except BaseException:
            self._pending.pop(request_id, None)
            engine_end.close()
            os.close(out_r)
            raise
        return pid, engine_end, out_r

    async def stop(self) -> None:
        """Close the control socket (the zygote then kills its children and exits) and reap it."""
        if self.sock is not None:
            self._lost()
        if self.proc is None:
            return
        try:
            await asyncio.wait_for(self.proc.wait(), 3.0)
        except TimeoutError:
            await self.kill()

    async def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
