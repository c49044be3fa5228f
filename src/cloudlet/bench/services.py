"""The service figures of BENCHMARKS.md (S3, SQS, DynamoDB), each against moto's server and MiniStack.

Every workload runs on a Cloudlet of its own (``bench.server("services")``) and,
in the same run, on moto's server and MiniStack when they are installed; the
faster peer is the baseline.  Requests are SigV4-signed by the clients and sent
over raw keep-alive sockets from several forked client processes (see
``loadgen``), whose CPU is reported.  The event figures live in
``cloudlet.bench.events``.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import math
import re
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cloudlet.bench import loadgen
from cloudlet.bench.common import (
    ChildServer,
    Figure,
    RawConnection,
    Stats,
    ms,
    signed_request,
    tree_memory_kb,
)

if TYPE_CHECKING:
    from cloudlet.bench.figures import Bench

#: Concurrent client processes for the throughput figures.
CLIENTS = 8
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PEERS = ("moto", "ministack")


# --------------------------------------------------------------------------- requests


def s3_request(endpoint: str, method: str, bucket: str, key: str = "", body: bytes = b"", query: str = "",
               *, content_length: int | None = None, headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """A signed path-style S3 request (``key`` and ``query`` percent-encoded here / by the caller)."""
    path = f"/{bucket}" + (f"/{quote(key, safe='/')}" if key else "") + (f"?{query}" if query else "")
    sha = "UNSIGNED-PAYLOAD" if content_length is not None else hashlib.sha256(body).hexdigest()
    head = {"x-amz-content-sha256": sha, **(headers or {})}
    return signed_request(endpoint, method, path, body, head, "s3", content_length=content_length)


def json_request(endpoint: str, service: str, target: str, payload: dict[str, Any]) -> bytes:
    """A signed JSON-protocol request (SQS ``AmazonSQS.*``, DynamoDB ``DynamoDB_20120810.*``)."""
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
    return signed_request(endpoint, "POST", "/", json.dumps(payload).encode(), headers, service)


def sqs_request(endpoint: str, operation: str, payload: dict[str, Any]) -> bytes:
    return json_request(endpoint, "sqs", f"AmazonSQS.{operation}", payload)


def ddb_request(endpoint: str, operation: str, payload: dict[str, Any]) -> bytes:
    return json_request(endpoint, "dynamodb", f"DynamoDB_20120810.{operation}", payload)


def _call(conn: RawConnection, request: bytes) -> dict[str, Any]:
    status, _, body = conn.request(request)
    if status >= 300:
        raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
    return json.loads(body) if body else {}


# --------------------------------------------------------------------------- comparing servers


def _targets(bench: Bench) -> list[tuple[str, ChildServer | None, str]]:
    """(name, server or None, why not) for Cloudlet and each peer."""
    out: list[tuple[str, ChildServer | None, str]] = [("cloudlet", bench.server("services"), "")]
    for key in PEERS:
        server, note = bench.peer(key)
        out.append((key, server, note))
    return out


class Comparison:
    """One value per server (Cloudlet, moto, MiniStack), with the per-run details."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {}
        self.notes: dict[str, str] = {}
        self.runs: dict[str, list[dict[str, float]]] = {}

    def peer_best(self) -> tuple[float | None, str]:
        """The faster peer's value and its name (higher is better)."""
        found = [(v, k) for k in PEERS if (v := self.values.get(k)) is not None]
        if not found:
            return None, ""
        return max(found)

    def figure(self, name: str, unit: str, target: str, factor: float = 5.0, detail: dict[str, Any] | None = None,
               value_key: str = "cloudlet") -> Figure:  # fmt: skip
        value = self.values.get(value_key)
        best, who = self.peer_best()
        met = None if value is None or best is None else value >= factor * best
        errors = sum(r.get("errors", 0) for r in self.runs.get(value_key, []))
        return Figure(
            name, unit, value, best, f"faster peer ({who})" if who else "faster peer (none ran)", target, met,
            peer=self.values.get("ministack"), peer_note=self.notes.get("ministack", ""),
            moto=self.values.get("moto"), moto_note=self.notes.get("moto", ""),
            detail={"clients": CLIENTS, "runs": self.runs.get(value_key, []),
                    "peer_runs": {k: self.runs.get(k, []) for k in PEERS}, "errors": errors, **(detail or {})},
            error=f"{errors:.0f} requests failed" if errors else None,
        )  # fmt: skip


