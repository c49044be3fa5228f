"""The event-delivery figures of BENCHMARKS.md: S3 notification → Lambda, and SQS → Lambda (event source mapping).

The handler appends ``<key or body> <time.time() at handler start>`` to a file
named by its environment, and the bench polls that file: latency is from just
before the triggering request is sent to the handler's first line.  Both
figures run on the service figures' Cloudlet; the baseline is the warm-latency
figure (measured here when that figure is not part of the run); MiniStack
runs the same (fewer samples).  moto's server cannot run handlers without Docker.
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlet.bench import loadgen
from cloudlet.bench.common import (
    ROLE,
    RUNTIME,
    ChildServer,
    Figure,
    RawConnection,
    Stats,
    create_function,
    invoke_request,
    ms,
)
from cloudlet.bench.services import s3_request, sqs_request

if TYPE_CHECKING:
    from cloudlet.bench.figures import Bench

RECORDER = (
    "import os\nimport time\n\n\n"
    "def handler(event, context):\n"
    "    started = time.time()\n"
    "    with open(os.environ['BENCH_OUT'], 'a') as f:\n"
    "        for record in event.get('Records') or []:\n"
    "            key = record.get('body') or record.get('s3', {}).get('object', {}).get('key')\n"
    "            f.write(f'{key} {started!r}\\n')\n"
    "    return {}\n"
)
MOTO_NOTE = "cannot run handlers"
#: Seconds to wait for one event before counting it lost.
EVENT_TIMEOUT = 15.0


def _recorder(server: ChildServer, out: Path) -> str:
    """Deploy the recording handler; its ARN."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", RECORDER)
    name = f"bench-event-{uuid.uuid4().hex[:10]}"
    client = server.client("lambda")
    arn = client.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler", Code={"ZipFile": buf.getvalue()},
        Timeout=10, MemorySize=128, Environment={"Variables": {"BENCH_OUT": str(out)}},
    )["FunctionArn"]  # fmt: skip
    return str(arn)


class Recorded:
    """Reads the handler's file as it grows: key → handler start time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()
        self.offset = 0
        self.seen: dict[str, float] = {}

    def wait(self, key: str, timeout: float = EVENT_TIMEOUT) -> float | None:
        deadline = time.monotonic() + timeout
        while key not in self.seen:
            if time.monotonic() > deadline:
                return None
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offset += len(complete)
            for line in complete.decode().splitlines():
                k, _, t = line.rpartition(" ")
                self.seen[k] = float(t)
            if key not in self.seen:
                time.sleep(0.0005)
        return self.seen[key]


def _measure(bench: Bench, label: str, send: Callable[[str], bytes], conn: RawConnection, record: Recorded,
             count: int, warmup: int = 3) -> tuple[list[float], int]:  # fmt: skip
    """Send ``warmup + count`` triggers one at a time, each waited for: (latencies in ms, lost)."""
    samples: list[float] = []
    lost = 0
    for i in range(warmup + count):
        key = f"ev-{uuid.uuid4().hex[:12]}"
        request = send(key)
        t0 = time.time()
        status, _, body = conn.request(request)
        if status >= 300:
            raise RuntimeError(f"{label}: HTTP {status}: {body[:300]!r}")
        started = record.wait(key)
        if started is None:
            if i == 0:  # nothing is delivered at all: do not wait out every sample
                raise RuntimeError(f"no event arrived within {EVENT_TIMEOUT:g} s")
            lost += 1
        elif i >= warmup:
            samples.append(ms(started - t0))
    return samples, lost


def _warm_baseline(bench: Bench, server: ChildServer) -> tuple[float, str]:
    """warm-latency's p50 from this run, or measured now on ``server``."""
    known = bench.results.get("warm-latency")
    if known is not None and known.value is not None:
        return known.value, "warm-latency (this run)"
    if "warm-baseline" not in bench.cache:
        name = f"bench-warm-{uuid.uuid4().hex[:10]}"
        create_function(server.client("lambda"), name, "hello")
        payload = b'{"data": "' + b"x" * 1012 + b'"}'
        ((stats, _),) = loadgen.latency([(server.endpoint, invoke_request(server.endpoint, name, payload))],
                                        max(20, bench.plan.events * 2), warmup=5)  # fmt: skip
        bench.cache["warm-baseline"] = stats.p50
    return float(bench.cache["warm-baseline"]), "warm invoke p50, same server"


