"""``cloudlet bench`` end to end: a smoke run with a handful of samples (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers import ServerProcess

from cloudlet.bench.common import (
    RawConnection,
    Stats,
    create_function,
    invoke_request,
    ministack_command,
    process_tree,
    tree_memory_kb,
)


def test_bench_quick_writes_every_field(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    env = {**os.environ, "CLOUDLET_BENCH_TINY": "1", "COLUMNS": "200"}
    env.pop("CLOUDLET_BENCH_NO_PEERS", None)
    args = ["bench", "--quick", "--only", "cold-hello", "--only", "warm-latency", "--json", str(out)]
    proc = subprocess.run([sys.executable, "-m", "cloudlet", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for name in ("cold-hello", "warm-latency", "figure", "baseline", "ratio", "target"):
        assert name in proc.stdout

    doc = json.loads(out.read_text())
    assert doc["mode"] == "tiny"
    assert set(doc["figures"]) == {"cold-hello", "warm-latency"}
    for figure in doc["figures"].values():
        assert figure["error"] is None, figure["error"]
        assert figure["unit"] == "ms"
        for field in ("value", "baseline", "ratio"):
            assert isinstance(figure[field], float) and figure[field] > 0, (figure["name"], field)
        assert figure["ratio"] == figure["value"] / figure["baseline"]
        assert figure["target"] and isinstance(figure["met"], bool)
        assert figure["detail"]["samples"] > 0 and figure["detail"]["p99"] >= figure["value"]
        if ministack_command() is None:
            assert figure["peer"] is None and figure["peer_note"] == "not installed"
        else:
            assert figure["peer"] is not None and figure["peer"] > 0, figure["peer_note"]
    cold = doc["figures"]["cold-hello"]["detail"]
    assert cold["errors"] == 0 and cold["not_cold_after_reap"] == 0
    assert doc["figures"]["warm-latency"]["detail"]["errors"] == 0


def test_bench_service_figures_without_peers(tmp_path: Path) -> None:
    out = tmp_path / "services.json"
    env = {**os.environ, "CLOUDLET_BENCH_TINY": "1", "COLUMNS": "250", "CLOUDLET_BENCH_NO_PEERS": "1"}
    args = ["bench", "--only", "s3-small", "--only", "sqs", "--json", str(out)]
    proc = subprocess.run([sys.executable, "-m", "cloudlet", *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for name in ("s3-small", "sqs-depth", "moto", "MiniStack", "ops/s", "msgs/s"):
        assert name in proc.stdout

    figures = json.loads(out.read_text())["figures"]
    assert list(figures) == ["s3-small", "sqs", "sqs-depth"]  # sqs adds its depth row after its own
    for name, unit in (("s3-small", "ops/s"), ("sqs", "msgs/s")):
        figure = figures[name]
        assert figure["error"] is None, figure["error"]
        assert figure["unit"] == unit and figure["value"] > 0
        # the baseline is the faster peer: with none running there is no baseline, ratio or verdict
        assert figure["baseline"] is None and figure["ratio"] is None and figure["met"] is None
        assert (figure["peer"], figure["peer_note"], figure["moto"], figure["moto_note"]) == (None, "skipped", None, "skipped")
        runs = figure["detail"]["runs"]
        assert len(runs) == 1 and runs[0]["errors"] == 0 and runs[0]["operations"] > 0
        assert 0 < runs[0]["client_cores"] < 8
    depth = figures["sqs-depth"]
    own = depth["detail"]["by_server"]["cloudlet"]
    assert own["queued"] == depth["detail"]["depth"] == 200
    assert depth["value"] == own["depth_n"]["p50"] > 0 and depth["baseline"] == own["depth_0"]["p50"] > 0
    assert isinstance(depth["met"], bool)


def test_raw_connection_reconnects_after_connection_close() -> None:
    """moto's server answers HTTP/1.0-style (``Connection: close``): the next request connects again."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                while b"\r\n\r\n" not in conn.recv(65536):
                    pass
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    conn = RawConnection(f"http://127.0.0.1:{port}", timeout=5)
    try:
        assert conn.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[::2] == (200, b"ok")
        assert conn.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")[::2] == (200, b"ok")
        assert conn.reconnects == 1
    finally:
        conn.close()
        thread.join(5)
        listener.close()


def test_bench_rejects_unknown_figure() -> None:
    proc = subprocess.run([sys.executable, "-m", "cloudlet", "bench", "--only", "nope"],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 2
    assert "nope" in proc.stderr


def test_stats_median_p99_and_count() -> None:
    stats = Stats.of([float(i) for i in range(100, 0, -1)])
    assert (stats.p50, stats.p99, stats.n) == (50.5, 99.0, 100)
    assert Stats.of([]).n == 0


def test_process_tree_includes_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in process_tree(os.getpid())
        rss, pss = tree_memory_kb(os.getpid())
        own, _ = tree_memory_kb(child.pid)
        assert rss > own > 0 and pss > 0
    finally:
        child.kill()
        child.wait()


def test_presigned_invoke_replays_over_one_connection(server: ServerProcess, aws_client: Callable[..., Any]) -> None:
    name = f"bench-replay-{uuid.uuid4().hex[:8]}"
    create_function(aws_client("lambda"), name, "hello")
    request = invoke_request(server.endpoint, name, b'{"x": 1}')
    conn = RawConnection(server.endpoint)
    try:
        for _ in range(3):  # the same signed bytes, again and again (keep-alive)
            status, headers, body = conn.request(request)
            assert status == 200, body
            assert json.loads(body) == {"ok": True}
            assert int(headers["content-length"]) == len(body)
    finally:
        conn.close()