def compare_throughput(bench: Bench, label: str, build: Callable[[ChildServer], loadgen.Work],
                       *, seconds: float | None = None) -> Comparison:  # fmt: skip
    """Median operations/s of ``build(server)``'s work with CLIENTS processes on every server, taking turns."""
    plan = bench.plan
    seconds = seconds or plan.svc_seconds
    result = Comparison()
    works: dict[str, loadgen.Work] = {}
    for key, server, note in _targets(bench):
        if server is None:
            result.values[key], result.notes[key] = None, note
            continue
        try:
            bench.log(f"{label}: setting up {key}")
            works[key] = build(server)
        except Exception as exc:
            if key == "cloudlet":
                raise
            result.values[key], result.notes[key] = None, f"error: {exc}"[:200]
    for run in range(plan.svc_runs):
        for key, work in works.items():
            if key != "cloudlet" and run >= plan.peer_svc_runs:
                continue
            bench.log(f"{label}: {key} run {run + 1}")
            try:
                r = loadgen.parallel(work, CLIENTS, seconds)
            except Exception as exc:
                if key == "cloudlet":
                    raise
                result.notes[key] = f"error: {exc}"[:200]
                continue
            # only successful operations count; errors are reported next to the rate
            result.runs.setdefault(key, []).append({"rate": (r.requests - r.errors) / r.seconds,
                                                    "operations": r.requests, "errors": r.errors,
                                                    "client_cores": r.client_cores})  # fmt: skip
    for key in works:
        runs = result.runs.get(key, [])
        result.values[key] = statistics.median(r["rate"] for r in runs) if runs else None
    return result


def _create_bucket(server: ChildServer, bucket: str) -> None:
    server.client("s3").create_bucket(Bucket=bucket)


# --------------------------------------------------------------------------- s3-small


def s3_small(bench: Bench) -> Figure:
    body = b"x" * 1024

    def build(server: ChildServer) -> loadgen.Work:
        bucket = f"bench-small-{uuid.uuid4().hex[:8]}"
        _create_bucket(server, bucket)
        scripts = [[s3_request(server.endpoint, "PUT", bucket, f"obj-{i}", body),
                    s3_request(server.endpoint, "GET", bucket, f"obj-{i}")] for i in range(CLIENTS)]  # fmt: skip
        return loadgen.replay(server.endpoint, scripts)

    result = compare_throughput(bench, "s3-small", build)
    return result.figure("s3-small", "ops/s", "≥ 5x the faster peer", detail={"object_bytes": len(body)})


# --------------------------------------------------------------------------- s3-large


def _read_head(sock: Any) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def _put_file(endpoint: str, bucket: str, key: str, path: Path) -> float:
    """Stream ``path`` as an object (UNSIGNED-PAYLOAD, sendfile); seconds until the response."""
    size = path.stat().st_size
    head = s3_request(endpoint, "PUT", bucket, key, content_length=size)
    conn = RawConnection(endpoint, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.sock.sendall(head)
        with open(path, "rb") as f:
            conn.sock.sendfile(f)
        status, _, body = conn.read_response()
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    if status >= 300:
        raise RuntimeError(f"PUT {size} bytes: HTTP {status}: {body[:300]!r}")
    return elapsed


def _get_object(endpoint: str, bucket: str, key: str, size: int) -> float:
    """GET the object, reading (and dropping) the body into a fixed buffer; seconds until the last byte."""
    request = s3_request(endpoint, "GET", bucket, key, headers={"Connection": "close"})
    conn = RawConnection(endpoint, timeout=600)
    buf = bytearray(1 << 20)
    try:
        t0 = time.perf_counter()
        conn.sock.sendall(request)
        status, headers, rest = _read_head(conn.sock)
        received = len(rest)
        length = int(headers.get("content-length", size))
        while received < length:
            n = conn.sock.recv_into(buf)
            if not n:
                break
            received += n
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    if status >= 300 or received < size:
        raise RuntimeError(f"GET: HTTP {status}, {received} of {size} bytes")
    return elapsed


class RssWatch:
    """Peak RSS of a server's process tree, sampled every 50 ms in a thread."""

    def __init__(self, server: ChildServer) -> None:
        assert server.proc is not None
        self.pid = server.proc.pid
        self.before = tree_memory_kb(self.pid)[0]
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_memory_kb(self.pid)[0])

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_memory_kb(self.pid)[0])

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 1024


