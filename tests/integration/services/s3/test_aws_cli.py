"""The AWS CLI's high-level ``aws s3`` commands and ``s3api`` against Cloudlet."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

AWS = str(Path(sys.executable).parent / "aws")


def aws(server: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([AWS, "--endpoint-url", server.endpoint, *args], capture_output=True, text=True,
                         timeout=120, env=env)
    if check:
        assert out.returncode == 0, out.stderr + out.stdout
    return out


def test_mb_cp_ls_sync_rm(server: Any, s3: Any, new_name: Any, tmp_path: Path) -> None:
    bucket = new_name("cli")
    aws(server, "s3", "mb", f"s3://{bucket}")
    big = tmp_path / "big.bin"
    data = os.urandom(9 * 1024 * 1024 + 17)  # over the CLI's 8 MiB multipart threshold
    big.write_bytes(data)
    aws(server, "s3", "cp", str(big), f"s3://{bucket}/data/big.bin")
    listing = aws(server, "s3", "ls", f"s3://{bucket}/data/").stdout
    assert "big.bin" in listing and str(len(data)) in listing
    back = tmp_path / "back.bin"
    aws(server, "s3", "cp", f"s3://{bucket}/data/big.bin", str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert s3.head_object(Bucket=bucket, Key="data/big.bin")["ETag"].endswith('-2"')

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "sub" / "b c.txt").write_text("b")
    aws(server, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    keys = json.loads(aws(server, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "tree/").stdout)
    assert sorted(o["Key"] for o in keys["Contents"]) == ["tree/a.txt", "tree/sub/b c.txt"]
    down = tmp_path / "down"
    aws(server, "s3", "sync", f"s3://{bucket}/tree", str(down))
    assert (down / "sub" / "b c.txt").read_text() == "b"
    top = aws(server, "s3", "ls", f"s3://{bucket}").stdout
    assert "PRE data/" in top and "PRE tree/" in top
    url = aws(server, "s3", "presign", f"s3://{bucket}/tree/a.txt").stdout.strip()
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"a"
    aws(server, "s3", "rm", f"s3://{bucket}", "--recursive")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    aws(server, "s3", "rb", f"s3://{bucket}")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
