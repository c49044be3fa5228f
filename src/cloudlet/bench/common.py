"""Shared pieces of the benchmark suite: results, statistics, servers, signed requests.

Every figure is measured against a baseline taken in the same run, and peers
(MiniStack) run as child processes bound to loopback, stopped by the bench.
Requests to the servers are signed once with botocore's SigV4 signer and the
same bytes are replayed over raw keep-alive sockets, so the client adds as
little as possible to what is measured (AWS, and Cloudlet, accept a signed
request again within its time window).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/cloudlet-bench"
RUNTIME = "python3.12"

#: Handlers used by the figures, by name: {file name: source}.
HANDLERS: dict[str, str] = {
    "hello": "def handler(event, context):\n    return {'ok': True}\n",
    "boto3": (
        "import boto3\n\n"
        "s3 = boto3.client('s3')\n\n\n"
        "def handler(event, context):\n    return {'ok': True}\n"
    ),
    "burst": (
        "import os\nimport time\n\n\n"
        "def handler(event, context):\n"
        "    started = time.time()\n"
        "    time.sleep(float(event.get('hold', 0.5)))\n"
        "    return {'started': started, 'pid': os.getpid()}\n"
    ),
}


# --------------------------------------------------------------------------- results


@dataclass
class Stats:
    """Latency samples (ms) summarised."""

    p50: float
    p99: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        if not samples:
            return cls(float("nan"), float("nan"), 0)
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return cls(statistics.median(ordered), p99, len(ordered))


@dataclass
class Figure:
    """One row of the results table (and one object of the JSON)."""

    name: str
    unit: str
    value: float | None
    baseline: float | None
    baseline_label: str
    target: str
    met: bool | None
    ratio: float | None = None
    #: MiniStack's figure for the same workload; None with peer_note saying why.
    peer: float | None = None
    peer_note: str = ""
    #: moto server's figure (service figures only); None with moto_note saying why.
    moto: float | None = None
    moto_note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: Wall time the figure took to measure (peers and baselines included).
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.baseline:
            self.ratio = self.value / self.baseline

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ms(seconds: float) -> float:
    return seconds * 1000.0


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s:\n{tail(log)}")


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGINT) -> None:
    """Signal the child, wait, then kill its process group if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class ChildServer:
    """A server child process in its own session, on a free loopback port."""

    name = "server"
    health_path = "/"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = env or {}
        self.dir = Path(tempfile.mkdtemp(prefix=f"cloudlet-bench-{self.name}-"))
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> ChildServer:
        env = {**os.environ, **self.env}
        env.pop("AWS_ENDPOINT_URL", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.dir,
                start_new_session=True,
            )
        try:
            wait_http(self.endpoint + self.health_path, self.proc, timeout, self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ChildServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        return make_client(self.endpoint, service)


class CloudletServer(ChildServer):
    """``python -m cloudlet up`` with a temporary data dir."""

    name = "cloudlet"
    health_path = "/_cloudlet/health"

    def __init__(self, *, keep_warm: float | None = None, max_workers: int | None = None) -> None:
        env = {}
        if keep_warm is not None:
            env["CLOUDLET_KEEP_WARM"] = str(keep_warm)
        if max_workers is not None:
            env["CLOUDLET_MAX_WORKERS"] = str(max_workers)
        super().__init__(env)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "cloudlet", "up", "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(self.dir / "data"),
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> ChildServer:
        super().start(timeout)
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # healthy only once the providers have started
            with urllib.request.urlopen(self.endpoint + self.health_path, timeout=2) as r:
                if json.load(r).get("status") == "running":
                    return self
            time.sleep(0.05)
        return self


def ministack_command() -> list[str] | None:
    """The MiniStack entry point in this environment, or None if it is not installed."""
    exe = Path(sys.executable).with_name("ministack")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ministack")
    return [found] if found else None


def moto_command() -> list[str] | None:
    """moto's server entry point (``moto_server``) in this environment, or None if it is not installed."""
    exe = Path(sys.executable).with_name("moto_server")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    return [found] if found else None


class MotoServer(ChildServer):
    """moto's server (``moto[server]``), bound to loopback, as BENCHMARKS.md prescribes."""

    name = "moto"
    health_path = "/moto-api/"

    def command(self) -> list[str]:
        cmd = moto_command()
        if cmd is None:
            raise RuntimeError("moto_server is not installed")
        return [*cmd, "-H", "127.0.0.1", "-p", str(self.port)]


class MiniStackServer(ChildServer):
    """MiniStack, bound to loopback, as BENCHMARKS.md prescribes."""

    name = "ministack"
    health_path = "/_ministack/health"

    def __init__(self) -> None:
        super().__init__()
        self.env = {
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "MINISTACK_HOST": "localhost",
            "IOT_MTLS_ENABLED": "0",
        }

    def command(self) -> list[str]:
        cmd = ministack_command()
        if cmd is None:
            raise RuntimeError("ministack is not installed")
        return cmd


class AsgiHelloServer(ChildServer):
    """The bare ASGI hello-world on uvicorn + uvloop + httptools (the warm baseline)."""

    name = "asgi-hello"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cloudlet.bench.asgi_hello", str(self.port)]


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def status_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, or ``VmHWM`` — the peak RSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def tree_memory_kb(root: int) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in kB over the process tree of ``root``."""
    rss = pss = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


# --------------------------------------------------------------------------- AWS helpers


def make_client(endpoint: str, service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=120,
                      max_pool_connections=32),
    )  # fmt: skip


def zip_handler(kind: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", HANDLERS[kind])
    return buf.getvalue()


def create_function(client: Any, name: str, kind: str, timeout: int = 10, *, wait: bool = True) -> None:
    client.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_handler(kind)},
        Timeout=timeout,
        MemorySize=128,
    )
    for _ in range(600 if wait else 0):  # MiniStack reports Pending for a moment
        state = client.get_function_configuration(FunctionName=name).get("State")
        if state in (None, "Active"):
            return
        time.sleep(0.05)


def signed_request(endpoint: str, method: str, path: str, body: bytes, headers: dict[str, str] | None = None,
                   service: str = "lambda", *, content_length: int | None = None) -> bytes:  # fmt: skip
    """The raw HTTP/1.1 bytes of a SigV4-signed request (keep-alive), ready to replay.

    ``path`` may carry a query string (already percent-encoded); for S3, pass the
    ``x-amz-content-sha256`` header (the body's SHA-256 or ``UNSIGNED-PAYLOAD``).
    With ``content_length``, only the head is returned (the caller streams that many body bytes).
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=endpoint + path, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials("test", "test"), service, REGION).add_auth(request)
    host = endpoint.split("://", 1)[1]
    length = len(body) if content_length is None else content_length
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def invoke_request(endpoint: str, function: str, payload: bytes, *, tail_log: bool = False) -> bytes:
    headers = {"X-Amz-Invocation-Type": "RequestResponse"}
    if tail_log:
        headers["X-Amz-Log-Type"] = "Tail"
    return signed_request(endpoint, "POST", f"/2015-03-31/functions/{function}/invocations", payload, headers)


class RawConnection:
    """One keep-alive socket that sends prepared bytes and reads one response."""

    def __init__(self, endpoint: str, timeout: float = 60.0) -> None:
        host, port = endpoint.split("://", 1)[1].rsplit(":", 1)
        self.address = (host, int(port))
        self.timeout = timeout
        #: Times the server closed the connection after a response (``Connection: close``, e.g.
        #: moto's HTTP/1.0 server) and the next request had to connect again.
        self.reconnects = 0
        self._closed = False
        self.sock = self._connect()
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def request(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._closed:  # the server closed it after the last response
            self.sock = self._connect()
            self.buf = b""
            self._closed = False
            self.reconnects += 1
        self.sock.sendall(data)
        return self.read_response()

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        self.buf = rest
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        if headers.get("connection", "").lower() == "close":
            self.sock.close()
            self._closed = True
        return status, headers, body

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()