def _large_on(bench: Bench, server: ChildServer, path: Path, key: str) -> dict[str, Any]:
    """PUT and GET MB/s (median over the plan's runs) and the peak RSS growth of ``server``."""
    size = path.stat().st_size
    bucket = f"bench-large-{uuid.uuid4().hex[:8]}"
    _create_bucket(server, bucket)
    puts, gets = [], []
    with RssWatch(server) as watch:
        for run in range(bench.plan.large_runs):
            bench.log(f"s3-large: {key} run {run + 1}")
            puts.append(size / 1e6 / _put_file(server.endpoint, bucket, "big", path))
            gets.append(size / 1e6 / _get_object(server.endpoint, bucket, "big", size))
    with contextlib.suppress(Exception):  # peers hold objects in memory: free it for the figures that follow
        server.client("s3").delete_object(Bucket=bucket, Key="big")
    return {"put": statistics.median(puts), "get": statistics.median(gets), "rss_growth_mb": watch.growth_mb,
            "put_runs": puts, "get_runs": gets}  # fmt: skip


def _cp_rate(path: Path, runs: int) -> float:
    rates = []
    for _ in range(runs):
        target = path.with_suffix(".copy")
        t0 = time.perf_counter()
        subprocess.run(["cp", str(path), str(target)], check=True)
        rates.append(path.stat().st_size / 1e6 / (time.perf_counter() - t0))
        target.unlink()
    return statistics.median(rates)


def s3_large(bench: Bench) -> Figure:
    plan = bench.plan
    targets = _targets(bench)
    cloudlet = targets[0][1]
    assert cloudlet is not None
    # The file sits on the same disk as the Cloudlet's data dir, as does cp's copy.
    folder = Path(tempfile.mkdtemp(prefix="large-", dir=cloudlet.dir))
    path = folder / "object.bin"
    bench.log(f"s3-large: writing a {plan.large_mib} MiB file")
    with open(path, "wb") as f:
        block = bytes(range(256)) * 4096  # 1 MiB
        for i in range(plan.large_mib):
            f.write(block[i % 256:] + block[: i % 256])
    try:
        bench.log("s3-large: cp baseline")
        base = _cp_rate(path, max(1, plan.large_runs))
        results: dict[str, dict[str, Any]] = {}
        notes: dict[str, str] = {}
        for key, server, note in targets:
            if server is None:
                notes[key] = note
                continue
            try:
                results[key] = _large_on(bench, server, path, key)
            except Exception as exc:
                if key == "cloudlet":
                    raise
                notes[key] = f"error: {exc}"[:200]
    finally:
        path.unlink(missing_ok=True)
    own = results["cloudlet"]

    def peer(key: str, field: str) -> float | None:
        return results[key][field] if key in results else None

    peer_detail = {k: results.get(k) for k in PEERS}
    common: dict[str, Any] = {"object_mib": plan.large_mib, "runs_per_server": plan.large_runs,
                              "rss_growth_mb": own["rss_growth_mb"], "peers": peer_detail}  # fmt: skip
    rss_ok = own["rss_growth_mb"] < 64
    put = Figure(
        "s3-large", "MB/s", own["put"], base, "cp of the same file, same disk",
        "PUT ≥ 0.3x cp, RSS growth < 64 MB", own["put"] >= 0.3 * base and rss_ok,
        peer=peer("ministack", "put"), peer_note=notes.get("ministack", ""),
        moto=peer("moto", "put"), moto_note=notes.get("moto", ""), detail={**common, "put_runs": own["put_runs"]},
    )  # fmt: skip
    bench.extras.append(Figure(
        "s3-large-get", "MB/s", own["get"], base, "cp of the same file, same disk",
        "GET ≥ 0.3x cp, RSS growth < 64 MB", own["get"] >= 0.3 * base and rss_ok,
        peer=peer("ministack", "get"), peer_note=notes.get("ministack", ""),
        moto=peer("moto", "get"), moto_note=notes.get("moto", ""), detail={**common, "get_runs": own["get_runs"]},
    ))  # fmt: skip
    return put


# --------------------------------------------------------------------------- s3-list

_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")


def _hopeless(done: int, share: int, started: float, budget: float | None) -> bool:
    """True once a client, past a sixth of its budget, is on a pace that cannot finish ``share`` in it."""
    if budget is None:
        return False
    elapsed = time.time() - started
    return elapsed >= budget or (elapsed > budget / 6 and done < 0.9 * share * elapsed / budget)


