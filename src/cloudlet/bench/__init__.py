"""Cloudlet's benchmark suite (``cloudlet bench``), per /work/shared/BENCHMARKS.md.

``figures`` holds the execution-engine measurements (each next to a baseline
measured in the same run, and MiniStack's figure when it is installed),
``services`` the S3 / SQS / DynamoDB figures (against moto's server and
MiniStack, found on PATH), ``events`` the S3 → Lambda and SQS → Lambda
delivery figures, ``loadgen`` the raw-HTTP load generator (signed requests,
forked client processes), ``common`` the servers and helpers, and
``asgi_hello`` the bare ASGI baseline.  The CLI lives in ``cloudlet.cli.bench``.
"""

from cloudlet.bench.common import Figure, Stats
from cloudlet.bench.figures import FIGURES, FULL, QUICK, TINY, Plan, run

__all__ = ["FIGURES", "FULL", "QUICK", "TINY", "Figure", "Plan", "Stats", "run"]
