"""A small load generator that is not the bottleneck.

Requests are signed once (``common.signed_request``) and the same bytes are
replayed over raw keep-alive sockets: no SDK, no re-signing, no HTTP library
on the hot path.  Throughput runs use one forked client process per connection
(closed loop: send, read the response, send again), start together at a
shared wall-clock instant, and report their own CPU time so the table can show
how much of the machine the client took.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from cloudlet.bench.common import RawConnection, Stats, ms


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    client_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def client_cores(self) -> float:
        """Client CPU time over wall time: 1.0 = one core busy for the whole run."""
        return self.client_cpu_s / self.seconds if self.seconds else 0.0


def latency(targets: list[tuple[str, bytes]], samples: int, warmup: int = 20) -> list[tuple[Stats, int]]:
    """Sequential requests, one connection per target, the targets interleaved request by request
    (so drift on a shared machine hits them alike); per target: (latency stats in ms, non-2xx count).
    """
    conns = [RawConnection(endpoint) for endpoint, _ in targets]
    times: list[list[float]] = [[] for _ in targets]
    errors = [0] * len(targets)
    try:
        for conn, (_, request) in zip(conns, targets, strict=True):
            for _ in range(warmup):
                conn.request(request)
        for _ in range(samples):
            for i, (conn, (_, request)) in enumerate(zip(conns, targets, strict=True)):
                t0 = time.perf_counter()
                status, _, _ = conn.request(request)
                times[i].append(ms(time.perf_counter() - t0))
                errors[i] += status >= 300
    finally:
        for conn in conns:
            conn.close()
    return [(Stats.of(t), e) for t, e in zip(times, errors, strict=True)]


def _client(endpoint: str, request: bytes, start_at: float, stop_at: float, out: Connection) -> None:
    count = errors = 0
    try:
        conn = RawConnection(endpoint)
        conn.request(request)  # connect and warm before the clock starts
        while time.time() < start_at:
            time.sleep(0.001)
        cpu0 = os.times()
        while True:
            status, _, _ = conn.request(request)
            if time.time() >= stop_at:
                break
            count += 1
            errors += status >= 300
        cpu1 = os.times()
        conn.close()
        out.send((count, errors, (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)))
    except Exception as exc:
        out.send((count, errors + 1, 0.0, repr(exc)))
    finally:
        out.close()


def throughput(endpoint: str, request: bytes, connections: int, seconds: float) -> LoadResult:
    """Closed-loop load with ``connections`` client processes for ``seconds``."""
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5 + 0.02 * connections
    stop_at = start_at + seconds
    procs, pipes = [], []
    for _ in range(connections):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client, args=(endpoint, request, start_at, stop_at, send), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        pipes.append(recv)
    total = errors = 0
    cpu = 0.0
    problems: list[str] = []
    for recv in pipes:
        try:
            result = recv.recv() if recv.poll(seconds + 60) else (0, 1, 0.0, "client hung")
        except EOFError:
            result = (0, 1, 0.0, "client died")
        total += result[0]
        errors += result[1]
        cpu += result[2]
        if len(result) > 3:
            problems.append(str(result[3]))
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if problems and total == 0:
        raise RuntimeError(f"load generator failed: {problems[0]}")
    return LoadResult(total, errors, seconds, cpu)
