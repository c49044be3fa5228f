"""Functions, versions, aliases and logs survive a restart and ``kill -9``."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from typing import Any

from tests.servers import ServerProcess

ROLE = "arn:aws:iam::000000000000:role/lambda"


def zip_source(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def invoke_json(client: Any, name: str, payload: Any = None, **kwargs: Any) -> Any:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.load(response["Payload"])


def log_messages(logs: Any, name: str) -> list[str]:
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    return [e["message"] for e in events]


def test_state_survives_restart_and_kill_9(start_server: Callable[..., ServerProcess]) -> None:
    first = start_server()
    lam = first.client("lambda")
    lam.create_function(
        FunctionName="durable",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source("def handler(e, c):\n    return {'v': 1}\n")},
        Tags={"team": "core"},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="durable", WaiterConfig={"Delay": 1})
    v1 = lam.publish_version(FunctionName="durable")["Version"]
    lam.create_alias(FunctionName="durable", Name="live", FunctionVersion=v1)
    lam.update_function_code(FunctionName="durable", ZipFile=zip_source("def handler(e, c):\n    return {'v': 2}\n"))
    lam.get_waiter("function_updated_v2").wait(FunctionName="durable", WaiterConfig={"Delay": 1})
    lam.put_function_concurrency(FunctionName="durable", ReservedConcurrentExecutions=5)
    assert invoke_json(lam, "durable") == {"v": 2}
    assert invoke_json(lam, "durable", Qualifier="live") == {"v": 1}
    logs = first.client("logs")
    deadline = time.monotonic() + 10
    while not any(m.startswith("REPORT") for m in log_messages(logs, "durable")) and time.monotonic() < deadline:
        time.sleep(0.1)

    # A graceful restart keeps everything.
    first.stop()
    second = start_server(first.data_dir)
    _assert_state(second)

    # So does kill -9 right after acknowledged writes.
    lam2 = second.client("lambda")
    v2 = lam2.publish_version(FunctionName="durable")["Version"]
    lam2.update_alias(FunctionName="durable", Name="live", FunctionVersion=v2)
    second.kill9()
    third = start_server(first.data_dir)
    _assert_state(third)
    lam3 = third.client("lambda")
    assert lam3.get_alias(FunctionName="durable", Name="live")["FunctionVersion"] == v2
    assert invoke_json(lam3, "durable", Qualifier="live") == {"v": 2}


def _assert_state(proc: ServerProcess) -> None:
    lam = proc.client("lambda")
    fn = lam.get_function(FunctionName="durable")
    assert fn["Configuration"]["State"] == "Active"
    assert fn["Tags"] == {"team": "core"}
    assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 5
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="durable")["Versions"]]
    assert versions[0] == "$LATEST" and "1" in versions
    assert lam.get_alias(FunctionName="durable", Name="live")["Name"] == "live"
    assert invoke_json(lam, "durable") == {"v": 2}
    assert invoke_json(lam, "durable", Qualifier="1") == {"v": 1}
    messages = log_messages(proc.client("logs"), "durable")
    assert any(m.startswith("START RequestId:") for m in messages)
    assert any(m.startswith("REPORT RequestId:") for m in messages)
