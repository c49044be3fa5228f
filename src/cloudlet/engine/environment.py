"""Engine-side handle of one execution environment (a forked worker).

An ``Environment`` owns the engine's ends of the worker's frame socket and log
pipe.  Every line the worker writes to stdout/stderr is time-stamped on
arrival and collected; the worker's begin and end markers (``runtime.py``)
delimit the lines of one phase (init or an invocation), so a line printed
between invocations (a leaked thread) is dropped, never given to the next
request.  A line is cut at 256 KB and a phase keeps at most 4 MB of output;
the rest is read and discarded (counted in a ``[cloudlet] log output
truncated`` line), so a handler printing megabytes neither blocks on a full
pipe nor grows the server's memory.  Killing an environment
kills its whole process group (the worker is a session leader), so
subprocesses a handler started die with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
import uuid
from typing import Any

from cloudlet.engine.protocol import encode_frame, read_frame
from cloudlet.engine.types import FunctionSpec

#: Worker states.
STARTING, IDLE, BUSY, DEAD = "starting", "idle", "busy", "dead"


def new_marker() -> str:
    return f"\x1ecloudlet-end-{uuid.uuid4().hex[:12]}:"


def log_stream_name(version: str) -> str:
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{uuid.uuid4().hex}"


#: A log line longer than this is cut (CloudWatch Logs takes events up to 256 KB).
MAX_LINE_BYTES = 256 * 1024
#: Output kept per phase (init or one invocation); the rest is counted and dropped, never buffered.
MAX_PHASE_LOG_BYTES = 4 * 1024 * 1024
_MARKER_HEAD = b"\x1ecloudlet-end-"


class _OutputReader(asyncio.Protocol):
    """Splits the worker's output into lines without ever holding more than one capped line."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.partial = b""
        self.skipping = False  # inside an over-long line: discard up to its newline

    def data_received(self, data: bytes) -> None:
        while data:
            if self.skipping:
                newline = data.find(b"\n")
                marker = data.find(_MARKER_HEAD)
                if marker != -1 and (newline == -1 or marker < newline):
                    self.skipping, data = False, data[marker:]  # never lose a marker
                    continue
                if newline == -1:
                    self.env._count_dropped(len(data))
                    return
                self.env._count_dropped(newline)
                self.skipping, data = False, data[newline + 1 :]
                continue
            self.partial += data
            data = b""
            *lines, self.partial = self.partial.split(b"\n")
            for raw in lines:
                if len(raw) > MAX_LINE_BYTES and _MARKER_HEAD not in raw:
                    self.env._count_dropped(len(raw) - MAX_LINE_BYTES)
                    raw = raw[:MAX_LINE_BYTES]
                self.env._on_line(raw.decode("utf-8", errors="replace" if len(raw) < MAX_LINE_BYTES else "ignore"))
            if len(self.partial) > MAX_LINE_BYTES and _MARKER_HEAD not in self.partial:
                self.env._on_line(self.partial[:MAX_LINE_BYTES].decode("utf-8", errors="ignore"))
                self.env._count_dropped(len(self.partial) - MAX_LINE_BYTES)
                self.partial, self.skipping = b"", True

    def eof_received(self) -> bool | None:
        if self.partial:
            self.env._on_line(self.partial.decode("utf-8", errors="replace"))
            self.partial = b""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.env.output_closed.set()


