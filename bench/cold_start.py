"""Cold start of the execution engine vs. starting a Python process that imports boto3.

Usage: python bench/cold_start.py [iterations]

For each function (a bare handler, and one that imports boto3 and creates an
S3 client at init) every iteration bumps the revision, so the call lands on a
freshly forked worker: the measured wall time is fork + init + invoke as the
Lambda provider sees it.  The baseline is ``python -c 'import boto3'`` in a
subprocess, the least a process-per-invocation design pays.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cloudlet.engine import Engine, FunctionSpec, InvokeRequest

FUNCTIONS = Path(__file__).resolve().parents[1] / "tests" / "functions"


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def spec(code: str, revision: str) -> FunctionSpec:
    return FunctionSpec(
        function_name=f"bench-{code}",
        function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:bench-{code}",
        version="$LATEST",
        revision=revision,
        handler="app.handler",
        runtime="python3.12",
        code_dir=FUNCTIONS / code,
        endpoint_url="http://127.0.0.1:4566",
    )


async def measure_engine(iterations: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"cold echo": [], "cold boto3 client": [], "warm echo": [], "init echo": [],
                                       "init boto3 client": []}  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        engine = Engine(Path(work), keep_warm_s=60)
        started = time.perf_counter()
        await engine.start()
        print(f"engine start (zygote boot): {(time.perf_counter() - started) * 1000:.0f} ms "
              f"(zygote reports {engine.statistics()['zygote_boot_ms']:.0f} ms)")  # fmt: skip
        try:
            for i in range(iterations):
                for code, label in (("echo", "echo"), ("boto", "boto3 client")):
                    fn = spec(code, str(i))
                    request = InvokeRequest(str(uuid.uuid4()), b"{}", fn.function_arn)
                    t0 = time.perf_counter()
                    result = await engine.invoke(fn, request)
                    results[f"cold {label}"].append((time.perf_counter() - t0) * 1000)
                    assert result.function_error is None, result.payload
                    results[f"init {label}"].append(result.init_duration_ms or 0.0)
                fn = spec("echo", str(i))
                t0 = time.perf_counter()
                await engine.invoke(fn, InvokeRequest(str(uuid.uuid4()), b"{}", fn.function_arn))
                results["warm echo"].append((time.perf_counter() - t0) * 1000)
        finally:
            await engine.stop()
    return results


def measure_baseline(iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import boto3"], check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    engine = asyncio.run(measure_engine(iterations))
    baseline = measure_baseline(iterations)
    base_median, base_p95 = summary(baseline)
    print(f"{'':28}{'median ms':>10}{'p95 ms':>10}{'vs baseline':>13}")
    print(f"{'subprocess import boto3':28}{base_median:10.1f}{base_p95:10.1f}{1.0:12.2f}x")
    for label, samples in engine.items():
        median, p95 = summary(samples)
        print(f"{label:28}{median:10.1f}{p95:10.1f}{median / base_median:12.3f}x")


if __name__ == "__main__":
    main()