def s3_events(bench: Bench, server: ChildServer, count: int) -> tuple[list[float], int]:
    """PutObject → handler start on ``server``: (latencies in ms, lost)."""
    out = Path(server.dir) / f"events-{uuid.uuid4().hex[:6]}.log"
    record = Recorded(out)
    arn = _recorder(server, out)
    bucket = f"bench-events-{uuid.uuid4().hex[:8]}"
    s3 = server.client("s3")
    s3.create_bucket(Bucket=bucket)
    server.client("lambda").add_permission(
        FunctionName=arn, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{bucket}")  # fmt: skip
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})  # fmt: skip
    conn = RawConnection(server.endpoint)
    try:
        return _measure(bench, "event-s3", lambda key: s3_request(server.endpoint, "PUT", bucket, key, b"x" * 128),
                        conn, record, count)  # fmt: skip
    finally:
        conn.close()


def sqs_events(bench: Bench, server: ChildServer, count: int) -> tuple[list[float], int]:
    """SendMessage → handler start through an event source mapping (BatchSize 1) on ``server``."""
    out = Path(server.dir) / f"events-{uuid.uuid4().hex[:6]}.log"
    record = Recorded(out)
    arn = _recorder(server, out)
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=f"bench-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client = server.client("lambda")
    mapping = client.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=arn, BatchSize=1)
    for _ in range(200):
        if client.get_event_source_mapping(UUID=mapping["UUID"]).get("State") == "Enabled":
            break
        time.sleep(0.05)
    conn = RawConnection(server.endpoint)
    try:
        return _measure(bench, "event-sqs", lambda key: sqs_request(
            server.endpoint, "SendMessage", {"QueueUrl": url, "MessageBody": key}), conn, record, count)  # fmt: skip
    finally:
        conn.close()
        client.delete_event_source_mapping(UUID=mapping["UUID"])


Measure = Callable[["Bench", ChildServer, int], tuple[list[float], int]]


def _event_figure(bench: Bench, name: str, measure: Measure, limit: float, detail: dict[str, Any]) -> Figure:
    server = bench.server("services")
    bench.log(f"{name}: Cloudlet")
    samples, lost = measure(bench, server, bench.plan.events)
    base, label = _warm_baseline(bench, server)
    peer_stats: Stats | None = None
    peer, note = bench.ministack()
    if peer is not None:
        bench.log(f"{name}: MiniStack")
        try:
            peer_samples, peer_lost = measure(bench, peer, max(3, bench.plan.events // 4))
            peer_stats = Stats.of(peer_samples) if peer_samples else None
            note = "" if peer_stats else f"all {peer_lost} events lost"
        except Exception as exc:
            note = f"error: {exc}"[:200]
    stats = Stats.of(samples)
    return Figure(
        name, "ms", stats.p50 if samples else None, base, label, f"p50 ≤ {limit:g} ms",
        bool(samples) and stats.p50 <= limit and lost == 0,
        peer=peer_stats.p50 if peer_stats else None, peer_note=note, moto_note=MOTO_NOTE,
        detail={"p99": stats.p99, "samples": stats.n, "lost": lost, "peer": vars(peer_stats) if peer_stats else None,
                **detail},
        error=None if samples else f"no event arrived ({lost} lost)",
    )  # fmt: skip


def event_s3(bench: Bench) -> Figure:
    return _event_figure(bench, "event-s3", s3_events, 5.0, {"trigger": "PutObject 128 B"})


def event_sqs(bench: Bench) -> Figure:
    return _event_figure(bench, "event-sqs", sqs_events, 10.0, {"trigger": "SendMessage", "batch_size": 1})


EVENT_FIGURES: dict[str, Callable[[Bench], Figure]] = {
    "event-s3": event_s3,
    "event-sqs": event_sqs,
}
