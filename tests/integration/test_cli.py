"""The ``cloudlet`` command against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.servers import ServerProcess


def cloudlet(server: ServerProcess, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDLET_ENDPOINT": server.endpoint, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "cloudlet", *args], capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert out.returncode == 0, out.stderr + out.stdout
    return out


def test_deploy_invoke_ls_logs(server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    print('hi from', context.function_name)\n    return {'got': event}\n")
    out = cloudlet(server, "deploy", str(src), "--name", "cli-fn", "--env", "STAGE=dev")
    assert "created" in out.stdout

    out = cloudlet(server, "invoke", "cli-fn", "--payload", '{"a": 1}', "--logs")
    assert json.loads(out.stdout) == {"got": {"a": 1}}
    assert "hi from cli-fn" in out.stderr
    assert "REPORT RequestId:" in out.stderr

    event = tmp_path / "event.json"
    event.write_text('{"b": 2}')
    assert json.loads(cloudlet(server, "invoke", "cli-fn", "--payload", f"@{event}").stdout) == {"got": {"b": 2}}

    (src / "app.py").write_text("def handler(event, context):\n    return 'v2'\n")
    assert "updated" in cloudlet(server, "deploy", str(src), "--name", "cli-fn").stdout
    assert json.loads(cloudlet(server, "invoke", "cli-fn").stdout) == "v2"

    listed = json.loads(cloudlet(server, "ls", "--json").stdout)
    assert "cli-fn" in [f["FunctionName"] for f in listed]
    assert "cli-fn" in cloudlet(server, "ls").stdout

    logs = cloudlet(server, "logs", "cli-fn").stdout
    assert "hi from cli-fn" in logs and "START RequestId:" in logs


def test_invoke_of_failing_function_exits_nonzero(server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "bad"
    src.mkdir()
    (src / "app.py").write_text("def handler(event, context):\n    raise ValueError('nope')\n")
    cloudlet(server, "deploy", str(src), "--name", "cli-bad")
    out = cloudlet(server, "invoke", "cli-bad", check=False)
    assert out.returncode == 1
    assert json.loads(out.stdout)["errorType"] == "ValueError"
