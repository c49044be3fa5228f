"""The execution-engine figures of BENCHMARKS.md, each with its same-run baseline.

A ``Bench`` owns the servers a run needs and starts each lazily: a Cloudlet
with a short keep-warm (so idle environments are reaped and calls are cold),
a Cloudlet with the default keep-warm (warm figures), the bare ASGI baseline
and MiniStack.  Every figure function returns a ``Figure`` and never raises for
a peer that is missing: the peer columns then say why.
"""

from __future__ import annotations

import base64
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloudlet.bench import loadgen
from cloudlet.bench.common import (
    AsgiHelloServer,
    ChildServer,
    CloudletServer,
    Figure,
    MiniStackServer,
    MotoServer,
    RawConnection,
    Stats,
    create_function,
    invoke_request,
    ministack_command,
    moto_command,
    ms,
    tree_memory_kb,
)
from cloudlet.bench.events import EVENT_FIGURES
from cloudlet.bench.services import SERVICE_FIGURES

#: Keep-warm of the "cold" server: idle environments are reaped within ~0.4 s.
SHORT_KEEP_WARM = 0.3
PAYLOAD_1K = b'{"data": "' + b"x" * 1012 + b'"}'


@dataclass(frozen=True)
class Plan:
    """Sample counts of one run."""

    cold: int  # functions per cold figure (each: a first call and a call after scale-to-zero)
    fork: int
    fresh_python: int
    peer_cold: int
    warm: int
    peer_warm: int
    tp_runs: int
    tp_seconds: float
    peer_tp_runs: int
    idle_functions: int
    burst_runs: int
    burst_hold_s: float
    peer_burst_runs: int = 0
    # service figures (cloudlet.bench.services)
    svc_runs: int = 3  # throughput runs per figure (Cloudlet)
    peer_svc_runs: int = 2
    svc_seconds: float = 3.0
    large_mib: int = 256  # s3-large object size
    large_runs: int = 2
    list_keys: int = 100_000  # s3-list
    list_runs: int = 2
    sqs_depth: int = 100_000
    depth_cycles: int = 300  # send/receive/delete cycles timed at each depth
    events: int = 300  # event-s3 / event-sqs samples
    #: Seconds a peer may take to load s3-list's keys or fill sqs's deep queue (it stops early, after a
    #: sixth of this, when its pace cannot make it), and an eighth of it for each set of its sqs-depth cycles:
    #: moto's server manages ~200 PUTs/s and its SQS slows down with depth.  A shortfall is reported.
    peer_budget_s: float = 120.0


FULL = Plan(cold=60, fork=200, fresh_python=10, peer_cold=8, warm=5000, peer_warm=200, tp_runs=5,
            tp_seconds=5.0, peer_tp_runs=3, idle_functions=1000, burst_runs=5, burst_hold_s=2.0, peer_burst_runs=2)  # fmt: skip
QUICK = Plan(cold=12, fork=50, fresh_python=3, peer_cold=3, warm=600, peer_warm=40, tp_runs=3,
             tp_seconds=1.5, peer_tp_runs=1, idle_functions=1000, burst_runs=2, burst_hold_s=2.0,
             svc_runs=2, peer_svc_runs=1, svc_seconds=1.5, large_mib=64, large_runs=1, list_keys=10_000,
             list_runs=1, sqs_depth=10_000, depth_cycles=60, events=60, peer_budget_s=20.0)  # fmt: skip
#: For the suite's own smoke test (``CLOUDLET_BENCH_TINY=1``): just enough to produce every field.
TINY = Plan(cold=2, fork=5, fresh_python=1, peer_cold=1, warm=20, peer_warm=5, tp_runs=1,
            tp_seconds=0.5, peer_tp_runs=1, idle_functions=20, burst_runs=1, burst_hold_s=0.5,
            svc_runs=1, peer_svc_runs=1, svc_seconds=0.5, large_mib=4, large_runs=1, list_keys=300,
            list_runs=1, sqs_depth=200, depth_cycles=10, events=5, peer_budget_s=5.0)  # fmt: skip


