"""The README's boto3 and AWS CLI snippets work verbatim against a running server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.servers import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
DOC_ENDPOINT = "http://127.0.0.1:4566"


def _block(lang: str, marker: str) -> str:
    for body in re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.S):
        if marker in body:
            return body
    raise AssertionError(f"no {lang} block containing {marker!r} in README")


def test_readme_boto3_snippet(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    proc = start_server()
    code = _block("python", "boto3.client").replace(DOC_ENDPOINT, proc.endpoint)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'hello': 'boto3'}"


def test_readme_aws_cli_snippet(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    proc = start_server()
    script = _block("sh", "lambda create-function").replace(DOC_ENDPOINT, proc.endpoint)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "PYTHONWARNINGS": "ignore"}
    env.pop("AWS_ENDPOINT_URL", None)
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert '{"sum": 5}' in out.stdout
    assert "START RequestId" in out.stdout