def _load_keys(server: ChildServer, bucket: str, count: int, budget: float | None) -> tuple[int, float]:
    """PUT up to ``count`` empty objects with CLIENTS processes, within ``budget`` seconds: (keys, seconds)."""
    endpoint = server.endpoint

    def work(index: int, start_at: float, stop_at: float) -> tuple[int, int]:
        conn = RawConnection(endpoint)
        loadgen.wait_until(start_at)
        done = errors = 0
        share = len(range(index, count, CLIENTS))
        for i in range(index, count, CLIENTS):
            if _hopeless(done, share, start_at, budget):
                break
            status, _, _ = conn.request(s3_request(endpoint, "PUT", bucket, f"k/{i:07d}"))
            done += status < 300
            errors += status >= 300
        conn.close()
        return done, errors

    result = loadgen.parallel(work, CLIENTS, None)
    if result.errors:
        raise RuntimeError(f"{result.errors} of {count} PUTs failed")
    return result.requests, result.seconds


def list_all(endpoint: str, bucket: str) -> tuple[int, int]:
    """Page through the bucket with ListObjectsV2 (1,000 keys a page): (keys, pages)."""
    conn = RawConnection(endpoint, timeout=600)
    keys = pages = 0
    token: str | None = None
    try:
        while True:
            query = "list-type=2&max-keys=1000"
            if token is not None:
                query = f"continuation-token={quote(token, safe='')}&{query}"
            status, _, body = conn.request(s3_request(endpoint, "GET", bucket, query=query))
            if status >= 300:
                raise RuntimeError(f"ListObjectsV2: HTTP {status}: {body[:300]!r}")
            keys += body.count(b"<Key>")
            pages += 1
            found = _TOKEN.search(body) if b"<IsTruncated>true</IsTruncated>" in body else None
            if found is None:
                return keys, pages
            token = html.unescape(found.group(1).decode())
    finally:
        conn.close()


def s3_list(bench: Bench) -> Figure:
    plan = bench.plan
    count = plan.list_keys
    result = Comparison()
    loads: dict[str, dict[str, float]] = {}
    times: dict[str, list[float]] = {}
    for key, server, note in _targets(bench):
        if server is None:
            result.values[key], result.notes[key] = None, note
            continue
        try:
            bucket = f"bench-list-{uuid.uuid4().hex[:8]}"
            _create_bucket(server, bucket)
            bench.log(f"s3-list: {key}: loading {count:,} keys")
            loaded, seconds = _load_keys(server, bucket, count, None if key == "cloudlet" else plan.peer_budget_s)
            loads[key] = {"keys": loaded, "puts_per_s": loaded / seconds}
            if loaded < count:
                result.notes[key] = f"only {loaded:,} keys loaded ({loaded / seconds:,.0f}/s; budget {plan.peer_budget_s:g} s)"
            runs = plan.list_runs if key == "cloudlet" else min(plan.list_runs, plan.peer_svc_runs)
            for run in range(runs):
                bench.log(f"s3-list: {key}: full listing {run + 1}")
                t0 = time.perf_counter()
                keys, pages = list_all(server.endpoint, bucket)
                elapsed = time.perf_counter() - t0
                if keys != loaded:
                    raise RuntimeError(f"listed {keys} keys of {loaded}")
                times.setdefault(key, []).append(elapsed)
                result.runs.setdefault(key, []).append({"rate": keys / elapsed, "seconds": elapsed, "pages": pages})
            if loaded == count:  # a listing of fewer keys is not the same workload
                result.values[key] = count / statistics.median(times[key])
        except Exception as exc:
            if key == "cloudlet":
                raise
            result.values[key], result.notes[key] = None, f"error: {exc}"[:200]
    return result.figure("s3-list", "keys/s", "≥ 5x the faster peer", detail={
        "keys": count, "full_listing_ms": {k: ms(statistics.median(v)) for k, v in times.items()},
        "load": loads})  # fmt: skip


# --------------------------------------------------------------------------- sqs


def _create_queue(server: ChildServer) -> str:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    return str(server.client("sqs").create_queue(QueueName=name)["QueueUrl"])