class Bench:
    """The servers of one run, started on first use and stopped by ``close``."""

    def __init__(self, plan: Plan, *, peers: bool = True, log: Callable[[str], None] = print) -> None:
        self.plan = plan
        self.peers = peers
        self.log = log
        self.results: dict[str, Figure] = {}
        #: Extra rows a figure adds after its own (e.g. ddb's GetItem and Query rows).
        self.extras: list[Figure] = []
        #: Values figures share within a run (e.g. a baseline measured once).
        self.cache: dict[str, Any] = {}
        self._servers: dict[str, ChildServer] = {}
        self._peer_errors: dict[str, str] = {}

    def server(self, key: str) -> ChildServer:
        if key not in self._servers:
            factories: dict[str, Callable[[], ChildServer]] = {
                "cold": lambda: CloudletServer(keep_warm=SHORT_KEEP_WARM, max_workers=96),
                "warm": lambda: CloudletServer(),
                "asgi": AsgiHelloServer,
                "ministack": MiniStackServer,
                "moto": MotoServer,
                "services": lambda: CloudletServer(),  # the service figures' own Cloudlet
            }
            self.log(f"starting {key} server")
            self._servers[key] = factories[key]().start()
        return self._servers[key]

    def ministack(self) -> tuple[ChildServer | None, str]:
        """MiniStack, or (None, why not)."""
        return self.peer("ministack")

    def peer(self, key: str) -> tuple[ChildServer | None, str]:
        """The peer ``key`` ("ministack" or "moto"), or (None, why not)."""
        if not self.peers:
            return None, "skipped"
        command = {"ministack": ministack_command, "moto": moto_command}[key]
        if command() is None:
            return None, "not installed"
        if key in self._peer_errors:
            return None, self._peer_errors[key]
        try:
            return self.server(key), ""
        except Exception as exc:
            self._peer_errors[key] = f"failed to start: {exc}"[:200]
            return None, self._peer_errors[key]

    def stop_server(self, key: str) -> None:
        server = self._servers.pop(key, None)
        if server is not None:
            server.stop()

    def close(self) -> None:
        for key in list(self._servers):
            self.stop_server(key)


# --------------------------------------------------------------------------- cold starts


def _log_has_init(headers: dict[str, str]) -> bool:
    raw = headers.get("x-amz-log-result")
    return bool(raw) and b"Init Duration" in base64.b64decode(raw or "")


def _timed_invoke(endpoint: str, function: str, payload: bytes = b"{}") -> tuple[float, bool, int]:
    """One invoke on a fresh connection, timed from send to the last byte: (ms, cold?, status)."""
    request = invoke_request(endpoint, function, payload, tail_log=True)
    conn = RawConnection(endpoint)
    try:
        t0 = time.perf_counter()
        status, headers, _ = conn.request(request)
        elapsed = ms(time.perf_counter() - t0)
    finally:
        conn.close()
    return elapsed, _log_has_init(headers), status


