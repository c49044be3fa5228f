"""``cloudlet bench``: run the benchmark suite and print value, baseline, ratio and target."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from cloudlet.bench import Figure

console = Console(width=None if sys.stdout.isatty() else 200)
#: Units where more is better (throughputs); for the others (ms, MB) less is better.
HIGHER_IS_BETTER = {"req/s", "ops/s", "msgs/s", "keys/s", "MB/s"}


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit in HIGHER_IS_BETTER and unit != "MB/s":
        return f"{value:,.0f} {unit}"
    if unit in ("MB", "MB/s"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.2f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def _spread(f: Figure) -> str:
    """p99 and sample count for latencies; client CPU for throughputs."""
    d = f.detail
    if "p99" in d and f.value is not None:
        return f"p99 {d['p99']:.2f}, n={d['samples']}"
    runs = d.get("runs")
    if f.unit in HIGHER_IS_BETTER and isinstance(runs, list) and runs and "client_cores" in runs[0]:
        cores = max(r["client_cores"] for r in d["runs"])
        return f"{len(d['runs'])} runs, client ≤{cores:.2f} CPU"
    if f.name.startswith("s3-large") and "rss_growth_mb" in d:
        return f"RSS +{d['rss_growth_mb']:.1f} MB"
    if f.name == "s3-list" and d.get("runs"):
        return f"{d['keys']:,} keys, {len(d['runs'])} runs"
    if f.name == "idle" and "growth_mb" in d:
        return f"+{d['growth_mb']:.1f} MB, {d['functions']} fns"
    if f.name == "burst" and d.get("runs"):
        return f"{len(d['runs'])} runs"
    return ""


def _versus(f: Figure, other: float | None) -> str:
    """How Cloudlet compares with a peer's value of the same figure."""
    if other is None or not f.value:
        return "—"
    faster = f.value / other if f.unit in HIGHER_IS_BETTER else other / f.value
    better, worse = ("smaller", "larger") if f.unit == "MB" else ("faster", "slower")
    return f"{faster:.1f}x {better}" if faster >= 1 else f"{1 / faster:.1f}x {worse}"


def _table(figures: list[Figure], title: str) -> Table:
    table = Table("figure", "value", "spread", "baseline", "ratio", "MiniStack", "vs MiniStack", "moto",
                  "vs moto", "target", "met?", title=title)  # fmt: skip
    for f in figures:
        if f.error and f.value is None:
            lines = f.error.strip().splitlines()
            summary = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
            table.add_row(f.name, f"[red]error[/]: {escape(summary[:300])}", "", "", "", "", "", "", "", f.target,
                          "[red]no[/]")  # fmt: skip
            continue
        peer = _fmt(f.peer, f.unit) if f.peer is not None else escape(f.peer_note or "—")
        vs = _versus(f, f.peer)
        moto = _fmt(f.moto, f.unit) if f.moto is not None else escape(f.moto_note or "—")
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "—"
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[f.met]
        table.add_row(f.name, _fmt(f.value, f.unit), _spread(f), _fmt(f.baseline, f.unit), ratio, peer, vs,
                      moto, _versus(f, f.moto), f.target, met)  # fmt: skip
    return table


def _legend(figures: list[Figure]) -> str:
    return "baselines: " + "; ".join(f"{f.name}: {f.baseline_label}" for f in figures if f.baseline_label)


@click.command()
@click.option("--quick", is_flag=True, envvar="CLOUDLET_BENCH_QUICK",
              help="Fewer samples: all figures in under four minutes (env CLOUDLET_BENCH_QUICK).")  # fmt: skip
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Run only this figure (repeatable): a figure id of BENCHMARKS.md, e.g. cold-hello.")  # fmt: skip
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the results as JSON to this file.")  # fmt: skip
@click.option("--no-peers", is_flag=True, envvar="CLOUDLET_BENCH_NO_PEERS",
              help="Do not start MiniStack or moto_server (env CLOUDLET_BENCH_NO_PEERS).")  # fmt: skip
def bench(quick: bool, only: tuple[str, ...], json_path: Path | None, no_peers: bool) -> None:
    """Measure Cloudlet against same-run baselines, MiniStack and moto; print a table.

    Starts its own Cloudlet servers (temporary data dirs, loopback), the bare
    ASGI baseline and, when on PATH (``make bench`` installs them in
    .venv-peers), MiniStack and moto_server; stops them all at the end.  Set CLOUDLET_BENCH_TINY=1 for a
    smoke run with a handful of samples.

    \b
    Example:
      cloudlet bench --quick
      cloudlet bench --only cold-hello --only warm-latency --json bench.json
    """
    # Imported here, not at module level: every `cloudlet` command (`up` included) loads this module.
    from cloudlet.bench import FIGURES, FULL, QUICK, TINY, run

    unknown = [name for name in only if name not in FIGURES]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(map(repr, unknown))} (choose from {', '.join(FIGURES)})", param_hint="'--only'"
        )
    plan = TINY if os.environ.get("CLOUDLET_BENCH_TINY") else QUICK if quick else FULL
    names = list(only) or list(FIGURES)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    figures = run(names, plan, peers=not no_peers, log=lambda m: console.print(f"[dim]· {m}[/]"))
    elapsed = time.monotonic() - started
    mode = "tiny" if plan is TINY else "quick" if plan is QUICK else "full"
    title = f"cloudlet bench ({mode}, {elapsed:.0f} s, {os.cpu_count()} CPUs, load {load_before:.1f}, Python {platform.python_version()})"
    console.print(_table(figures, title))
    console.print(_legend(figures), style="dim")
    if json_path is not None:
        doc = {
            "mode": mode,
            "seconds": elapsed,
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_before": load_before,
            "load_average_after": os.getloadavg()[0],
            "figures": {f.name: f.to_json() for f in figures},
        }
        json_path.write_text(json.dumps(doc, indent=2, default=str))
        console.print(f"wrote {json_path}")