def sqs_cycle(conn: RawConnection, endpoint: str, url: str, body: str) -> int:
    """SendMessageBatch(10), ReceiveMessage(10), DeleteMessageBatch of what was received: messages deleted."""
    entries = [{"Id": str(j), "MessageBody": body} for j in range(10)]
    _call(conn, sqs_request(endpoint, "SendMessageBatch", {"QueueUrl": url, "Entries": entries}))
    got = _call(conn, sqs_request(endpoint, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}))
    messages = got.get("Messages") or []
    if messages:
        handles = [{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(messages)]
        deleted = _call(conn, sqs_request(endpoint, "DeleteMessageBatch", {"QueueUrl": url, "Entries": handles}))
        if deleted.get("Failed"):
            raise RuntimeError(f"DeleteMessageBatch failed: {deleted['Failed'][:1]}")
    return len(messages)


def _sqs_work(server: ChildServer) -> loadgen.Work:
    urls = [_create_queue(server) for _ in range(CLIENTS)]  # one queue per client
    endpoint = server.endpoint

    def work(index: int, start_at: float, stop_at: float) -> tuple[int, int]:
        conn = RawConnection(endpoint)
        url = urls[index % len(urls)]
        sqs_cycle(conn, endpoint, url, "x" * 100)
        loadgen.wait_until(start_at)
        done = 0
        while time.time() < stop_at:
            done += sqs_cycle(conn, endpoint, url, "x" * 100)
        conn.close()
        return done, 0

    return work


def _fill_queue(endpoint: str, url: str, count: int, budget: float | None) -> int:
    """SendMessageBatch ``count`` messages with CLIENTS processes, within ``budget`` seconds: messages sent."""

    def work(index: int, start_at: float, stop_at: float) -> tuple[int, int]:
        conn = RawConnection(endpoint)
        loadgen.wait_until(start_at)
        done = 0
        share = sum(min(10, count - start) for start in range(index * 10, count, CLIENTS * 10))
        for start in range(index * 10, count, CLIENTS * 10):
            if _hopeless(done, share, start_at, budget):
                break
            entries = [{"Id": str(j), "MessageBody": f"fill-{start + j}"} for j in range(min(10, count - start))]
            _call(conn, sqs_request(endpoint, "SendMessageBatch", {"QueueUrl": url, "Entries": entries}))
            done += len(entries)
        conn.close()
        return done, 0

    return loadgen.parallel(work, CLIENTS, None).requests


def _cycle_times(endpoint: str, url: str, cycles: int, budget: float | None) -> list[float]:
    """Up to ``cycles`` timed send/receive/delete cycles (at least 3, then no longer than ``budget`` s)."""
    deadline = time.monotonic() + budget if budget is not None else math.inf
    conn = RawConnection(endpoint)
    try:
        for _ in range(2):  # warm up the connection and the queue's first lookups
            sqs_cycle(conn, endpoint, url, "x" * 100)
        samples: list[float] = []
        while len(samples) < cycles and (len(samples) < 3 or time.monotonic() < deadline):
            t0 = time.perf_counter()
            sqs_cycle(conn, endpoint, url, "x" * 100)
            samples.append(ms(time.perf_counter() - t0))
        return samples
    finally:
        conn.close()


def _depth_on(bench: Bench, server: ChildServer, key: str) -> dict[str, Any]:
    plan = bench.plan
    budget = None if key == "cloudlet" else plan.peer_budget_s
    cycles_budget = None if budget is None else budget / 8
    url = _create_queue(server)
    empty = Stats.of(_cycle_times(server.endpoint, url, plan.depth_cycles, cycles_budget))
    bench.log(f"sqs: {key}: filling a queue with {plan.sqs_depth:,} messages")
    url = _create_queue(server)
    t0 = time.perf_counter()
    queued = _fill_queue(server.endpoint, url, plan.sqs_depth, budget)
    fill_s = time.perf_counter() - t0
    deep = Stats.of(_cycle_times(server.endpoint, url, plan.depth_cycles, cycles_budget))
    return {"depth_0": vars(empty), "depth_n": vars(deep), "queued": queued, "fill_msgs_per_s": queued / fill_s}


def sqs(bench: Bench) -> Figure:
    plan = bench.plan
    result = compare_throughput(bench, "sqs", _sqs_work)
    figure = result.figure("sqs", "msgs/s", "≥ 5x the faster peer",
                           detail={"cycle": "SendMessageBatch(10) + ReceiveMessage(10) + DeleteMessageBatch"})
    depth: dict[str, dict[str, Any]] = {}
    notes: dict[str, str] = {}
    for key, server, note in _targets(bench):
        if server is None:
            notes[key] = note
            continue
        try:
            depth[key] = _depth_on(bench, server, key)
        except Exception as exc:
            if key == "cloudlet":
                raise
            notes[key] = f"error: {exc}"[:200]

    def p50(key: str) -> float | None:
        return depth[key]["depth_n"]["p50"] if key in depth and depth[key]["queued"] == plan.sqs_depth else None

    for key, found in depth.items():
        if found["queued"] < plan.sqs_depth:
            notes[key] = (f"only {found['queued']:,} queued ({found['fill_msgs_per_s']:,.0f}/s; "
                          f"budget {plan.peer_budget_s:g} s)")  # fmt: skip

    own = depth["cloudlet"]
    flat = own["depth_n"]["p50"] <= 1.5 * own["depth_0"]["p50"]
    bench.extras.append(Figure(
        "sqs-depth", "ms", own["depth_n"]["p50"], own["depth_0"]["p50"], "same cycle on an empty queue",
        f"flat: p50 at {plan.sqs_depth:,} queued ≤ 1.5x at 0", flat,
        peer=p50("ministack"), peer_note=notes.get("ministack", ""), moto=p50("moto"), moto_note=notes.get("moto", ""),
        detail={"p99": own["depth_n"]["p99"], "samples": own["depth_n"]["n"], "depth": plan.sqs_depth,
                "by_server": depth},
    ))  # fmt: skip
    return figure


# --------------------------------------------------------------------------- ddb


def _ddb_table(server: ChildServer) -> str:
    client = server.client("dynamodb")
    name = f"bench-{uuid.uuid4().hex[:10]}"
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "N"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}])  # fmt: skip
    for _ in range(200):
        if client.describe_table(TableName=name)["Table"].get("TableStatus") == "ACTIVE":
            break
        time.sleep(0.05)
    for start in range(0, 100, 25):  # the partition Query reads: 100 items
        items = [{"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"N": str(i)}, "data": {"S": "x" * 100}}}}
                 for i in range(start, start + 25)]  # fmt: skip
        client.batch_write_item(RequestItems={name: items})
    return name


def ddb(bench: Bench) -> Figure:
    tables: dict[str, str] = {}

    def table(server: ChildServer) -> str:
        if server.endpoint not in tables:
            tables[server.endpoint] = _ddb_table(server)
        return tables[server.endpoint]

    def put(server: ChildServer) -> loadgen.Work:
        name = table(server)
        return loadgen.replay(server.endpoint, [[ddb_request(server.endpoint, "PutItem", {
            "TableName": name, "Item": {"pk": {"S": f"c{i}"}, "sk": {"N": "0"}, "data": {"S": "x" * 100}}})]
            for i in range(CLIENTS)])  # fmt: skip

    def get(server: ChildServer) -> loadgen.Work:
        name = table(server)
        return loadgen.replay(server.endpoint, [[ddb_request(server.endpoint, "GetItem", {
            "TableName": name, "Key": {"pk": {"S": f"c{i}"}, "sk": {"N": "0"}}})] for i in range(CLIENTS)])

    def query(server: ChildServer) -> loadgen.Work:
        request = ddb_request(server.endpoint, "Query", {
            "TableName": table(server), "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "q"}}})  # fmt: skip
        conn = RawConnection(server.endpoint)
        try:
            count = _call(conn, request).get("Count")
        finally:
            conn.close()
        if count != 100:
            raise RuntimeError(f"Query returned {count} items, not 100")
        return loadgen.replay(server.endpoint, [[request]])

    puts = compare_throughput(bench, "ddb PutItem", put)
    gets = compare_throughput(bench, "ddb GetItem", get)
    queries = compare_throughput(bench, "ddb Query", query)
    bench.extras.append(gets.figure("ddb-get", "ops/s", "≥ 5x the faster peer"))
    bench.extras.append(queries.figure("ddb-query", "ops/s", "≥ 5x the faster peer", detail={"items": 100}))
    return puts.figure("ddb", "ops/s", "≥ 5x the faster peer", detail={"operation": "PutItem"})


SERVICE_FIGURES: dict[str, Callable[[Bench], Figure]] = {
    "s3-small": s3_small,
    "s3-large": s3_large,
    "s3-list": s3_list,
    "sqs": sqs,
    "ddb": ddb,
}