def cold_samples(server: ChildServer, kind: str, count: int, *, scale_to_zero: bool) -> dict[str, Any]:
    """First invoke of ``count`` fresh functions, then (optionally) one more each after they were reaped."""
    client = server.client("lambda")
    names = [f"bench-{kind}-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    first: list[float] = []
    again: list[float] = []
    not_cold = errors = 0
    for name in names:
        create_function(client, name, kind)
        elapsed, cold, status = _timed_invoke(server.endpoint, name)
        first.append(elapsed)
        errors += status != 200
    if scale_to_zero:
        time.sleep(SHORT_KEEP_WARM * 2 + 0.3)  # past keep-warm plus a reaper period
        for name in names:
            elapsed, cold, status = _timed_invoke(server.endpoint, name)
            again.append(elapsed)
            not_cold += not cold
            errors += status != 200
    return {"first": first, "again": again, "not_cold": not_cold, "errors": errors}


def fork_floor(count: int) -> Stats:
    """``fork()`` of this (warm, boto3-loaded) Python process until the child runs."""
    samples = []
    for _ in range(count):
        r, w = os.pipe()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child
            os.write(w, b"x")
            os._exit(0)
        os.read(r, 1)
        samples.append(ms(time.perf_counter() - t0))
        os.close(r)
        os.close(w)
        os.waitpid(pid, 0)
    return Stats.of(samples)


def _peer_cold(bench: Bench, kind: str, count: int) -> tuple[Stats | None, str]:
    peer, note = bench.ministack()
    if peer is None:
        return None, note
    try:
        data = cold_samples(peer, kind, count, scale_to_zero=False)
    except Exception as exc:
        return None, f"error: {exc}"[:200]
    return Stats.of(data["first"]), ""


def cold_hello(bench: Bench) -> Figure:
    bench.log("cold-hello: Cloudlet")
    data = cold_samples(bench.server("cold"), "hello", bench.plan.cold, scale_to_zero=True)
    stats = Stats.of(data["first"] + data["again"])
    bench.log("cold-hello: fork() floor")
    floor = fork_floor(bench.plan.fork)
    bench.log("cold-hello: MiniStack")
    peer, note = _peer_cold(bench, "hello", bench.plan.peer_cold)
    met = stats.p50 <= 10.0 and (peer is None or peer.p50 >= 10 * stats.p50)
    return Figure(
        "cold-hello", "ms", stats.p50, floor.p50, "fork() of a warm process",
        "p50 ≤ 10 ms, ≥ 10x faster than MiniStack", met,
        peer=peer.p50 if peer else None, peer_note=note,
        detail={"p99": stats.p99, "samples": stats.n,
                "first_after_deploy": vars(Stats.of(data["first"])),
                "after_scale_to_zero": vars(Stats.of(data["again"])),
                "not_cold_after_reap": data["not_cold"], "errors": data["errors"],
                "baseline": vars(floor), "peer": vars(peer) if peer else None},
    )  # fmt: skip


def fresh_python(count: int) -> Stats:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import boto3; boto3.client('s3')"], check=True, env=env)
        samples.append(ms(time.perf_counter() - t0))
    return Stats.of(samples)


def cold_boto3(bench: Bench) -> Figure:
    bench.log("cold-boto3: Cloudlet")
    count = max(1, bench.plan.cold // 2)
    data = cold_samples(bench.server("cold"), "boto3", count, scale_to_zero=True)
    stats = Stats.of(data["first"] + data["again"])
    bench.log("cold-boto3: fresh interpreter")
    base = fresh_python(bench.plan.fresh_python)
    bench.log("cold-boto3: MiniStack")
    peer, note = _peer_cold(bench, "boto3", bench.plan.peer_cold)
    return Figure(
        "cold-boto3", "ms", stats.p50, base.p50, "fresh python: import boto3 + client",
        "p50 ≤ 30 ms", stats.p50 <= 30.0, peer=peer.p50 if peer else None, peer_note=note,
        detail={"p99": stats.p99, "samples": stats.n,
                "first_after_deploy": vars(Stats.of(data["first"])),
                "after_scale_to_zero": vars(Stats.of(data["again"])),
                "not_cold_after_reap": data["not_cold"], "errors": data["errors"],
                "baseline": vars(base), "peer": vars(peer) if peer else None},
    )  # fmt: skip


# --------------------------------------------------------------------------- warm


def _deploy_hello(server: ChildServer) -> str:
    name = f"bench-warm-{uuid.uuid4().hex[:10]}"
    create_function(server.client("lambda"), name, "hello")
    return name


def warm_latency(bench: Bench) -> Figure:
    plan = bench.plan
    bench.log("warm-latency: Cloudlet and bare ASGI, interleaved")
    server, asgi = bench.server("warm"), bench.server("asgi")
    name = _deploy_hello(server)
    (stats, errors), (base, _) = loadgen.latency(
        [(s.endpoint, invoke_request(s.endpoint, name, PAYLOAD_1K)) for s in (server, asgi)], plan.warm
    )
    bench.log("warm-latency: MiniStack")
    peer_stats: Stats | None = None
    peer, note = bench.ministack()
    if peer is not None:
        try:
            peer_name = _deploy_hello(peer)
            request = invoke_request(peer.endpoint, peer_name, PAYLOAD_1K)
            ((peer_stats, _),) = loadgen.latency([(peer.endpoint, request)], plan.peer_warm, warmup=3)
        except Exception as exc:
            note = f"error: {exc}"[:200]
    overhead = stats.p50 - base.p50
    return Figure(
        "warm-latency", "ms", stats.p50, base.p50, "bare ASGI hello-world",
        "p50 overhead ≤ 0.3 ms over baseline", overhead <= 0.3,
        peer=peer_stats.p50 if peer_stats else None, peer_note=note,
        detail={"p99": stats.p99, "samples": stats.n, "overhead_ms": overhead, "errors": errors,
                "payload_bytes": len(PAYLOAD_1K), "baseline": vars(base),
                "peer": vars(peer_stats) if peer_stats else None},
    )  # fmt: skip


def _rates(targets: list[tuple[str, bytes]], runs: int, seconds: float) -> list[tuple[float, list[dict[str, float]]]]:
    """Median req/s per target over ``runs`` runs of 16 connections, the targets taking turns."""
    for endpoint, request in targets:  # warm up: 16 environments
        loadgen.throughput(endpoint, request, 16, min(1.0, seconds))
    out: list[list[dict[str, float]]] = [[] for _ in targets]
    for _ in range(runs):
        for i, (endpoint, request) in enumerate(targets):
            r = loadgen.throughput(endpoint, request, 16, seconds)
            out[i].append({"rate": r.rate, "requests": r.requests, "errors": r.errors,
                           "client_cores": r.client_cores})  # fmt: skip
    return [(statistics.median(o["rate"] for o in runs_), runs_) for runs_ in out]


def warm_throughput(bench: Bench) -> Figure:
    plan = bench.plan
    bench.log("warm-throughput: Cloudlet and bare ASGI, taking turns")
    server, asgi = bench.server("warm"), bench.server("asgi")
    name = _deploy_hello(server)
    (value, runs), (base, base_runs) = _rates(
        [(s.endpoint, invoke_request(s.endpoint, name, b"{}")) for s in (server, asgi)], plan.tp_runs, plan.tp_seconds
    )
    bench.log("warm-throughput: MiniStack")
    peer_rate: float | None = None
    peer_runs: list[dict[str, float]] = []
    peer, note = bench.ministack()
    if peer is not None:
        try:
            peer_name = _deploy_hello(peer)
            ((peer_rate, peer_runs),) = _rates(
                [(peer.endpoint, invoke_request(peer.endpoint, peer_name, b"{}"))], plan.peer_tp_runs, plan.tp_seconds
            )
        except Exception as exc:
            note = f"error: {exc}"[:200]
    met = value >= 0.35 * base and (peer_rate is None or value >= 10 * peer_rate)
    return Figure(
        "warm-throughput", "req/s", value, base, "bare ASGI hello-world",
        "≥ 0.35x baseline, ≥ 10x MiniStack", met, peer=peer_rate, peer_note=note,
        detail={"connections": 16, "seconds_per_run": plan.tp_seconds, "runs": runs,
                "baseline_runs": base_runs, "peer_runs": peer_runs},
    )  # fmt: skip


# --------------------------------------------------------------------------- idle, burst


def _idle_growth(server: ChildServer, count: int) -> tuple[int, int, int, int]:
    """(RSS, PSS) of the server's process tree in kB before and after deploying ``count`` functions."""
    from concurrent.futures import ThreadPoolExecutor

    assert server.proc is not None
    time.sleep(0.5)
    rss0, pss0 = tree_memory_kb(server.proc.pid)
    client = server.client("lambda")
    run = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: create_function(client, f"idle-{run}-{i}", "hello", wait=False), range(count)))
    time.sleep(0.5)
    rss1, pss1 = tree_memory_kb(server.proc.pid)
    return rss0, pss0, rss1, pss1


