"""One 5 GiB object through a real server: memory stays flat however large the object.

Usage: python bench/s3_five_gib.py [GiB]   (default 5, S3's largest single PUT)

Writes a file of random bytes, PUTs it with boto3's ``put_object`` (one
streamed request), reads it back with ``get_object`` in 1 MiB chunks and
compares SHA-256s; prints the times and the server's peak RSS (``VmHWM``)
before and after.  Needs about three times the size in free disk.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from cloudlet.bench.common import CloudletServer, status_mb

BLOCK = 64 * 1024 * 1024


def main(gib: int) -> None:
    size = gib * 1024**3
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch, CloudletServer() as server:
        assert server.proc is not None
        s3 = server.client("s3")
        s3.create_bucket(Bucket="big")
        source = Path(scratch) / "source.bin"
        sent = hashlib.sha256()
        with open(source, "wb") as f:
            block = os.urandom(BLOCK)
            for _ in range(size // BLOCK):
                f.write(block)
                sent.update(block)
        before = status_mb(server.proc.pid, "VmHWM")
        started = time.perf_counter()
        with open(source, "rb") as f:
            s3.put_object(Bucket="big", Key="object", Body=f)
        put_s = time.perf_counter() - started
        after_put = status_mb(server.proc.pid, "VmHWM")
        started = time.perf_counter()
        received = hashlib.sha256()
        for chunk in s3.get_object(Bucket="big", Key="object")["Body"].iter_chunks(1024 * 1024):
            received.update(chunk)
        get_s = time.perf_counter() - started
        after_get = status_mb(server.proc.pid, "VmHWM")
        print(f"{size:,} bytes: PUT {put_s:.1f} s, GET {get_s:.1f} s, same bytes: {received.digest() == sent.digest()}")
        print(f"server VmHWM: {before:.1f} MB before, {after_put:.1f} MB after the PUT, {after_get:.1f} MB after the GET")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
