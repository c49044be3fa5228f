"""A small load generator that is not the bottleneck.

Requests are signed once (``common.signed_request``) and the same bytes are
replayed over raw keep-alive sockets: no SDK, no re-signing, no HTTP library
on the hot path.  Throughput runs use one forked client process per connection
(closed loop: send, read the response, send again), start together at a
shared wall-clock instant, and report their own CPU time so the table can show
how much of the machine the client took.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable
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


#: A client's work: ``work(index, start_at, stop_at) -> (operations, errors)``; it connects and warms up,
#: waits until the wall-clock ``start_at``, then works until ``stop_at`` (``inf``: until its share is done).
Work = Callable[[int, float, float], tuple[int, int]]


def wait_until(instant: float) -> None:
    while time.time() < instant:
        time.sleep(0.001)


def replay(endpoint: str, scripts: list[list[bytes]]) -> Work:
    """Client ``i`` replays ``scripts[i % len(scripts)]`` in a loop over one keep-alive connection."""

    def work(index: int, start_at: float, stop_at: float) -> tuple[int, int]:
        requests = scripts[index % len(scripts)]
        conn = RawConnection(endpoint)
        for request in requests:  # connect and warm before the clock starts
            conn.request(request)
        wait_until(start_at)
        count = errors = i = 0
        while True:
            status, _, _ = conn.request(requests[i])
            if time.time() >= stop_at:
                break
            i = (i + 1) % len(requests)
            count += 1
            errors += status >= 300
        conn.close()
        return count, errors

    return work


def _client(work: Work, index: int, start_at: float, stop_at: float, out: Connection) -> None:
    try:
        cpu0 = os.times()
        count, errors = work(index, start_at, stop_at)
        cpu1 = os.times()
        out.send((count, errors, (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), time.time()))
    except Exception as exc:
        out.send((0, 1, 0.0, time.time(), repr(exc)))
    finally:
        out.close()


def parallel(work: Work, clients: int, seconds: float | None) -> LoadResult:
    """Run ``work`` in ``clients`` forked processes for ``seconds`` (None: until every client is done).

    Client CPU is each process's whole CPU time (its warm-up included, so a slight overestimate).
    """
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5 + 0.02 * clients
    stop_at = start_at + seconds if seconds is not None else math.inf
    procs, pipes = [], []
    for index in range(clients):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_client, args=(work, index, start_at, stop_at, send), daemon=True)
        proc.start()
        send.close()
        procs.append(proc)
        pipes.append(recv)
    total = errors = 0
    cpu = 0.0
    finished = start_at
    problems: list[str] = []
    patience = (seconds if seconds is not None else 3600.0) + 60
    for recv in pipes:
        try:
            result = recv.recv() if recv.poll(patience) else (0, 1, 0.0, time.time(), "client hung")
        except EOFError:
            result = (0, 1, 0.0, time.time(), "client died")
        total += result[0]
        errors += result[1]
        cpu += result[2]
        finished = max(finished, result[3])
        if len(result) > 4:
            problems.append(str(result[4]))
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    if problems and total == 0:
        raise RuntimeError(f"load generator failed: {problems[0]}")
    return LoadResult(total, errors, seconds if seconds is not None else finished - start_at, cpu)


def throughput(endpoint: str, request: bytes, connections: int, seconds: float) -> LoadResult:
    """Closed-loop load with ``connections`` client processes for ``seconds``."""
    return parallel(replay(endpoint, [[request]]), connections, seconds)