def idle(bench: Bench) -> Figure:
    count = bench.plan.idle_functions
    bench.log(f"idle: fresh Cloudlet, then {count} functions")
    with CloudletServer() as server:
        rss0, pss0, rss1, pss1 = _idle_growth(server, count)
    growth = (rss1 - rss0) / 1024
    per_1000 = growth * 1000 / count
    peer_value: float | None = None
    peer_detail: dict[str, float] = {}
    note = ""
    if not bench.peers or ministack_command() is None:
        note = "skipped" if not bench.peers else "not installed"
    else:
        bench.log(f"idle: fresh MiniStack, then {count} functions")
        try:
            with MiniStackServer() as peer:
                p_rss0, _, p_rss1, _ = _idle_growth(peer, count)
            peer_value = p_rss1 / 1024
            peer_detail = {"peer_baseline_mb": p_rss0 / 1024, "peer_growth_mb": (p_rss1 - p_rss0) / 1024}
        except Exception as exc:
            note = f"error: {exc}"[:200]
    return Figure(
        "idle", "MB", rss1 / 1024, rss0 / 1024, "RSS with no functions",
        "growth ≤ 50 MB for 1,000 functions", per_1000 <= 50.0, peer=peer_value, peer_note=note,
        detail={"functions": count, "growth_mb": growth, "growth_per_1000_mb": per_1000,
                "pss_mb": pss1 / 1024, "pss_baseline_mb": pss0 / 1024, **peer_detail},
    )  # fmt: skip