class Environment:
    """One worker process serving one function version, one invocation at a time."""

    def __init__(self, key: tuple[str, str, str], spec: FunctionSpec, tmp_dir: str) -> None:
        self.key = key
        self.spec = spec
        self.tmp_dir = tmp_dir
        self.marker = new_marker()
        self.log_stream = log_stream_name(spec.version)
        self.state = STARTING
        self.pid: int | None = None
        self.last_used = time.monotonic()
        self.init_ms: float | None = None
        self.init_reported = False
        self.maxrss_kb = 0
        self.exit_code: int | None = None
        #: Kept initialized for provisioned concurrency (not reaped, init not reported).
        self.provisioned = False
        #: Init log of an environment initialized ahead of its first call (written before that call's START).
        self.init_lines: list[tuple[int, str]] = []
        #: Forked from a SnapStart snapshot: its "init" was a restore.
        self.restored = False
        #: The fork server (zygote or snapshot worker) that reports this worker's exit.
        self.client: Any = None
        self.output_closed = asyncio.Event()
        #: Resolves with the exit code the zygote reports for this worker.
        self.exited: asyncio.Future[int] | None = None
        self._chan: socket.socket | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pipe: asyncio.ReadTransport | None = None
        self._lines: list[tuple[int, str]] = []
        self._marks: dict[str, asyncio.Event] = {}
        #: Output belongs to a phase (init, or an invocation between its begin and end markers);
        #: anything printed between phases (a leaked thread) is dropped, never given to the next call.
        self._accepting = True
        self._phase_bytes = 0
        self._phase_dropped = 0
        #: Lines dropped because they were printed between invocations.
        self.stray_lines = 0

    # ------------------------------------------------------------------ output

    def _on_line(self, line: str) -> None:
        if self.marker in line:
            prefix, tag = line.split(self.marker, 1)
            if prefix:
                self._add(prefix)
            elif self._lines and self._lines[-1][1] == "":
                self._lines.pop()  # the newline the worker wrote before its marker
            if tag == "begin":
                self._accepting, self._phase_bytes, self._phase_dropped = True, 0, 0
                return
            self._accepting = False
            self._mark(tag).set()
            return
        self._add(line)

    def _add(self, line: str) -> None:
        if not self._accepting:
            self.stray_lines += 1
            return
        size = len(line) + 1
        if self._phase_bytes + size > MAX_PHASE_LOG_BYTES:
            self._phase_dropped += size
            return
        self._phase_bytes += size
        self._lines.append((int(time.time() * 1000), line.replace("\r", "\n")))

    def _count_dropped(self, size: int) -> None:
        if self._accepting:
            self._phase_dropped += size

    def _mark(self, tag: str) -> asyncio.Event:
        event = self._marks.get(tag)
        if event is None:
            event = self._marks[tag] = asyncio.Event()
        return event

    def take_lines(self) -> list[tuple[int, str]]:
        lines, self._lines = self._lines, []
        if self._phase_dropped:
            lines.append(
                (int(time.time() * 1000),
                 f"[cloudlet] log output truncated: {self._phase_dropped} bytes dropped "
                 f"(limits: {MAX_LINE_BYTES} bytes per line, {MAX_PHASE_LOG_BYTES} bytes per invocation)")
            )  # fmt: skip
        self._phase_bytes = self._phase_dropped = 0
        return lines

    async def wait_output(self, tag: str | None, timeout: float) -> None:
        """Wait until the worker's marker ``tag`` (or, for ``None``, the end of its output) arrived."""
        event = self.output_closed if tag is None else self._mark(tag)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        if tag is not None:
            self._marks.pop(tag, None)

    # ------------------------------------------------------------------ lifecycle

    async def attach(self, pid: int, chan: socket.socket, out_fd: int) -> None:
        self.pid = pid
        loop = asyncio.get_running_loop()
        pipe = os.fdopen(out_fd, "rb", 0)
        try:
            transport, _ = await loop.connect_read_pipe(lambda: _OutputReader(self), pipe)
        except BaseException:
            pipe.close()
            chan.close()
            raise
        self._pipe = transport
        self._chan = chan
        self._reader, self._writer = await asyncio.open_unix_connection(sock=chan)

    async def read(self, timeout: float | None) -> tuple[dict[str, Any], bytes]:
        """Next frame from the worker; ``EOFError`` if it is gone, ``TimeoutError`` if late.

        The worker's exit report is watched too: a subprocess of the handler may
        still hold the socket open, so EOF alone would not show a dead worker.
        """
        assert self._reader is not None
        frame = asyncio.ensure_future(read_frame(self._reader))
        waiters: set[asyncio.Future[Any]] = {frame}
        if self.exited is not None:
            waiters.add(self.exited)
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if frame not in done and self.exited in done:
                # A result written just before exiting (out of memory) may still be in flight.
                done, _ = await asyncio.wait({frame}, timeout=0.05)
        except BaseException:
            frame.cancel()
            raise
        if frame not in done:
            frame.cancel()
            if self.exited is not None and self.exited.done():
                raise EOFError("worker exited")
            raise TimeoutError
        try:
            return frame.result()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EOFError("worker closed its socket") from exc

    async def send(self, header: dict[str, Any], body: bytes) -> None:
        assert self._writer is not None
        try:
            self._writer.write(encode_frame(header, body))
            await self._writer.drain()
        except ConnectionError as exc:
            raise EOFError("worker closed its socket") from exc

    def read_peak_rss(self) -> None:
        """Record the worker's peak RSS from /proc (for calls that never reported it)."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError, ValueError, StopIteration), open(f"/proc/{self.pid}/status") as status:
            hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
            self.maxrss_kb = max(self.maxrss_kb, hwm)

    def probe(self) -> bool:
        """Cheap check that an idle worker is still there (its exit may not be reported yet)."""
        if not self.alive or self._chan is None or self._reader is None or self._reader.at_eof():
            return False
        try:
            self._chan.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True  # nothing to read: alive and idle, as expected
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for: either way unusable

    @property
    def alive(self) -> bool:
        return self.state != DEAD and self.exit_code is None

    def kill(self) -> None:
        """SIGKILL the worker's process group and close the engine's ends."""
        self.state = DEAD
        if self.pid is not None and self.exit_code is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._pipe is not None and self.output_closed.is_set():
            self._pipe.close()

    def close_pipe(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        self.output_closed.set()
