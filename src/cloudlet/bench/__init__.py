"""Cloudlet's benchmark suite (``cloudlet bench``), per /work/shared/BENCHMARKS.md.

``figures`` holds the measurements (each next to a baseline measured in the
same run, and MiniStack's figure when it is installed), ``loadgen`` the
pre-signed raw-HTTP load generator, ``common`` the servers and helpers, and
``asgi_hello`` the bare ASGI baseline.  The CLI lives in ``cloudlet.cli.bench``.
"""

from cloudlet.bench.common import Figure, Stats
from cloudlet.bench.figures import FIGURES, FULL, QUICK, TINY, Plan, run

__all__ = ["FIGURES", "FULL", "QUICK", "TINY", "Figure", "Plan", "Stats", "run"]