def _burst_once(endpoint: str, name: str, hold: float) -> dict[str, Any]:
    request = invoke_request(endpoint, name, f'{{"hold": {hold}}}'.encode())
    conns = [RawConnection(endpoint) for _ in range(64)]
    barrier = threading.Barrier(65)
    results: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def call(conn: RawConnection) -> None:
        barrier.wait()
        status, _, body = conn.request(request)
        with lock:
            results.append((status, body))

    threads = [threading.Thread(target=call, args=(c,), daemon=True) for c in conns]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.time()
    for t in threads:
        t.join(120)
    for c in conns:
        c.close()
    import json

    ok = [json.loads(body) for status, body in results if status == 200]
    started = [r["started"] for r in ok if isinstance(r, dict) and "started" in r]
    return {
        "all_started_ms": ms(max(started) - t0) if len(started) == 64 else None,
        "started": len(started),
        "environments": len({r["pid"] for r in ok if isinstance(r, dict) and "pid" in r}),
        "statuses": sorted({status for status, _ in results}),
    }


def _peer_burst(bench: Bench) -> tuple[float | None, str, list[dict[str, Any]]]:
    """MiniStack's burst (it starts every environment one after another: ~20 s a run, so full runs only)."""
    if bench.plan.peer_burst_runs == 0:
        return None, "full run only", []
    peer, note = bench.ministack()
    if peer is None:
        return None, note, []
    runs = []
    try:
        for i in range(bench.plan.peer_burst_runs):
            bench.log(f"burst: MiniStack run {i + 1}")
            name = f"bench-burst-{uuid.uuid4().hex[:10]}"
            create_function(peer.client("lambda"), name, "burst")
            runs.append(_burst_once(peer.endpoint, name, bench.plan.burst_hold_s))
    except Exception as exc:
        return None, f"error: {exc}"[:200], runs
    times = [r["all_started_ms"] for r in runs if r["all_started_ms"] is not None]
    return (statistics.median(times), "", runs) if times else (None, "not all 64 started", runs)


def burst(bench: Bench) -> Figure:
    cold = bench.results.get("cold-hello")
    server = bench.server("cold")
    if cold is not None and cold.value is not None:
        cold_p50 = cold.value
    else:
        bench.log("burst: measuring cold-hello for the target")
        data = cold_samples(server, "hello", max(2, bench.plan.cold // 4), scale_to_zero=False)
        cold_p50 = Stats.of(data["first"]).p50
    runs = []
    for i in range(bench.plan.burst_runs):
        bench.log(f"burst: run {i + 1}")
        name = f"bench-burst-{uuid.uuid4().hex[:10]}"
        create_function(server.client("lambda"), name, "burst")
        runs.append(_burst_once(server.endpoint, name, bench.plan.burst_hold_s))
        time.sleep(SHORT_KEEP_WARM + bench.plan.burst_hold_s)
    times = [r["all_started_ms"] for r in runs if r["all_started_ms"] is not None]
    value = statistics.median(times) if times else None
    target = 64 * cold_p50 / 2
    peer_value, note, peer_runs = _peer_burst(bench)
    return Figure(
        "burst", "ms", value, cold_p50, "cold-hello p50",
        f"≤ 64 x cold-hello / 2 ({target:.0f} ms)", value is not None and value <= target,
        peer=peer_value, peer_note=note, detail={"runs": runs, "target_ms": target, "peer_runs": peer_runs},
        error=None if times else "not all 64 invocations started",
    )  # fmt: skip


FIGURES: dict[str, Callable[[Bench], Figure]] = {
    "cold-hello": cold_hello,
    "cold-boto3": cold_boto3,
    "warm-latency": warm_latency,
    "warm-throughput": warm_throughput,
    "idle": idle,
    "burst": burst,
    **SERVICE_FIGURES,
    **EVENT_FIGURES,
}


def run(names: list[str], plan: Plan, *, peers: bool = True, log: Callable[[str], None] = print) -> list[Figure]:
    """Run the named figures in suite order; a failing figure becomes a row with ``error``."""
    bench = Bench(plan, peers=peers, log=log)
    try:
        for name in FIGURES:
            if name not in names:
                continue
            started = time.monotonic()
            try:
                figure = FIGURES[name](bench)
            except Exception as exc:
                figure = Figure(name, "", None, None, "", "", None, error=f"{type(exc).__name__}: {exc}"[-4000:])
            figure.seconds = time.monotonic() - started
            bench.results[name] = figure
            for extra in bench.extras:
                bench.results[extra.name] = extra
            bench.extras.clear()
            if name in ("warm-throughput",):
                with contextlib.suppress(Exception):
                    bench.stop_server("warm")  # its 16 warm environments would skew later figures
    finally:
        bench.close()
    return list(bench.results.values())
